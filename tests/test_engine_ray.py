"""`--engine ray`: per-image work (ingest's fetch + decode pass, embed) on a local Ray cluster
gives what the local engine gives; a killed shard is retried; a killed run resumes from its
journal; Ray missing or a cluster that does not answer is one line."""

from __future__ import annotations

import io
import os
import shutil
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

ray = pytest.importorskip("ray")

from curate import engines  # noqa: E402
from curate.cli.app import app  # noqa: E402
from curate.demo.config import DemoConfig  # noqa: E402
from curate.embed import EmbedConfig, EmbeddingCache, decode_batch, embeddable_images, run_embed  # noqa: E402
from curate.engines import EngineConfig  # noqa: E402
from curate.engines import ray as ray_engine  # noqa: E402
from curate.errors import UpstreamError  # noqa: E402
from curate.ingest import demo as demo_ingest  # noqa: E402
from curate.ingest.engine_journal import Journal  # noqa: E402
from curate.ingest.http import DownloadConfig  # noqa: E402
from curate.ingest.urls import UrlIngestOptions, ingest_urls  # noqa: E402
from curate.vision import features  # noqa: E402
from curate.workspace import Workspace, read_catalog  # noqa: E402
from tests.helpers import jpeg_bytes  # noqa: E402
from tests.httpfixtures import FakeServer, Response  # noqa: E402

runner = CliRunner()
PHOTOS = 24  # demo photos: a small collection, several shards
DEMO = DemoConfig(photos=PHOTOS, seed=3, image_width=64, image_height=48)
SHARD = 3  # records per shard: 24 photos are 8 shards, 4 for each of the 2 CPUs (the engine's least)
URLS = 22


def on_ray(**overrides) -> EngineConfig:
    return EngineConfig(**{"engine": "ray", "shard_size": SHARD, **overrides})


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """One local Ray (2 CPUs and one declared GPU, so that embed's GPU-actor path runs here on the
    CPU) for the module; its workers inherit NO_PROXY (loopback downloads)."""
    saved = os.environ.get("NO_PROXY")
    os.environ["NO_PROXY"] = "127.0.0.0/8,localhost"
    # pytest imports this file under a name Ray's workers cannot import: send its classes by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()
    if saved is None:
        os.environ.pop("NO_PROXY", None)
    else:
        os.environ["NO_PROXY"] = saved


@pytest.fixture(scope="module")
def local_demo(tmp_path_factory) -> Workspace:
    """The demo collection ingested by the local engine: what the Ray engine must reproduce."""
    ws = Workspace(tmp_path_factory.mktemp("local-demo"))
    demo_ingest.ingest_demo(ws, DEMO, workers=2)
    return ws


def catalogs_equal(left: Workspace, right: Workspace) -> None:
    pd.testing.assert_frame_equal(read_catalog(left), read_catalog(right))


def stored_files(ws: Workspace) -> set[str]:
    return {str(path.relative_to(ws.root)) for path in ws.images_dir.rglob("*") if path.is_file()}


# -- ingest urls: downloads on Ray tasks ------------------------------------------------------------

def image(i: int) -> bytes:
    return jpeg_bytes(color=(i * 37 % 256, i * 11 % 256, (i * 5 + 90) % 256))


@pytest.fixture
def url_list(tmp_path):
    """A loopback server with URLS photos (one 404, one not an image) and the CSV that lists them."""
    with FakeServer() as server:
        rows = []
        for i in range(URLS):
            path = f"/p{i}.jpg"
            if i == 7:
                server.route(path, Response(status=404))
            elif i == 11:
                server.route(path, Response(b"<html>not a picture</html>", content_type="text/html"))
            else:
                server.route(path, Response(image(i), content_type="image/jpeg"))
            rows.append({"photoid": str(1000 + i), "usernsid": f"owner{i % 4}", "usertags": "skyline",
                         "downloadurl": server.url(path)})
        table = tmp_path / "urls.csv"
        pd.DataFrame(rows).to_csv(table, index=False)
        yield server, table


