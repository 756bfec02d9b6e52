"""Backbones and `curate embed`: real ImageNet weights, offline loading, and the embedding cache."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from curate import engines
from curate.cli.app import app
from curate.embed import EmbedConfig, EmbeddingCache, run_embed
from curate.errors import UsageError
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.vision.backbones import load_backbone
from curate.vision.images import load_uint8
from curate.workspace import Workspace, read_catalog
from tests.helpers import jpeg_bytes

runner = CliRunner()
# ImageNet-1k class ids (standard synset order)
ESPRESSO_OR_CUP = {967, 968, 504}  # espresso, cup, coffee mug
CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def lite0():
    return load_backbone()


def imagenet_top5(backbone, image: np.ndarray, tmp_path, name: str) -> list[int]:
    import torch

    path = tmp_path / f"{name}.png"
    Image.fromarray(image).save(path)
    batch = torch.from_numpy(load_uint8(path, backbone.preprocess))[None]
    with torch.inference_mode():
        logits = backbone.imagenet_head(backbone.features.eval()(backbone.normalise(batch)))
    return logits[0].topk(5).indices.tolist()


def test_pretrained_weights_are_the_real_imagenet_ones(lite0, tmp_path):
    skimage_data = pytest.importorskip("skimage.data")
    lite0.imagenet_head.eval()
    coffee = imagenet_top5(lite0, skimage_data.coffee(), tmp_path, "coffee")
    cat = imagenet_top5(lite0, skimage_data.chelsea(), tmp_path, "chelsea")
    assert coffee[0] in ESPRESSO_OR_CUP, coffee
    assert cat[0] in CATS, cat


def test_random_init_does_not_recognise_the_cup(tmp_path):
    """The check above can fail: without the weights the same photo lands elsewhere."""
    skimage_data = pytest.importorskip("skimage.data")
    import torch

    torch.manual_seed(0)
    untrained = load_backbone(pretrained=False)
    untrained.imagenet_head.eval()
    assert imagenet_top5(untrained, skimage_data.coffee(), tmp_path, "coffee")[0] not in ESPRESSO_OR_CUP


def test_torchvision_backbone_without_cached_weights_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(UsageError) as error:
        load_backbone("resnet50")
    message = str(error.value)
    assert "resnet50" in message and str(tmp_path / "torch") in message and "https://" in message


def test_unknown_backbone_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown backbone"):
        EmbedConfig(backbone="alexnet-9000")


def test_preprocess_keeps_the_centre_and_the_size(tmp_path):
    """A wide image: the crop is square, the requested size, and taken from the middle."""
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, 140:160] = 255  # a white band in the middle
    path = tmp_path / "wide.png"
    Image.fromarray(image).save(path)
    backbone = load_backbone(pretrained=False)
    array = load_uint8(path, backbone.preprocess)
    size = backbone.preprocess.size
    assert array.shape == (3, size, size) and array.dtype == np.uint8
    assert array[:, :, size // 2].min() == 255  # the band stays in the middle
    assert array[:, :, :10].max() == 0 and array[:, :, -10:].max() == 0  # the sides are black


def _folder_workspace(tmp_path, colours) -> Workspace:
    source = tmp_path / "photos" / "city"
    source.mkdir(parents=True)
    for i, colour in enumerate(colours):
        (source / f"p{i}.jpg").write_bytes(jpeg_bytes(96, 72, colour))
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, FolderOptions(folder=tmp_path / "photos"))
    return ws


def test_cache_hits_and_misses(tmp_path, monkeypatch):
    ws = _folder_workspace(tmp_path, [(200, 10, 10), (10, 200, 10), (10, 10, 200), (90, 90, 90)])
    first = run_embed(ws, EmbedConfig(workers=0, batch_size=3))
    assert (first.images, first.cached, first.computed, first.failed) == (4, 0, 4, 0)
    catalog = read_catalog(ws)
    vectors, found, ok = EmbeddingCache(ws, "efficientnet_lite0").lookup(catalog["sha256"])
    assert found.all() and ok.all() and vectors.shape == (4, 1280)
    assert np.linalg.matrix_rank(vectors) == 4  # four different photos, four different vectors

    def no_model(*args, **kwargs):
        raise AssertionError("a fully cached run must not even build the model")

    monkeypatch.setattr("curate.vision.backbones.load_backbone", no_model)
    second = run_embed(ws, EmbedConfig(workers=0))
    assert (second.cached, second.computed) == (4, 0)
    monkeypatch.undo()

    (tmp_path / "photos" / "city" / "new.jpg").write_bytes(jpeg_bytes(96, 72, (250, 250, 0)))
    ingest_folder(ws, FolderOptions(folder=tmp_path / "photos"))
    third = run_embed(ws, EmbedConfig(workers=0))
    assert (third.images, third.cached, third.computed) == (5, 4, 1)
    again, _, _ = EmbeddingCache(ws, "efficientnet_lite0").lookup(catalog["sha256"])
    np.testing.assert_array_equal(again, vectors)  # old vectors untouched


def test_another_input_size_is_cached_separately(tmp_path):
    ws = _folder_workspace(tmp_path, [(200, 10, 10), (10, 200, 10)])
    run_embed(ws, EmbedConfig(workers=0))
    small = run_embed(ws, EmbedConfig(workers=0, image_size=96))
    assert (small.cache_key, small.computed, small.cached) == ("efficientnet_lite0-96px", 2, 0)
    catalog = read_catalog(ws)
    default, _, _ = EmbeddingCache(ws, "efficientnet_lite0").lookup(catalog["sha256"])
    reduced, found, _ = EmbeddingCache(ws, "efficientnet_lite0-96px").lookup(catalog["sha256"])
    assert found.all() and not np.allclose(default, reduced)


def test_cached_vectors_match_a_fresh_forward_pass(tmp_path, lite0):
    import torch

    ws = _folder_workspace(tmp_path, [(200, 10, 10), (10, 200, 10)])
    run_embed(ws, EmbedConfig(workers=0, device="cpu"))  # CUDA embeds in bf16: compared in test_gpu.py
    catalog = read_catalog(ws)
    cached, _, _ = EmbeddingCache(ws, "efficientnet_lite0").lookup(catalog["sha256"])
    batch = torch.stack([torch.from_numpy(load_uint8(ws.root / p, lite0.preprocess)) for p in catalog["image_path"]])
    with torch.inference_mode():
        fresh = lite0.features.eval()(lite0.normalise(batch)).numpy()
    np.testing.assert_allclose(cached, fresh, rtol=0.01, atol=0.01)  # stored as float16


def test_unreadable_stored_image_is_recorded_not_fatal(tmp_path):
    ws = _folder_workspace(tmp_path, [(200, 10, 10), (10, 200, 10), (10, 10, 200)])
    catalog = read_catalog(ws)
    (ws.root / catalog["image_path"].iloc[1]).write_bytes(b"no longer a jpeg")
    report = run_embed(ws, EmbedConfig(workers=0))
    assert (report.computed, report.failed) == (2, 1)
    _, found, ok = EmbeddingCache(ws, "efficientnet_lite0").lookup(catalog["sha256"])
    assert found.all() and ok.tolist() == [True, False, True]


def test_embed_cli_on_empty_workspace_is_one_clear_line(tmp_path):
    result = runner.invoke(app, ["embed", "--workspace", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["--batch-size", "0"], ["--backbone", "nope"], ["--device", "tpu"]])
def test_embed_cli_bad_arguments(tmp_path, args):
    ws = _folder_workspace(tmp_path, [(200, 10, 10)])
    result = runner.invoke(app, ["embed", "--workspace", str(ws.root), *args])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output


def test_jpeg_draft_decoding_keeps_enough_pixels(tmp_path):
    """Large JPEGs decode at reduced scale, never below the resize target."""
    from curate.store import open_rgb

    image = Image.new("RGB", (2000, 1500), (30, 60, 90))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    path = tmp_path / "big.jpg"
    path.write_bytes(buffer.getvalue())
    reduced = open_rgb(path, min_side=256)
    assert min(reduced.size) >= 256 and reduced.size[0] < 2000


def test_a_new_cache_part_never_overwrites_one_after_a_deleted_part(tmp_path):
    ws = Workspace(tmp_path)
    cache = EmbeddingCache(ws, "k")
    for i in range(3):
        cache.append([f"sha{i}"], np.full((1, 4), i, np.float32), np.array([True]))
    (cache.dir / "part-00001.parquet").unlink()  # a user clears a part to recompute it
    cache.append(["sha3"], np.full((1, 4), 3, np.float32), np.array([True]))
    vectors, found, _ = EmbeddingCache(ws, "k").lookup(pd.Series(["sha0", "sha1", "sha2", "sha3"]))
    assert found.tolist() == [True, False, True, True]
    assert vectors[:, 0].tolist() == [0, 0, 2, 3]


def test_an_image_missing_from_the_store_is_not_cached_and_is_embedded_once_restored(tmp_path):
    from curate.prefilter.run import missing_from_store

    ws = _folder_workspace(tmp_path, [(200, 10, 10), (10, 200, 10), (10, 10, 200)])
    catalog = read_catalog(ws)
    gone = ws.root / catalog["image_path"].iloc[1]
    kept_bytes = gone.read_bytes()
    gone.unlink()
    report = run_embed(ws, EmbedConfig(workers=0))
    assert (report.computed, report.failed, report.missing) == (2, 0, 1)
    _, found, _ = EmbeddingCache(ws, "efficientnet_lite0").lookup(catalog["sha256"])
    assert found.tolist() == [True, False, True]
    # until it is back, prefilter sees it as unreadable instead of asking for `curate embed` again
    assert missing_from_store(ws, catalog, found).tolist() == [False, True, False]

    gone.write_bytes(kept_bytes)
    report = run_embed(ws, EmbedConfig(workers=0))
    assert (report.cached, report.computed, report.missing) == (2, 1, 0)
    _, found, ok = EmbeddingCache(ws, "efficientnet_lite0").lookup(catalog["sha256"])
    assert found.all() and ok.all()
    assert not missing_from_store(ws, catalog, found).any()


def test_an_image_gone_from_the_store_after_it_was_embedded_is_said_and_dropped(tmp_path):
    """Audit AN: images deleted from the store after `curate embed` stayed kept through every stage (the cached
    vector stood in for them) and only `classify train` said so. Embed counts them as missing, and the prefilter
    drops them as unreadable_image, as docs/pixels.md says."""
    from curate.prefilter.run import missing_from_store

    ws = _folder_workspace(tmp_path, [(200, 10, 10), (10, 200, 10), (10, 10, 200)])
    assert run_embed(ws, EmbedConfig(workers=0)).computed == 3
    catalog = read_catalog(ws)
    (ws.root / catalog["image_path"].iloc[2]).unlink()
    report = run_embed(ws, EmbedConfig(workers=0))
    assert (report.cached, report.computed, report.missing) == (3, 0, 1)
    _, found, _ = EmbeddingCache(ws, "efficientnet_lite0").lookup(catalog["sha256"])
    assert found.all() and missing_from_store(ws, catalog, found).tolist() == [False, False, True]


def test_photos_the_filter_dropped_are_embedded_but_ingest_drops_are_not(tmp_path):
    """Embed runs before the filter and covers every stored image ingest kept: near-duplicate
    links and geo rescue need vectors for photos the filter dropped (a geo outlier here)."""
    from curate.embed import embeddable_images
    from curate.workspace import write_catalog

    ws = _folder_workspace(tmp_path, [(200, 10, 10), (10, 200, 10), (10, 10, 200)])
    catalog = read_catalog(ws)
    catalog.loc[0, ["status", "drop_reason", "drop_stage"]] = ["dropped", "geo_outlier", "filter"]
    catalog.loc[1, ["status", "drop_reason", "drop_stage"]] = ["dropped", "off_topic", "prefilter"]
    write_catalog(ws, catalog)
    report = run_embed(ws, EmbedConfig(workers=0))
    assert (report.images, report.computed) == (3, 3)
    _, found, ok = EmbeddingCache(ws, "efficientnet_lite0").lookup(catalog["sha256"])
    assert found.all() and ok.all()
    # an ingest drop (a broken or unsafe file) is not selected, even with a path
    catalog.loc[2, ["status", "drop_reason", "drop_stage"]] = ["dropped", "ingest_error", "ingest"]
    assert set(embeddable_images(catalog)["sha256"]) == set(catalog.loc[[0, 1], "sha256"])


def test_decode_batches_spread_over_every_worker_and_keep_the_input_order(tmp_path, lite0):
    """Ten images, forward batches of 8, two decode workers: batches of 5, one per worker (two of
    8 and 2 would leave one worker with a single small batch); features equal the one-batch run."""
    import torch

    from curate.embed import embed_paths

    paths = []
    for i in range(10):
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(jpeg_bytes(color=(i * 25, 200 - i * 15, 90)))
        paths.append(path)
    small = lite0.resized(32)
    spread = list(embed_paths(small, paths, torch.device("cpu"), 8, 2))
    assert [indices.tolist() for indices, _, _ in spread] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    together = np.concatenate([features for _, features, _ in embed_paths(small, paths, torch.device("cpu"), 16, 0)])
    np.testing.assert_allclose(np.concatenate([features for _, features, _ in spread]), together,
                               rtol=1e-4, atol=1e-4)


def test_cache_parts_hold_checkpoint_images_and_an_interrupted_run_resumes(tmp_path, monkeypatch):
    """One loader streams every image; a cache part is written every `checkpoint` images however
    the decode batches fall (8 images, batches of 3, parts of 3, 3 and 2). A run stopped after its
    first part keeps it, and the next run embeds only the other images."""
    import pyarrow.parquet as pq

    import curate.embed as embed_module

    colours = [(30 * i, 200 - 20 * i, 40 + 10 * i) for i in range(8)]
    ws = _folder_workspace(tmp_path, colours)
    config = EmbedConfig(workers=0, batch_size=3, checkpoint=3, image_size=32, device="cpu")
    loaders = []
    stream = embed_module.embed_paths
    monkeypatch.setattr(embed_module, "embed_paths", lambda *args: (loaders.append(1), stream(*args))[1])
    whole = run_embed(ws, config)
    assert len(loaders) == 1  # one loader for the three parts: its workers never restart between them
    monkeypatch.undo()
    cache = EmbeddingCache(ws, config.cache_key)
    parts = sorted(cache.dir.glob("part-*.parquet"))
    assert [pq.read_metadata(part).num_rows for part in parts] == [3, 3, 2]
    shas = read_catalog(ws)["sha256"]
    expected, _, _ = cache.lookup(shas)

    for part in parts:
        part.unlink()
    real = embed_module._cache_chunk
    calls = []

    def stop_after_the_first_part(*args):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(embed_module, "_cache_chunk", stop_after_the_first_part)
    with pytest.raises(KeyboardInterrupt):
        run_embed(ws, config)
    monkeypatch.undo()
    assert len(list(cache.dir.glob("part-*.parquet"))) == 1
    resumed = run_embed(ws, config)
    assert (resumed.cached, resumed.computed) == (3, 5) and whole.computed == 8
    vectors, found, ok = EmbeddingCache(ws, config.cache_key).lookup(shas)
    assert found.all() and ok.all()
    np.testing.assert_array_equal(vectors, expected)


def test_decoded_batches_are_embedded_as_the_local_engine_embeds_them(tmp_path, monkeypatch):
    """What a Ray GPU actor runs (`decode_batch` on the cluster's CPUs, `embed_decoded` on the GPU):
    the local engine's vectors and flags, for a bad file and a missing one too; model batches of
    `batch_size` across the decode batches' edges; each decoded batch taken when it is needed, so
    that the model runs while later batches are still decoding."""
    import torch

    import curate.embed as embed_module
    from curate.embed import decode_batch, embed_chunk, embed_decoded, load_embedder

    ws = _folder_workspace(tmp_path, [(25 * i, 220 - 25 * i, 60) for i in range(7)])
    paths = read_catalog(ws)["image_path"].tolist()
    (ws.root / paths[2]).write_bytes(b"not a jpeg any more")
    (ws.root / paths[5]).unlink()
    config = EmbedConfig(batch_size=4, image_size=32, device="cpu")
    backbone, cpu = load_embedder(config), torch.device("cpu")
    expected, ok, present = embed_chunk(backbone, [ws.root / p for p in paths], cpu, 4, 0)
    assert ok.tolist() == [True, True, False, True, True, False, True]
    assert present.tolist() == [True] * 5 + [False, True]

    events = []
    forward = embed_module.forward
    monkeypatch.setattr(embed_module, "forward", lambda backbone, model, images, device:
                        events.append(("model", len(images))) or forward(backbone, model, images, device))

    def decoded():  # decode batches of 3, 1 and 3 images, as Ray tasks would return them
        for start, stop in ((0, 3), (3, 4), (4, 7)):
            events.append(("decoded", stop - start))
            yield decode_batch(ws.root, paths[start:stop], backbone.preprocess)

    vectors, got_ok, got_present = embed_decoded(backbone, cpu, decoded(), 4)
    np.testing.assert_array_equal(got_ok, ok)
    np.testing.assert_array_equal(got_present, present)
    np.testing.assert_allclose(vectors, expected, rtol=1e-5, atol=1e-5)
    assert not vectors[~ok].any() and vectors[ok].any()
    assert events == [("decoded", 3), ("decoded", 1), ("model", 4), ("decoded", 3), ("model", 3)]


def test_a_ray_gpu_cluster_decodes_on_its_cpus_and_runs_the_model_on_its_gpus(tmp_path, monkeypatch):
    """On a cluster with GPUs, every image is decoded once, in order, by Ray tasks of at most
    DECODE_BATCH images started as each shard is fed to a GPU actor (`embed_refs`), with enough
    shards in flight to keep the cluster's CPUs busy; without GPUs, one actor per CPU decodes its
    own shards (`embed`)."""
    import curate.embed as embed_module
    from curate.engines import ray as ray_engine

    ws = _folder_workspace(tmp_path, [(7 * i, 250 - 7 * i, 40) for i in range(36)])
    todo = embed_module.embeddable_images(read_catalog(ws))
    submitted, planned = [], []

    class Decode:
        def remote(self, root, image_paths, preprocess):
            submitted.append(list(image_paths))
            return f"ref{len(submitted)}"

    def map_actors(engine, actor, init_args, method, parts, *, feed=None, **options):
        planned.append((method, options))
        if not feed:
            return iter(parts)
        fed = [feed(part) for part in parts]
        # the tasks handed back to cancel on an interrupt are the ones the actor is given
        assert all(tasks == argument[1] for argument, tasks in fed)
        return iter(argument for argument, _ in fed)

    monkeypatch.setattr(ray_engine, "remote_task", lambda engine, fn: Decode())
    monkeypatch.setattr(ray_engine, "connect", lambda engine: type("Ray", (), {"put": staticmethod(str)}))
    monkeypatch.setattr(ray_engine, "map_actors", map_actors)
    engine = engines.EngineConfig(engine="ray", shard_size=8)

    monkeypatch.setattr(ray_engine, "cluster_resources", lambda engine: {"CPU": 4.0, "GPU": 1.0})
    text, fed = embed_module._embed_on_ray(ws, EmbedConfig(image_size=32), engine, todo)
    fed = list(fed)
    assert text == "ray (1 GPU actor, decoding on Ray CPU tasks)"
    assert [shas for shas, _ in fed] == [todo["sha256"].tolist()[i:i + 8] for i in range(0, 36, 8)]
    assert sum(submitted, []) == todo["image_path"].tolist()  # each image decoded once, in order
    assert max(map(len, submitted)) <= embed_module.DECODE_BATCH
    assert [len(refs) for _, refs in fed] == [4, 4, 4, 4, 2]  # shards of 8 over 4 CPUs: tasks of 2
    method, options = planned[-1]
    assert method == "embed_refs" and options["num_gpus"] == 1.0
    assert options["num_cpus"] == 0  # a node's CPUs all left to decoding: held by the actor, they would starve it
    assert options["per_actor"] * 4 >= 2 * 4  # shards queued: at least two decode tasks per CPU

    monkeypatch.setattr(ray_engine, "cluster_resources", lambda engine: {"CPU": 2.0})
    submitted.clear()
    text, parts = embed_module._embed_on_ray(ws, EmbedConfig(image_size=32), engine, todo)
    assert text == "ray (2 CPU actors)" and planned[-1][0] == "embed" and not submitted
    assert sum((list(paths) for _, paths in parts), []) == todo["image_path"].tolist()


def test_a_ray_cpu_actor_decodes_its_shard_a_batch_at_a_time(tmp_path, monkeypatch):
    """A CPU actor (one per CPU on a cluster without GPUs) decodes `batch_size` images at a time, not
    its whole shard at once (500 crops of 384 px would be 220 MB per actor), and gives the local
    engine's vectors."""
    import torch

    import curate.embed as embed_module
    from curate.embed import EmbedWorker, embed_chunk

    ws = _folder_workspace(tmp_path, [(30 * i, 200 - 30 * i, 90) for i in range(7)])
    catalog = read_catalog(ws)
    shas, paths = catalog["sha256"].tolist(), catalog["image_path"].tolist()
    config = EmbedConfig(batch_size=3, image_size=32, device="cpu")
    decoded_sizes = []
    decode = embed_module.decode_batch
    monkeypatch.setattr(embed_module, "decode_batch", lambda root, batch, preprocess:
                        decoded_sizes.append(len(batch)) or decode(root, batch, preprocess))
    worker = EmbedWorker(ws.root, config)
    got_shas, (vectors, ok, present) = worker.embed((shas, paths))
    assert decoded_sizes == [3, 3, 1]
    expected, *_ = embed_chunk(worker.backbone, [ws.root / p for p in paths], torch.device("cpu"), 3, 0)
    assert got_shas == shas and ok.all() and present.all()
    np.testing.assert_allclose(vectors, expected, rtol=1e-5, atol=1e-5)


def test_an_interrupted_embedding_hands_over_what_it_computed_before_stopping(monkeypatch):
    """An audit pressed Ctrl-C at 128 of 200 images: the chunk under way (a cache part is 2,048 images) was
    lost and the next run started over. The stream now yields the images it has before the interrupt goes on."""
    from curate import embed

    def three_then_interrupt(backbone, paths, device, batch_size, workers):
        yield [0, 1], np.ones((2, 4), np.float32), np.array([True, True])
        yield [2], np.full((1, 4), 2.0, np.float32), np.array([True])
        raise KeyboardInterrupt

    monkeypatch.setattr(embed, "embed_paths", three_then_interrupt)
    got = []
    with pytest.raises(KeyboardInterrupt):
        for start, vectors, ok, _present in embed.embed_stream(None, [f"p{i}" for i in range(5)], "cpu", 2, 0, 100):
            got.append((start, vectors.copy(), ok.copy()))
    [(start, vectors, ok)] = got
    assert start == 0 and vectors.shape == (3, 4) and ok.all() and vectors[2, 0] == 2.0


def test_a_part_is_handed_over_when_a_minute_passed_however_few_images(monkeypatch):
    """A SIGKILL loses the part under way: on a 2-core CPU a part of 2,048 images is two minutes of work (audit C).
    The stream now also hands over what it has once CHECKPOINT_SECONDS passed since the last part."""
    from curate import embed

    def batches(backbone, paths, device, batch_size, workers):
        for i in range(len(paths)):
            yield [i], np.full((1, 4), float(i), np.float32), np.array([True])

    monkeypatch.setattr(embed, "embed_paths", batches)
    now = iter(range(0, 10_000, 25))  # each clock reading 25 s after the last: a slow CPU
    parts = [(start, len(ok)) for start, _, ok, _ in embed.embed_stream(
        None, [f"p{i}" for i in range(7)], "cpu", 1, 0, 100, clock=lambda: next(now))]
    assert parts[0][0] == 0 and sum(size for _, size in parts) == 7 and len(parts) > 1  # not one part of 7
    assert [start for start, _ in parts] == list(np.cumsum([0] + [size for _, size in parts[:-1]]))
    whole = [(start, len(ok)) for start, _, ok, _ in embed.embed_stream(
        None, [f"p{i}" for i in range(7)], "cpu", 1, 0, 100, every_s=None, clock=lambda: next(now))]
    assert whole == [(0, 7)]
