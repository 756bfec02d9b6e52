"""Large real photos are kept: a phone's 108 or 200 MP JPEG is not a decompression bomb.

A JPEG decodes at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling), so the store accepts JPEGs up to
MAX_JPEG_PIXELS and never decodes one above MAX_PIXELS; other formats keep the 80 MP limit.
"""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest
from helpers import header_only_png, no_fsync
from PIL import Image, ImageDraw

from classify.decode import decode_for_model
from curate.imageformats import MAX_JPEG_PIXELS, allow_large_jpegs, pixel_limit
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.report.run import _thumbnail
from curate.store import MAX_PIXELS, BadImage, decode_image, inspect_image, open_rgb, reduce_jpeg
from curate.vision.backbones import Preprocess
from curate.workspace import Workspace, read_catalog


def big_jpeg(width: int, height: int, mode: str = "RGB", orientation: int | None = None) -> bytes:
    """A width x height JPEG: a dark ground with a bright block in its top-left quarter."""
    image = Image.new(mode, (width, height), 40 if mode == "L" else (40, 60, 80))
    ImageDraw.Draw(image).rectangle((0, 0, width // 2, height // 2), fill=220 if mode == "L" else (220, 200, 90))
    save = {}
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        save["exif"] = exif
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=60, **save)
    return buffer.getvalue()


def claiming_jpeg(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header claims width x height (a bomb: its header lies)."""
    data = bytearray(big_jpeg(64, 48))
    start = data.index(b"\xff\xc0")  # SOF0: length (2), precision (1), height (2), width (2)
    data[start + 5:start + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


PHONE_108 = (12_000, 9_000)  # Samsung's 108 MP mode
PHONE_200 = (16_320, 12_240)  # 200 MP: over Pillow's own default limit (2 x 89.5 MP)


@pytest.fixture(scope="module")
def large_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("large")
    photos = base / "photos" / "city"
    photos.mkdir(parents=True)
    (photos / "phone108.jpg").write_bytes(big_jpeg(*PHONE_108, orientation=6))  # held sideways: upright 9000 x 12000
    (photos / "phone200.jpg").write_bytes(big_jpeg(*PHONE_200, mode="L"))
    (photos / "small.jpg").write_bytes(big_jpeg(640, 480))
    (photos / "pano.png").write_bytes(header_only_png(9_000, 9_000))  # 81 MP PNG: over the full-decode limit
    (photos / "liar.jpg").write_bytes(claiming_jpeg(20_000, 20_000))  # 400 MP JPEG: over the JPEG limit
    ws = Workspace(base / "ws")
    with no_fsync():
        ingest_folder(ws, FolderOptions(folder=base / "photos", workers=1))
    catalog = read_catalog(ws)
    catalog["name"] = catalog["source_id"].str.rsplit("/", n=1).str[-1]
    return ws, catalog.set_index("name")


def test_phone_photos_over_80_megapixels_are_kept_at_their_upright_size(large_run):
    _, catalog = large_run
    for name, size in (("phone108.jpg", PHONE_108[::-1]), ("phone200.jpg", PHONE_200), ("small.jpg", (640, 480))):
        row = catalog.loc[name]
        assert row["status"] == "kept" and pd.isna(row["drop_reason"]), (name, row["error_detail"])
        assert (row["width"], row["height"]) == size
        assert isinstance(row["phash"], str) and len(row["phash"]) == 16  # the pixel pass ran on it


def test_bombs_are_still_refused_by_their_format_limit(large_run):
    _, catalog = large_run
    pano, liar = catalog.loc["pano.png"], catalog.loc["liar.jpg"]
    assert (pano["status"], pano["drop_reason"]) == ("dropped", "decompression_bomb")
    assert "PNG" in pano["error_detail"] and f"{MAX_PIXELS:,}" in pano["error_detail"]
    assert (liar["status"], liar["drop_reason"]) == ("dropped", "decompression_bomb")
    assert "JPEG" in liar["error_detail"] and f"{MAX_JPEG_PIXELS:,}" in liar["error_detail"]


def test_a_large_jpeg_never_decodes_above_the_full_decode_limit(large_run):
    ws, catalog = large_run
    image = open_rgb(ws.root / catalog.loc["phone200.jpg", "image_path"])  # a "full-size" view
    assert image.width * image.height <= MAX_PIXELS
    assert image.size == (math.ceil(PHONE_200[0] / 2), math.ceil(PHONE_200[1] / 2))  # the least reduction that fits
    assert image.mode == "RGB"
    bright, dark = image.getpixel((10, 10)), image.getpixel((image.width - 10, image.height - 10))
    assert all(abs(value - 220) <= 4 for value in bright) and all(abs(value - 40) <= 4 for value in dark)
    upright = open_rgb(ws.root / catalog.loc["phone108.jpg", "image_path"])
    assert upright.width < upright.height and upright.width * upright.height <= MAX_PIXELS


def test_the_pixel_pass_sees_what_a_later_reader_sees(large_run):
    """The single decode pass hands `analyse` the image open_rgb(min_side=work_side) gives later."""
    ws, catalog = large_run
    for name in ("phone108.jpg", "phone200.jpg"):
        path = ws.root / catalog.loc[name, "image_path"]
        info, image = decode_image(path.read_bytes(), work_side=256)
        later = open_rgb(path, min_side=256)
        assert image.size == later.size and image.tobytes() == later.tobytes()
        assert min(image.size) >= 256 and image.width * image.height < 4_000_000  # 1/8 scale, not full size
        assert (info.width, info.height) == tuple(catalog.loc[name, ["width", "height"]])


def test_the_report_thumbnail_of_a_large_photo_is_small_and_upright(large_run, tmp_path):
    ws, catalog = large_run
    row = catalog.loc["phone108.jpg"]
    relative = _thumbnail(ws.root / row["image_path"], tmp_path, row["sha256"])
    with Image.open(tmp_path / relative) as thumb:
        assert max(thumb.size) == 128 and thumb.width < thumb.height  # EXIF orientation 6 applied


def test_predict_and_serve_decode_a_200_mp_jpeg_at_the_model_size():
    data = big_jpeg(*PHONE_200, mode="L")
    image = decode_for_model(data, Preprocess(size=224))
    assert image.mode == "RGB" and min(image.size) < 400
    with pytest.raises(BadImage) as refused:
        decode_for_model(claiming_jpeg(20_000, 20_000), Preprocess(size=224))
    assert refused.value.reason == "decompression_bomb"


@pytest.mark.parametrize(("min_side", "max_pixels", "expected"), [
    (None, 1_000_000, (1000, 700)),  # fits: full size
    (100, 1_000_000, (250, 175)),  # fits: min_side alone picks 1/4, as Pillow's draft does
    (None, 200_000, (500, 350)),  # 1/2 is the least reduction within the limit
    (None, 100_000, (250, 175)),
    (300, 100_000, (250, 175)),  # the limit wins over min_side
    (50, 100_000, (125, 88)),  # min_side asks for more reduction than the limit: 1/8
    (None, 1_000, (125, 88)),  # nothing fits: 1/8, the most libjpeg reduces
])
def test_reduce_jpeg_picks_the_scale(min_side, max_pixels, expected):
    with Image.open(io.BytesIO(big_jpeg(1000, 700))) as image:
        reduce_jpeg(image, min_side, max_pixels)
        image.load()
        assert image.size == expected


def test_limits_by_format_and_pillows_own_limit():
    assert pixel_limit("JPEG") == MAX_JPEG_PIXELS > PHONE_200[0] * PHONE_200[1] > 2 * 89_478_485
    assert pixel_limit("PNG") == pixel_limit("TIFF") == pixel_limit(None) == MAX_PIXELS
    assert Image.MAX_IMAGE_PIXELS >= MAX_JPEG_PIXELS  # importing curate raised it
    assert inspect_image(big_jpeg(640, 480)).width == 640
    with pytest.raises(BadImage, match="decompression_bomb"):
        inspect_image(header_only_png(60_000, 60_000))  # over Pillow's raised limit too


@pytest.mark.parametrize("theirs", [None, 10**12])
def test_allow_large_jpegs_never_lowers_a_callers_setting(monkeypatch, theirs):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", theirs)
    allow_large_jpegs()
    assert Image.MAX_IMAGE_PIXELS == theirs
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)
    allow_large_jpegs()
    assert Image.MAX_IMAGE_PIXELS == MAX_JPEG_PIXELS


def test_a_large_cut_out_png_is_reduced_before_its_transparency_is_flattened(tmp_path):
    """Audit AS 2: a 79 MP RGBA PNG cost 1.3 GB in the pixel pass (full-size copies for the orientation
    and the transparency). Now it is averaged down first: the pass and a later reader get the same small,
    upright image, its transparent band white, its opaque part as drawn."""
    image = Image.new("RGBA", (3000, 2000), (200, 30, 30, 255))
    ImageDraw.Draw(image).rectangle((0, 0, 2999, 499), fill=(0, 0, 0, 0))  # the top quarter transparent
    exif = Image.Exif()
    exif[0x0112] = 8  # shown turned a quarter turn counter-clockwise
    path = tmp_path / "cutout.png"
    image.save(path, exif=exif)
    info, work = decode_image(path.read_bytes(), work_side=256)
    assert (info.width, info.height) == (2000, 3000)  # the full size, upright
    assert 256 <= min(work.size) < 512 and work.size[0] < work.size[1]
    assert work.tobytes() == open_rgb(path, min_side=256).tobytes()
    assert work.getpixel((5, work.size[1] // 2)) == (255, 255, 255)  # the band, now the left side: white
    assert work.getpixel((work.size[0] - 5, work.size[1] // 2)) == (200, 30, 30)
