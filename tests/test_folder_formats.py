"""`curate ingest folder` and photo formats: HEIC (with pillow-heif) and AVIF are read; HEIC without a decoder
is a row dropped as unsupported_format that the next run tries again; any other file is counted in a
warning, never left out without a word."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import jpeg_bytes
from PIL import Image

from curate.errors import UsageError
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.workspace import Workspace, read_catalog

ROOT = Path(__file__).resolve().parents[1]
pillow_heif = pytest.importorskip("pillow_heif")  # a dev dependency; the optional extra `heif` for users


def picture(seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return Image.fromarray(pixels).resize((128, 96))


def encoded(seed: int, fmt: str) -> bytes:
    buffer = io.BytesIO()
    picture(seed).save(buffer, fmt, quality=90)
    return buffer.getvalue()


def phone_export(tmp_path: Path) -> Path:
    """A phone's export: a JPEG, a HEIC and an AVIF per label, plus a video, a RAW and a note."""
    folder = tmp_path / "photos"
    files = {"beach/a.jpg": jpeg_bytes(color=(10, 120, 200)), "beach/b.HEIC": encoded(1, "HEIF"),
             "beach/c.avif": encoded(2, "AVIF"), "beach/clip.MOV": b"\x00\x00\x00\x14ftypqt  " + bytes(64),
             "street/d.jpg": jpeg_bytes(color=(90, 90, 90)), "street/e.heic": encoded(3, "HEIF"),
             "street/IMG_1.dng": b"II*\x00" + bytes(64), "street/notes.txt": b"shot in 2024",
             "street/d.xml": b"<rsp stat='ok'><photo id='1'/></rsp>", "MD5SUMS.md5": b"0" * 32 + b"  street/d.jpg\n"}
    for relative, data in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    return folder


def test_heic_and_avif_photos_are_ingested_and_other_files_are_named(tmp_path):
    folder = phone_export(tmp_path)
    ws = Workspace(tmp_path / "ws")
    report = ingest_folder(ws, FolderOptions(folder=folder, workers=2))
    catalog = read_catalog(ws).set_index("source_id")
    assert set(catalog.index) == {"beach/a.jpg", "beach/b.HEIC", "beach/c.avif", "street/d.jpg", "street/e.heic"}
    assert (catalog["status"] == "kept").all(), catalog["drop_reason"].to_dict()
    assert catalog.loc[["beach/b.HEIC", "beach/c.avif"], "image_format"].tolist() == ["HEIF", "AVIF"]
    assert (catalog.loc["street/e.heic", ["width", "height"]].tolist()) == [128, 96]
    assert (ws.root / catalog.loc["beach/b.HEIC", "image_path"]).is_file()
    [warning] = [w for w in report.warnings if "not in a format ingest reads" in w]
    assert warning.startswith("2 files in the folder are not in a format ingest reads and were left out "
                              "(.dng 1, .mov 1)")
    assert ".txt" not in warning and ".xml" not in warning  # notes and metadata beside the photos are no photos


WITHOUT_HEIF = """
import sys
sys.modules["pillow_heif"] = None  # as if pillow-heif were not installed
from pathlib import Path
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.workspace import Workspace
ingest_folder(Workspace(Path(sys.argv[2])), FolderOptions(folder=Path(sys.argv[1]), workers=2))
"""


def test_heic_without_a_decoder_is_dropped_with_the_fix_and_read_on_the_next_run(tmp_path):
    folder = phone_export(tmp_path)
    ws = Workspace(tmp_path / "ws")
    done = subprocess.run([sys.executable, "-c", WITHOUT_HEIF, str(folder), str(ws.root)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    first = read_catalog(ws).set_index("source_id")
    heic = ["beach/b.HEIC", "street/e.heic"]
    assert (first.loc[heic, "drop_reason"] == "unsupported_format").all()
    assert first.loc[heic[0], "error_detail"].startswith("HEIC: no decoder installed; pip install pillow-heif")
    assert (first.drop(index=heic)["status"] == "kept").all()  # the JPEGs and the AVIF are read without it
    ingest_folder(ws, FolderOptions(folder=folder, workers=2))  # pillow-heif installed now: tried again
    again = read_catalog(ws).set_index("source_id")
    assert (again.loc[heic, "status"] == "kept").all() and len(again) == len(first)


def test_a_folder_of_only_unread_files_says_what_it_passed_over(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("a.mov", "b.MOV", "c.mp4"):
        (folder / name).write_bytes(bytes(16))
    with pytest.raises(UsageError, match=r"no images \(.*\) and no metadata rows in .* \(3 other files passed over: "
                                         r"\.mov 2, \.mp4 1\); check the folder path"):
        ingest_folder(Workspace(tmp_path / "ws"), FolderOptions(folder=folder, workers=2))


def test_a_linked_label_folder_is_named_not_passed_over_in_silence(tmp_path):
    """A label folder that is a symlink (to photos kept elsewhere) is not followed (a link may loop or lead
    out of the folder), and the ingest says which and what to do."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.jpg").write_bytes(jpeg_bytes(color=(5, 5, 5)))
    folder = tmp_path / "photos"
    (folder / "cats").mkdir(parents=True)
    (folder / "cats" / "a.jpg").write_bytes(jpeg_bytes(color=(1, 2, 3)))
    (folder / "dogs").symlink_to(elsewhere, target_is_directory=True)
    ws = Workspace(tmp_path / "ws")
    report = ingest_folder(ws, FolderOptions(folder=folder, workers=2))
    assert read_catalog(ws)["source_id"].tolist() == ["cats/a.jpg"]
    [warning] = [w for w in report.warnings if "linked folder" in w]
    assert warning.startswith("1 linked folder was not followed (dogs): their photos are not in this ingest")
    only_link = tmp_path / "only"
    only_link.mkdir()
    (only_link / "dogs").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UsageError, match=r"linked folders are not followed \(dogs\); check the folder path"):
        ingest_folder(Workspace(tmp_path / "ws2"), FolderOptions(folder=only_link, workers=2))


def test_an_export_of_heic_photos_says_imagefolder_skips_them_and_resize_writes_jpegs(tmp_path):
    """torchvision's ImageFolder lists only its own extensions: exported as they are, the HEIC and AVIF photos
    would be left out of training without a word. The export says so; with --resize every photo is a JPEG
    that ImageFolder reads."""
    from torchvision.datasets import ImageFolder

    from curate.export.config import ExportConfig
    from curate.export.run import export_workspace
    from curate.split import SplitConfig, run_split

    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, FolderOptions(folder=phone_export(tmp_path), workers=2))
    run_split(ws, SplitConfig(val=0.0, test=0.0))
    as_is = export_workspace(ws, tmp_path / "as-is", ExportConfig("imagefolder"))
    [note] = [n for n in as_is.notes if "ImageFolder skips" in n]
    assert note.startswith("3 kept photos are stored as HEIC/HEIF (2) or AVIF (1) and are exported as they are")
    assert len(ImageFolder(str(tmp_path / "as-is" / "train"))) == 2  # only the JPEGs: what the note warns of
    resized = export_workspace(ws, tmp_path / "jpeg", ExportConfig("imagefolder", resize=4096))
    assert not [n for n in resized.notes if "ImageFolder skips" in n]
    assert len(ImageFolder(str(tmp_path / "jpeg" / "train"))) == 5
