"""Transparent photos are seen as a viewer shows them: on white, not as the colours hidden under the alpha band.

A cut-out product shot or a logo saved as PNG with a transparent background often keeps black (or leftover)
pixels under the transparent part; Pillow's plain `convert("RGB")` shows those (audit X5). Every reader
of a stored image (the pixel pass, pHash, embeddings, report and review thumbnails, `classify
predict` / `serve`) goes through `curate.store.flat_rgb`.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from helpers import no_fsync
from PIL import Image, ImageDraw

from classify.decode import decode_for_model
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.review.thumbs import make_thumbnail
from curate.store import flat_rgb, open_rgb
from curate.vision.backbones import Preprocess
from curate.vision.images import prepare
from curate.workspace import Workspace, read_catalog


def cut_out(side: int = 240, hidden=(0, 0, 0)) -> Image.Image:
    """A red disc with a blue bar on a fully transparent background; `hidden` fills the transparent part."""
    image = Image.new("RGBA", (side, side), (*hidden, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((side // 6, side // 6, side * 5 // 6, side * 5 // 6), fill=(200, 30, 30, 255))
    draw.rectangle((side // 3, side // 2 - 10, side * 2 // 3, side // 2 + 10), fill=(20, 40, 190, 255))
    return image


def on_white(image: Image.Image) -> Image.Image:
    """What a browser shows: the same picture drawn on a white page."""
    page = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(page, image.convert("RGBA")).convert("RGB")


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_a_transparent_background_reads_as_white_whatever_hides_under_it():
    for hidden in ((0, 0, 0), (0, 255, 0)):
        flat = np.asarray(flat_rgb(cut_out(hidden=hidden)))
        assert flat.shape == (240, 240, 3)
        assert (flat[0, 0] == 255).all() and (flat[-1, -1] == 255).all()
        assert tuple(flat[120, 60]) == (200, 30, 30)  # the opaque disc is untouched
        assert tuple(flat[120, 120]) == (20, 40, 190)


def test_half_transparent_pixels_are_blended_with_white():
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 128))
    value = np.asarray(flat_rgb(image))[5, 5]
    assert 120 <= value.min() and value.max() <= 135  # half black, half white


def test_an_opaque_alpha_band_changes_nothing():
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8))
    rgba = rgb.copy()
    rgba.putalpha(255)
    assert np.array_equal(np.asarray(flat_rgb(rgba)), np.asarray(rgb))
    assert np.array_equal(np.asarray(flat_rgb(rgb)), np.asarray(rgb))


@pytest.mark.parametrize("mode", ["LA", "P", "PA"])
def test_grey_and_palette_transparency_read_as_white_too(mode):
    source = cut_out(hidden=(0, 0, 0))
    if mode == "LA":
        image = source.convert("LA")
    elif mode == "PA":
        image = source.convert("PA")
    else:  # a GIF-style palette with one transparent index
        image = source.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
        image.info["transparency"] = int(np.asarray(image)[0, 0])  # the background's (black) index
        image = Image.open(io.BytesIO(png(image)))  # as a stored PNG with a tRNS chunk reads back
        assert "transparency" in image.info
    flat = np.asarray(flat_rgb(image))
    assert (flat[0, 0] == 255).all()
    assert flat[120, 60].max() < 230  # the disc still shows


def test_every_reader_of_a_stored_transparent_png_sees_it_on_white(tmp_path):
    source = cut_out(hidden=(0, 0, 0))
    path = tmp_path / "logo.png"
    path.write_bytes(png(source))
    expected = np.asarray(on_white(source))
    assert np.abs(np.asarray(open_rgb(path)).astype(int) - expected).max() <= 1
    thumb = Image.open(io.BytesIO(make_thumbnail(path)))
    assert np.asarray(thumb)[2, 2].min() > 240
    preprocess = Preprocess(size=224)
    for_model = np.asarray(prepare(decode_for_model(path.read_bytes(), preprocess), preprocess))
    for_evaluate = prepare(open_rgb(path), preprocess)
    assert np.array_equal(for_model, for_evaluate)  # predict / serve see what evaluate sees
    assert for_model[:, 2, 2].min() > 240


def test_a_transparent_png_and_its_flattened_copy_hash_alike_at_ingest(tmp_path):
    photos = tmp_path / "photos" / "logos"
    photos.mkdir(parents=True)
    source = cut_out(hidden=(0, 0, 0))
    (photos / "cutout.png").write_bytes(png(source))
    (photos / "flattened.png").write_bytes(png(on_white(source)))
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        ingest_folder(ws, FolderOptions(folder=tmp_path / "photos", workers=1))
    catalog = read_catalog(ws).set_index("source_id")
    assert catalog["drop_reason"].isna().all()
    cutout, flattened = catalog.loc["logos/cutout.png"], catalog.loc["logos/flattened.png"]
    assert cutout["sha256"] != flattened["sha256"]
    for column in ("phash", "phash_mirror", "phash_trimmed"):  # plain conversion: a red disc on black
        assert cutout[column] == flattened[column]
    for column in ("brightness_p05", "brightness_p50", "white_clipped_share"):  # the pixel pass's measures
        assert cutout[column] == pytest.approx(flattened[column], abs=0.02)
