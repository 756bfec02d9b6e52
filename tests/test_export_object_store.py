"""`curate export` from a workspace whose images are on an object store (fsspec memory://, and S3
on a local moto server through s3fs): every format gives the same files, shards and manifests as
the same export from the local store; links become copies, and say so; an interrupted export
resumes; a deleted object is a missing image, not a crash; reads are parallel and bounded;
credentials never reach a message. (An export *to* an object store: test_export_upload.py.)"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from pathlib import Path

import pandas as pd
import pytest
from helpers import demo_workspace, some_slow

from curate import objectstore
from curate.cli.app import app
from curate.cli.common import run_app
from curate.errors import DataContractError, UpstreamError, UsageError
from curate.export import FORMATS, ExportConfig, export_workspace
from curate.export import source as export_source
from curate.workspace import Workspace, read_catalog
from tests.helpers import export_interrupted_after, moto_s3

fsspec = pytest.importorskip("fsspec")
BUCKET = "curate-export-test"
SECRET = "moto-secret-never-printed"


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory) -> Workspace:
    """A filtered and split demo collection whose images are in <workspace>/images."""
    return demo_workspace(tmp_path_factory.mktemp("export-store-ws"), photos=60, seed=4)


@pytest.fixture(scope="module")
def local_imagefolder(demo_ws, tmp_path_factory) -> tuple[Path, object]:
    """(folder, ExportResult) of `export_workspace(demo_ws, folder, ExportConfig("imagefolder"))` from the local
    store, made once for the module: the tests comparing an object store's export with it only read it."""
    folder = tmp_path_factory.mktemp("local-imagefolder") / "out"
    return folder, export_workspace(demo_ws, folder, ExportConfig("imagefolder"))


@pytest.fixture(scope="module")
def local_without_one_image(demo_ws, tmp_path_factory):
    """`local_without_one_image(fmt)`: the folder of the local store's export as `fmt` of a copy of demo_ws
    whose first exported photo's image file was deleted, made once per format for the module (read only)."""
    done: dict[str, Path] = {}

    def export(fmt: str) -> Path:
        if fmt not in done:
            base = tmp_path_factory.mktemp(f"local-missing-{fmt}")
            local = Workspace(base / "local-ws")
            shutil.copytree(demo_ws.root, local.root)
            (local.root / first_exported_image(demo_ws)["image_path"]).unlink()
            export_workspace(local, base / "local-out", ExportConfig(fmt))
            done[fmt] = base / "local-out"
        return done[fmt]

    return export


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def stored_files(ws: Workspace) -> dict[str, Path]:
    """The workspace's stored images: key under the store (`ab/<sha256>.jpg`) -> local file."""
    return {str(p.relative_to(ws.images_dir)): p for p in sorted(ws.images_dir.rglob("*")) if p.is_file()}


def on_store(ws: Workspace, root: Path, url: str, fs) -> Workspace:
    """A copy of `ws` whose images are at `url` (the same catalog, byte for byte), not in its folder."""
    shutil.copytree(ws.root, root, ignore=lambda folder, names: ["images"] if Path(folder) == ws.root else [])
    for key, path in stored_files(ws).items():
        fs.pipe_file(f"{url}/{key}", path.read_bytes())
    (root / objectstore.STORE_FILE).write_text(json.dumps({"uri": url}) + "\n", encoding="utf-8")
    copy = Workspace(root)
    assert objectstore.store_uri(copy) == url and not copy.images_dir.exists()
    return copy


def first_exported_image(ws: Workspace) -> pd.Series:
    """The catalog row of an exported photo (kept, with a split and a label)."""
    catalog = read_catalog(ws)
    rows = catalog[(catalog["status"] == "kept") & catalog["split"].notna() & catalog["label"].notna()]
    return rows.sort_values("photo_id").iloc[0]


