"""Shared names are declared once, in curate/schema.py, and imported everywhere else.

Read from the source with `ast`: no library module other than the schema spells the
"(no label)" placeholder or binds its own SPLITS.
"""

from __future__ import annotations

import ast
import io
from pathlib import Path

from curate import schema

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "curate/schema.py"


def library_sources() -> dict[str, ast.AST]:
    files = sorted([*(ROOT / "curate").rglob("*.py"), *(ROOT / "classify").rglob("*.py")])
    return {path.relative_to(ROOT).as_posix(): ast.parse(path.read_text(encoding="utf-8")) for path in files}


def bound_names(tree: ast.AST) -> set[str]:
    return {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign | ast.AnnAssign)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)}


def test_the_no_label_placeholder_is_spelled_only_in_the_schema():
    spelled = sorted(name for name, tree in library_sources().items() if name != SCHEMA and any(
        isinstance(node, ast.Constant) and node.value == schema.NO_LABEL for node in ast.walk(tree)))
    assert spelled == [], f"use curate.schema.NO_LABEL in {spelled}"


def test_splits_are_bound_only_in_the_schema():
    binding = sorted(name for name, tree in library_sources().items()
                     if name != SCHEMA and {"SPLITS", "NO_LABEL"} & bound_names(tree))
    assert binding == [], "import them from curate.schema"
    assert schema.SPLITS == ("train", "val", "test")


def test_one_png_helper_renders_every_figure():
    rendering = sorted(name for name, tree in library_sources().items() if name != "curate/report/plots.py" and any(
        isinstance(node, ast.Attribute) and node.attr == "savefig" for node in ast.walk(tree)))
    assert rendering == [], f"render through curate.report.plots.figure_png in {rendering}"


def test_the_png_helper_renders_at_the_asked_dpi_and_forgets_the_figure(tmp_path):
    import matplotlib.pyplot as plt
    from PIL import Image

    from classify.plots import write_png
    from curate.report.plots import figure_png

    figure = plt.figure(figsize=(2, 1))
    png = figure_png(figure, dpi=50)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and not plt.fignum_exists(figure.number)
    assert Image.open(io.BytesIO(png)).size == (100, 50)
    write_png(plt.figure(figsize=(3, 2)), tmp_path / "plot.png")  # the training plots' size: 100 dpi
    assert Image.open(tmp_path / "plot.png").size == (300, 200)