def options(table: Path) -> UrlIngestOptions:
    return UrlIngestOptions(path=table, download=DownloadConfig(workers=2, per_host=2, retries=0,
                                                                connect_timeout_s=5.0, read_timeout_s=10.0))


def test_ingest_urls_on_ray_gives_the_local_catalog(url_list, tmp_path):
    server, table = url_list
    local, distributed = Workspace(tmp_path / "local"), Workspace(tmp_path / "ray")
    ingest_urls(local, options(table))
    with engines.use(on_ray()):
        report = ingest_urls(distributed, options(table))
    assert report.fetched == URLS
    assert report.dropped_by_reason == {"http_404": 1, "not_an_image": 1}
    catalogs_equal(local, distributed)
    assert stored_files(local) == stored_files(distributed)
    assert all(server.hit_count(f"/p{i}.jpg") == 2 for i in range(URLS))  # once per engine, no more
    assert not Journal(distributed, "urls").path.exists()  # a finished run clears its journal


def test_tar_shards_are_read_in_place_on_ray_as_locally(tmp_path):
    """A folder of WebDataset shards: each Ray task reads its photos from their offsets in the tars."""
    import tarfile

    from curate.ingest.folder import FolderOptions, ingest_folder

    folder = tmp_path / "download"
    folder.mkdir()
    for shard in range(2):
        with tarfile.open(folder / f"{shard:05d}.tar", "w") as archive:
            for i in range(6):
                key = f"{shard:04d}{i:05d}"
                members = {f"{key}.jpg": image(10 * shard + i), f"{key}.json": b'{"tags": "harbour"}'}
                if i == 5:
                    members[f"{key}.jpg"] = b"<html>not a photo</html>"
                for name, data in members.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
    local, distributed = Workspace(tmp_path / "local"), Workspace(tmp_path / "ray")
    ingest_folder(local, FolderOptions(folder=folder, workers=2))
    with engines.use(on_ray(shard_size=4)):
        report = ingest_folder(distributed, FolderOptions(folder=folder, workers=2))
    assert report.fetched == 12 and report.dropped_by_reason == {"not_an_image": 2}
    catalogs_equal(local, distributed)
    assert stored_files(local) == stored_files(distributed) and len(stored_files(local)) == 10


def test_a_killed_run_on_ray_resumes_from_its_journaled_shards(url_list, tmp_path, monkeypatch):
    server, table = url_list
    ws = Workspace(tmp_path / "ray")
    real = ray_engine.map_shards

    def killed_after_two_shards(*args, **kwargs):
        results = real(*args, **kwargs)
        for number, result in enumerate(results):
            if number == 2:
                results.close()
                raise KeyboardInterrupt
            yield result

    monkeypatch.setattr(ray_engine, "map_shards", killed_after_two_shards)
    with engines.use(on_ray()), pytest.raises(KeyboardInterrupt):
        ingest_urls(ws, options(table))
    journaled = Journal(ws, "urls").load()
    assert len(journaled) == 2 * SHARD  # the two finished shards, nothing of the cancelled ones
    monkeypatch.setattr(ray_engine, "map_shards", real)
    server.reset_log()
    with engines.use(on_ray()):
        report = ingest_urls(ws, options(table))
    # the finished shards are not fetched again: their photos come back from the journal, or from the
    # catalog when a timed checkpoint (every 5 s: a slow, loaded machine) had written them there already
    assert report.resumed_from_journal + report.already_done == 2 * SHARD
    assert report.fetched == URLS - 2 * SHARD
    fetched_again = {hit.path for hit in server.log()}
    journaled_paths = {f"/p{int(pid.split(':')[1]) - 1000}.jpg" for pid in journaled}
    assert not fetched_again & journaled_paths
    local = Workspace(tmp_path / "local")
    ingest_urls(local, options(table))
    catalogs_equal(local, ws)


