"""Training plots: the learning curves, and writing any matplotlib figure as a PNG atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.workspace import atomic_write_bytes


def plot_curves(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for split in ("train", "val"):
        if frame[f"{split}_loss"].notna().any():
            loss_axis.plot(frame["epoch"], frame[f"{split}_loss"], marker="o", label=split)
            accuracy_axis.plot(frame["epoch"], frame[f"{split}_accuracy"], marker="o", label=split)
    loss_axis.set(title="loss", xlabel="epoch")
    accuracy_axis.set(title="accuracy", xlabel="epoch", ylim=(0, 1))
    for axis in (loss_axis, accuracy_axis):
        axis.legend()
        axis.grid(alpha=0.3)
    write_png(figure, path)


def write_png(figure, path: Path) -> None:
    """Lay out, render and close a matplotlib figure; write it atomically as PNG."""
    from curate.report.plots import figure_png, missing_glyphs_quiet  # matplotlib loads only when a plot is drawn

    with missing_glyphs_quiet():
        figure.tight_layout()
    atomic_write_bytes(path, figure_png(figure, dpi=100))
