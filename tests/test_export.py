"""`curate export`: round trips with the real consumers (torchvision ImageFolder, webdataset,
Hugging Face datasets), attribution, determinism, resume, refusals and recipes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import demo_workspace, some_slow
from PIL import Image

from curate.catalog_batches import CatalogFile
from curate.cli.app import app
from curate.cli.common import run_app
from curate.errors import DataContractError, UsageError
from curate.export import ExportConfig, export_workspace
from curate.export.plan import plan_columns, plan_export
from curate.export.run import image_sizes
from curate.export.spill import plan_from_file
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import export_interrupted_after


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory) -> Workspace:
    return demo_workspace(tmp_path_factory.mktemp("export-ws"), photos=80, seed=4)


@pytest.fixture(scope="module")
def exported(demo_ws, tmp_path_factory):
    """`exported(fmt, **settings)`: (folder, ExportResult) of `export_workspace(demo_ws, folder, ExportConfig(fmt,
    **settings))`, run once per module for each configuration; tests read that folder, never change it."""
    done: dict[str, tuple[Path, object]] = {}

    def export(fmt: str, **settings):
        config = ExportConfig(fmt, **settings)
        key = repr(config)
        if key not in done:
            folder = tmp_path_factory.mktemp("exported") / fmt
            done[key] = folder, export_workspace(demo_ws, folder, config)
        return done[key]

    return export


@pytest.fixture
def own_ws(demo_ws, tmp_path) -> Workspace:
    """A copy of the demo workspace a test may change."""
    shutil.copytree(demo_ws.root, tmp_path / "ws")
    return Workspace(tmp_path / "ws")


def expected(ws: Workspace) -> pd.DataFrame:
    """Kept photos with a split and a label, straight from the catalog: what an export must hold."""
    catalog = read_catalog(ws)
    rows = catalog[(catalog["status"] == "kept") & catalog["split"].notna() & catalog["label"].notna()]
    assert rows["sha256"].is_unique and len(rows) > 20 and rows["split"].nunique() >= 2
    return rows.set_index("sha256")


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        run_app(app, "curate", [str(a) for a in args])
    out = capsys.readouterr()
    return stopped.value.code, out.out, out.err


def one_line_error(args, capsys, code: int, says: str) -> None:
    got, out, err = cli(args, capsys)
    lines = err.strip().splitlines()
    assert got == code and len(lines) == 1 and says in lines[0], (got, out, err)
    assert "Traceback" not in err + out


def test_imagefolder_loads_in_torchvision_with_exactly_the_kept_photos_and_labels(demo_ws, tmp_path, capsys):
    from torchvision.datasets import ImageFolder

    want = expected(demo_ws)
    code, _, err = cli(["export", "--format", "imagefolder", "--out", tmp_path / "out", "-w", demo_ws.root], capsys)
    assert code == 0, err
    for split, rows in want.groupby("split"):
        dataset = ImageFolder(str(tmp_path / "out" / split))
        found = {hashlib.sha256(Path(path).read_bytes()).hexdigest(): dataset.classes[target]
                 for path, target in dataset.samples}
        assert found == rows["label"].to_dict()
        image, _ = dataset[0]
        assert image.size == (64, 48)


def test_a_split_lacking_classes_is_named_in_a_note_and_export_json(demo_ws, exported, tmp_path, capsys):
    """The all-real-photos audit: train had 21 class folders, val 18, test 19, and nothing said that
    ImageFolder then numbers each split's classes differently. The export names each split lacking classes
    and the fix; a split holding every class is not named."""
    want = expected(demo_ws)
    classes = set(want["label"])
    lacking = {split: sorted(classes - set(rows["label"])) for split, rows in want.groupby("split")}
    assert any(lacking.values()), lacking  # the premise: an 80-photo demo leaves some class out of a split
    code, out, err = cli(["export", "--format", "imagefolder", "--out", tmp_path / "out", "-w", demo_ws.root],
                         capsys)
    assert code == 0, err
    text = " ".join(out.split())
    notes = json.loads((tmp_path / "out" / "export.json").read_text())["notes"]
    [note] = [n for n in notes if "classes (not" in n]
    assert " ".join(note.split()) in text and "export.json's `classes`" in note
    for split, missing in lacking.items():
        held = f"{split} holds {len(classes) - len(missing)} of the {len(classes)} classes"
        assert (held in note) == bool(missing)
    # audit AL: the formats that store the class index get no such note; hf names the `datasets` call that shifts
    for fmt, says in (("webdataset", None), ("hf-parquet", None), ("hf", "class_encode_column")):
        _, result = exported(fmt)  # export_workspace(demo_ws, <folder>, ExportConfig(fmt))
        shifting = [n for n in result.notes if "classes (not" in n]
        assert (says in shifting[0]) if says else not shifting, (fmt, result.notes)


def test_webdataset_shards_load_in_the_webdataset_library(demo_ws, exported):
    wds = pytest.importorskip("webdataset")
    want = expected(demo_ws)
    out, _ = exported("webdataset", shard_samples=10)
    manifest = json.loads((out / "export.json").read_text())
    for split, rows in want.groupby("split"):
        shards = sorted(str(p) for p in out.glob(f"{split}-*.tar"))
        assert len(shards) == -(-len(rows) // 10)  # at most 10 samples per shard
        samples = list(wds.WebDataset(shards, shardshuffle=False).to_tuple("jpg", "cls", "json"))
        found = {}
        for jpg, cls, meta in samples:
            meta = json.loads(meta)
            digest = hashlib.sha256(jpg).hexdigest()
            assert manifest["classes"][int(cls)] == meta["label"] and meta["split"] == split
            found[digest] = meta["label"]
            assert want.loc[digest, "photo_id"] == meta["photo_id"]
        assert found == rows["label"].to_dict()
        decoded = next(iter(wds.WebDataset(shards[:1], shardshuffle=False).decode("pil").to_tuple("jpg")))[0]
        assert decoded.size == (64, 48)


def test_webdataset_info_lets_timm_read_each_split(demo_ws, exported):
    """`_info.json` is the index timm's `wds/` reader needs; with timm installed, it reads the shards."""
    want = expected(demo_ws)
    out, _ = exported("webdataset", shard_samples=10)
    info = json.loads((out / "_info.json").read_text())
    for split, rows in want.groupby("split"):
        entry = info["splits"][split]
        assert entry["num_samples"] == sum(entry["shard_lengths"]) == len(rows)
        assert entry["filenames"] == sorted(p.name for p in out.glob(f"{split}-*.tar"))
    try:
        import timm.data
    except ImportError:
        return  # timm is optional; the index above is what it reads
    dataset = timm.data.create_dataset("wds/curated", root=str(out), split="train", is_training=False)
    labels = sorted(info["classes"][int(target)] for _, target in dataset)
    assert labels == sorted(want.loc[want["split"] == "train", "label"])