# -- the pixel pass (demo) and embed -----------------------------------------------------------------

def decode_killing_its_worker_once(marker: Path):
    """`decode_batch`, but its first call anywhere kills its Ray worker process mid-decode."""

    def decode(root, image_paths, preprocess):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return decode_batch(root, image_paths, preprocess)
        os._exit(1)

    return decode


@pytest.fixture(scope="module")
def ray_demo(tmp_path_factory) -> Workspace:
    """The same demo collection ingested on Ray (its pixel pass in Ray tasks), once for the module;
    embed cases work on copies of it."""
    ws = Workspace(tmp_path_factory.mktemp("ray-demo"))
    with engines.use(on_ray()):
        demo_ingest.ingest_demo(ws, DEMO, workers=2)
    return ws


def test_demo_pixel_pass_on_ray_matches_the_local_engine(local_demo, ray_demo):
    catalogs_equal(local_demo, ray_demo)
    assert stored_files(local_demo) == stored_files(ray_demo)
    thumbnails = features.read_thumbnail_cache(ray_demo.root)
    assert thumbnails and thumbnails == features.read_thumbnail_cache(local_demo.root)


@pytest.mark.parametrize(("device", "workers", "actors"), [
    # two more actors starting torch take a minute on a busy 2-core runner: `make test-all`
    pytest.param("cpu", 0, "2 CPU actors", marks=pytest.mark.slow),
    ("auto", 1, "1 GPU actor, decoding on Ray CPU tasks")])
def test_demo_embed_on_ray_matches_the_local_engine(local_demo, ray_demo, tmp_path, monkeypatch, device, workers,
                                                    actors):
    """The Ray engine's embed gives the local engine's vectors; on the GPU-actor path even though a
    decode task's worker dies (Ray runs the task again)."""
    import curate.embed as embed_module

    marker = tmp_path / "killed"
    monkeypatch.setattr(embed_module, "decode_batch", decode_killing_its_worker_once(marker))
    ws = Workspace(tmp_path / "ray")
    shutil.copytree(ray_demo.root, ws.root)  # the Ray-ingested demo, without another case's vectors

    # "auto" on the declared GPU: one actor fed by decode tasks on the CPUs (what a GPU cluster
    # runs), here on the CPU
    config = EmbedConfig(image_size=32, batch_size=8, workers=workers, device=device)
    local_report = run_embed(local_demo, config)
    with engines.use(on_ray()):
        ray_report = run_embed(ws, config)
    # the local workspace is the module's: its cache may hold the vectors of an earlier case
    assert ray_report.computed == local_report.computed + local_report.cached == ray_report.images > 0
    assert ray_report.device == f"ray ({actors})"
    assert marker.exists() == (device == "auto")  # a decode worker died (CPU actors decode in themselves)
    shas = embeddable_images(read_catalog(ws))["sha256"]
    want, found_local, ok_local = EmbeddingCache(local_demo, config.cache_key).lookup(shas)
    got, found_ray, ok_ray = EmbeddingCache(ws, config.cache_key).lookup(shas)
    assert found_local.all() and found_ray.all()
    np.testing.assert_array_equal(ok_local, ok_ray)
    np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2)  # float16 cache, other batches
    assert np.abs(want).sum() > 0  # real vectors, not zeros on both sides
    with engines.use(on_ray()):
        again = run_embed(ws, config)
    assert again.computed == 0 and again.cached == len(shas)  # the cache parts are the resume record


