"""`curate export --out URL`: an export to an object store (fsspec memory://, and S3 on a local moto
server) holds the same files, byte for byte, as the same export to a folder; a re-export sends
nothing; an interrupted upload resumes with only what was not sent; stale objects an earlier
export wrote are removed and nothing else is; a bad bucket or a URL with credentials is one line."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from pathlib import Path

import pytest
from helpers import demo_workspace, some_slow

from curate.cli.app import app
from curate.cli.common import run_app
from curate.errors import UpstreamError, UsageError
from curate.export import FORMATS, ExportConfig, export_workspace
from curate.export.state import STATE_FILE, save_state
from curate.export.upload import STAGING_FOLDER, UPLOAD_RECORD, journal_path, upload_export
from curate.workspace import Workspace
from tests.helpers import moto_s3

fsspec = pytest.importorskip("fsspec")
SECRET = "hunter2-never-printed"


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory) -> Workspace:
    """A filtered and split demo collection whose images are in <workspace>/images."""
    return demo_workspace(tmp_path_factory.mktemp("export-upload-ws"), photos=60, seed=4)


@pytest.fixture
def ws(demo_ws, tmp_path) -> Workspace:
    """A copy of the demo workspace for one test (its staging folders are the test's own)."""
    shutil.copytree(demo_ws.root, tmp_path / "ws")
    return Workspace(tmp_path / "ws")


@pytest.fixture(scope="module")
def local_export(demo_ws, tmp_path_factory):
    """`local_export(config)`: the files of the export of the demo workspace to a folder with `config`
    (made once per config for the module)."""
    made: dict[ExportConfig, dict[str, bytes]] = {}

    def files(config: ExportConfig) -> dict[str, bytes]:
        if config not in made:
            out = tmp_path_factory.mktemp("local-export")
            export_workspace(demo_ws, out / "export", config)
            made[config] = tree(out / "export")
        return made[config]

    return files


@pytest.fixture
def memory():
    return fsspec.filesystem("memory")


@pytest.fixture
def url(memory):
    """A fresh memory:// prefix (removed afterwards)."""
    bucket = f"memory://export-{uuid.uuid4().hex[:12]}"
    yield f"{bucket}/datasets/skylines"
    if memory.exists(bucket):
        memory.rm(bucket, recursive=True)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes) but the local export's own state file."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != STATE_FILE}


def remote_tree(fs, url: str) -> dict[str, bytes]:
    """Every object under `url` (relative key -> bytes) but the upload record."""
    root = fs._strip_protocol(url).rstrip("/") + "/"
    return {name[len(root):]: fs.cat_file(name) for name in sorted(fs.find(url))
            if name[len(root):] != UPLOAD_RECORD}


@pytest.fixture
def puts(memory, monkeypatch):
    """The files PUT through the memory filesystem (`put_file`), in order; `puts.fail_after = k`
    makes every PUT after the k-th fail."""
    sent: list[str] = []
    lock = threading.Lock()
    real = memory.put_file

    def counting(lpath, rpath, *args, **kwargs):
        with lock:
            if counting.fail_after is not None and len(sent) >= counting.fail_after:
                raise ConnectionError(f"connection reset by https://host/x?token={SECRET}")
            sent.append(str(rpath))
        return real(lpath, rpath, *args, **kwargs)

    counting.fail_after = None
    counting.sent = sent
    monkeypatch.setattr(memory, "put_file", counting)
    return counting


