"""Stored images on an fsspec store (memory:// here; tests/test_object_store_s3.py: a local S3):
the catalog, the filter's reads, embeddings and the training-data read are those of the local
store; the setting is recorded once; credentials never reach a message."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pandas as pd
import pytest
from object_store_helpers import curate_folder, photo_folder
from typer.testing import CliRunner

from curate import objectstore
from curate.cli.app import app
from curate.errors import UsageError
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.store import open_rgb, put_image
from curate.workspace import Workspace, read_catalog
from tests.helpers import jpeg_bytes

fsspec = pytest.importorskip("fsspec")
runner = CliRunner()
SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY"


@pytest.fixture
def bucket():
    """A fresh memory:// bucket URL, removed afterwards."""
    url = f"memory://bucket-{uuid.uuid4().hex[:12]}/photos"
    yield url
    memory = fsspec.filesystem("memory")
    if memory.exists(url):
        memory.rm(url, recursive=True)


def stored_keys(url: str) -> set[str]:
    memory = fsspec.filesystem("memory")
    return {path.split("/photos/", 1)[1] for path in memory.find(url)}


def test_a_workspace_on_an_object_store_curates_like_the_local_store(tmp_path, bucket, one_torch_thread):
    folder = photo_folder(tmp_path / "photos")
    local = curate_folder(Workspace(tmp_path / "local"), folder)
    remote_ws = Workspace(tmp_path / "remote")
    remote = curate_folder(remote_ws, folder, store=bucket)

    pd.testing.assert_frame_equal(remote.catalog, local.catalog)
    assert remote.catalog["phash"].notna().all() and remote.catalog["image_path"].notna().all()
    assert (remote.catalog["drop_reason"] == "exact_duplicate").sum() == 1  # the copy, found from the store's bytes
    np.testing.assert_allclose(remote.vectors, local.vectors, rtol=1e-5, atol=1e-6)
    assert remote.training_pixels.keys() == local.training_pixels.keys()
    for sha, pixels in local.training_pixels.items():
        np.testing.assert_array_equal(remote.training_pixels[sha], pixels)
    # the images are in the bucket under <ab>/<sha256>.jpg, and none in the workspace folder
    keys = {path.removeprefix("images/") for path in remote.catalog["image_path"]}
    assert stored_keys(bucket) == keys
    assert not remote_ws.images_dir.exists()


def test_re_ingesting_writes_nothing_to_the_store(tmp_path, bucket, monkeypatch):
    folder = photo_folder(tmp_path / "photos")
    ws = Workspace(tmp_path / "ws")
    objectstore.record_store(ws, bucket)
    ingest_folder(ws, FolderOptions(folder=folder, workers=1))
    first = read_catalog(ws)
    written = []
    memory = type(fsspec.filesystem("memory"))
    real_pipe = memory.pipe_file

    def counting_pipe(self, path, *args, **kwargs):
        written.append(path)
        return real_pipe(self, path, *args, **kwargs)

    monkeypatch.setattr(memory, "pipe_file", counting_pipe)
    put_image(ws, (folder / "harbour" / "1.jpg").read_bytes())  # content-addressed: already there
    ingest_folder(ws, FolderOptions(folder=folder, workers=1))
    assert [path for path in written if not path.endswith(".curate-write-check")] == []
    pd.testing.assert_frame_equal(read_catalog(ws), first)


def test_locate_and_open_rgb_read_a_key_from_the_recorded_store(tmp_path, bucket):
    ws = Workspace(tmp_path / "ws")
    assert objectstore.locate(ws, "images/ab/ab.jpg") == ws.root / "images" / "ab" / "ab.jpg"
    objectstore.record_store(ws, bucket + "/")
    assert json.loads((ws.root / objectstore.STORE_FILE).read_text()) == {"uri": bucket}
    stored = put_image(ws, jpeg_bytes(width=56, height=42))
    location = objectstore.locate(ws, stored.image_path)
    assert location == f"{bucket}/{stored.image_path.removeprefix('images/')}"
    assert open_rgb(location).size == (56, 42)
    assert objectstore.exists(location) and not objectstore.exists(location + ".missing")