def test_hf_metadata_names_every_image_with_its_label(demo_ws, exported):
    want = expected(demo_ws)
    hf, _ = exported("hf")
    for split, rows in want.groupby("split"):
        lines = [json.loads(line) for line in (hf / split / "metadata.jsonl").read_text().splitlines()]
        found = {hashlib.sha256((hf / split / line["file_name"]).read_bytes()).hexdigest(): line["label"]
                 for line in lines}
        assert found == rows["label"].to_dict()
        assert all(line["owner_id"] and line["license"] and isinstance(line["tags"], list) for line in lines)


def test_hf_layout_loads_with_datasets_load_dataset(demo_ws, exported, tmp_path):
    datasets = pytest.importorskip("datasets")
    if not hasattr(datasets, "load_dataset"):  # the repository's datasets/ recipes folder, not Hugging Face's
        pytest.skip("Hugging Face datasets is not installed (a test-only dependency)")
    want = expected(demo_ws)
    hf, _ = exported("hf")
    loaded = datasets.load_dataset("imagefolder", data_dir=str(hf), cache_dir=str(tmp_path / "cache"))
    names = {"train": "train", "test": "test", "val": "validation"}
    assert set(loaded) == {names[s] for s in want["split"].unique()}
    for split, rows in want.groupby("split"):
        part = loaded[names[split]]
        assert sorted(part["photo_id"]) == sorted(rows["photo_id"])
        assert dict(zip(part["photo_id"], part["label"])) == dict(zip(rows["photo_id"], rows["label"]))
        assert {"owner_id", "license", "lat", "lon", "tags"} <= set(part.column_names)
    # docs/export.md's line: every split numbered by export.json's classes (audit AL: class_encode_column, the
    # line the docs gave before, numbers each split on its own and shifts a split that lacks a class)
    classes = json.loads((hf / "export.json").read_text())["classes"]
    pinned = loaded.cast_column("label", datasets.ClassLabel(names=classes))
    for split, rows in want.groupby("split"):
        part = pinned[names[split]]
        assert part.features["label"].names == classes
        assert [classes[i] for i in part["label"]] == [dict(zip(rows["photo_id"], rows["label"]))[p]
                                                         for p in part["photo_id"]]
    per_split = loaded.class_encode_column("label")
    assert any(per_split[name].features["label"].names != classes for name in per_split)  # the premise


@pytest.mark.parametrize("fmt", ["imagefolder", "webdataset", "csv"])
def test_attribution_rows_are_the_exported_photos(demo_ws, exported, fmt):
    want = expected(demo_ws)
    out, _ = exported(fmt)
    attribution = pd.read_csv(out / "ATTRIBUTION.csv")
    assert sorted(attribution["photo_id"]) == sorted(want["photo_id"])
    assert attribution["license"].notna().all() and attribution["owner"].notna().all()
    files = attribution["file"].str.split("/").str[0] if fmt == "webdataset" else attribution["file"]
    assert all((out / name).exists() for name in files)
    if fmt == "csv":
        manifest = pd.read_csv(out / "manifest.csv")
        assert sorted(manifest["photo_id"]) == sorted(want["photo_id"])
        assert all((out / path).is_file() for path in manifest["path"])
        assert dict(zip(manifest["photo_id"], manifest["label"])) == dict(zip(want["photo_id"], want["label"]))


def test_attribution_escapes_formula_cells():
    from curate.export.card import attribution_csv

    rows = pd.DataFrame({"photo_id": ["flickr:1", "flickr:2"], "target": ["a.jpg", "b.jpg"], "shard": [None, None],
                         "owner_name": ['=HYPERLINK("http://evil")', "Ann"], "owner_id": ["1@N0", "2@N0"],
                         "license": ["cc-by-2.0", "-cc0"], "page_url": [None, "@page"], "url": ["u1", "u2"]})
    frame = pd.read_csv(io.BytesIO(attribution_csv(rows)))
    assert frame["owner"].tolist() == ["'=HYPERLINK(\"http://evil\")", "Ann"]
    assert frame["license"].tolist() == ["cc-by-2.0", "'-cc0"] and frame["source_page"].tolist() == ["u1", "'@page"]