def _input(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


class Summer:
    def total(self, refs: list) -> float:
        return sum(ray.get(list(refs)))


def test_an_interrupt_cancels_the_input_tasks_fed_to_actors():
    """Closing `map_actors`'s iterator (a Ctrl-C on the driver) cancels the tasks that `feed` started
    for the shards still queued, not only the actors' calls: they ran on, for nothing (an embed's
    decode tasks keep a cluster's CPUs busy after the interrupt)."""
    slow = ray_engine.remote_task(on_ray(), _input)
    fed = []

    def feed(seconds):
        tasks = [slow.remote(seconds)]
        fed.append(tasks[0])
        return tasks, tasks

    results = ray_engine.map_actors(on_ray(), Summer, (), "total", [0.0, 60.0], actors=1, num_cpus=0.0,
                                    per_actor=2, feed=feed)
    assert next(results) == (0, 0.0)
    results.close()
    assert len(fed) == 2
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(fed[1], timeout=30)  # not cancelled: 60 s, then its value (or a timeout here)


class KillWorkerOnce:
    """A demo `fetch` whose first call anywhere kills its Ray worker process (a node lost mid-shard)."""

    def __init__(self, inner, marker: Path):
        self.inner = inner
        self.marker = marker

    def __call__(self, record):
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return self.inner(record)
        os._exit(1)


def test_a_shard_whose_worker_dies_is_run_again(local_demo, tmp_path, monkeypatch):
    marker = tmp_path / "killed"
    renderer = demo_ingest.PhotoRenderer
    monkeypatch.setattr(demo_ingest, "PhotoRenderer", lambda truth, config: KillWorkerOnce(renderer(truth, config),
                                                                                           marker))
    ws = Workspace(tmp_path / "ray")
    with engines.use(on_ray()):
        report = demo_ingest.ingest_demo(ws, DEMO, workers=1)
    assert marker.exists()  # a worker did die
    assert report.fetched == PHOTOS
    catalogs_equal(local_demo, ws)


class AlwaysFails:
    def __call__(self, record):
        os._exit(1)


@pytest.mark.slow
def test_a_shard_that_keeps_failing_stops_the_run_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_ingest, "PhotoRenderer", lambda truth, config: AlwaysFails())
    ws = Workspace(tmp_path / "ray")
    with engines.use(on_ray(max_retries=1)), pytest.raises(UpstreamError) as failure:
        demo_ingest.ingest_demo(ws, replace(DEMO, photos=4), workers=1)
    message = str(failure.value)
    assert "failed 2 times on Ray" in message and "run the same command again" in message
    assert "\n" not in message


# -- the command line ---------------------------------------------------------------------------------

def test_without_ray_the_engine_flag_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    for command in (["embed"], ["ingest", "demo", "--photos", "4"]):
        result = runner.invoke(app, [*command, "--engine", "ray", "--workspace", str(tmp_path / "ws")])
        assert result.exit_code == 2, result.output
        assert result.output.strip() == "error: --engine ray needs Ray: pip install '.[ray]'"
        assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "ws" / "catalog.parquet").exists()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nobody listens once it is closed


