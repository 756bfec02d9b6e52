"""`curate embed`: pretrained backbone features for every stored image, cached by content.

Every photo with a stored image that ingest kept is embedded, whatever the filter or the
pre-classifier later decide: the embed step runs before the filter (`curate run`), whose
near-duplicate links and geo rescue read these vectors for dropped photos too.

This module computes the vectors (locally through one DataLoader, or on Ray actors fed by decode tasks)
and runs the command (`run_embed`); its settings, its report and the cache layout are curate.embed_cache's.
Only what the cache lacks is computed. Parts are written atomically every `checkpoint` images, or after
CHECKPOINT_SECONDS if sooner: an interrupted run keeps what it finished and resumes from there. An image
that cannot be decoded is recorded with ok=False (and a zero vector) so it is not retried on every run;
`curate prefilter` drops such photos.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from curate import engines, objectstore
from curate.embed_cache import EmbedConfig, EmbeddingCache, EmbedReport, embeddable_images, gone_since_cached
from curate.errors import UsageError
from curate.progress import progress_bar
from curate.stage_reports import save_stage_report
from curate.vision.backbones import Backbone, cpu_speed
from curate.workspace import Workspace, catalog_sha256, changes_workspace, read_catalog

log = logging.getLogger(__name__)


def loader_batch_size(images: int, batch_size: int, workers: int) -> int:
    """Images per decode batch: `batch_size`, smaller when that would leave some of the `workers`
    decode processes without a batch (a DataLoader worker decodes one whole batch at a time).

    >>> loader_batch_size(500, 256, 12)   # 2 batches of 256 would keep 10 of the 12 workers idle
    42
    >>> loader_batch_size(10_000, 256, 12), loader_batch_size(500, 256, 0)
    (256, 256)
    """
    if workers <= 0:
        return batch_size
    return max(1, min(batch_size, math.ceil(images / workers)))


def prepare_model(backbone: Backbone, device):
    """The backbone's feature extractor in eval mode on `device` (channels-last, cudnn autotuning on
    CUDA). Idempotent: a model already prepared is returned as it is."""
    import torch

    model = backbone.features.eval().to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    return model


def embed_paths(backbone: Backbone, paths: list[Path], device, batch_size: int, workers: int):
    """Yield (indices, float32 features, ok flags) per batch, in input order; batches of at most
    `batch_size`, spread over every decode worker (`loader_batch_size`)."""
    import torch
    from torch.utils.data import DataLoader

    from curate.vision.images import ImageFiles, ignore_sigterm

    loader = DataLoader(ImageFiles(paths, backbone.preprocess), num_workers=workers,
                        batch_size=loader_batch_size(len(paths), batch_size, workers),
                        pin_memory=device.type == "cuda", persistent_workers=False,
                        prefetch_factor=4 if workers else None, worker_init_fn=ignore_sigterm)
    model = prepare_model(backbone, device)
    with torch.inference_mode(), cpu_speed(device):
        for indices, images, ok in loader:
            yield indices.numpy(), forward(backbone, model, images, device).float().cpu().numpy(), ok.numpy()


def forward(backbone: Backbone, model, images, device):
    """Features of one batch of uint8 images (N, 3, H, W) from `prepare_model`'s model: on the
    device, channels-last and in bf16 on CUDA. Call under inference mode."""
    import torch

    cuda = device.type == "cuda"
    images = images.to(device, non_blocking=True)
    if cuda:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
        return model(backbone.normalise(images))


def load_embedder(config: EmbedConfig) -> Backbone:
    """The backbone `config` names, resized to its image size when one is set."""
    from curate.vision.backbones import load_backbone

    backbone = load_backbone(config.backbone)
    return backbone.resized(config.image_size) if config.image_size else backbone


def embedder_preprocess(config: EmbedConfig):
    """`load_embedder(config).preprocess`, without loading the network's weights."""
    from curate.vision.backbones import backbone_preprocess

    preprocess = backbone_preprocess(config.backbone)
    return replace(preprocess, size=config.image_size) if config.image_size else preprocess


# A cache part is written at least this often while embedding (seconds), however few images that is: a run
# killed outright (SIGKILL, a lost machine) loses at most this much work. On the 2-core CPU a part of 2,048
# images took about two minutes.
CHECKPOINT_SECONDS = 60.0


