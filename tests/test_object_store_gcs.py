"""Stored images on Google Cloud Storage (gcp-storage-emulator on 127.0.0.1, in this process, through
gcsfs): ingest folder into gs://bucket/prefix, then the filter's reads, embed and the training-data
read give what the local store gives; `curate export` from a gs:// store and to a gs:// destination
gives the files of the local export; a missing bucket is one line. Skipped when gcsfs or the emulator
is not installed (`pip install -e '.[dev]'` brings both).

An emulator, not Google's service: it serves the JSON API gcsfs's `GCSFileSystem` speaks, not the
gRPC storage-control API that gcsfs's newer default class (`ExtendedGcsFileSystem`, for zonal and
hierarchical buckets) asks each bucket's layout from, so `gs://` is served by `gcsfs.core.GCSFileSystem`
here (what GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false selects)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import demo_workspace, some_slow
from object_store_helpers import curate_folder, photo_folder
from typer.testing import CliRunner

from curate import objectstore
from curate.cli.app import app
from curate.export import FORMATS, ExportConfig, export_workspace
from curate.export.state import STATE_FILE
from curate.export.upload import UPLOAD_RECORD
from curate.workspace import Workspace, read_catalog

gcsfs_core = pytest.importorskip("gcsfs.core")
emulator = pytest.importorskip("gcp_storage_emulator.server")
import fsspec  # noqa: E402 - gcsfs brings it
from fsspec.registry import _registry as fsspec_registry  # noqa: E402 - register_implementation has no undo
from google.oauth2.credentials import Credentials  # noqa: E402 - google-auth comes with gcsfs

runner = CliRunner()
BUCKET = "curate-test"
SECRET = "ya29.gcs-token-never-printed"  # the bearer token every request carries (the emulator checks none)


@pytest.fixture(scope="module")
def gcs():
    """A GCS emulator for the module, with one bucket, and gcsfs pointed at it as a user points it at
    a bucket: the endpoint in STORAGE_EMULATOR_HOST, the credentials in fsspec's configuration (as
    ~/.config/fsspec/gs.json would give them). Yields a gcsfs filesystem on it; the environment, the
    configuration and fsspec's registry are restored afterwards."""
    server = emulator.create_server("127.0.0.1", 0, in_memory=True, default_bucket=BUCKET)
    server.start()
    httpd = server._api._httpd  # bound to port 0: the port is the one the system gave it
    # One request at a time, and http.server's backlog of 5 connections: the export's 16 parallel
    # GETs overflowed it, and each dropped connection waited a second to retry. A longer queue:
    httpd.socket.listen(64)
    # gcsfs asks for an object and lists its prefix at once and drops the slower answer; the emulator
    # would print a BrokenPipeError traceback for each (into a CLI test's captured output, too)
    httpd.handle_error = lambda request, client_address: None
    host, port = httpd.server_address[:2]
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("STORAGE_EMULATOR_HOST", f"http://{host}:{port}")
            for protocol in gcsfs_core.GCSFileSystem.protocol:  # gs, gcs: the JSON-API class (module docstring)
                patch.setitem(fsspec_registry, protocol, gcsfs_core.GCSFileSystem)
            patch.setitem(fsspec.config.conf, "gs", {"token": Credentials(SECRET)})  # valid, no expiry: no refresh
            gcsfs_core.GCSFileSystem.clear_instance_cache()  # instances made under another configuration
            fs = fsspec.filesystem("gs")
            assert type(fs) is gcsfs_core.GCSFileSystem and fs.exists(BUCKET)
            yield fs
            gcsfs_core.GCSFileSystem.clear_instance_cache()
    finally:
        server.stop()


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes) but a local export's own state file."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != STATE_FILE}


def remote_tree(fs, url: str) -> dict[str, bytes]:
    """Every object under `url` (relative key -> bytes) but an upload's record."""
    fs.invalidate_cache()
    root = fs._strip_protocol(url).rstrip("/") + "/"
    return {name[len(root):]: fs.cat_file(name) for name in sorted(fs.find(url)) if name[len(root):] != UPLOAD_RECORD}


# -- ingest and every reader -------------------------------------------------------------------

def test_a_workspace_on_gcs_curates_like_the_local_store(tmp_path, gcs, one_torch_thread):
    folder = photo_folder(tmp_path / "photos")
    local = curate_folder(Workspace(tmp_path / "local"), folder)
    remote_ws = Workspace(tmp_path / "remote")
    remote = curate_folder(remote_ws, folder, store=f"gs://{BUCKET}/prefix")

    pd.testing.assert_frame_equal(remote.catalog, local.catalog)
    assert remote.catalog["phash"].notna().all()
    np.testing.assert_allclose(remote.vectors, local.vectors, rtol=1e-5, atol=1e-6)
    assert remote.training_pixels.keys() == local.training_pixels.keys()
    for sha, pixels in local.training_pixels.items():
        np.testing.assert_array_equal(remote.training_pixels[sha], pixels)
    objects = remote_tree(gcs, f"gs://{BUCKET}/prefix")
    assert set(objects) == {path.removeprefix("images/") for path in remote.catalog["image_path"]}
    local_images = Workspace(tmp_path / "local").root
    assert all(data == (local_images / "images" / key).read_bytes() for key, data in objects.items())
    assert not remote_ws.images_dir.exists()
    assert (remote_ws.root / objectstore.STORE_FILE).read_text() == '{"uri": "gs://curate-test/prefix"}\n'


