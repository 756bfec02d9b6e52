"""Copies padded onto a square (an Instagram-style white border) and the border-trimmed pHash.

Audit L (2026-12-05) found 27 of 30 such copies within 8 bits of their photo through the border-trimmed pHash,
yet none linked without embeddings (0.47 with them): the thumbnails and the embedding compare the whole padded
square. A pair that meets only through a trimmed view is now confirmed on its grey views with the borders cut
off (`verify._add_frame_links`). Real photos from ../shared/realdata.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from curate.cli.app import app
from curate.workspace import Workspace, read_catalog
from tests.helpers import REALDATA

runner = CliRunner()

pytestmark = pytest.mark.skipif(not (REALDATA / "imagenet-sample").is_dir(), reason="needs ../shared/realdata")


@pytest.fixture(scope="module")
def padded_folder(tmp_path_factory) -> Path:
    """110 real photos (enough to calibrate on), the first 10 also stored padded onto a white square."""
    folder = tmp_path_factory.mktemp("padded") / "photos"
    folder.mkdir()
    for i, path in enumerate(sorted((REALDATA / "imagenet-sample").glob("*.jpg"))[200:310]):
        image = Image.open(path).convert("RGB")
        image.save(folder / f"p{i:03d}.jpg", quality=92)
        if i < 10:
            side = max(image.size)
            square = Image.new("RGB", (side, side), "white")
            inner = image.resize((round(image.width * 0.92), round(image.height * 0.92)))
            square.paste(inner, ((side - inner.width) // 2, (side - inner.height) // 2))
            square.resize((1080, 1080)).save(folder / f"p{i:03d}_square.jpg", quality=90)
    return folder


def _joined(folder: Path, root: Path, *flags: str) -> tuple[set[str], str, bool]:
    ws = Workspace(root)
    assert runner.invoke(app, ["ingest", "folder", str(folder), "-w", str(ws.root)]).exit_code == 0
    result = runner.invoke(app, ["filter", "-w", str(ws.root), *flags])
    assert result.exit_code == 0, result.output
    catalog = read_catalog(ws)
    catalog["photo"] = catalog["source_id"].str[:4]
    catalog["cluster"] = catalog["near_dup_cluster"].fillna(catalog["photo_id"])
    squares = catalog[catalog["source_id"].str.endswith("_square.jpg")].set_index("photo")["cluster"]
    originals = catalog[~catalog["source_id"].str.contains("_")].set_index("photo")["cluster"]
    joined = {photo for photo, cluster in squares.items() if originals[photo] == cluster}
    apart = bool((catalog.groupby("cluster")["photo"].nunique() == 1).all())
    return joined, " ".join(result.output.split()), apart


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_photo_padded_onto_a_square_joins_it_without_embeddings(padded_folder, tmp_path, engine):
    joined, said, apart = _joined(padded_folder, tmp_path / "ws", "--catalog-engine", engine)
    assert len(joined) >= 9 and apart  # (one may miss: its trimmed pHash farther than 8 bits)
    assert "framed copies: " in said and "agree on their pixels without it, linked" in said


def test_with_the_pixel_matches_off_the_squares_stay_apart(padded_folder, tmp_path):
    joined, said, _ = _joined(padded_folder, tmp_path / "ws", "--near-dup-window-score", "off")
    assert len(joined) <= 2 and "framed copies" not in said