def cli(args: list, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        run_app(app, "curate", [str(a) for a in args])
    out = capsys.readouterr()
    return stopped.value.code, out.out, out.err


# -- the stores --------------------------------------------------------------------------------

@pytest.fixture
def memory_ws(demo_ws, tmp_path):
    """The demo workspace with its images in a fresh memory:// bucket (removed afterwards)."""
    url = f"memory://bucket-{uuid.uuid4().hex[:12]}/photos"
    memory = fsspec.filesystem("memory")
    yield on_store(demo_ws, tmp_path / "remote", url, memory)
    if memory.exists(url):
        memory.rm(url, recursive=True)


@pytest.fixture(scope="module")
def s3_env():
    """A moto S3 server for the module, the environment a user sets for it, and an s3fs on it."""
    with moto_s3(SECRET, BUCKET) as fs:
        yield fs


@pytest.fixture(scope="module")
def s3_ws(demo_ws, s3_env, tmp_path_factory):
    """The demo workspace with its images in s3://BUCKET/<prefix> (tests must not change it)."""
    return on_store(demo_ws, tmp_path_factory.mktemp("s3") / "remote", f"s3://{BUCKET}/photos", s3_env)


# -- the same export ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", some_slow(FORMATS, fast=("imagefolder", "webdataset")))
def test_every_format_from_memory_is_byte_identical_to_the_local_store(demo_ws, memory_ws, tmp_path, fmt):
    config = ExportConfig(fmt, shard_samples=7)
    local = export_workspace(demo_ws, tmp_path / "local", config)
    remote = export_workspace(memory_ws, tmp_path / "remote-out", config)
    assert tree(tmp_path / "remote-out") == tree(tmp_path / "local")
    assert len(tree(tmp_path / "local")) > 5 and remote.plan.photos == local.plan.photos > 20
    assert remote.written == local.written and remote.notes == local.notes and len(remote.plan.missing) == 0
    assert not [note for note in remote.notes if "object store" in note]


@pytest.mark.parametrize("fmt", some_slow(FORMATS, fast=("hf", "csv")))
def test_every_format_from_s3_is_byte_identical_to_the_local_store(demo_ws, s3_ws, tmp_path, fmt):
    config = ExportConfig(fmt, shard_samples=7)
    export_workspace(demo_ws, tmp_path / "local", config)
    export_workspace(s3_ws, tmp_path / "s3", config)
    assert tree(tmp_path / "s3") == tree(tmp_path / "local")
    assert not s3_ws.images_dir.exists()


def test_a_resized_export_from_the_store_is_the_local_one(demo_ws, memory_ws, tmp_path):
    for fmt in ("imagefolder", "hf-parquet"):
        config = ExportConfig(fmt, resize=32)
        export_workspace(demo_ws, tmp_path / f"local-{fmt}", config)
        export_workspace(memory_ws, tmp_path / f"remote-{fmt}", config)
        assert tree(tmp_path / f"remote-{fmt}") == tree(tmp_path / f"local-{fmt}")


def test_files_copied_from_the_store_get_the_usual_mode(local_imagefolder, memory_ws, tmp_path):
    local, _ = local_imagefolder
    export_workspace(memory_ws, tmp_path / "remote-out", ExportConfig("imagefolder"))
    modes = {p.relative_to(local): p.stat().st_mode for p in local.rglob("*.jpg")}
    assert modes and {p.relative_to(tmp_path / "remote-out"): p.stat().st_mode
                      for p in (tmp_path / "remote-out").rglob("*.jpg")} == modes


# -- links --------------------------------------------------------------------------------------

@pytest.mark.parametrize("link", ["hardlink", "symlink"])
def test_a_link_from_an_object_store_is_a_copy_and_says_so(local_imagefolder, memory_ws, tmp_path, capsys, link):
    copied, _ = local_imagefolder  # the local store's export with --link copy (the default)
    out = tmp_path / "linked"
    code, stdout, err = cli(["export", "-f", "imagefolder", "--link", link, "-o", out, "-w", memory_ws.root], capsys)
    assert code == 0, err
    assert "note: --link " + link in " ".join(stdout.split()) and "were copied" in stdout
    images = sorted(out.rglob("*.jpg"))
    assert images and not any(p.is_symlink() for p in images)
    assert all(os.stat(p).st_nlink == 1 for p in images)
    expected = tree(copied)
    got = tree(out)
    manifests = {"export.json", ".export-state.parquet"}  # (the state holds export.json's hash)
    assert {k: v for k, v in got.items() if k not in manifests} == \
        {k: v for k, v in expected.items() if k not in manifests}
    manifest = json.loads(got["export.json"])
    [copied] = [note for note in manifest["notes"] if "object store" in note]  # beside the class-set note
    assert manifest["config"]["link"] == "copy"
    assert link in copied and objectstore.store_uri(memory_ws) in copied
    plain = json.loads(expected["export.json"])  # a copy export: only the class-set note, the same
    assert {k: v for k, v in manifest.items() if k != "notes"} == {k: v for k, v in plain.items() if k != "notes"}
    assert [note for note in manifest["notes"] if note != copied] == plain.get("notes", [])


def test_a_local_store_outside_the_workspace_still_hard_links(demo_ws, tmp_path):
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(demo_ws.root, ws.root, ignore=lambda folder, names: ["images"] if Path(folder) == demo_ws.root
                    else [])
    shutil.copytree(demo_ws.images_dir, tmp_path / "shared-images")
    (ws.root / objectstore.STORE_FILE).write_text(json.dumps({"uri": str(tmp_path / "shared-images")}))
    result = export_workspace(ws, tmp_path / "out", ExportConfig("imagefolder", link="hardlink"))
    stored = {p.name: p for p in (tmp_path / "shared-images").rglob("*.jpg")}
    images = list((tmp_path / "out").rglob("*.jpg"))
    assert not [note for note in result.notes if "object store" in note] and len(images) == result.plan.photos > 20
    for path in images:
        assert any(os.path.samefile(path, candidate) for candidate in stored.values())
    with pytest.raises(UsageError, match="would overwrite the workspace"):
        export_workspace(ws, tmp_path / "shared-images" / "export", ExportConfig("imagefolder"))


# -- resume, missing objects ------------------------------------------------------------------

def test_an_interrupted_export_from_the_store_resumes(local_imagefolder, memory_ws, tmp_path):
    local, done = local_imagefolder
    total = done.plan.photos

    out = tmp_path / "out"
    export_interrupted_after(memory_ws, out, ExportConfig("imagefolder"), 20)
    assert not (out / "export.json").exists()
    result = export_workspace(memory_ws, out, ExportConfig("imagefolder"))
    assert result.written == total - 20 and result.reused == 20
    assert tree(out) == tree(local)


def test_an_interrupted_shard_export_from_s3_keeps_finished_shards(demo_ws, s3_ws, tmp_path):
    calls = []

    def stop_after_two_shards(phase, done, total):
        calls.append(done)
        if len(calls) == 2:
            raise RuntimeError("killed")

    out = tmp_path / "out"
    config = ExportConfig("webdataset", shard_samples=10)
    with pytest.raises(RuntimeError):
        export_workspace(s3_ws, out, config, progress=stop_after_two_shards)
    result = export_workspace(s3_ws, out, config)
    assert result.reused == 2 and result.written == len(list(out.glob("*.tar"))) - 2
    export_workspace(demo_ws, tmp_path / "local", config)
    assert tree(out) == tree(tmp_path / "local")


def deleted_object_case(demo_ws: Workspace, remote: Workspace, fs, tmp_path: Path, fmt: str, capsys,
                        local_without_one_image) -> None:
    """Delete one exported photo's object: the export goes on and lists it as missing, exactly as
    the local store's export does for the same photo whose file was deleted."""
    row = first_exported_image(demo_ws)
    fs.rm_file(objectstore.locate(remote, row["image_path"]))
    fs.invalidate_cache()
    code, stdout, err = cli(["export", "-f", fmt, "-o", tmp_path / "remote-out", "-w", remote.root], capsys)
    assert code == 0, err
    assert "1 photos have no stored image" in " ".join(err.split()) and row["photo_id"] in err
    local_out = local_without_one_image(fmt)  # the local export of demo_ws with that photo's file deleted
    assert tree(tmp_path / "remote-out") == tree(local_out)
    missing = json.loads((tmp_path / "remote-out" / "export.json").read_text())["missing_images"]
    assert [m["photo_id"] for m in missing] == [row["photo_id"]]
    assert missing[0]["reason"] == "stored image file is missing from the image store"


def test_a_deleted_object_is_a_missing_image_on_memory(demo_ws, memory_ws, tmp_path, capsys, local_without_one_image):
    deleted_object_case(demo_ws, memory_ws, fsspec.filesystem("memory"), tmp_path, "webdataset", capsys,
                        local_without_one_image)


def test_a_deleted_object_is_a_missing_image_on_s3(demo_ws, s3_env, tmp_path, capsys, local_without_one_image):
    url = f"s3://{BUCKET}/deleted-{uuid.uuid4().hex[:8]}"
    remote = on_store(demo_ws, tmp_path / "remote", url, s3_env)
    deleted_object_case(demo_ws, remote, s3_env, tmp_path, "imagefolder", capsys, local_without_one_image)


def test_an_object_gone_after_the_plan_is_one_line_and_the_rerun_lists_it(memory_ws, tmp_path, capsys, monkeypatch):
    row = first_exported_image(memory_ws)
    gone = objectstore.locate(memory_ws, row["image_path"])
    memory = type(fsspec.filesystem("memory"))
    real_cat = memory.cat_file

    def vanishing(self, path, *args, **kwargs):
        if path.endswith(gone.partition("://")[2]):
            raise FileNotFoundError(path)
        return real_cat(self, path, *args, **kwargs)

    monkeypatch.setattr(memory, "cat_file", vanishing)
    out = tmp_path / "out"
    code, _, err = cli(["export", "-f", "imagefolder", "-o", out, "-w", memory_ws.root], capsys)
    assert code == 3 and "disappeared from the image store" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.undo()
    fsspec.filesystem("memory").rm_file(gone)
    result = export_workspace(memory_ws, out, ExportConfig("imagefolder"))
    assert list(result.plan.missing["photo_id"]) == [row["photo_id"]]


# -- reads: parallel, bounded -----------------------------------------------------------------

def test_reads_are_parallel_and_at_most_read_ahead_of_the_writer(memory_ws, tmp_path, monkeypatch):
    monkeypatch.setattr(export_source, "READ_AHEAD", 5)
    memory = type(fsspec.filesystem("memory"))
    real_cat = memory.cat_file
    two_at_once = threading.Barrier(2, timeout=30)  # broken (an error) unless two reads run together
    lock, counts, ahead = threading.Lock(), {"read": 0, "placed": 0}, []

    def counting_cat(self, path, *args, **kwargs):
        with lock:
            counts["read"] += 1
            ahead.append(counts["read"] - counts["placed"])
            first = counts["read"] <= 2
        if first:
            two_at_once.wait()
        return real_cat(self, path, *args, **kwargs)

    import curate.export.writers as writers

    real_place = writers.place_file

    def counting_place(*args, **kwargs):
        with lock:
            counts["placed"] += 1
        return real_place(*args, **kwargs)

    monkeypatch.setattr(memory, "cat_file", counting_cat)
    monkeypatch.setattr(writers, "place_file", counting_place)
    result = export_workspace(memory_ws, tmp_path / "out", ExportConfig("imagefolder"))
    assert counts["read"] == counts["placed"] == result.written > 20
    assert max(ahead) <= 5 + 1  # the read being started counts itself


# -- errors: one line, no secret --------------------------------------------------------------

def test_an_unreadable_store_is_one_line_without_the_secret(memory_ws, tmp_path, capsys, monkeypatch):
    memory = type(fsspec.filesystem("memory"))
    leaked = f"https://bucket.example/x.jpg?X-Amz-Credential={SECRET}&X-Amz-Signature={SECRET}"

    real_info = memory.info

    def refused(self, path, *args, **kwargs):  # the prefix is listed; each object's HEAD is refused
        if path.endswith(".jpg"):
            raise RuntimeError(f"AccessDenied for {leaked}")
        return real_info(self, path, *args, **kwargs)

    monkeypatch.setattr(memory, "info", refused)
    with pytest.raises(UpstreamError, match="cannot read memory://"):
        export_workspace(memory_ws, tmp_path / "api", ExportConfig("imagefolder"))
    code, stdout, err = cli(["export", "-f", "webdataset", "-o", tmp_path / "cli", "-w", memory_ws.root], capsys)
    assert code == 4 and "AccessDenied" in err and "Traceback" not in err
    assert SECRET not in stdout + err and "***" in err


def test_a_store_with_nothing_under_its_prefix_is_one_line(memory_ws, tmp_path):
    (memory_ws.root / objectstore.STORE_FILE).write_text(json.dumps({"uri": "memory://no-such-bucket/x"}))
    with pytest.raises(UsageError, match="holds no images; check the bucket and prefix"):
        export_workspace(memory_ws, tmp_path / "out", ExportConfig("imagefolder"))
    assert not (tmp_path / "out").exists()


def test_a_missing_object_store_driver_is_one_line(memory_ws, tmp_path, monkeypatch):
    def no_driver(fsspec_module, protocol):
        raise ImportError("no gcsfs")

    monkeypatch.setattr(objectstore, "_filesystem", no_driver)
    (memory_ws.root / objectstore.STORE_FILE).write_text(json.dumps({"uri": "gs://bucket/x"}))
    with pytest.raises(UsageError, match=r"needs its fsspec driver: pip install 'curate-photos\[gcs\]'"):
        export_workspace(memory_ws, tmp_path / "out", ExportConfig("imagefolder"))


def test_a_shard_whose_object_vanishes_leaves_no_partial_shard(memory_ws, tmp_path, monkeypatch):
    row = first_exported_image(memory_ws)
    gone = objectstore.locate(memory_ws, row["image_path"])
    memory = type(fsspec.filesystem("memory"))
    real_cat = memory.cat_file

    def vanishing(self, path, *args, **kwargs):
        if path.endswith(gone.partition("://")[2]):
            raise FileNotFoundError(path)
        return real_cat(self, path, *args, **kwargs)

    monkeypatch.setattr(memory, "cat_file", vanishing)
    out = tmp_path / "out"
    with pytest.raises(DataContractError, match="disappeared from the image store"):
        export_workspace(memory_ws, out, ExportConfig("hf-parquet", shard_samples=5))
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_a_recipe_export_step_reads_the_store_and_notes_the_copies(memory_ws):
    from curate.pipeline import plan
    from curate.recipes import recipe_from_dict

    recipe = {"name": "exp", "labels_from": "skylines", "sources": [{"kind": "demo"}],
              "export": {"format": "imagefolder", "link": "hardlink", "out": "folders"}}
    summary = plan(recipe_from_dict(recipe))[-1].action(memory_ws).line
    assert "imagefolder" in summary and "were copied" in summary
    images = list((memory_ws.root / "folders").rglob("*.jpg"))
    assert len(images) > 20 and all(os.stat(p).st_nlink == 1 for p in images)


# -- sizes remembered: no HEAD for an image measured before ----------------------------------

def count_requests(monkeypatch, ws: Workspace) -> dict[str, int]:
    """Count the memory store's size requests (`info`) and reads (`cat_file`) of stored images
    (the one check that the store's prefix holds something is not counted)."""
    memory = type(fsspec.filesystem("memory"))
    prefix = objectstore.store_uri(ws).split("://")[-1].strip("/")
    counts = {"info": 0, "cat_file": 0}
    for name in counts:
        def counting(self, path, *args, _real=getattr(memory, name), _name=name, **kwargs):
            if str(path).split("://")[-1].strip("/") != prefix:
                counts[_name] += 1
            return _real(self, path, *args, **kwargs)

        monkeypatch.setattr(memory, name, counting)
    return counts


def test_an_export_asks_the_store_only_for_sizes_it_never_measured(demo_ws, memory_ws, tmp_path, monkeypatch):
    config = ExportConfig("webdataset", shard_bytes=6_000)  # shards cut by bytes: sizes decide every cut
    local = export_workspace(demo_ws, tmp_path / "local", config)
    counts = count_requests(monkeypatch, memory_ws)
    export_workspace(memory_ws, tmp_path / "first", config)
    assert counts["info"] >= local.plan.photos > 20  # the first export measures every image
    counts.update(info=0, cat_file=0)
    again = export_workspace(memory_ws, tmp_path / "first", config)
    assert again.written == 0 and counts == {"info": 0, "cat_file": 0}  # nothing written, nothing asked
    other = export_workspace(memory_ws, tmp_path / "other", config)  # a new folder: GETs, no HEAD
    assert counts["info"] == 0 and counts["cat_file"] == local.plan.photos == other.plan.photos
    assert len(list((tmp_path / "local").glob("*.tar"))) > 3
    assert tree(tmp_path / "other") == tree(tmp_path / "first") == tree(tmp_path / "local")


def test_an_interrupted_export_resumes_without_measuring_again(local_imagefolder, memory_ws, tmp_path, monkeypatch):
    out = tmp_path / "out"
    export_interrupted_after(memory_ws, out, ExportConfig("imagefolder"), 10)
    counts = count_requests(monkeypatch, memory_ws)
    result = export_workspace(memory_ws, out, ExportConfig("imagefolder"))
    assert result.reused == 10 and counts == {"info": 0, "cat_file": result.written}
    assert tree(out) == tree(local_imagefolder[0])


def test_an_object_deleted_after_its_size_was_remembered_is_a_missing_image(demo_ws, memory_ws, tmp_path, capsys,
                                                                           local_without_one_image):
    export_workspace(memory_ws, tmp_path / "before", ExportConfig("webdataset"))  # remembers every size
    deleted_object_case(demo_ws, memory_ws, fsspec.filesystem("memory"), tmp_path, "webdataset", capsys,
                        local_without_one_image)


def test_objects_deleted_after_their_sizes_were_remembered_are_all_missing(demo_ws, memory_ws, tmp_path):
    export_workspace(memory_ws, tmp_path / "before", ExportConfig("imagefolder"))
    catalog = read_catalog(demo_ws)
    rows = catalog[(catalog["status"] == "kept") & catalog["split"].notna()].sort_values("photo_id")
    gone = rows.iloc[[0, 5, 11]]
    local = Workspace(tmp_path / "local-ws")
    shutil.copytree(demo_ws.root, local.root)
    memory = fsspec.filesystem("memory")
    for image_path in gone["image_path"]:
        (local.root / image_path).unlink()
        memory.rm_file(objectstore.locate(memory_ws, image_path))
    kept = export_workspace(memory_ws, tmp_path / "before", ExportConfig("imagefolder"))
    assert kept.written == 0 and not len(kept.plan.missing)  # writes nothing, so reads nothing: keeps its copies
    result = export_workspace(memory_ws, tmp_path / "after", ExportConfig("imagefolder"))
    assert sorted(result.plan.missing["photo_id"]) == sorted(gone["photo_id"])
    export_workspace(local, tmp_path / "local-out", ExportConfig("imagefolder"))
    assert tree(tmp_path / "after") == tree(tmp_path / "local-out")


def test_an_unreadable_size_cache_is_measured_again(memory_ws, tmp_path, monkeypatch):
    from curate.export.sizes import CACHE_FILE

    export_workspace(memory_ws, tmp_path / "before", ExportConfig("imagefolder"))
    cache = memory_ws.root / "cache" / CACHE_FILE
    cache.write_bytes(cache.read_bytes()[:-50])  # (tests/test_export_sizes.py: other damage)
    counts = count_requests(monkeypatch, memory_ws)
    result = export_workspace(memory_ws, tmp_path / "out", ExportConfig("imagefolder"))
    assert counts["info"] >= result.plan.photos > 20
    assert tree(tmp_path / "out") == tree(tmp_path / "before")
    counts.update(info=0, cat_file=0)
    export_workspace(memory_ws, tmp_path / "out", ExportConfig("imagefolder"))
    assert counts == {"info": 0, "cat_file": 0}  # the cache was written anew