def cli(args: list, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        run_app(app, "curate", [str(a) for a in args])
    out = capsys.readouterr()
    return stopped.value.code, out.out, out.err


@pytest.mark.parametrize("fmt", some_slow(FORMATS, fast=("webdataset", "hf-parquet")))
def test_every_format_on_a_bucket_is_the_local_export(ws, url, memory, local_export, fmt):
    config = ExportConfig(fmt, shard_samples=7)
    remote = export_workspace(ws, url, config)
    expected = local_export(config)
    assert len(expected) > 5 and remote_tree(memory, url) == expected
    assert remote.out == url and remote.plan.photos > 20
    assert remote.upload.uploaded == len(expected) and remote.upload.removed == 0
    assert remote.upload.staging.is_relative_to(ws.root / "cache" / STAGING_FOLDER)


def test_a_re_export_uploads_nothing_even_without_its_staging_folder(ws, url, memory, puts):
    config = ExportConfig("imagefolder")
    first = export_workspace(ws, url, config)
    assert len(puts.sent) == first.upload.uploaded > 20
    puts.sent.clear()
    again = export_workspace(ws, url, config)
    assert puts.sent == [] and again.upload.uploaded == 0 and again.upload.unchanged == first.upload.uploaded
    shutil.rmtree(first.upload.staging)  # written again locally; the content keys say what is there
    export_workspace(ws, url, config)
    assert puts.sent == []


def staged(folder: Path, files: dict[str, bytes]) -> Path:
    """A finished export in `folder`, by hand: the files, and a state naming each one's content key."""
    shutil.rmtree(folder, ignore_errors=True)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    save_state(folder, {name: f"key-of-{data.decode()}" for name, data in files.items()})
    return folder


def test_a_changed_file_of_the_same_size_and_a_missing_object_are_sent_again(url, memory, puts, tmp_path):
    assert upload_export(staged(tmp_path / "s", {"a.txt": b"first", "b.txt": b"same"}), url).uploaded == 2
    puts.sent.clear()
    result = upload_export(staged(tmp_path / "s", {"a.txt": b"other", "b.txt": b"same"}), url)  # same size, new key
    assert puts.sent == [f"{url}/a.txt"] and result.unchanged == 1 and memory.cat_file(f"{url}/a.txt") == b"other"
    memory.rm_file(f"{url}/b.txt")  # an object gone from the bucket is sent again, and only it
    puts.sent.clear()
    upload_export(tmp_path / "s", url)
    assert puts.sent == [f"{url}/b.txt"] and memory.cat_file(f"{url}/b.txt") == b"same"


def test_objects_an_interrupted_upload_left_are_removed_by_the_next_one(url, memory, puts, tmp_path):
    upload_export(staged(tmp_path / "s", {"a.txt": b"a"}), url)
    puts.fail_after = len(puts.sent) + 2  # the next upload adds four files: two of them get there
    with pytest.raises(UpstreamError):
        upload_export(staged(tmp_path / "s", {"a.txt": b"a", **{f"new/{n}.txt": b"new" for n in range(4)}}), url)
    assert len([sent for sent in puts.sent if "/new/" in sent]) == 2
    puts.fail_after = None
    journal_path(tmp_path / "s").unlink()  # even with its journal gone, the record at the destination names them
    result = upload_export(staged(tmp_path / "s", {"a.txt": b"a"}), url)
    assert remote_tree(memory, url) == {"a.txt": b"a"} and result.removed == 2


def test_an_interrupted_upload_resumes_with_only_the_rest(ws, url, memory, puts, local_export):
    config = ExportConfig("hf")
    puts.fail_after = 9
    with pytest.raises(UpstreamError, match=r"cannot write the export destination memory://") as failed:
        export_workspace(ws, url, config)
    assert SECRET not in str(failed.value) and "run `curate export` again" in str(failed.value)
    assert len(puts.sent) == 9 and not memory.exists(f"{url}/export.json")  # export.json goes last
    puts.fail_after, first = None, list(puts.sent)
    puts.sent.clear()
    result = export_workspace(ws, url, config)
    expected = local_export(config)
    assert not set(first) & set(puts.sent) and len(first) + len(puts.sent) == len(expected)
    assert result.upload.uploaded == len(puts.sent) and remote_tree(memory, url) == expected


def test_stale_objects_go_and_other_objects_under_the_prefix_stay(ws, url, memory, local_export):
    memory.pipe_file(f"{url}/NOTES.txt", b"mine")
    memory.pipe_file(f"{url}/test/other/keep.jpg", b"not an export's")
    first = export_workspace(ws, url, ExportConfig("imagefolder"))
    assert first.plan.summary.per_split.get("test", 0) > 0
    result = export_workspace(ws, url, ExportConfig("imagefolder", splits=("train",)))
    objects = remote_tree(memory, url)
    assert result.upload.removed > 0
    assert objects.pop("NOTES.txt") == b"mine" and objects.pop("test/other/keep.jpg") == b"not an export's"
    assert objects == local_export(ExportConfig("imagefolder", splits=("train",)))


def test_a_link_to_a_bucket_is_a_copy_and_says_so(ws, url, memory, local_export):
    result = export_workspace(ws, url, ExportConfig("imagefolder", link="symlink"))
    [copied] = [note for note in result.notes if "object store" in note]  # beside the class-set note
    assert "copied" in copied
    objects, local = remote_tree(memory, url), local_export(ExportConfig("imagefolder"))
    assert {k: v for k, v in objects.items() if k.endswith(".jpg")} == \
        {k: v for k, v in local.items() if k.endswith(".jpg")}
    assert b"copied" in objects["export.json"]


def test_the_cli_reports_the_upload(ws, url, capsys):
    code, stdout, err = cli(["export", "-f", "csv", "-o", url, "-w", ws.root], capsys)
    assert code == 0 and f"uploaded to {url}" in stdout and "files sent" in stdout
    assert not Path("memory:").exists() and not (ws.root / "memory:").exists()  # never a local folder


def test_a_recipe_exports_to_a_url_too(ws, url, memory, local_export):
    from curate.pipeline import plan
    from curate.recipes import recipe_from_dict

    recipe = {"name": "exp", "labels_from": "skylines", "sources": [{"kind": "demo"}],
              "export": {"format": "csv", "out": url}}
    summary = plan(recipe_from_dict(recipe))[-1].action(ws).line
    assert f"in {url}" in summary and "uploaded" in summary
    objects, local = remote_tree(memory, url), local_export(ExportConfig("csv"))
    assert b'"recipe": "exp"' in objects.pop("export.json") and objects.pop("README.md")  # they name the recipe
    assert objects == {k: v for k, v in local.items() if k not in ("export.json", "README.md")}
    assert not (ws.root / "memory:").exists()


@pytest.mark.parametrize("bad", ["s3://AKIAKEY:hunter2-never-printed@bucket/x",
                                 "gs://bucket/x?token=hunter2-never-printed"])
def test_a_url_with_credentials_is_one_line(ws, capsys, bad):
    code, stdout, err = cli(["export", "-f", "imagefolder", "-o", bad, "-w", ws.root], capsys)
    assert code == 2 and "holds credentials" in err and "Traceback" not in err
    assert SECRET not in stdout + err and "***" in err
    assert not (ws.root / "cache" / STAGING_FOLDER).exists()


def test_a_destination_that_refuses_writes_is_one_line_before_anything_is_exported(ws, url, memory, capsys,
                                                                                  monkeypatch):
    def refused(path, *args, **kwargs):
        raise PermissionError(f"AccessDenied for {path} https://host/x?X-Amz-Signature={SECRET}")

    monkeypatch.setattr(memory, "pipe_file", refused)
    code, stdout, err = cli(["export", "-f", "webdataset", "-o", url, "-w", ws.root], capsys)
    assert code == 2 and "cannot write to the export destination" in err and "AccessDenied" in err
    assert "Traceback" not in err and SECRET not in stdout + err
    assert not (ws.root / "cache" / STAGING_FOLDER).exists()


def test_a_destination_inside_the_image_store_is_refused(ws, url, memory):
    (ws.root / "store.json").write_text(json.dumps({"uri": url}) + "\n", encoding="utf-8")
    for inside in (url, f"{url}/", f"{url}/exports"):
        with pytest.raises(UsageError, match="is inside the image store"):
            export_workspace(ws, inside, ExportConfig("csv"))
    assert not memory.exists(url) and not (ws.root / "cache" / STAGING_FOLDER).exists()


# -- S3 (moto) ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3():
    """A moto S3 server, the environment a user sets for it, and an s3fs on it, with one bucket."""
    with moto_s3(SECRET, "curate-upload-test") as fs:
        yield fs


def test_an_export_to_s3_is_the_local_export_and_a_missing_bucket_is_one_line(ws, s3, local_export, capsys):
    url = f"s3://curate-upload-test/exports/{uuid.uuid4().hex[:8]}"
    config = ExportConfig("webdataset", shard_samples=7)
    export_workspace(ws, url, config)
    assert remote_tree(s3, url) == local_export(config)
    assert export_workspace(ws, url, config).upload.uploaded == 0
    code, stdout, err = cli(["export", "-f", "csv", "-o", "s3://no-such-bucket-here/x", "-w", ws.root], capsys)
    assert code == 2 and "cannot write to the export destination s3://no-such-bucket-here/x" in err
    assert "Traceback" not in err and SECRET not in stdout + err
