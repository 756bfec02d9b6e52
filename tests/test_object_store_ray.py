"""`--engine ray` with the images on S3 (a local moto server; a local one-CPU Ray, so one embed actor
loads the backbone once): ingest's Ray tasks write the images to the bucket with the store the driver
handed them, embed's Ray actors read them from there, and the results are the local engine's on the
local store. Skipped without Ray, moto or s3fs."""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest
from object_store_helpers import EMBED, photo_folder

ray = pytest.importorskip("ray")
s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from curate import engines, objectstore  # noqa: E402
from curate.embed import EmbedConfig, EmbeddingCache, run_embed  # noqa: E402
from curate.engines import EngineConfig  # noqa: E402
from curate.ingest.folder import FolderOptions, ingest_folder  # noqa: E402
from curate.workspace import Workspace, read_catalog  # noqa: E402

BUCKET = "curate-ray"


@pytest.fixture(scope="module")
def s3_and_ray():
    """A moto S3 server and a local Ray whose workers get the same S3 environment as this process."""
    if ray.is_initialized():  # someone else's Ray: its workers lack the S3 environment
        pytest.skip("a Ray is already running in this process")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}", "NO_PROXY": "127.0.0.1,localhost"}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    s3fs.S3FileSystem.clear_instance_cache()
    s3fs.S3FileSystem().mkdir(BUCKET)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # one declared GPU: embed's GPU-actor path (decode processes that read the bucket) runs here too
    ray.init(num_cpus=1, num_gpus=1, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield s3fs.S3FileSystem()
    ray.shutdown()
    s3fs.S3FileSystem.clear_instance_cache()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    server.stop()


@pytest.mark.slow
def test_ingest_and_embed_on_ray_with_the_images_on_s3(tmp_path, s3_and_ray, one_torch_thread):
    folder = photo_folder(tmp_path / "photos")
    local, remote = Workspace(tmp_path / "local"), Workspace(tmp_path / "remote")
    ingest_folder(local, FolderOptions(folder=folder, workers=2))
    run_embed(local, EMBED)
    objectstore.record_store(remote, f"s3://{BUCKET}/prefix")
    with engines.use(EngineConfig(engine="ray", shard_size=3)):
        ingest_folder(remote, FolderOptions(folder=folder, workers=2))
        run_embed(remote, EMBED)

    pd.testing.assert_frame_equal(read_catalog(remote), read_catalog(local))
    assert not remote.images_dir.exists()
    catalog = read_catalog(remote)
    s3_and_ray.invalidate_cache()
    objects = {path.removeprefix(f"{BUCKET}/prefix/") for path in s3_and_ray.find(f"{BUCKET}/prefix")}
    assert objects == {path.removeprefix("images/") for path in catalog["image_path"]}
    shas = catalog["sha256"].drop_duplicates()
    vectors, found, ok = EmbeddingCache(remote, EMBED.cache_key).lookup(shas)
    expected, *_ = EmbeddingCache(local, EMBED.cache_key).lookup(shas)
    assert found.all() and ok.all()
    np.testing.assert_allclose(vectors, expected, atol=2e-2)  # float16 cache, other batches

    # the GPU-actor path (device auto on the declared GPU): its decode tasks read the bucket, on the
    # one CPU of this Ray, which the actor must leave to them
    gpu_path = EmbedConfig(workers=1, device="auto", image_size=64)
    run_embed(local, gpu_path)
    with engines.use(EngineConfig(engine="ray", shard_size=3)):
        report = run_embed(remote, gpu_path)
    assert report.device == "ray (1 GPU actor, decoding on Ray CPU tasks)" and report.computed == len(shas)
    vectors, found, ok = EmbeddingCache(remote, gpu_path.cache_key).lookup(shas)
    expected, *_ = EmbeddingCache(local, gpu_path.cache_key).lookup(shas)
    assert found.all() and ok.all()
    np.testing.assert_allclose(vectors, expected, atol=2e-2)
