"""Every bad input from issue #2 becomes a row with a precise drop_reason, never a crash.

Run-level mistakes (missing folder, unreadable metadata, unknown column) are one line
and exit code 2, without a traceback.
"""

from __future__ import annotations

import builtins
import csv
import hashlib
import io
import os
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import header_only_png, jpeg_bytes, no_fsync, png_bytes
from PIL import Image
from typer.testing import CliRunner

from curate.cli.app import app
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.ingest.folder_records import safe_relative_path
from curate.store import MAX_PIXELS, open_rgb
from curate.workspace import Workspace, read_catalog


def encoded(image: Image.Image, fmt: str, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def noisy_jpeg(seed: int, size: int = 96) -> bytes:
    rng = random.Random(seed)
    return encoded(Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3)), "JPEG", quality=95)


def rotated_jpeg(width: int, height: int, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(Image.new("RGB", (width, height), (30, 60, 90)), "JPEG", exif=exif)


def animated_gif() -> bytes:
    # Frames must differ: Pillow merges identical consecutive frames into one.
    frames = [Image.new("RGB", (64, 64), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def two_page_tiff() -> bytes:
    """A photo with a small preview as its second page, as scanners and Photoshop write (audit AS 4)."""
    photo = Image.new("RGB", (96, 64), (200, 90, 40))
    return encoded(photo, "TIFF", save_all=True, append_images=[photo.resize((24, 16))])


BAD_FILES = {  # file name -> (bytes, expected drop_reason or None when it must be kept)
    "truncated.jpg": (noisy_jpeg(1)[: len(noisy_jpeg(1)) // 2], "truncated_image"),
    "header-cut.jpg": (noisy_jpeg(1)[:600], "truncated_image"),  # cut inside its header: PIL cannot open it
    "header-cut.png": (png_bytes(64, 48)[:20], "truncated_image"),
    "zero.jpg": (b"", "empty_file"),
    "text.jpg": (b"<html><body>404 not found</body></html>\n" * 3, "not_an_image"),
    "animated.gif": (animated_gif(), "animated"),
    "two-page.tif": (two_page_tiff(), None),
    "cut.webp": (encoded(Image.effect_noise((96, 64), 60).convert("RGB"), "WEBP")[:900], "truncated_image"),
    "tiny.png": (png_bytes(20, 20), "too_small"),
    "thin.jpg": (jpeg_bytes(400, 31), "too_small"),
    "bomb.png": (header_only_png(10_000, 10_000), "decompression_bomb"),  # 1e8 px: over our cap
    "megabomb.png": (header_only_png(60_000, 60_000), "decompression_bomb"),  # over Pillow's own limit
    "cmyk.jpg": (encoded(Image.new("CMYK", (64, 40), (0, 128, 255, 10)), "JPEG"), None),
    "deep16.png": (encoded(Image.new("I;16", (50, 40), 40_000), "PNG"), None),
    "float.tiff": (encoded(Image.linear_gradient("L").resize((64, 48)).point(lambda v: v / 255.0, "F"), "TIFF"), None),
    "rotated.jpg": (rotated_jpeg(80, 40, orientation=6), None),
    "mirrored.jpg": (rotated_jpeg(80, 40, orientation=2), None),  # mirror only: no swap
}


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    """One ingest of a folder holding every kind of bad file (one run keeps the suite fast)."""
    base = tmp_path_factory.mktemp("bad")
    photos = base / "photos"
    photos.mkdir()
    for name, (data, _) in BAD_FILES.items():
        (photos / name).write_bytes(data)
    (photos / "dangling.jpg").symlink_to(photos / "gone.jpg")  # listed by the scan, unreadable
    (photos / "folder.jpg").mkdir()  # a directory named like a photo, referenced by the sidecar
    good = {f"good{i}.jpg": jpeg_bytes(color=(i * 20, 100, 50)) for i in range(1, 8)}
    for name, data in good.items():
        (photos / name).write_bytes(data)
    rows = [
        ("good1.jpg", "nan-lat", "NaN", "10", "ok"),
        ("good2.jpg", "big-lat", "95", "10", ""),
        ("good3.jpg", "big-lon", "10", "-180.5", ", ,"),
        ("good4.jpg", "unicode", "-33.8", "151.2", "Zürich, 東京, Cafe\u0301 , ZÜRICH,  "),
        ("good5.jpg", "dup", "1", "2", "first"),
        ("good6.jpg", "dup", "3", "4", "second"),
        ("good7.jpg", "inf-lon", "1", "inf", "x"),
        ("folder.jpg", "a-directory", "", "", ""),
        ("missing.jpg", "absent", "", "", ""),
        ("", "no-file", "", "", ""),
    ]
    with (base / "meta.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "photo_id", "latitude", "longitude", "tags"])
        writer.writerows(rows)
    ws = Workspace(base / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=photos, metadata=base / "meta.csv", workers=2))
    return ws, report, read_catalog(ws).set_index("photo_id")


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_each_bad_file_is_a_row_with_its_reason(bad_run, name):
    _, _, catalog = bad_run
    row = catalog.loc[f"folder:{name}"]
    expected = BAD_FILES[name][1]
    if expected is None:
        assert row["status"] == "kept" and pd.isna(row["drop_reason"]), row["error_detail"]
        assert row["sha256"] == hashlib.sha256(BAD_FILES[name][0]).hexdigest()
    else:
        assert (row["status"], row["drop_reason"], row["drop_stage"]) == ("dropped", expected, "ingest")
        assert pd.isna(row["image_path"]) and pd.isna(row["sha256"])


def test_unreadable_and_missing_files_are_rows(bad_run):
    _, report, catalog = bad_run
    assert catalog.loc["folder:dangling.jpg", "drop_reason"] == "unreadable_file"
    assert catalog.loc["folder:a-directory", "drop_reason"] == "unreadable_file"
    assert "Is a directory" in catalog.loc["folder:a-directory", "error_detail"]  # the reason, not a class name
    assert catalog.loc["folder:absent", "drop_reason"] == "missing_file"
    assert catalog.loc["folder:no-file", "drop_reason"] == "missing_file"
    # the bad files + the dangling link + 7 good photos + 3 sidecar rows without a readable photo
    assert report.records == len(catalog) == len(BAD_FILES) + 1 + 7 + 3


def test_odd_but_valid_images_are_kept_with_upright_size(bad_run):
    ws, _, catalog = bad_run
    assert tuple(catalog.loc["folder:rotated.jpg", ["width", "height"]]) == (40, 80)  # orientation 6 swaps
    assert tuple(catalog.loc["folder:mirrored.jpg", ["width", "height"]]) == (80, 40)
    assert tuple(catalog.loc["folder:cmyk.jpg", ["width", "height", "image_format"]]) == (64, 40, "JPEG")
    assert tuple(catalog.loc["folder:deep16.png", ["width", "height", "image_format"]]) == (50, 40, "PNG")
    for name in ("cmyk.jpg", "deep16.png", "rotated.jpg"):
        image = open_rgb(ws.root / catalog.loc[f"folder:{name}", "image_path"])
        assert image.mode == "RGB"
    assert open_rgb(ws.root / catalog.loc["folder:rotated.jpg", "image_path"]).size == (40, 80)


def test_a_floating_point_image_is_read_by_its_range_not_as_black(bad_run):
    """Audit X: a mode-F TIFF with values 0-1 (scientific, HDR exports) went through PIL's conversion,
    which clips to 0 and 1: every stage saw an all-black photo. Ingest, the loader and the stored
    image all read its grey ramp now."""
    from curate.store import flat_rgb  # what predict and serve convert other modes with, at full size

    ws, _, catalog = bad_run
    path = ws.root / catalog.loc["folder:float.tiff", "image_path"]
    stored = np.asarray(open_rgb(path), dtype=float)
    assert Image.open(path).mode == "F" and 100 < stored.mean() < 155 and stored.max() >= 250
    assert np.abs(np.asarray(flat_rgb(Image.open(path)), dtype=float) - stored).max() <= 1
    assert catalog.loc["folder:float.tiff", "brightness_p50"] > 0.3  # the quality checks read it too


@pytest.mark.parametrize("edit", ["overshoot", "nan", "inf", "hot", "scaled255", "int32"])
def test_a_floating_point_image_is_not_turned_black_by_a_few_pixels(edit):
    """Audit O: a 0-1 float image whose maximum was 1.001, or with one NaN or inf pixel, and a 0-255 one with
    one hot pixel, still decoded all black (the range was read from the maximum); an int32 image of 0-255
    too (value / 256). The range is read from the 99.9th percentile of the finite values now."""
    from curate.store import as_eight_bit

    ramp = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (48, 1))
    values = {"overshoot": np.where(ramp == 1.0, 1.001, ramp), "scaled255": ramp * 255,
              "nan": np.where(np.arange(ramp.size).reshape(ramp.shape) == 5, np.nan, ramp),
              "inf": np.where(np.arange(ramp.size).reshape(ramp.shape) == 5, np.inf, ramp),
              "hot": np.where(np.arange(ramp.size).reshape(ramp.shape) == 5, 1e6, ramp * 255),
              "int32": ramp * 255}[edit]
    image = Image.fromarray(values.astype(np.int32), mode="I") if edit == "int32" else Image.fromarray(
        values.astype(np.float32), mode="F")
    grey = np.asarray(as_eight_bit(image), dtype=float)
    assert abs(grey.mean() - 127.5) < 3 and grey.max() >= 250, (edit, grey.mean())


def test_bomb_files_are_small_and_over_the_pixel_cap():
    data = BAD_FILES["bomb.png"][0]
    assert len(data) < 200 and 10_000 * 10_000 > MAX_PIXELS


def test_bad_coordinates_are_nulled_with_a_reason(bad_run):
    _, _, catalog = bad_run
    expected = {"nan-lat": "not_a_number", "big-lat": "out_of_range", "big-lon": "out_of_range",
                "inf-lon": "not_a_number"}
    for source_id, issue in expected.items():
        row = catalog.loc[f"folder:{source_id}"]
        assert pd.isna(row["lat"]) and pd.isna(row["lon"]) and row["coord_issue"] == issue
        assert row["status"] == "kept"  # bad coordinates are the filter stage's business, not ingest's
    good = catalog.loc["folder:unicode"]
    assert (good["lat"], good["lon"]) == (-33.8, 151.2) and pd.isna(good["coord_issue"])


def test_unicode_and_empty_tags(bad_run):
    _, _, catalog = bad_run
    assert list(catalog.loc["folder:unicode", "tags"]) == ["zürich", "東京", "caf\u00e9"]
    assert list(catalog.loc["folder:big-lat", "tags"]) == []
    assert list(catalog.loc["folder:big-lon", "tags"]) == []


def test_duplicate_photo_ids_keep_both_rows(bad_run):
    ws, _, catalog = bad_run
    first, repeat = catalog.loc["folder:dup"], catalog.loc["folder:dup#2"]
    assert first["status"] == "kept" and list(first["tags"]) == ["first"]
    assert (repeat["status"], repeat["drop_reason"]) == ("dropped", "duplicate_photo_id")
    assert list(repeat["tags"]) == ["second"] and repeat["source_id"] == "dup"
    assert (ws.root / first["image_path"]).is_file()


# ---- paths that try to leave the folder ---------------------------------------------------------

@pytest.mark.parametrize("raw, reason", [
    ("../x.jpg", "unsafe_path"), ("a/../../x.jpg", "unsafe_path"), ("a/../x.jpg", "unsafe_path"),
    ("/etc/passwd", "unsafe_path"), ("C:\\photos\\x.jpg", "unsafe_path"), ("..\\x.jpg", "unsafe_path"),
    ("", "missing_file"), (None, "missing_file"), ("ok/x.jpg", None), ("./ok/x.jpg", None),
])
def test_safe_relative_path(tmp_path, raw, reason):
    relative, path, got = safe_relative_path(tmp_path.resolve(), raw)
    assert got == reason
    assert (path is None) == (reason is not None)
    if reason is None:
        assert relative == "ok/x.jpg" and path == str(tmp_path.resolve() / "ok" / "x.jpg")


def test_paths_outside_the_folder_are_never_read_or_stored(tmp_path, monkeypatch):
    secret = jpeg_bytes(color=(255, 0, 255))
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(secret)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "inside.jpg").write_bytes(jpeg_bytes())
    (photos / "link.jpg").symlink_to(outside)  # inside by name, outside by target
    (photos / "listed_link.jpg").symlink_to(outside)
    (photos / "meta.csv").write_text(
        f"file,id\ninside.jpg,in\n../outside.jpg,rel\n{outside},abs\nlisted_link.jpg,linked\n")
    opened = []
    real_open = builtins.open

    def spy_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            opened.append(Path(file).resolve())
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)  # pathlib reads through io.open
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, FolderOptions(folder=photos, metadata=photos / "meta.csv", workers=2))
    monkeypatch.undo()
    assert photos.resolve() / "inside.jpg" in opened  # the spy does see reads
    assert outside.resolve() not in opened
    catalog = read_catalog(ws).set_index("photo_id")
    for photo_id in ("folder:rel", "folder:abs", "folder:linked", "folder:link.jpg"):
        assert (catalog.loc[photo_id, "status"], catalog.loc[photo_id, "drop_reason"]) == ("dropped", "unsafe_path")
    details = catalog["error_detail"]  # each says why (audit AS 6)
    assert "'..'" in details["folder:rel"] and "absolute path" in details["folder:abs"]
    for photo_id in ("folder:linked", "folder:link.jpg"):
        assert details[photo_id].startswith(f"a symlink to {outside}: outside the folder")
    secret_sha = hashlib.sha256(secret).hexdigest()
    assert secret_sha not in set(catalog["sha256"].dropna())
    assert not any(secret_sha in p.name for p in ws.images_dir.rglob("*"))
    assert catalog.loc["folder:in", "status"] == "kept"


# ---- run-level errors: one line, exit code 2 ----------------------------------------------------

def _one_line_exit_2(args: list[str], ws: Path) -> str:
    result = CliRunner().invoke(app, ["ingest", "folder", *args, "--workspace", str(ws)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


@pytest.fixture
def small_folder(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(jpeg_bytes())
    return photos


def test_missing_folder(tmp_path):
    assert "does not exist" in _one_line_exit_2([str(tmp_path / "nope")], tmp_path / "ws")


def test_folder_is_a_file(tmp_path, small_folder):
    assert "not a folder" in _one_line_exit_2([str(small_folder / "a.jpg")], tmp_path / "ws")


def test_empty_folder_without_metadata(tmp_path):
    (tmp_path / "empty" / "notes").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("no photos here")
    assert "no images" in _one_line_exit_2([str(tmp_path / "empty")], tmp_path / "ws")


@pytest.mark.parametrize("content, needle", [
    (None, "does not exist"),
    ("DIR", "is a folder"),
    (b"file,id\n\xff\xfe\xfa.jpg,1\n", "not UTF-8"),
    ("file,id\na.jpg,1\nb.jpg,2,3,4\n", "not valid CSV"),
    ("", "not valid CSV"),
])
def test_unreadable_or_malformed_csv_metadata(tmp_path, small_folder, content, needle):
    sidecar = tmp_path / "meta.csv"
    if content == "DIR":
        sidecar.mkdir()
    elif isinstance(content, bytes):
        sidecar.write_bytes(content)
    elif content is not None:
        sidecar.write_text(content)
    assert needle in _one_line_exit_2([str(small_folder), "--metadata", str(sidecar)], tmp_path / "ws")


@pytest.mark.parametrize("name, content, needle", [
    ("m.json", '[{"file": "a.jpg"}, ', "line 1 is not valid JSON"),
    ("m.jsonl", '{"file": "a.jpg"}\n{"file": \n', "line 2 is not valid JSON"),
    ("m.json", '{"photos": [\n  {"file": "a.jpg"}\n]}', "list of objects"),
    ("m.json", '[1, 2]', "list of objects"),
])
def test_malformed_json_metadata(tmp_path, small_folder, name, content, needle):
    (tmp_path / name).write_text(content)
    assert needle in _one_line_exit_2([str(small_folder), "--metadata", str(tmp_path / name)], tmp_path / "ws")


@pytest.mark.parametrize("args, needle", [
    (["--map", "lat=no_such_column"], "'no_such_column' (for lat) is not in the metadata"),
    (["--label-column", "colour"], "'colour' (for label) is not in the metadata"),
    (["--map", "nonsense=id"], "field 'nonsense' is unknown"),
    (["--map", "lat"], "--map expects FIELD=COLUMN"),
    (["--label-from", "weather"], "--label-from must be one of"),
    (["--label-from", "tags"], "needs --recipe"),
    (["--recipe", "no-such-recipe"], "unknown recipe"),
    (["--workers", "0"], "--workers must be at least 1"),
])
def test_bad_options(tmp_path, small_folder, args, needle):
    (small_folder / "metadata.csv").write_text("file,id\na.jpg,1\n")
    line = _one_line_exit_2([str(small_folder), *args], tmp_path / "ws")
    assert needle in line


def test_metadata_without_a_file_column(tmp_path, small_folder):
    (tmp_path / "m.csv").write_text("id,title\n1,hello\n")
    line = _one_line_exit_2([str(small_folder), "--metadata", str(tmp_path / "m.csv")], tmp_path / "ws")
    assert "no file column" in line and "--map file=COLUMN" in line


def test_map_without_metadata(tmp_path, small_folder):
    assert "need a metadata file" in _one_line_exit_2([str(small_folder), "--map", "lat=y"], tmp_path / "ws")


def test_run_level_errors_write_no_catalog(tmp_path):
    _one_line_exit_2([str(tmp_path / "nope")], tmp_path / "ws")
    assert not (tmp_path / "ws" / "catalog.parquet").exists()


def test_doctests_of_the_store_module():
    import doctest

    from curate import store

    assert doctest.testmod(store).failed == 0


def test_a_cut_webp_says_the_file_is_cut_not_its_header(bad_run):
    """Audit AS 7: Pillow decodes a WebP whole as it opens, so a cut in its image data failed as if in
    its header."""
    _, _, catalog = bad_run
    assert catalog.loc["folder:cut.webp", "error_detail"].endswith("bytes: the file is cut short")
    assert catalog.loc["folder:header-cut.png", "error_detail"].endswith("bytes: the header is cut short")


def test_a_symlink_to_nothing_outside_the_folder_says_so(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "fine.jpg").write_bytes(jpeg_bytes())
    (photos / "gone.jpg").symlink_to(tmp_path / "cache" / "gone.jpg")
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, FolderOptions(folder=photos, workers=1))
    row = read_catalog(ws).set_index("photo_id").loc["folder:gone.jpg"]
    assert row["drop_reason"] == "unsafe_path" and "which does not exist" in row["error_detail"]


def test_a_cut_avif_is_truncated_where_pillow_reads_avif():
    """Audit AU: a cut AVIF was dropped as unsupported_format, "this Pillow has no AVIF decoder; upgrade
    Pillow", on a Pillow that reads AVIF."""
    from PIL import features

    from curate.store import BadImage, decode_image

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    data = encoded(Image.effect_noise((96, 64), 60).convert("RGB"), "AVIF")
    with pytest.raises(BadImage) as cut:
        decode_image(data[: len(data) // 2], work_side=64)
    assert cut.value.reason == "truncated_image" and "the file is cut short" in cut.value.detail


def test_a_jpeg_cut_in_its_image_data_says_so_without_pillows_byte_count():
    """Audit DH 7: serve's 422 (and the catalog's detail) passed on Pillow's "image file is truncated (3 bytes not
    processed)" for a JPEG cut to 3,000 of 844,586 bytes: a count of its last read, not of what is missing."""
    from curate.store import BadImage, decode_image

    data = noisy_jpeg(1)
    with pytest.raises(BadImage) as cut:
        decode_image(data[: len(data) // 2], work_side=64)
    assert cut.value.reason == "truncated_image" and cut.value.detail == "the image data is cut short"


def test_a_jpeg_cut_in_its_image_data_says_so_in_serve_predict_and_training_too(tmp_path):
    """Review DN: audit DH 7's fix reached ingest's decode alone; serve's 422 and predict (`decode_for_model`) and
    training's left_out.csv (the resize cache's reason) still passed on Pillow's "(276 bytes not processed)"."""
    from classify.data import _resize_one
    from classify.decode import decode_for_model
    from classify.model import Preprocess
    from curate.store import BadImage

    data = noisy_jpeg(1)
    cut = data[: len(data) // 2]
    with pytest.raises(BadImage) as served:
        decode_for_model(cut, Preprocess(size=64))
    assert served.value.reason == "truncated_image" and served.value.detail == "the image data is cut short"
    (tmp_path / "cut.jpg").write_bytes(cut)
    assert _resize_one(tmp_path / "cut.jpg", tmp_path / "out.jpg", 32) == "truncated_image: the image data is cut short"
