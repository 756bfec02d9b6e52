"""A stored image whose bytes changed after ingest (a truncated copy, a flipped bit) is not
exported: `curate export` checks each image it writes against the SHA-256 it was stored under,
lists a damaged one in export.json and names it in a warning; a re-ingest puts back a stored
image that was deleted."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import uuid
from pathlib import Path

import fsspec
import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import demo_workspace, smooth_photo

from curate import objectstore
from curate.cli.app import app
from curate.cli.common import run_app
from curate.export import ExportConfig, export_workspace
from curate.export.plan import DAMAGED_REASON
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.workspace import Workspace, read_catalog


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory) -> Workspace:
    return demo_workspace(tmp_path_factory.mktemp("export-damaged-ws"), photos=60, seed=6)


@pytest.fixture
def own_ws(demo_ws, tmp_path) -> Workspace:
    shutil.copytree(demo_ws.root, tmp_path / "ws")
    return Workspace(tmp_path / "ws")


def exported_rows(ws: Workspace) -> pd.DataFrame:
    catalog = read_catalog(ws)
    rows = catalog[(catalog["status"] == "kept") & catalog["split"].notna() & catalog["label"].notna()]
    assert len(rows) > 10 and rows["sha256"].is_unique
    return rows.sort_values("photo_id").reset_index(drop=True)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def cli(args: list, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        run_app(app, "curate", [str(a) for a in args])
    out = capsys.readouterr()
    return stopped.value.code, out.out, out.err


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_truncated_stored_image_is_listed_as_damaged_and_not_copied(own_ws, tmp_path, capsys):
    rows = exported_rows(own_ws)
    bad = rows.iloc[2]
    truncate(own_ws.root / bad["image_path"])
    code, out, err = cli(["export", "-f", "imagefolder", "-o", tmp_path / "out", "-w", own_ws.root], capsys)
    assert code == 0, err
    warning = [line for line in err.splitlines() if "damaged" in line]
    assert len(warning) == 1 and bad["photo_id"] in warning[0] and "curate ingest" in warning[0]
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    assert manifest["missing_images"] == [{"photo_id": bad["photo_id"], "split": bad["split"], "label": bad["label"],
                                           "reason": DAMAGED_REASON}]
    images = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and p.suffix in (".jpg", ".png")]
    # every exported file is a stored image as it was ingested; the damaged one is not among them
    assert sorted(sha(p.read_bytes()) for p in images) == sorted(set(rows["sha256"]) - {bad["sha256"]})
    assert bad["photo_id"] not in set(pd.read_csv(tmp_path / "out" / "ATTRIBUTION.csv")["photo_id"])
    assert f"{len(rows) - 1} photos: {len(rows) - 1} files written" in out


def test_a_damaged_image_leaves_its_shard_whole_without_it(own_ws, tmp_path):
    rows = exported_rows(own_ws)
    bad = rows.iloc[5]
    flip_a_byte(own_ws.root / bad["image_path"])  # same size: only the hash tells
    result = export_workspace(own_ws, tmp_path / "wds", ExportConfig("webdataset", shard_samples=8))
    assert list(result.plan.missing["photo_id"]) == [bad["photo_id"]]
    assert result.plan.excluded.get("damaged stored image") == 1 and result.plan.photos == len(rows) - 1
    samples: dict[str, set[str]] = {}
    for shard in sorted((tmp_path / "wds").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                stem, ext = member.name.rsplit(".", 1)
                samples.setdefault(stem, set()).add(ext)
                if ext == "jpg":
                    assert sha(tar.extractfile(member).read()) in set(rows["sha256"]) - {bad["sha256"]}
    # every sample has its image, class and metadata; one sample per exported photo
    assert len(samples) == len(rows) - 1 and all(exts == {"jpg", "cls", "json"} for exts in samples.values())
    info = json.loads((tmp_path / "wds" / "_info.json").read_text())
    assert sum(split["num_samples"] for split in info["splits"].values()) == len(rows) - 1


def test_hf_parquet_leaves_the_damaged_image_out(own_ws, tmp_path):
    rows = exported_rows(own_ws)
    bad = rows.iloc[0]
    truncate(own_ws.root / bad["image_path"])
    export_workspace(own_ws, tmp_path / "hf", ExportConfig("hf-parquet"))
    table = pd.concat([pq.read_table(p).to_pandas() for p in sorted((tmp_path / "hf" / "data").glob("*.parquet"))])
    assert len(table) == len(rows) - 1 and bad["photo_id"] not in set(table["photo_id"])
    assert {sha(cell["bytes"]) for cell in table["image"]} == set(rows["sha256"]) - {bad["sha256"]}


def test_no_verify_copies_the_stored_bytes_as_they_are(own_ws, tmp_path):
    rows = exported_rows(own_ws)
    bad = rows.iloc[1]
    truncate(own_ws.root / bad["image_path"])
    result = export_workspace(own_ws, tmp_path / "out", ExportConfig("imagefolder", verify=False))
    assert result.plan.photos == len(rows) and len(result.plan.missing) == 0
    written = {p.read_bytes() for p in (tmp_path / "out").rglob("*.jpg")}
    assert (own_ws.root / bad["image_path"]).read_bytes() in written


def test_a_damaged_object_on_an_object_store_is_left_out(own_ws, tmp_path):
    rows = exported_rows(own_ws)
    bad = rows.iloc[3]
    url = f"memory://bucket-{uuid.uuid4().hex[:12]}/photos"
    memory = fsspec.filesystem("memory")
    try:
        for path in sorted(own_ws.images_dir.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                if path == own_ws.root / bad["image_path"]:
                    data = data[: len(data) // 2]
                memory.pipe_file(f"{url}/{path.relative_to(own_ws.images_dir)}", data)
        shutil.rmtree(own_ws.images_dir)
        (own_ws.root / objectstore.STORE_FILE).write_text(json.dumps({"uri": url}) + "\n", encoding="utf-8")
        result = export_workspace(own_ws, tmp_path / "out", ExportConfig("imagefolder"))
    finally:
        memory.rm(url, recursive=True)
    assert list(result.plan.missing["reason"]) == [DAMAGED_REASON]
    assert {sha(p.read_bytes()) for p in (tmp_path / "out").rglob("*.jpg")} == set(rows["sha256"]) - {bad["sha256"]}


def test_a_re_export_after_the_damage_is_repaired_adds_the_photo(own_ws, tmp_path):
    rows = exported_rows(own_ws)
    bad = rows.iloc[4]
    stored = own_ws.root / bad["image_path"]
    good = stored.read_bytes()
    truncate(stored)
    first = export_workspace(own_ws, tmp_path / "out", ExportConfig("imagefolder"))
    assert first.written == len(rows) - 1
    stored.write_bytes(good)
    second = export_workspace(own_ws, tmp_path / "out", ExportConfig("imagefolder"))
    assert (second.written, second.reused, len(second.plan.missing)) == (1, len(rows) - 1, 0)


# -- re-ingest puts a deleted stored image back ------------------------------------------------

def photo_folder(root: Path) -> Path:
    for number in range(6):
        path = root / ("harbour" if number % 2 else "tower") / f"{number}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(smooth_photo(number + 1, 80, 60, "JPEG"))
    return root


def ingested_with_one_image_gone(tmp_path: Path, row: int) -> tuple[Workspace, Path, pd.DataFrame, pd.Series]:
    """(workspace, source folder, catalog, the row) after ingesting a folder and deleting one stored image."""
    ws = Workspace(tmp_path / "ws")
    folder = photo_folder(tmp_path / "src")
    ingest_folder(ws, FolderOptions(folder=folder, workers=1))
    before = read_catalog(ws)
    gone = before.iloc[row]
    (ws.root / gone["image_path"]).unlink()
    return ws, folder, before, gone


def test_a_re_ingest_puts_back_a_deleted_stored_image_and_leaves_the_row(tmp_path):
    ws, folder, before, gone = ingested_with_one_image_gone(tmp_path, 2)
    report = ingest_folder(ws, FolderOptions(folder=folder, workers=1))
    assert report.restored == 1 and "1 missing stored image put back" in report.summary()
    assert sha((ws.root / gone["image_path"]).read_bytes()) == gone["sha256"]
    pd.testing.assert_frame_equal(read_catalog(ws), before)


def test_a_source_that_changed_cannot_put_the_image_back_and_says_so(tmp_path):
    ws, folder, before, gone = ingested_with_one_image_gone(tmp_path, 1)
    (folder / gone["source_id"]).write_bytes(smooth_photo(99, 80, 60, "JPEG"))
    report = ingest_folder(ws, FolderOptions(folder=folder, workers=1))
    assert report.restored == 0 and any("could not be put back" in w for w in report.warnings)
    assert not (ws.root / gone["image_path"]).exists()
    assert read_catalog(ws).loc[1, "sha256"] == gone["sha256"]


def test_export_warns_for_a_damaged_image_and_json_counts_it(own_ws, tmp_path, capsys):
    rows = exported_rows(own_ws)
    truncate(own_ws.root / rows.iloc[0]["image_path"])
    code, out, err = cli(["export", "-f", "csv", "-o", tmp_path / "out", "-w", own_ws.root, "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["missing_images"] == 1 and summary["excluded"]["damaged stored image"] == 1
    assert "damaged" in err and "Traceback" not in err
    assert io.StringIO(err).read().count("\n") <= 2