def embed_stream(backbone: Backbone, paths: list[Path], device, batch_size: int, workers: int, chunk: int,
                 advance=None, every_s: float | None = CHECKPOINT_SECONDS, clock=time.monotonic):
    """Yield (start, float32 vectors, ok flags, file present flags) for consecutive chunks of `chunk`
    of `paths`, in order, zero vectors where not ok; a shorter chunk when `every_s` seconds passed since the
    last one (None: by count alone). One loader runs over all of `paths`, so that
    its decode workers stay busy from one chunk to the next (a loader per chunk would start its
    workers and wait for its slowest one at every chunk).

    Interrupted (Ctrl-C) while embedding, it first yields what it has of the chunk under way, so that the
    caller caches it, then raises KeyboardInterrupt: an audit's interrupt at 128 of 200 images (one chunk
    of 2,048) kept nothing, and the next run started over."""
    start, vectors, flags = 0, [], []
    last = clock()
    try:
        for indices, features, ok in embed_paths(backbone, paths, device, batch_size, workers):
            vectors.append(features)
            flags.append(ok)
            if advance is not None:
                advance(len(indices))
            pending = sum(map(len, flags))
            due = every_s is not None and clock() - last >= every_s
            # a full chunk, the last one, or what is done when the time is up
            while pending >= chunk or (pending and (start + pending == len(paths) or due)):
                block, done = np.concatenate(vectors), np.concatenate(flags)
                size = min(chunk, pending)
                yield start, *_finished(block[:size], done[:size], paths[start:start + size])
                vectors, flags = [block[size:]], [done[size:]]
                start, pending = start + size, pending - size
                last = clock()
    except KeyboardInterrupt:
        pending = sum(map(len, flags))
        if pending:
            yield start, *_finished(np.concatenate(vectors), np.concatenate(flags), paths[start:start + pending])
        raise


def _finished(vectors: np.ndarray, ok: np.ndarray, paths: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vectors zeroed where not ok, ok, file present flags) of one embedded chunk."""
    vectors[~ok] = 0.0
    return vectors, ok, _present(ok, paths)


def _present(ok: np.ndarray, paths: list) -> np.ndarray:
    """Whether each image file is there: undecodable is for good, gone is not (only a failed read
    asks the store: a request per image on S3)."""
    return np.array([bool(read) or objectstore.exists(path) for read, path in zip(ok, paths)], dtype=bool)


def embed_chunk(backbone: Backbone, paths: list[Path], device, batch_size: int, workers: int,
                advance=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float32 vectors, ok flags, file present flags) for `paths`, in order; zero vectors where not ok."""
    if not paths:
        return np.zeros((0, backbone.dim), np.float32), np.zeros(0, bool), np.zeros(0, bool)
    _, vectors, ok, present = next(embed_stream(backbone, paths, device, batch_size, workers, len(paths), advance,
                                                every_s=None))
    return vectors, ok, present


def _cache_chunk(cache: EmbeddingCache, shas: list[str], vectors: np.ndarray, ok: np.ndarray,
                 present: np.ndarray) -> tuple[int, int, int]:
    """Append a computed chunk to the cache (images whose file is gone are left out, so that they are
    embedded once restored); returns (computed, failed, missing)."""
    if present.any():
        cache.append([sha for sha, here in zip(shas, present) if here], vectors[present], ok[present])
    return int(ok.sum()), int((~ok & present).sum()), int((~present).sum())


# Images per decode task on a GPU cluster: about a quarter of a second of one CPU's work on real
# ~1024 px photos (a draft decode), so that Ray's cost per task (milliseconds) stays small while a
# shard of 500 is 32 tasks that every CPU of the cluster can take.
DECODE_BATCH = 16


def stored_location(root: Path, image_path: str):
    """Where a worker reads a stored image: its URL (images on object storage) or its file."""
    return image_path if objectstore.is_url(image_path) else Path(root) / image_path