def test_ingest_into_a_missing_bucket_is_one_line_and_runs_once_it_exists(tmp_path, gcs):
    folder = photo_folder(tmp_path / "photos")
    ws = tmp_path / "ws"
    args = ["ingest", "folder", str(folder), "--workspace", str(ws), "--store", "gs://no-such-bucket/photos"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot write to the image store gs://no-such-bucket/photos (" in errors[0]
    assert SECRET not in result.output and "Traceback" not in result.output
    gcs.mkdir("no-such-bucket")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    catalog = read_catalog(Workspace(ws))
    assert catalog["image_path"].notna().all() and (catalog["status"] == "kept").sum() >= len(catalog) - 1
    assert gcs.exists(f"no-such-bucket/photos/{catalog['image_path'].iloc[0].removeprefix('images/')}")
    assert not gcs.exists("no-such-bucket/photos/.curate-write-check")  # the probe is removed


# -- export ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory) -> Workspace:
    """A filtered and split demo collection whose images are in <workspace>/images."""
    return demo_workspace(tmp_path_factory.mktemp("gcs-export-ws"), photos=40, seed=4)


@pytest.fixture(scope="module")
def gcs_ws(demo_ws, gcs, tmp_path_factory) -> Workspace:
    """A copy of the demo workspace whose images are in gs://BUCKET/photos, not in its folder."""
    root = tmp_path_factory.mktemp("gcs-ws") / "remote"
    shutil.copytree(demo_ws.root, root, ignore=lambda folder, names: ["images"] if Path(folder) == demo_ws.root else [])
    url = f"gs://{BUCKET}/photos"
    for path in sorted(demo_ws.images_dir.rglob("*")):
        if path.is_file():
            gcs.pipe_file(f"{url}/{path.relative_to(demo_ws.images_dir)}", path.read_bytes())
    (root / objectstore.STORE_FILE).write_text(json.dumps({"uri": url}) + "\n", encoding="utf-8")
    ws = Workspace(root)
    assert objectstore.store_uri(ws) == url and not ws.images_dir.exists()
    return ws


@pytest.mark.parametrize("fmt", some_slow(FORMATS, fast=("hf-parquet", "imagefolder")))
def test_every_format_from_gcs_is_byte_identical_to_the_local_store(demo_ws, gcs_ws, tmp_path, fmt):
    config = ExportConfig(fmt, shard_samples=7)
    local = export_workspace(demo_ws, tmp_path / "local", config)
    remote = export_workspace(gcs_ws, tmp_path / "gcs", config)
    assert tree(tmp_path / "gcs") == tree(tmp_path / "local")
    assert len(tree(tmp_path / "local")) > 3 and remote.plan.photos == local.plan.photos > 10
    assert len(remote.plan.missing) == 0 and not gcs_ws.images_dir.exists()


def test_a_store_in_a_missing_bucket_is_one_line(gcs_ws, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(gcs_ws.root, ws)
    (ws / objectstore.STORE_FILE).write_text(json.dumps({"uri": "gs://no-bucket-here/photos"}) + "\n")
    result = runner.invoke(app, ["export", "-f", "imagefolder", "-o", str(tmp_path / "out"), "-w", str(ws)])
    assert result.exit_code == 2, result.output
    assert "the image store gs://no-bucket-here/photos holds no images" in result.output
    assert SECRET not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_an_export_to_gcs_is_the_folder_export_and_a_missing_bucket_is_one_line(demo_ws, gcs, tmp_path):
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(demo_ws.root, ws.root)
    config = ExportConfig("webdataset", shard_samples=7)
    export_workspace(demo_ws, tmp_path / "local", config)
    url = f"gs://{BUCKET}/exports/skylines"
    result = runner.invoke(app, ["export", "-f", "webdataset", "--shard-samples", "7", "-o", url, "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert f"uploaded to {url}" in " ".join(result.output.split())
    expected = tree(tmp_path / "local")
    assert len(expected) > 3 and remote_tree(gcs, url) == expected
    assert gcs.exists(f"{url}/{UPLOAD_RECORD}")
    again = export_workspace(ws, url, config)
    assert again.upload.uploaded == 0 and again.upload.unchanged == len(expected) and again.upload.removed == 0
    result = runner.invoke(app, ["export", "-f", "csv", "-o", "gs://no-such-export-bucket/x", "-w", str(ws.root)])
    assert result.exit_code == 2, result.output
    assert "cannot write to the export destination gs://no-such-export-bucket/x" in result.output
    assert SECRET not in result.output and "Traceback" not in result.output