def test_a_local_folder_outside_the_workspace_can_be_the_store(tmp_path):
    ws = Workspace(tmp_path / "ws")
    objectstore.record_store(ws, str(tmp_path / "shared-images"))
    stored = put_image(ws, jpeg_bytes())
    assert (tmp_path / "shared-images" / stored.image_path.removeprefix("images/")).is_file()
    assert open_rgb(objectstore.locate(ws, stored.image_path)).size == (64, 48)


def test_a_workspace_with_images_cannot_move_to_another_store(tmp_path, bucket):
    folder = photo_folder(tmp_path / "photos")
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, FolderOptions(folder=folder, workers=1))
    with pytest.raises(UsageError, match="keeps its images in .*fresh --workspace"):
        objectstore.record_store(ws, bucket)
    assert objectstore.store_uri(ws) is None
    objectstore.record_store(ws, str(ws.images_dir))  # naming the store it has is fine
    objectstore.record_store(ws, None)


@pytest.mark.parametrize(("uri", "message"), [
    ("nosuchprotocol://bucket/x", "not a storage protocol fsspec knows"),
    ("memory://", "names no bucket"),
    ("   ", "is empty"),
])
def test_a_bad_store_uri_is_one_line(tmp_path, uri, message):
    with pytest.raises(UsageError, match=message):
        objectstore.record_store(Workspace(tmp_path / "ws"), uri)


def test_a_missing_driver_names_the_extra_to_install(monkeypatch):
    def no_driver(fsspec_module, protocol):
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(objectstore, "_filesystem", no_driver)
    with pytest.raises(UsageError, match=r"pip install 'curate-photos\[s3\]'"):
        objectstore.check_store_uri("s3://bucket/prefix")


def test_a_driver_that_cannot_start_is_one_masked_line(tmp_path, monkeypatch):
    # gcsfs given a bad token in FSSPEC_GS_TOKEN raised requests' ConnectionError, its URL holding the token
    def bad_token(fsspec_module, protocol):
        raise ConnectionError(f"Max retries exceeded with url: /tokeninfo?access_token={SECRET}")

    monkeypatch.setattr(objectstore, "_filesystem", bad_token)
    folder = photo_folder(tmp_path / "photos")
    result = runner.invoke(app, ["ingest", "folder", str(folder), "--workspace", str(tmp_path / "ws"),
                                 "--store", "gs://bucket/photos"])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot set up the gs:// driver (ConnectionError" in errors[0]
    assert "access_token=***" in errors[0] and "GOOGLE_APPLICATION_CREDENTIALS" in errors[0]
    assert SECRET not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "ws" / objectstore.STORE_FILE).exists()


def test_credentials_in_a_store_url_are_refused_and_never_printed(tmp_path):
    folder = photo_folder(tmp_path / "photos")
    result = runner.invoke(app, ["ingest", "folder", str(folder), "--workspace", str(tmp_path / "ws"),
                                 "--store", f"s3://AKIAIOSFODNN7EXAMPLE:{SECRET}@bucket/photos"])
    assert result.exit_code == 2
    assert "holds credentials" in result.output and "s3://***@bucket/photos" in result.output
    assert SECRET not in result.output and "AKIAIOSFODNN7EXAMPLE" not in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "ws" / objectstore.STORE_FILE).exists()


def test_a_store_that_cannot_be_written_stops_ingest_with_one_masked_line(tmp_path, bucket, monkeypatch):
    def refuse(self, path, *args, **kwargs):
        raise RuntimeError(f"AccessDenied for https://bucket.example/x?X-Amz-Credential=AKIA&X-Amz-Signature={SECRET}")

    monkeypatch.setattr(type(fsspec.filesystem("memory")), "pipe_file", refuse)
    folder = photo_folder(tmp_path / "photos")
    result = runner.invoke(app, ["ingest", "folder", str(folder), "--workspace", str(tmp_path / "ws"),
                                 "--store", bucket])
    assert result.exit_code == 2
    assert f"cannot write to the image store {bucket}" in result.output and "AccessDenied" in result.output
    assert SECRET not in result.output and "X-Amz-Signature=***" in result.output
    assert not (tmp_path / "ws" / "catalog.parquet").exists()