def decode_batch(root: Path, image_paths: list[str], preprocess) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 images (N, 3, S, S), ok flags, file present flags) of stored images: a Ray task on a
    GPU cluster, so that decoding spreads over every CPU and the GPU actors only run the model.
    A file that does not decode is a zero image with ok=False (see `ImageFiles`)."""
    from curate.vision.images import decoded

    paths = [stored_location(root, path) for path in image_paths]
    images = np.zeros((len(paths), 3, preprocess.size, preprocess.size), np.uint8)
    ok = np.zeros(len(paths), bool)
    for i, path in enumerate(paths):
        image, ok[i] = decoded(path, preprocess)
        images[i] = image.numpy()
    return images, ok, _present(ok, paths)


def embed_decoded(backbone: Backbone, device, batches, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float32 vectors, ok, present) of decoded batches (`decode_batch`'s results, in order), run
    through the model `batch_size` images at a time; zero vectors where not ok."""
    import torch

    model = prepare_model(backbone, device)
    vectors, oks, presents, waiting = [], [], [], []
    with torch.inference_mode(), cpu_speed(device):
        for decoded in itertools.chain(batches, [None]):  # taken one at a time; None: the end
            if decoded is not None:
                images, ok, present = decoded
                oks.append(ok)
                presents.append(present)
                waiting.append(images)
            if sum(map(len, waiting)) < batch_size and decoded is not None:
                continue
            # a writable copy (Ray's arrays are read-only); what passes a whole batch waits for the next
            block = np.concatenate(waiting) if waiting else np.zeros((0,), np.uint8)
            whole = len(block) if decoded is None else len(block) // batch_size * batch_size
            for start in range(0, whole, batch_size):
                batch = torch.from_numpy(block[start:start + batch_size])
                vectors.append(forward(backbone, model, batch, device).float().cpu().numpy())
            waiting = [block[whole:]] if whole < len(block) else []
    if not oks:
        return np.zeros((0, backbone.dim), np.float32), np.zeros(0, bool), np.zeros(0, bool)
    result, ok = np.concatenate(vectors), np.concatenate(oks)
    result[~ok] = 0.0
    return result, ok, np.concatenate(presents)