@pytest.mark.parametrize("fmt", ["webdataset", "imagefolder", "hf"])
def test_two_exports_of_one_catalog_are_byte_identical(demo_ws, exported, tmp_path, fmt):
    a, _ = exported(fmt, shard_samples=7)  # the module's export of this configuration, into another folder
    export_workspace(demo_ws, tmp_path / "b", ExportConfig(fmt, shard_samples=7))
    first, second = tree(a), tree(tmp_path / "b")
    assert first == second and len(first) > 5


def test_an_interrupted_export_resumes_and_writes_only_what_is_left(demo_ws, exported, tmp_path):
    total = len(expected(demo_ws))

    out = tmp_path / "out"
    export_interrupted_after(demo_ws, out, ExportConfig("imagefolder"), 40)
    assert not (out / "export.json").exists()
    result = export_workspace(demo_ws, out, ExportConfig("imagefolder"))
    assert result.written == total - 40 and result.reused == 40
    fresh, _ = exported("imagefolder")  # an uninterrupted export of the same configuration
    assert tree(out) == tree(fresh)


def test_an_interrupted_webdataset_export_keeps_finished_shards(demo_ws, tmp_path):
    calls = []

    def stop_after_two_shards(phase, done, total):
        calls.append(done)
        if len(calls) == 2:
            raise RuntimeError("killed")

    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        export_workspace(demo_ws, out, ExportConfig("webdataset", shard_samples=10), progress=stop_after_two_shards)
    result = export_workspace(demo_ws, out, ExportConfig("webdataset", shard_samples=10))
    assert result.reused == 2 and result.written == len(list(out.glob("*.tar"))) - 2
    assert not list(out.glob(".*.tmp"))


KILLED_AFTER_TWO_SHARDS = """
import os, signal, sys
from pathlib import Path
import curate.export.writers as writers
from curate.export import ExportConfig, export_workspace
from curate.workspace import Workspace

real, started = writers._write_tar, []
def die_in_the_third_shard(path, *args):
    started.append(path)
    if len(started) == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # no exception handler, no close: as `kill -9`
    return real(path, *args)
writers._write_tar = die_in_the_third_shard
export_workspace(Workspace(Path(sys.argv[1])), Path(sys.argv[2]), ExportConfig("webdataset", shard_samples=10))
"""