def test_the_cli_records_the_store_and_later_commands_read_it(tmp_path, bucket):
    folder = photo_folder(tmp_path / "photos")
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["ingest", "folder", str(folder), "--workspace", str(ws), "--store", bucket])
    assert result.exit_code == 0, result.output
    catalog = read_catalog(Workspace(ws))
    assert stored_keys(bucket) == {path.removeprefix("images/") for path in catalog["image_path"].dropna()}
    result = runner.invoke(app, ["ingest", "folder", str(folder), "--workspace", str(ws)])  # no --store: kept
    assert result.exit_code == 0, result.output
    assert objectstore.store_uri(Workspace(ws)) == bucket
    result = runner.invoke(app, ["filter", "--workspace", str(ws)])
    assert result.exit_code == 0, result.output


def folder_recipe(tmp_path, store_section: str):
    from curate.recipes import load_recipe

    photo_folder(tmp_path / "photos")
    path = tmp_path / "r.toml"
    path.write_text('topic = "city"\n[[labels]]\nname = "harbour"\n[[labels]]\nname = "tower"\n'
                    f'[[sources]]\nkind = "folder"\nfolder = "photos"\n{store_section}', encoding="utf-8")
    return load_recipe(str(path))


def test_a_recipe_store_section_sends_its_ingest_to_the_store(tmp_path, bucket):
    from curate import pipeline

    steps = pipeline.plan(folder_recipe(tmp_path, f'[store]\nuri = "{bucket}"\n'))
    ingest = next(step for step in steps if step.name.startswith("ingest"))
    ws = Workspace(tmp_path / "ws")
    ingest.action(ws)
    assert objectstore.store_uri(ws) == bucket
    catalog = read_catalog(ws)
    assert stored_keys(bucket) == {path.removeprefix("images/") for path in catalog["image_path"].dropna()}


@pytest.mark.parametrize(("section", "message"), [
    ('[store]\nuri = "s3://KEY:hunter2@b"\n', r"\[store\] uri: the image store s3://\*\*\*@b holds credentials"),
    ('[store]\nurl = "s3://b"\n', r"\[store\].*url.*known settings: uri"),
])
def test_a_bad_recipe_store_section_is_one_line_before_anything_runs(tmp_path, section, message):
    from curate import pipeline

    with pytest.raises(UsageError, match=message) as caught:
        pipeline.plan(folder_recipe(tmp_path, section))
    assert "hunter2" not in str(caught.value)


def test_review_and_report_images_are_read_from_the_store(tmp_path, bucket):
    from PIL import Image

    from curate.report.run import _write_thumbnails
    from curate.review.app import _image_response
    from curate.review.session import ReviewSession

    ws = Workspace(tmp_path / "ws")
    objectstore.record_store(ws, bucket)
    ingest_folder(ws, FolderOptions(folder=photo_folder(tmp_path / "photos"), workers=1))
    row = read_catalog(ws).iloc[0]
    session = ReviewSession(ws, user="tester")
    try:
        full = _image_response(session, row["photo_id"], thumbnail=False)
        thumb = _image_response(session, row["photo_id"], thumbnail=True)
    finally:
        session.close()
    assert full.status_code == 200 and full.body == fsspec.filesystem("memory").cat_file(
        objectstore.locate(ws, row["image_path"]))
    assert thumb.status_code == 200 and thumb.body[:2] == b"\xff\xd8"
    report = {"sections": {"gallery": [{"sha256": row["sha256"], "image_path": row["image_path"]}]}}
    (tmp_path / "report").mkdir()
    _write_thumbnails(ws, tmp_path / "report", report)
    photo = report["sections"]["gallery"][0]
    assert "href" not in photo  # a browser cannot follow an s3:// link
    with Image.open(tmp_path / "report" / photo["thumb"]) as image:
        assert image.size == (80, 60)