@pytest.mark.parametrize("address, code", [("127.0.0.1:{port}", 4), ("no-port-here", 2)])
def test_a_ray_address_that_does_not_answer_is_one_line(tmp_path, address, code):
    address = address.format(port=closed_port())
    result = runner.invoke(app, ["ingest", "demo", "--photos", "4", "--engine", "ray", "--ray-address", address,
                                 "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == code, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert not (tmp_path / "ws" / "catalog.parquet").exists()


@pytest.mark.parametrize("flags, message", [(["--ray-address", "10.0.0.5:6379"], "--ray-address needs --engine ray"),
                                             (["--engine", "spark"], "--engine must be one of local, ray")])
def test_engine_flags_are_checked(tmp_path, flags, message):
    result = runner.invoke(app, ["embed", *flags, "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output


# -- recipes: [engine] for `curate run` -----------------------------------------------------------------

RECIPE = '''labels_from = "skylines"
[[sources]]
kind = "demo"
photos = 20
image_width = 64
image_height = 48
[engine]
engine = "ray"
shard_size = 2
'''


@pytest.mark.slow
def test_a_recipes_engine_section_runs_its_ingest_on_ray(tmp_path, monkeypatch):
    from curate import pipeline
    from curate.recipes import load_recipe

    path = tmp_path / "on-ray.toml"
    path.write_text(RECIPE, encoding="utf-8")
    shard_sizes = []
    real = ray_engine.map_shards

    def counted(config, fn, shards, *args, **kwargs):
        shard_sizes.extend(len(shard) for shard in shards)
        yield from real(config, fn, shards, *args, **kwargs)

    monkeypatch.setattr(ray_engine, "map_shards", counted)
    recipe = load_recipe(str(path))
    steps = pipeline.plan(recipe)
    assert "engine" not in steps[0].settings  # where it runs does not change what it makes
    pipeline.run_pipeline(Workspace(tmp_path / "ws"), recipe, steps[:1], echo=lambda line: None)
    assert shard_sizes == [2] * 10  # the recipe's size: 20 photos give 2 CPUs 5 rounds of shards each
    assert len(read_catalog(Workspace(tmp_path / "ws"))) == 20


def test_a_recipes_engine_section_is_checked(tmp_path):
    from curate import pipeline
    from curate.errors import UsageError
    from curate.recipes import load_recipe

    path = tmp_path / "bad.toml"
    path.write_text(RECIPE.replace('engine = "ray"', 'engine = "spark"'), encoding="utf-8")
    with pytest.raises(UsageError, match=r"\[engine\].*spark|spark.*local, ray"):
        pipeline.plan(load_recipe(str(path)))


def test_rays_token_auth_notice_stays_out_of_the_output(caplog):
    """The engine audit: every --engine ray command printed Ray's "Token authentication is enabled"
    notice (logged before logging_level applies). It is dropped; any other record of that logger passes."""
    import logging

    from curate.engines.ray import _quiet_auth_notice

    _quiet_auth_notice()
    _quiet_auth_notice()  # (once is enough: a second call adds nothing)
    auth = logging.getLogger("ray._private.authentication.authentication_token_setup")
    assert sum(type(f).__name__ == "_AuthNotice" for f in auth.filters) == 1
    with caplog.at_level(logging.WARNING, logger=auth.name):
        auth.warning("Token authentication is enabled for this Ray cluster. Set RAY_AUTH_MODE=disabled to opt out.")
        auth.warning("Token authentication is disabled for this Ray cluster. Anyone with network access ...")
    assert [r.getMessage()[:40] for r in caplog.records] == ["Token authentication is disabled for thi"]


def test_a_ray_address_with_credentials_is_masked_in_the_error(monkeypatch):
    """The CLI audit: a password or token in --ray-address came back in the one-line error, twice
    (curate's text and Ray's message quoted in it)."""
    from curate.engines import ray as ray_engine
    from curate.errors import UpstreamError

    address = "ray://u:SECRETpw@127.0.0.1:9/?token=SECRETtk"

    def refuse(**kwargs):
        raise ConnectionError(f"Invalid Ray address: {kwargs.get('address')!r}")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(UpstreamError) as failed:
        ray_engine.connect(on_ray(ray_address=address))
    assert "SECRET" not in str(failed.value) and "127.0.0.1:9" in str(failed.value)


def test_a_long_ray_error_is_cut_between_words(monkeypatch):
    """Audit AN13: Ray's message was cut at 200 characters, mid-word ('...the head node's GC')."""
    from curate.engines import ray as ray_engine
    from curate.errors import UpstreamError

    words = " ".join(f"word{n:03d}" for n in range(60))  # 479 characters

    def refuse(**kwargs):
        raise ConnectionError(words)

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(ray_engine, "check_address", lambda address: None)  # as if the head answered
    with pytest.raises(UpstreamError) as failed:
        ray_engine.connect(on_ray(ray_address="127.0.0.1:9"))
    detail = str(failed.value).split("(", 1)[1].split("); check", 1)[0]
    assert detail.endswith(" …") and len(detail) <= 200
    assert all(len(word) == 7 for word in detail.removesuffix(" …").split())  # every word whole