def test_a_sigkilled_webdataset_export_keeps_its_finished_shards(demo_ws, tmp_path):
    import signal
    import subprocess
    import sys

    out = tmp_path / "out"
    child = subprocess.run([sys.executable, "-c", KILLED_AFTER_TWO_SHARDS, str(demo_ws.root), str(out)],
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert len(list(out.glob("*.tar"))) == 2
    result = export_workspace(demo_ws, out, ExportConfig("webdataset", shard_samples=10))
    assert result.reused == 2 and result.written == len(list(out.glob("*.tar"))) - 2 > 0


KILLED_AFTER_PLACING = """
import os, signal, sys
from pathlib import Path
import curate.export.writers as writers
from curate.export import ExportConfig, export_workspace
from curate.workspace import Workspace

real, placed = writers.place_file, []
def die_once_some_are_placed(source, target, *args):
    placed.append(target)
    done = real(source, target, *args)
    if len(placed) == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)  # right after the rename, before the journal's line
    return done
writers.place_file = die_once_some_are_placed
export_workspace(Workspace(Path(sys.argv[1])), Path(sys.argv[2]), ExportConfig("imagefolder", resize=48))
"""


def test_files_a_killed_export_placed_are_known_to_every_later_export(own_ws, tmp_path, capsys):
    """Audit AR 1: the journal flushed every 256 files, so a killed export's last files were known to no later
    export; when the plan changed in between (there a re-split, here --splits), complete exports kept them, and
    photos sat in train/ and test/ of an export that said "no leakage" (a --resize temporary file stayed too)."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "out"
    export_workspace(own_ws, out, ExportConfig("imagefolder", resize=48, splits=("train",)))
    first = tree(out)
    child = subprocess.run([sys.executable, "-c", KILLED_AFTER_PLACING, str(own_ws.root), str(out), "3"],
                           capture_output=True, text=True, timeout=300)  # every split: val and test files placed
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert [name for name in tree(out) if name.split("/")[0] in ("val", "test")]
    (out / "test" / ".left_by_a_kill.jpg.k3j9x.tmp").parent.mkdir(parents=True, exist_ok=True)
    (out / "test" / ".left_by_a_kill.jpg.k3j9x.tmp").write_bytes(b"half")  # as atomic_write_bytes leaves one
    for _ in range(2):
        result = export_workspace(own_ws, out, ExportConfig("imagefolder", resize=48, splits=("train",)))
    assert tree(out).keys() == first.keys() and result.removed == 0  # the first export's files, no more


def test_a_re_export_writes_only_what_changed_and_removes_what_left(demo_ws, exported, tmp_path):
    want = expected(demo_ws)
    out = tmp_path / "out"
    shutil.copytree(exported("imagefolder")[0], out)  # a copy of the module's imagefolder export, changed below
    result = export_workspace(demo_ws, out, ExportConfig("imagefolder"))
    assert result.written == 0 and result.removed == 0
    only = ("cc-by-nd",)
    allowed = want["license"].str.startswith("cc-by-nd")
    assert 0 < allowed.sum() < len(want)
    result = export_workspace(demo_ws, out, ExportConfig("imagefolder", licences=only, splits=("train",)))
    kept = want[allowed & (want["split"] == "train")]
    images = [p for p in out.rglob("*.jpg")]
    assert result.written == 0 and result.removed == len(want) - len(kept)
    assert sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in images) == sorted(kept.index)
    assert not (out / "test").exists()
    assert sorted(pd.read_csv(out / "ATTRIBUTION.csv")["photo_id"]) == sorted(kept["photo_id"])


def test_a_switch_of_format_says_the_earlier_exports_files_were_removed(demo_ws, exported, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(exported("imagefolder")[0], out)  # a copy of the module's imagefolder export, changed below
    images = len(list(out.rglob("*.jpg")))
    code, said, _ = cli(["export", "-w", demo_ws.root, "--out", out, "--format", "webdataset"], capsys)
    assert code == 0 and not list(out.rglob("*.jpg")) and list(out.glob("*.tar"))
    line = next(line for line in said.splitlines() if "held an earlier imagefolder export" in line)
    removed = int(line.split("removed (")[1].split(" in all")[0].replace(",", ""))
    assert removed >= images and "webdataset export replaces it" in line
    again = export_workspace(demo_ws, out, ExportConfig("webdataset"))  # the same format again: no such note
    assert again.written == 0 and not any("held an earlier" in note for note in again.notes)


def test_links_point_at_the_stored_images_and_resize_shrinks(demo_ws, tmp_path):
    want = expected(demo_ws)
    for link in ("hardlink", "symlink"):
        export_workspace(demo_ws, tmp_path / link, ExportConfig("imagefolder", link=link))
    store = {p.name.split(".")[0]: p for p in demo_ws.images_dir.rglob("*.jpg")}
    hard = list((tmp_path / "hardlink").rglob("*.jpg"))
    assert len(hard) == len(want)
    for path in hard:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert os.path.samefile(path, store[digest]) and not path.is_symlink()
    soft = list((tmp_path / "symlink").rglob("*.jpg"))
    assert len(soft) == len(want) and all(p.is_symlink() and p.resolve().is_relative_to(demo_ws.images_dir.resolve())
                                          for p in soft)
    export_workspace(demo_ws, tmp_path / "small", ExportConfig("webdataset", resize=32))
    import tarfile

    with tarfile.open(next((tmp_path / "small").glob("train-*.tar"))) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".jpg"))
        image = Image.open(io.BytesIO(tar.extractfile(member).read()))
        assert image.format == "JPEG" and max(image.size) == 32


def test_a_photo_without_its_stored_image_is_listed_not_silently_skipped(own_ws, tmp_path, capsys):
    want = expected(own_ws)
    gone = want.iloc[3]
    (own_ws.root / gone["image_path"]).unlink()
    code, _, err = cli(["export", "-f", "imagefolder", "-o", tmp_path / "out", "-w", own_ws.root], capsys)
    assert code == 0 and gone["photo_id"] in err and "no stored image" in err
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    assert [m["photo_id"] for m in manifest["missing_images"]] == [gone["photo_id"]]
    assert gone["photo_id"] not in set(pd.read_csv(tmp_path / "out" / "ATTRIBUTION.csv")["photo_id"])
    assert len(list((tmp_path / "out").rglob("*.jpg"))) == len(want) - 1


def test_a_leaky_split_is_refused_with_exit_3(own_ws, tmp_path, capsys):
    catalog = read_catalog(own_ws)
    rows = catalog[(catalog["status"] == "kept") & (catalog["split"] == "train")]
    owner = rows["owner_id"].iloc[0]
    moved = rows.index[rows["owner_id"] == owner][0]
    catalog.loc[moved, "split"] = "test"  # one photo of a train photographer now in test
    write_catalog(own_ws, catalog)
    one_line_error(["export", "-f", "imagefolder", "-o", tmp_path / "out", "-w", own_ws.root], capsys, 3, "leaks")
    assert not (tmp_path / "out").exists()


def test_a_stale_split_is_refused_with_exit_3(own_ws, tmp_path, capsys):
    code, _, err = cli(["filter", "--recipe", "skylines", "--max-km", "1", "-w", own_ws.root], capsys)
    assert code == 0, err
    one_line_error(["export", "-f", "webdataset", "-o", tmp_path / "out", "-w", own_ws.root], capsys, 3, "stale")


def test_a_folder_holding_something_else_needs_overwrite(demo_ws, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    args = ["export", "-f", "imagefolder", "-o", out, "-w", demo_ws.root]
    one_line_error(args, capsys, 2, "--overwrite")
    assert (out / "thesis.docx").exists()
    code, _, err = cli([*args, "--overwrite"], capsys)
    assert code == 0, err
    assert not (out / "thesis.docx").exists() and (out / "export.json").exists()


@pytest.mark.parametrize("extra, says", [
    ([], "--format"),
    (["--format", "zip"], "format"),
    (["--format", "hf", "--resize", "big"], "--resize"),
    (["--format", "imagefolder", "--resize", "3"], "--resize"),
    (["--format", "imagefolder", "--resize", "64", "--link", "hardlink"], "--link copy"),
    (["--format", "webdataset", "--link", "symlink"], "--link"),
    (["--format", "imagefolder", "--link", "move"], "link"),
    (["--format", "imagefolder", "--splits", "train,holdout"], "holdout"),
    (["--format", "imagefolder", "--licences", "my-own-terms"], "unknown licence"),
    (["--format", "imagefolder", "--shard-samples", "0"], "--shard-samples"),
])
def test_bad_arguments_are_one_line_exit_2(demo_ws, tmp_path, capsys, extra, says):
    one_line_error(["export", *extra, "--out", tmp_path / "out", "-w", demo_ws.root], capsys, 2, says)
    assert not (tmp_path / "out").exists()


def test_bad_targets_are_one_line_exit_2(demo_ws, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    one_line_error(["export", "-f", "csv", "-o", tmp_path / "file", "-w", demo_ws.root], capsys, 2, "is a file")
    one_line_error(["export", "-f", "csv", "-o", demo_ws.root, "-w", demo_ws.root], capsys, 2, "workspace")
    one_line_error(["export", "-f", "csv", "-o", tmp_path / "o", "-w", tmp_path / "nothing"], capsys, 2, "no catalog")


def test_an_empty_out_is_refused_not_the_current_folder(demo_ws, tmp_path, capsys, monkeypatch):
    """`-o "$EXPORT"` with the variable unset exported into the current folder (audit AL)."""
    monkeypatch.chdir(tmp_path)
    for empty in ("", "  "):
        one_line_error(["export", "-f", "csv", "-o", empty, "-w", demo_ws.root, "--overwrite"], capsys, 2,
                       "--out is empty")
    assert not list(tmp_path.iterdir())


def test_an_export_folder_that_cannot_be_created_is_one_line(demo_ws, tmp_path, capsys, monkeypatch):
    """The CLI audit: a read-only parent was a PermissionError traceback (as root, a read-only folder
    is writable, so the refusal is simulated)."""
    real = Path.mkdir

    def refuse(self, *args, **kwargs):
        if self.name == "unwritable":
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    one_line_error(["export", "-f", "csv", "-o", tmp_path / "unwritable", "-w", demo_ws.root], capsys, 2,
                   "cannot create the export folder")


def test_the_workspaces_own_folders_are_never_export_targets(own_ws, tmp_path, capsys):
    """Audit H: `--out ws/runs --overwrite` replaced the trained runs (and ws/reports the stage reports) without
    a word; only the workspace itself and its images were refused."""
    (own_ws.root / "runs" / "probe").mkdir(parents=True)
    (own_ws.root / "runs" / "probe" / "model.json").write_text("{}")
    for folder in ("runs", "reports", "models", "cache", "runs/probe"):
        one_line_error(["export", "-f", "csv", "-o", own_ws.root / folder, "-w", own_ws.root, "--overwrite"], capsys,
                       2, "would overwrite the workspace")
    assert (own_ws.root / "runs" / "probe" / "model.json").exists() and (own_ws.root / "reports").is_dir()
    code, _, err = cli(["export", "-f", "csv", "-o", own_ws.root / "export", "-w", own_ws.root], capsys)
    assert code == 0, err  # the documented place inside the workspace still is one


def test_an_existing_folder_that_cannot_be_written_is_one_line(demo_ws, tmp_path, capsys, monkeypatch):
    """Audit H: an existing read-only --out (empty, or an earlier export) was a PermissionError traceback when the
    export made its plan folder (as root a read-only folder is writable, so the refusal is simulated)."""
    import tempfile

    out = tmp_path / "readonly"
    out.mkdir()
    real = tempfile.mkdtemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == out:
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    one_line_error(["export", "-f", "csv", "-o", out, "-w", demo_ws.root], capsys, 2, "is not writable")


def test_a_folder_holding_the_image_store_is_no_target_either(tmp_path):
    """Audit J: with the images stored outside the workspace, `--out <the folder holding the store> --overwrite`
    deleted the store; only a folder inside it was refused."""
    from curate.export.targets import check_target

    store = tmp_path / "shared" / "store"
    store.mkdir(parents=True)
    for out in (tmp_path / "shared", store, store / "ab"):
        with pytest.raises(UsageError, match="would overwrite the workspace"):
            check_target(out, tmp_path / "ws", overwrite=True, store_folder=store)
    check_target(tmp_path / "elsewhere", tmp_path / "ws", overwrite=True, store_folder=store)  # fine


def test_a_subfolder_that_cannot_be_written_is_one_line(demo_ws, tmp_path, capsys, monkeypatch):
    """Audit J: a read-only class folder inside an earlier export was a PermissionError traceback on the re-export
    (as root a read-only folder is writable, so the refusal is simulated in the writer)."""
    from curate.export import run

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "out" / "test" / "london" / "x.jpg"))

    monkeypatch.setattr(run, "write_folder_files", refuse)
    one_line_error(["export", "-f", "imagefolder", "-o", tmp_path / "out", "-w", demo_ws.root], capsys, 2,
                   "cannot write in the export folder")


def test_a_label_too_long_for_a_folder_name_is_exported_under_a_shortened_one(own_ws, tmp_path, capsys):
    """Audit H: a 300-character label stopped `--format imagefolder` with `File name too long` after writing part
    of the export; its folder is now cut with a hash of the label, and two such labels stay two folders."""
    catalog = read_catalog(own_ws)
    labels = sorted(catalog["label"].dropna().unique())
    long_a, long_b = "é" * 150 + "a", "é" * 150 + "b"  # 301 bytes each in UTF-8, alike in their first 300
    catalog["label"] = catalog["label"].replace({labels[0]: long_a, labels[1]: long_b})
    write_catalog(own_ws, catalog)
    for stage in ("filter", "split"):  # the catalog changed: the split is stale until both run again
        assert cli([stage, "-w", own_ws.root], capsys)[0] in (0, None)
    catalog = read_catalog(own_ws)
    out = tmp_path / "out"
    export_workspace(own_ws, out, ExportConfig("imagefolder"))
    folders = {p.name for p in (out / "train").iterdir() if p.is_dir()}
    cut = [name for name in folders if name.startswith("é")]
    assert len(cut) == 2 and all(len(name.encode()) <= 120 for name in cut)
    kept = catalog[(catalog["status"] == "kept") & catalog["split"].notna() & catalog["label"].isin([long_a, long_b])]
    exported = sum(1 for name in cut for split in ("train", "val", "test") if (out / split / name).is_dir()
                   for _ in (out / split / name).iterdir())
    assert exported == len(kept) > 0


def test_the_dataset_card_and_manifest_describe_the_export(demo_ws, tmp_path):
    want = expected(demo_ws)
    out = tmp_path / "out"
    result = export_workspace(demo_ws, out, ExportConfig("hf"), recipe="skylines")
    card = (out / "README.md").read_text()
    catalog = read_catalog(demo_ws)
    from curate.workspace import catalog_sha256

    assert catalog_sha256(demo_ws) in card and "skylines" in card and "image-classification" in card
    for reason, count in catalog["drop_reason"].value_counts().items():
        assert f"| dropped: {reason} | {count} |" in card
    # audit BB: the funnel's lines after the first add up to the photos in the catalog (dropped ones said once)
    funnel = dict(re.findall(r"^\| ((?:dropped|not exported|exported): [^|]*|exported) \| (\d+) \|$", card, re.M))
    assert sum(int(n) for line, n in funnel.items() if not line.startswith("exported, ")) == len(catalog), funnel
    for label in want["label"].unique():
        assert f"| {label} |" in card
    assert "No photographer" in card
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["photos"] == len(want) == len(result.plan.rows)
    assert manifest["per_split"] == want["split"].value_counts().to_dict()
    assert manifest["classes"] == sorted(want["label"].unique())


def test_labels_all_adds_the_dropped_labelled_photos_as_unsplit(demo_ws, tmp_path):
    catalog = read_catalog(demo_ws)
    stored = catalog["image_path"].notna() & catalog["label"].notna()
    held_out = catalog[(catalog["status"] == "kept") & catalog["split"].isin(["test", "val"])]
    touching = ~((catalog["status"] == "kept") & catalog["split"].notna()) & (
        catalog["owner_id"].isin(set(held_out["owner_id"].dropna())) | catalog["sha256"].isin(set(held_out["sha256"]))
        | catalog["near_dup_cluster"].isin(set(held_out["near_dup_cluster"].dropna())))
    assert (stored & touching).sum() >= 1  # (tests/test_export_leaks.py: what is left out, and why)
    export_workspace(demo_ws, tmp_path / "out", ExportConfig("csv", labels="all"))
    manifest = pd.read_csv(tmp_path / "out" / "manifest.csv")
    assert sorted(manifest["photo_id"]) == sorted(catalog.loc[stored & ~touching, "photo_id"])
    unsplit = manifest[manifest["split"] == "unsplit"]
    assert (unsplit["status"] == "dropped").all() and len(unsplit) >= 1


def test_a_recipe_export_section_adds_a_checked_export_step(demo_ws, tmp_path):
    from curate.pipeline import plan
    from curate.recipes import recipe_from_dict

    base = {"name": "exp", "labels_from": "skylines", "sources": [{"kind": "demo"}]}
    assert "export" not in [step.name for step in plan(recipe_from_dict(base))]
    steps = plan(recipe_from_dict({**base, "export": {"format": "webdataset", "splits": ["train"], "out": "wds"}}))
    assert [step.name for step in steps][-2:] == ["report", "export"]
    with pytest.raises(UsageError, match=r"\[export\].*format"):
        plan(recipe_from_dict({**base, "export": {"format": "zip"}}))
    with pytest.raises(UsageError, match=r"\[export\].*unknown setting 'colour'"):
        plan(recipe_from_dict({**base, "export": {"colour": "red"}}))
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(demo_ws.root, ws.root)
    step = steps[-1].action(ws)
    summary = step.line
    assert "webdataset" in summary and list((ws.root / "wds").glob("train-*.tar"))
    # audit AW4: the export's warnings reach `curate run` too (the demo exports photos that fail quality checks)
    assert any("a stage flagged but kept" in warning for warning in step.warnings), step.warnings
    assert not list((ws.root / "wds").glob("test-*.tar"))


def test_two_labels_sharing_a_folder_are_refused_with_where_to_rename_them():
    """Audit J: the refusal said "rename one in the recipe" when the labels came from a CSV's label column."""
    from curate.export.plan import label_folders

    with pytest.raises(DataContractError, match="would share the export folder 'a_b'; rename one where the labels "
                                                "come from .*curate review"):
        label_folders(["a/b", "a_b"])
    with pytest.raises(DataContractError, match="'Cat' and 'cat'"):
        label_folders(["Cat", "cat"])


def test_plan_names_are_safe_and_unique():
    from curate.export.plan import label_folders, safe_names

    names = safe_names(pd.Series(["folder:a/b.jpg", "folder:a_b.jpg", "folder:A/B.jpg", "demo:1"]))
    assert names.str.fullmatch(r"[A-Za-z0-9_-]+").all() and names.str.lower().is_unique
    assert label_folders(["new york", "a/b", ".."]) == {"new york": "new york", "a/b": "a_b", "..": "_.."}
    with pytest.raises(DataContractError, match="share"):
        label_folders(["a/b", "a_b"])


@pytest.mark.parametrize("fmt", some_slow(["webdataset", "imagefolder", "hf", "csv", "hf-parquet"],
                                          fast=("webdataset", "hf", "csv")))
def test_small_batches_and_buckets_export_the_same_bytes(demo_ws, exported, tmp_path, fmt):
    """The plan is streamed from the catalog file in batches and sorted buckets; with batches of 53
    rows and buckets of 40 photos (so that shards and buckets straddle each other) the export is
    byte-identical to one built from a single batch and bucket."""
    whole_folder, _ = exported(fmt, shard_samples=7)  # the default batches and buckets
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("curate.export.spill.BUCKET_ROWS", 40)
        patch.setattr("curate.export.run.CatalogFile", lambda path: CatalogFile(path, batch_rows=53))
        export_workspace(demo_ws, tmp_path / "parts", ExportConfig(fmt, shard_samples=7))
    whole, parts = tree(whole_folder), tree(tmp_path / "parts")
    assert whole == parts and len(whole) > 5


def test_the_streamed_plan_holds_the_in_memory_plans_rows(demo_ws, tmp_path):
    """`plan_from_file` gives `plan_export`'s rows, in order, chunk by chunk."""
    config = ExportConfig("webdataset", shard_samples=5)
    catalog = read_catalog(demo_ws)
    memory = plan_export(catalog[plan_columns(config)], config, image_sizes(demo_ws, catalog))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("curate.export.spill.BUCKET_ROWS", 11)
        streamed = plan_from_file(CatalogFile(demo_ws.catalog_path, batch_rows=17), config,
                                  lambda batch: image_sizes(demo_ws, batch), tmp_path)
        chunks = list(streamed.chunks())
    assert len(chunks) > 2 and all(len(chunk) <= 11 for chunk in chunks)
    joined = pd.concat(chunks)
    columns = ["photo_id", "split", "label", "target", "shard", "content_key", "class_index"]
    assert joined[columns].reset_index(drop=True).equals(memory.rows[columns].reset_index(drop=True))
    assert streamed.classes == memory.classes and streamed.excluded == memory.excluded
    assert streamed.rows["shard"].tolist() == memory.rows["shard"].tolist()


def test_hf_layout_loads_when_a_column_is_empty_in_a_whole_split(own_ws, tmp_path):
    """An audit's hf export would not load: one photo had a `taken_at`, in train, so `datasets` typed the column
    as a time there and as null in val ("different features"). A column empty in a whole split is left out of
    every split's metadata.jsonl, with a note; the others load."""
    datasets = pytest.importorskip("datasets")
    if not hasattr(datasets, "load_dataset"):
        pytest.skip("Hugging Face datasets is not installed (a test-only dependency)")
    catalog = read_catalog(own_ws)
    catalog["taken_at"] = pd.NaT
    first_train = catalog.index[(catalog["status"] == "kept") & (catalog["split"] == "train")][0]
    catalog.loc[first_train, "taken_at"] = pd.Timestamp("2019-06-08 13:20:01")
    write_catalog(own_ws, catalog)
    from typer.testing import CliRunner

    for command in ("filter", "split"):  # the catalog's metadata changed: the stages after ingest again
        assert CliRunner().invoke(app, [command, "-w", str(own_ws.root)]).exit_code == 0
    result = export_workspace(own_ws, tmp_path / "hf", ExportConfig("hf"))
    assert any("metadata.jsonl leaves out taken_at" in note for note in result.notes)
    loaded = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "hf"), cache_dir=str(tmp_path / "cache"))
    assert "taken_at" not in loaded["train"].column_names and "owner_id" in loaded["train"].column_names
    assert sum(len(part) for part in loaded.values()) == len(expected(own_ws))
    manifest = json.loads((tmp_path / "hf" / "export.json").read_text())
    assert any("leaves out taken_at" in note for note in manifest["notes"])