def test_a_ray_shard_writes_to_the_store_the_driver_handed_it_without_reading_store_json(tmp_path, bucket,
                                                                                          monkeypatch):
    from curate.ingest.engine_fetch import fetch_shard

    monkeypatch.setattr(objectstore, "_PINNED", {})
    ws = Workspace(tmp_path / "worker-view")  # a worker that does not see the workspace folder: no store.json
    data = jpeg_bytes()
    [outcome] = fetch_shard(ws, lambda record: data, 1, bucket, [{"photo_id": "p:1"}])
    assert stored_keys(bucket) == {outcome["image_path"].removeprefix("images/")}
    assert not (tmp_path / "worker-view").exists()


def failing_pipe(memory, fail, monkeypatch):
    """Make memory:// PUTs of keys for which `fail(path)` is true raise."""
    real_pipe = memory.pipe_file

    def pipe(self, path, *args, **kwargs):
        if fail(path):
            raise PermissionError(f"AccessDenied: https://b.example/{path}?X-Amz-Signature={SECRET}")
        return real_pipe(self, path, *args, **kwargs)

    monkeypatch.setattr(memory, "pipe_file", pipe)


def test_a_photo_the_store_refuses_is_an_ingest_error_whose_detail_hides_the_signature(tmp_path, bucket, monkeypatch):
    failing_pipe(type(fsspec.filesystem("memory")), lambda path: path.endswith(".jpg"), monkeypatch)
    ws = Workspace(tmp_path / "ws")
    objectstore.record_store(ws, bucket)
    ingest_folder(ws, FolderOptions(folder=photo_folder(tmp_path / "photos"), workers=1))
    catalog = read_catalog(ws)
    failed = catalog[catalog["drop_reason"] == "ingest_error"]
    assert len(failed) == len(catalog)  # every image PUT failed; the probe did not
    assert failed["error_detail"].str.contains("X-Amz-Signature=\\*\\*\\*").all()
    assert not failed["error_detail"].str.contains(SECRET).any()


def test_a_store_that_may_write_but_not_delete_still_takes_the_images(tmp_path, bucket, monkeypatch):
    def no_delete(self, path, *args, **kwargs):
        raise PermissionError("AccessDenied: s3:DeleteObject")

    monkeypatch.setattr(type(fsspec.filesystem("memory")), "rm_file", no_delete)
    ws = Workspace(tmp_path / "ws")
    objectstore.record_store(ws, bucket)
    ingest_folder(ws, FolderOptions(folder=photo_folder(tmp_path / "photos"), workers=1))
    assert read_catalog(ws)["image_path"].notna().all()


def test_readers_stop_with_one_line_when_the_store_driver_is_missing(tmp_path, bucket, monkeypatch):
    from curate.embed import EmbedConfig, run_embed

    ws = Workspace(tmp_path / "ws")
    objectstore.record_store(ws, bucket)
    ingest_folder(ws, FolderOptions(folder=photo_folder(tmp_path / "photos"), workers=1))

    def no_driver(fsspec_module, protocol):
        raise ImportError("no driver")

    monkeypatch.setattr(objectstore, "_filesystem", no_driver)
    with pytest.raises(UsageError, match="needs its fsspec driver"):
        run_embed(ws, EmbedConfig(workers=0, device="cpu", image_size=96))


def test_the_drivers_own_log_lines_are_silenced(capsys):
    """Audit AT: offline, gcsfs logged two credential lines, its retries and a full aiohttp traceback (54 to
    64 lines) before the command's one line; the drivers' loggers are silenced once a filesystem is made."""
    import logging

    objectstore.filesystem("memory://bucket")
    for name in objectstore.QUIET_LOGGERS:
        logging.getLogger(f"{name}.retry").error("_request out of retries on exception", exc_info=False)
    assert capsys.readouterr().err == ""
