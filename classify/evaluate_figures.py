"""The figures of `classify evaluate`: the confusion matrix and the top-losses gallery, as PNG bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from curate.report.plots import figure_png, plain

GALLERY_COLUMNS = 6
THUMBNAIL_PX = 160


def plot_confusion(confusion: np.ndarray, classes: list[str]) -> bytes:
    """PNG of the confusion matrix: rows = actual, columns = predicted, each cell annotated with its count."""
    # Fixed margins sized for the longest class name (constrained layout costs ~0.5 s per plot).
    label_in = 0.6 + 0.06 * max((len(name) for name in classes), default=1)
    side_in = max(3.0, 0.5 * len(classes))
    figure, axes = _figure(size_in=(side_in + label_in + 0.3, side_in + label_in + 0.5), layout=None)
    width_in, height_in = figure.get_size_inches()
    figure.subplots_adjust(left=label_in / width_in, bottom=label_in / height_in, right=1 - 0.3 / width_in,
                           top=1 - 0.5 / height_in)
    axes.imshow(confusion, cmap="Blues", vmin=0)
    ticks = np.arange(len(classes))
    shown = [plain(name) for name in classes]  # a `$` in a label would start TeX math
    axes.set_xticks(ticks, labels=shown, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(ticks, labels=shown, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    axes.set_title(f"confusion matrix ({int(confusion.sum())} photos)")
    dark_from = confusion.max() / 2 if confusion.size else 0
    for (row, column), count in np.ndenumerate(confusion):
        axes.text(column, row, str(count), ha="center", va="center", fontsize=7,
                  color="white" if count > dark_from else "black")
    return figure_png(figure)


def plot_top_losses(top_losses: pd.DataFrame, image_paths: list[Path]) -> bytes:
    """PNG gallery: each photo titled predicted / actual / loss / probability of the prediction (as fast.ai)."""
    count = max(len(top_losses), 1)
    columns = min(GALLERY_COLUMNS, count)
    rows = -(-count // columns)
    height_in = 2.2 * rows + 0.4
    # Fixed margins, not constrained layout: laying out dozens of image tiles that way takes seconds.
    figure, axes_grid = _figure(size_in=(2.3 * columns, height_in), rows=rows, columns=columns, layout=None)
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.45 / height_in, wspace=0.05, hspace=0.25)
    axes_list = np.atleast_1d(axes_grid).ravel()
    for axes in axes_list:
        axes.axis("off")
    for axes, row, path in zip(axes_list, top_losses.itertuples(index=False), image_paths):
        thumbnail = _thumbnail(path)
        if thumbnail is not None:
            axes.imshow(thumbnail)
        axes.set_title(f"{plain(row.predicted)} / {plain(row.actual)}\nloss {row.loss:.2f} · p {row.p_predicted:.2f}",
                       fontsize=7)
    figure.suptitle("top losses: predicted / actual, loss, probability of the prediction", fontsize=9)
    return figure_png(figure)


def _figure(size_in, rows: int = 1, columns: int = 1, layout: str | None = None):
    # A bare Figure on the Agg canvas: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size_in, dpi=100, layout=layout)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=True)


def _thumbnail(path: Path):
    from curate.store import open_rgb

    try:
        image = open_rgb(path, min_side=THUMBNAIL_PX)
    except Exception:  # noqa: BLE001 - a gallery tile left blank beats a failed report
        return None
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    return np.asarray(image)