def test_a_full_disk_during_an_export_is_exit_1_and_the_export_resumes(demo_ws, tmp_path, capsys, monkeypatch):
    """Audit AL: a full disk while writing images said "pass a folder you can write to" with exit 2; the README
    gives a full disk exit 1 and one line saying to free space and run again, which then resumes."""
    import errno

    from curate.export import files

    real, calls = files._make, []

    def fills_up(source, tmp, link):
        calls.append(tmp)
        if len(calls) > 5:
            raise OSError(errno.ENOSPC, "No space left on device", tmp)
        real(source, tmp, link)

    monkeypatch.setattr(files, "_make", fills_up)
    args = ["export", "--format", "imagefolder", "--out", tmp_path / "out", "-w", demo_ws.root]
    one_line_error(args, capsys, 1, "No space left on device writing")
    _, _, err = cli(args, capsys)
    assert "free some space and run the same command again" in err and "pass a folder" not in err
    monkeypatch.setattr(files, "_make", real)
    code, out, err = cli(args, capsys)
    assert code == 0, err
    want = expected(demo_ws)
    written = {p.relative_to(tmp_path / "out").parts[0] for p in (tmp_path / "out").rglob("*.jpg")}
    assert written == set(want["split"]) and len(list((tmp_path / "out").rglob("*.jpg"))) == len(want)


