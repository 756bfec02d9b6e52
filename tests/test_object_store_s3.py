"""Stored images on S3 (a local moto server on 127.0.0.1, through s3fs): ingest folder into
s3://bucket/prefix, then the filter's reads, embed and the training-data read give what the local
store gives. Skipped when moto or s3fs is not installed (`pip install -e '.[dev]'` brings both)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from object_store_helpers import curate_folder, photo_folder
from typer.testing import CliRunner

from curate import objectstore
from curate.cli.app import app
from curate.workspace import Workspace, read_catalog

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")
runner = CliRunner()
BUCKET = "curate-test"
SECRET = "moto-secret-never-printed"


@pytest.fixture(scope="module")
def s3_endpoint():
    """A moto S3 server for the module, with one bucket."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """The environment a user sets for S3 (credentials, endpoint) and an s3fs filesystem on it."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET,
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_endpoint,
                        "NO_PROXY": "127.0.0.1,localhost"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    s3fs.S3FileSystem.clear_instance_cache()  # instances made under another environment
    fs = s3fs.S3FileSystem()
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    yield fs
    s3fs.S3FileSystem.clear_instance_cache()


def test_a_workspace_on_s3_curates_like_the_local_store(tmp_path, s3, one_torch_thread):
    folder = photo_folder(tmp_path / "photos")
    local = curate_folder(Workspace(tmp_path / "local"), folder)
    remote_ws = Workspace(tmp_path / "remote")
    remote = curate_folder(remote_ws, folder, store=f"s3://{BUCKET}/prefix")

    pd.testing.assert_frame_equal(remote.catalog, local.catalog)
    assert remote.catalog["phash"].notna().all()
    np.testing.assert_allclose(remote.vectors, local.vectors, rtol=1e-5, atol=1e-6)
    for sha, pixels in local.training_pixels.items():
        np.testing.assert_array_equal(remote.training_pixels[sha], pixels)
    s3.invalidate_cache()
    objects = {path.removeprefix(f"{BUCKET}/prefix/") for path in s3.find(f"{BUCKET}/prefix")}
    assert objects == {path.removeprefix("images/") for path in remote.catalog["image_path"]}
    assert not remote_ws.images_dir.exists()
    assert SECRET not in (remote_ws.root / objectstore.STORE_FILE).read_text()


def test_ingest_into_a_missing_bucket_is_one_line_and_runs_once_it_exists(tmp_path, s3):
    folder = photo_folder(tmp_path / "photos")
    ws = tmp_path / "ws"
    args = ["ingest", "folder", str(folder), "--workspace", str(ws), "--store", "s3://no-such-bucket/photos"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "cannot write to the image store s3://no-such-bucket/photos" in result.output
    assert SECRET not in result.output and "Traceback" not in result.output
    s3.mkdir("no-such-bucket")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    catalog = read_catalog(Workspace(ws))
    assert catalog["image_path"].notna().all() and (catalog["status"] == "kept").sum() >= len(catalog) - 1
