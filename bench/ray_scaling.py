"""Benchmark: how the Ray engine scales (issue Q's machine targets), ratios measured in one run.

    .venv/bin/python bench/ray_scaling.py pixels [--photos 2000] [--cpus 1 2 4 8] [--side 640]
    .venv/bin/python bench/ray_scaling.py embed  [--images 2000] [--device auto] [--side 640]

`pixels`: ingest's per-image pass (render the demo photo at `--side` x 3/4 `--side`, sha256,
validation decode with pHash, thumbnail and quality statistics, the content-addressed store) on
a local Ray limited to N CPUs, for each N of `--cpus`, one thread per Ray task; the same photos
each time, shards of `--shard-size` (default: 1/40 of the photos, so that 1, 2, 4 and 8 CPUs all
get whole rounds of shards). The scaling efficiency at N is (time at the first N x that N) /
(time at N x N): 1.0 is linear. Target (issue Q, on the 16-core machine): >= 0.8 from 1 to 8.
Each run also says, from Ray's task timeline, how busy the tasks kept the CPUs and where the
rest went: before the first task, after the last one, and between the workers' last tasks.
The driver's serial work (planning, merging the shards into the catalog) is inside the wall
time, as it is for a user. Every N's catalog must equal the first N's.

`embed`: `curate embed` on the same stored images twice, through the local engine and through
a Ray actor, on `--device`. The local engine decodes with `--workers` processes; with a
CUDA GPU the Ray run gets one GPU actor fed by decode tasks on the local Ray's other CPUs
(what `curate embed --engine ray` does on a GPU cluster); on a CPU-only machine the local Ray
is told it has one GPU (`--fake-gpu`, the default there) so that the same path runs on the
CPU, and `--image-size 64` makes the model cheap enough that, as on a GPU, decoding is the
cost. The ratio is Ray's images/s over the local engine's; target
(issue Q, on the GPU machine): >= 0.9. It also prints each engine's rate from its first result
on, which leaves out the model's load and the Ray actor's start (a new process that imports
PyTorch and initialises CUDA, both already done in this bench's process for the local engine).
The embeddings must match within 1e-2 (bf16 on a GPU,
float16 in the cache, other batches; the max abs difference is printed).
Both runs use shards of `--shard-size` images (default 500, the engine's) and the local
engine's checkpoint parts of `--checkpoint` images (default 2048, `curate embed`'s).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from curate import engines
from curate.demo.config import DemoConfig
from curate.ingest.demo import ingest_demo
from curate.workspace import Workspace, read_catalog


def machine_line() -> str:
    import ray
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {gpu}, Python {platform.python_version()}, "
            f"torch {torch.__version__}, ray {ray.__version__}; load average {os.getloadavg()[0]:.2f}")


def demo_config(photos: int, side: int) -> DemoConfig:
    return DemoConfig(photos=photos, seed=7, image_width=side, image_height=side * 3 // 4)


def task_usage(ray, started: float, ended: float, cpus: int, shards: int) -> str:
    """Where the CPUs' time went in one run, from Ray's task timeline: the share of the run's
    CPU time spent in tasks, the wait before the first task started and after the last one
    ended (the driver's serial work), and how far apart the workers' last tasks ended (the last
    round's imbalance)."""
    events: list[dict] = []
    for _ in range(20):  # task events reach the timeline about once a second
        events = [event for event in ray.timeline() if str(event.get("cat", "")).startswith("task::")
                  and started * 1e6 <= event["ts"] <= ended * 1e6]
        if len(events) >= shards:
            break
        time.sleep(0.5)
    if not events:
        return "no task events in Ray's timeline"
    busy = sum(event["dur"] for event in events) / 1e6
    first = min(event["ts"] for event in events) / 1e6 - started
    last_ends: dict[str, float] = {}
    for event in events:
        last_ends[event["tid"]] = max(last_ends.get(event["tid"], 0.0), (event["ts"] + event["dur"]) / 1e6)
    wall = ended - started
    return (f"{len(events)} tasks on {len(last_ends)} workers busy {busy / (wall * cpus):.0%} of {cpus} CPUs' time; "
            f"first task after {first:.2f} s; last task ended {ended - max(last_ends.values()):.2f} s before the run; "
            f"workers' last tasks ended {max(last_ends.values()) - min(last_ends.values()):.2f} s apart")


def pixels(args) -> bool:
    import ray

    root = Path(tempfile.mkdtemp(prefix="ray-scaling-"))
    shard = args.shard_size or max(1, args.photos // 40)
    engine = engines.EngineConfig(engine="ray", shard_size=shard)
    times: dict[int, list[float]] = {}
    reference = None
    identical = True
    try:
        for cpus in args.cpus:
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
            try:
                for repeat in range(args.repeats):
                    ws = Workspace(root / f"cpus-{cpus}-{repeat}")
                    with engines.use(engine):
                        started, clock = time.perf_counter(), time.time()
                        report = ingest_demo(ws, demo_config(args.photos, args.side), workers=1)
                        times.setdefault(cpus, []).append(time.perf_counter() - started)
                    usage = task_usage(ray, clock, clock + times[cpus][-1], cpus, -(-args.photos // shard))
                    catalog = read_catalog(ws)
                    if reference is None:
                        reference = catalog
                    else:
                        try:
                            pd.testing.assert_frame_equal(reference, catalog)
                        except AssertionError as difference:
                            identical = False
                            print(f"{cpus} CPUs: the catalog differs from the first run's: {str(difference)[:200]}")
                    print(f"{cpus} CPUs, repeat {repeat + 1}: {times[cpus][-1]:.2f} s ({report.summary()})\n"
                          f"    {usage}", flush=True)
                    shutil.rmtree(ws.root)
            finally:
                ray.shutdown()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    first = args.cpus[0]
    base = statistics.median(times[first])
    print(f"\npixel pass on Ray: {args.photos:,} demo photos at {args.side}x{args.side * 3 // 4}, shards of {shard}, "
          f"one thread per task, median of {args.repeats}")
    print("| CPUs | wall s | photos/s | speed-up | efficiency (1.0 = linear) |")
    print("|---|---|---|---|---|")
    for cpus in args.cpus:
        wall = statistics.median(times[cpus])
        speedup = base / wall
        print(f"| {cpus} | {wall:.2f} | {args.photos / wall:.0f} | {speedup:.2f}x | {speedup * first / cpus:.2f} |")
    last = args.cpus[-1]
    efficiency = base / statistics.median(times[last]) * first / last
    print(f"efficiency {first} -> {last} CPUs: {efficiency:.2f} (target >= 0.8 on the 16-core machine)")
    print(f"catalogs identical across CPU counts: {'yes' if identical else 'NO'}")
    return identical


class FirstResult:
    """A progress display that records when `curate embed` reports embedded images, so that a
    run's rate can also be read from its first result on: without the model's load, the Ray
    actor's start (a new process that imports PyTorch and initialises CUDA, which the local
    engine's bench process has done already) and the first batch's or shard's latency."""

    def __init__(self):
        self.marks: list[tuple[float, int]] = []

    @contextmanager
    def bar(self, description: str, total):
        record = description.startswith("embedding")
        yield lambda n=1: self.marks.append((time.perf_counter(), n)) if record else None

    def rate_after_first(self, ended: float) -> float:
        if len(self.marks) < 2:
            return float("nan")
        first, counted = self.marks[0]
        return (sum(n for _, n in self.marks) - counted) / (ended - first)


def embed(args) -> bool:
    import ray
    import torch

    from curate.embed import EmbedConfig, EmbeddingCache, run_embed
    from curate.progress import use_progress

    cuda = torch.cuda.is_available() and args.device in ("auto", "cuda")
    fake_gpu = args.fake_gpu if args.fake_gpu is not None else not cuda
    root = Path(tempfile.mkdtemp(prefix="ray-embed-"))
    try:
        ws = Workspace(root / "ws")
        ingest_demo(ws, demo_config(args.images, args.side), workers=os.cpu_count() or 1)
        config = EmbedConfig(device=args.device, batch_size=args.batch_size, workers=args.workers,
                             checkpoint=args.checkpoint, image_size=args.image_size)
        cache_dir = EmbeddingCache(ws, config.cache_key).dir
        shas = pd.Series(sorted(read_catalog(ws)["sha256"].dropna().unique()))
        results: dict[str, list[tuple[float, float]]] = {"local": [], "ray": []}
        steady: dict[str, list[float]] = {"local": [], "ray": []}
        vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        ray.init(num_cpus=os.cpu_count(), num_gpus=1 if fake_gpu else None, include_dashboard=False,
                 log_to_driver=False)
        try:
            for repeat in range(args.repeats):
                for name in ("local", "ray"):
                    shutil.rmtree(cache_dir, ignore_errors=True)
                    engine = engines.EngineConfig(engine=name, shard_size=args.shard_size)
                    display = FirstResult()
                    use_progress(bar=display.bar)
                    with engines.use(engine):
                        started = time.perf_counter()
                        report = run_embed(ws, config)
                        wall = time.perf_counter() - started
                    use_progress()
                    results[name].append((report.computed / wall, wall))
                    steady[name].append(display.rate_after_first(started + wall))
                    print(f"repeat {repeat + 1} {name}: {report.computed:,} images in {wall:.2f} s "
                          f"({report.computed / wall:.1f} images/s; {steady[name][-1]:.1f} images/s after the "
                          f"first result) on {report.device}", flush=True)
                    found, known, ok = EmbeddingCache(ws, config.cache_key).lookup(shas)
                    vectors[name] = (found, known & ok)
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    local = statistics.median(rate for rate, _ in results["local"])
    remote = statistics.median(rate for rate, _ in results["ray"])
    (left, left_ok), (right, right_ok) = vectors["local"], vectors["ray"]
    same_images = bool(np.array_equal(left_ok, right_ok) and left_ok.any())
    difference = float(np.abs(left[left_ok] - right[left_ok]).max()) if same_images else np.inf
    where = "GPU" if cuda else ("CPU, one actor on a declared GPU" if fake_gpu else "CPU actors")
    print(f"\nembed: {args.images:,} demo photos at {args.side}x{args.side * 3 // 4}, {config.backbone}, "
          f"input {config.image_size or 224} px, "
          f"batch {args.batch_size}, {config.resolved_workers()} decode workers, {where}; median of {args.repeats}")
    print(f"local engine: {local:.1f} images/s; ray engine: {remote:.1f} images/s; ratio ray / local "
          f"{remote / local:.2f}x (target >= 0.9 on the GPU machine)")
    local_steady, remote_steady = statistics.median(steady["local"]), statistics.median(steady["ray"])
    print(f"after each engine's first result (model load, the actor's start and the first batch or shard "
          f"left out): local {local_steady:.1f} images/s; ray {remote_steady:.1f} images/s; ratio "
          f"{remote_steady / local_steady:.2f}x")
    print(f"same images embedded: {'yes' if same_images else 'NO'}; max abs difference {difference:.2e}")
    # the engines batch the images differently: on a GPU the model runs in bf16 (8 bits of mantissa),
    # and the cache stores float16, so a vector may differ in its last bits (the suite's tolerance)
    return same_images and bool(np.allclose(left[left_ok], right[left_ok], rtol=1e-2, atol=1e-2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    scale = modes.add_parser("pixels")
    scale.add_argument("--photos", type=int, default=2000)
    scale.add_argument("--cpus", type=int, nargs="+", default=[1, 2, 4, 8])
    scale.add_argument("--side", type=int, default=640, help="demo photo width (height 3/4 of it)")
    scale.add_argument("--repeats", type=int, default=1)
    scale.add_argument("--shard-size", type=int, default=None)
    gpu = modes.add_parser("embed")
    gpu.add_argument("--images", type=int, default=2000)
    gpu.add_argument("--side", type=int, default=640)
    gpu.add_argument("--device", default="auto")
    gpu.add_argument("--batch-size", type=int, default=128)
    gpu.add_argument("--workers", type=int, default=None,
                     help="the local engine's decode processes (default: curate embed's)")
    gpu.add_argument("--shard-size", type=int, default=engines.DEFAULT_SHARD_SIZE)
    gpu.add_argument("--checkpoint", type=int, default=2048)
    gpu.add_argument("--image-size", type=int, default=None,
                     help="model input side (default 224); small makes a CPU run decode-bound, as on a GPU")
    gpu.add_argument("--repeats", type=int, default=1)
    gpu.add_argument("--fake-gpu", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args()
    print(machine_line(), flush=True)
    ok = pixels(args) if args.mode == "pixels" else embed(args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