@pytest.mark.parametrize("fmt", ["imagefolder", "csv"])
def test_photos_flagged_but_kept_are_counted_in_the_warning_the_card_and_export_json(own_ws, tmp_path, capsys, fmt):
    """Audit AV5: an export carried 19 photos of food labelled dog (flagged as label issues) and 70 the topic check
    doubted, and neither its output, its README nor export.json said so. Each flag is counted among the photos
    exported (a flagged photo left out is not), in both plan paths (in memory, and streamed from the file)."""
    catalog = read_catalog(own_ws)
    exported = catalog.index[(catalog["status"] == "kept") & catalog["split"].notna() & catalog["label"].notna()]
    left_out = catalog.index[catalog["status"] != "kept"]
    catalog["is_label_issue"] = None
    catalog.loc[exported[:3], "is_label_issue"] = True
    catalog.loc[left_out[:2], "is_label_issue"] = True  # dropped photos are not exported: not counted
    catalog["topic_doubted"] = None
    catalog.loc[exported[2:7], "topic_doubted"] = True
    write_catalog(own_ws, catalog)
    quality = sum(len(cell) > 0 for cell in catalog.loc[exported, "quality_issues"] if cell is not None)
    assert quality > 0  # the demo's kept photos fail quality checks the filter does not drop by default
    want = {"label issue": 3, "doubted off topic": 5, "quality issue": quality}
    code, out, err = cli(["export", "-f", fmt, "-o", tmp_path / "out", "-w", own_ws.root], capsys)
    assert code == 0, err
    said = " ".join(err.split())
    assert (f"the export holds photos a stage flagged but kept (3 label issues, 5 doubted off topic, {quality} with a "
            "failed quality check; a photo may carry two flags)") in said
    assert "(--queue label_issues, --queue off_topic, --queue quality)" in said
    assert json.loads((tmp_path / "out" / "export.json").read_text())["flagged"] == want
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| exported, flagged: label issue | 3 |" in card and "## Photos flagged but kept" in card
    (tmp_path / "spill").mkdir()
    streamed = plan_from_file(CatalogFile(own_ws.catalog_path, 16), ExportConfig(fmt),
                              lambda batch: pd.Series(1.0, index=batch.index), tmp_path / "spill")
    assert streamed.flagged == want  # batches of 16 rows: the counts are summed

    # audit BB: a label issue the prefilter relabelled, or any flag a reviewer settled, is no longer open
    catalog.loc[exported[0], ["original_label", "label"]] = [catalog.at[exported[0], "label"], "relabelled"]
    catalog.loc[exported[2], "review_status"] = "kept"  # a label issue and doubted: both settled by the reviewer
    write_catalog(own_ws, catalog)
    settled = ExportConfig(fmt, labels="kept")
    again = plan_from_file(CatalogFile(own_ws.catalog_path, 16), settled,
                           lambda batch: pd.Series(1.0, index=batch.index), tmp_path / "spill")
    quality_left = quality - int(bool(catalog.at[exported[2], "quality_issues"] is not None
                                      and len(catalog.at[exported[2], "quality_issues"]) > 0))
    assert again.flagged == {"label issue": 1, "doubted off topic": 4, "quality issue": quality_left}