class EmbedWorker:
    """One Ray actor's embedder (see curate.engines.ray): loads the backbone once, then embeds
    shard after shard.

    A GPU actor gets each shard's images already decoded, by Ray tasks on the cluster's CPUs
    (`decode_batch`), and only runs the model: Ray then schedules and counts every decoding CPU,
    any node's CPUs can feed the GPU, and nothing forks beside the running model. (On the H200 an
    actor that decoded with its own processes ran at 0.49x the local engine: docs/benchmarks.md.)
    A CPU actor, one per CPU, decodes its own shard in its process.
    """

    def __init__(self, root: Path, config: EmbedConfig):
        from curate.vision.devices import pick_device

        self.root = Path(root)
        self.config = config
        self.device = pick_device(config.device)
        self.backbone = load_embedder(config)
        prepare_model(self.backbone, self.device)  # a device that does not work fails the actor's start

    def embed(self, shard: tuple[list[str], list[str]]) -> tuple[list[str], tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(shas, (vectors, ok, present)) of one shard of (shas, stored image paths), decoded here a
        batch at a time (a whole shard of large crops would hold hundreds of MB per actor)."""
        shas, image_paths = shard
        size, preprocess = self.config.batch_size, self.backbone.preprocess
        batches = (decode_batch(self.root, image_paths[start:start + size], preprocess)
                   for start in range(0, len(image_paths), size))
        return shas, embed_decoded(self.backbone, self.device, batches, size)

    def embed_refs(self, shard: tuple[list[str], list]) -> tuple[list[str], tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(shas, (vectors, ok, present)) of one shard of (shas, ObjectRefs of its `decode_batch`
        results in order): each batch is taken as soon as it is decoded."""
        import ray

        shas, refs = shard
        return shas, embed_decoded(self.backbone, self.device, (ray.get(ref) for ref in refs), self.config.batch_size)


def decode_tasks(shard_images: int, cpus: int, actors: int) -> tuple[int, int]:
    """(images per decode task, shards in flight per GPU actor) for shards of `shard_images`: enough
    shards queued that their decode tasks keep every one of the cluster's `cpus` busy (two tasks per
    CPU waiting) while each actor works through its current shard.

    >>> decode_tasks(500, 16, 1)  # 32 tasks a shard: the actor's current shard and one queued
    (16, 2)
    >>> decode_tasks(20, 2, 1)    # small shards: tasks of 10, so that both CPUs get one; 2 queued
    (10, 3)
    """
    per_task = loader_batch_size(shard_images, DECODE_BATCH, max(1, cpus))
    tasks = math.ceil(shard_images / per_task)
    return per_task, max(2, 1 + math.ceil(2 * cpus / max(1, tasks * actors)))


def _embed_on_ray(ws: Workspace, config: EmbedConfig, engine: engines.EngineConfig, todo: pd.DataFrame):
    """(device text, iterator of embed results) for `todo` on Ray actors: one per GPU, fed by decode
    tasks on the cluster's CPUs, when the cluster has GPUs (and the device allows them); else one
    per CPU, each decoding its own shards."""
    from curate.engines import ray as ray_engine

    resources = ray_engine.cluster_resources(engine)
    cpus = max(1, int(resources.get("CPU", 1)))
    gpus = int(resources.get("GPU", 0)) if config.device in ("auto", "cuda") or config.device.startswith("cuda") else 0
    shas, paths = todo["sha256"].tolist(), todo["image_path"].tolist()
    if objectstore.store_uri(ws) is not None:  # images elsewhere: the workers get their URLs or folder paths
        paths = [str(location) for location in map(objectstore.locator(ws), paths)]
    actors = gpus or cpus
    size = ray_engine.shard_size(engine, len(shas), slots=actors)
    parts = list(zip(engines.shards(shas, size), engines.shards(paths, size)))
    actors = min(actors, len(parts))
    if not gpus:
        results = ray_engine.map_actors(engine, EmbedWorker, (ws.root, config), "embed", parts,
                                        actors=actors, num_cpus=1.0)
        return f"ray ({actors} CPU actor{'s' if actors > 1 else ''})", results
    per_task, per_actor = decode_tasks(size, cpus, actors)
    decode = ray_engine.remote_task(engine, decode_batch)
    preprocess = embedder_preprocess(config)
    root = ray_engine.connect(engine).put(ws.root)

    def feed(part):
        part_shas, part_paths = part
        tasks = [decode.remote(root, part_paths[start:start + per_task], preprocess)
                 for start in range(0, len(part_paths), per_task)]
        return (part_shas, tasks), tasks  # the actor's argument; the tasks to cancel on an interrupt

    # the actor reserves no CPU: it mostly waits on the GPU, and a node whose CPUs the GPU actors
    # held would leave their decode tasks waiting for ever
    results = ray_engine.map_actors(engine, EmbedWorker, (ws.root, config), "embed_refs", parts, actors=actors,
                                    num_gpus=1.0, num_cpus=0.0, per_actor=per_actor, feed=feed)
    return f"ray ({actors} GPU actor{'s' if actors > 1 else ''}, decoding on Ray CPU tasks)", results


@changes_workspace
def run_embed(ws: Workspace, config: EmbedConfig) -> EmbedReport:
    """Embed every stored image (`embeddable_images`) that the cache lacks; save reports/embed.json."""
    from curate.vision.devices import pick_device

    catalog = read_catalog(ws)
    images = embeddable_images(catalog)
    if images.empty:
        raise UsageError("no photos with stored images to embed; run `curate ingest` first")
    cache = EmbeddingCache(ws, config.cache_key)
    again = cache.forget_read_otherwise(images, objectstore.locator(ws), config.resolved_workers() or 1)
    todo = images[images["sha256"].isin(cache.missing(images["sha256"].tolist()))]
    device = pick_device(config.device)
    started = time.perf_counter()
    computed = failed = missing = 0
    engine = engines.active()
    device_text = str(device)
    if not todo.empty and engine.engine == "local":
        backbone = load_embedder(config)
        workers = config.resolved_workers()
        label = f"embedding {len(todo):,} images ({config.backbone}, {device.type})"
        shas, paths = todo["sha256"].tolist(), list(map(objectstore.locator(ws), todo["image_path"]))
        with progress_bar(label, len(todo)) as advance:
            # a cache part every `checkpoint` images: what an interrupted run keeps
            for start, vectors, ok, present in embed_stream(backbone, paths, device, config.batch_size, workers,
                                                            config.checkpoint, advance):
                counts = _cache_chunk(cache, shas[start:start + len(ok)], vectors, ok, present)
                computed, failed, missing = computed + counts[0], failed + counts[1], missing + counts[2]
    elif not todo.empty:
        device_text, results = _embed_on_ray(ws, config, engine, todo)
        label = f"embedding {len(todo):,} images ({config.backbone}) on Ray"
        with progress_bar(label, len(todo)) as advance:
            try:
                for _, (shas, (vectors, ok, present)) in results:
                    counts = _cache_chunk(cache, shas, vectors, ok, present)
                    computed, failed, missing = computed + counts[0], failed + counts[1], missing + counts[2]
                    advance(len(shas))
            finally:
                results.close()
    seconds = time.perf_counter() - started
    missing += gone_since_cached(ws, images, todo)
    if failed:
        log.warning(f"warning: {failed} stored images could not be decoded; `curate prefilter` drops them")
    if missing:
        log.warning(f"warning: {missing} image files are missing from the store; `curate prefilter` drops "
                    "them as unreadable until they are back (restore them, or ingest again) and "
                    "`curate embed` runs again")
    report = EmbedReport(backbone=config.backbone, cache_key=config.cache_key, dim=cache.dim, images=len(images),
                         cached=len(images) - len(todo), computed=computed, failed=failed, missing=missing,
                         read_again=again,
                         device=device_text,
                         seconds=round(seconds, 2),
                         images_per_second=round(len(todo) / seconds, 1) if len(todo) and seconds > 0 else None,
                         config=asdict(config))
    save_stage_report(ws, "embed", catalog_sha256(ws), report.to_dict())
    return report