def test_a_label_no_file_name_can_hold_loads_through_class_folders(own_ws, tmp_path, capsys):
    """Audit CG: the documented Pinned loader looked for DIR/train/AC/DC and, with allow_empty, skipped every
    AC/DC photo in silence. export.json's `class_folders` maps each class to its folder; the docs' loader,
    given the folders, loads every exported photo under its own class, and the export says which folders are
    not their labels."""
    from torchvision.datasets import ImageFolder

    catalog = read_catalog(own_ws)
    first = sorted(catalog["label"].dropna().unique())[0]
    catalog["label"] = catalog["label"].replace({first: "AC/DC"})  # a whole class renamed
    write_catalog(own_ws, catalog)
    for stage in ("filter", "split"):  # the catalog changed: the split is stale until both run again
        assert cli([stage, "-w", own_ws.root], capsys)[0] in (0, None)
    want = expected(own_ws)
    code, out, err = cli(["export", "--format", "imagefolder", "--out", tmp_path / "out", "-w", own_ws.root], capsys)
    assert code == 0, err
    meta = json.loads((tmp_path / "out" / "export.json").read_text())
    classes = meta["classes"]
    assert "AC/DC" in classes and meta["class_folders"]["AC/DC"] == "AC_DC"
    assert all(meta["class_folders"][c] == c for c in classes if c != "AC/DC")
    assert "'AC/DC' in AC_DC" in " ".join(out.split())
    folders = [meta["class_folders"][name] for name in classes]  # docs/export.md's loader, as written there

    class Pinned(ImageFolder):
        def find_classes(self, directory):
            return folders, {folder: i for i, folder in enumerate(folders)}

    for split, rows in want.groupby("split"):
        dataset = Pinned(str(tmp_path / "out" / split), allow_empty=True)
        found = {hashlib.sha256(Path(path).read_bytes()).hexdigest(): classes[target]
                 for path, target in dataset.samples}
        assert found == rows["label"].to_dict(), split
    assert (want["label"] == "AC/DC").sum() > 0


def test_labels_equal_but_for_unicode_normalisation_are_refused_as_one_folder():
    """Audit CG: 'São Paulo' in NFC and in NFD made two export folders that print the same and are one on macOS."""
    from curate.export.plan import label_folders

    with pytest.raises(DataContractError, match="would share the export folder"):
        label_folders(["S\u00e3o Paulo", "Sa\u0303o Paulo"])
