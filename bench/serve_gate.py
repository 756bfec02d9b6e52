"""Benchmark: per-image latency of `classify serve` with the topic gate vs `--no-gate`, same run,
same real photos, in the same process and run.

    .venv/bin/python bench/serve_gate.py [--run RUN] [--photos 40] [--repeats 5] [--device cpu]

Two real uvicorn servers on 127.0.0.1 share one `Predictor`: one built with the run's gate
(`classify.gate.load_gate`), one without (what `--no-gate` serves). Every photo is posted to
both, alternating which goes first, `--repeats` times; a photo's latency is the median of its
repeats (client-side wall time of the whole request: upload, decode, forward pass, JSON).
Printed: the median per-image latency of each and their ratio (the headline: robust to the
spikes a shared machine adds), the median of the per-photo ratios, the ratio of the means, and
the CPU seconds of this process per request. Also the model call alone
(`Predictor.probabilities` vs `predict_with_features` + `Gate.scores` on the same decoded
image), and the gate's own work after the forward pass (`Gate.scores` and the decision), timed
alone: on a shared machine the request figures move by more than the gate costs.

Photos: `--photos` of ../shared/realdata/flickr-ferrari (about 1024 px colour JPEGs) and as many
of ../shared/realdata/scenes15/test (about 256 px greyscale).

Without `--run`, a run is built in a temporary folder: EfficientNet-Lite0 with its ImageNet
weights and a fresh 6-class head (latency does not depend on the head's training), and a gate
fitted by `classify.gate.fit_gate` on the pooled features of scenes15 train photos (urban
outdoor scenes on topic, indoor and natural ones off topic), so the gate is a real fitted one.

Target (issue K): gate / no-gate per-image latency <= 1.10.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
URBAN = ("TallBuilding", "InsideCity", "Street", "Highway", "Industrial", "Suburb")
OTHER = ("Coast", "Forest", "Mountain", "OpenCountry", "Bedroom", "Kitchen", "LivingRoom", "Office", "Store")


def real_photos(count: int) -> list[Path]:
    """`count` Ferrari photos and `count` scenes15 test photos (sorted, evenly spread)."""
    ferrari = sorted((REALDATA / "flickr-ferrari").rglob("*.jpg"))
    scenes = sorted((REALDATA / "scenes15" / "test").rglob("*.jpg"))
    if not ferrari or not scenes:
        sys.exit(f"real photos not found under {REALDATA} (flickr-ferrari, scenes15); see the realdata README")
    def spread(files: list[Path]) -> list[Path]:
        return [files[i] for i in np.linspace(0, len(files) - 1, min(count, len(files))).astype(int)]

    return spread(ferrari) + spread(scenes)


def build_run(folder: Path, device: str, per_class: int = 12) -> Path:
    """A run with ImageNet EfficientNet-Lite0, a fresh head and a gate fitted on scenes15 features."""
    import torch
    from PIL import Image

    from classify.gate import GateMeta, fit_gate, save_gate
    from classify.model import Predictor, RunMeta, build_classifier, save_model

    torch.manual_seed(0)
    model, preprocess = build_classifier("efficientnet_lite0", len(URBAN), pretrained=True)
    save_model(folder, model, RunMeta(classes=list(URBAN), backbone="efficientnet_lite0",
                                      preprocess=preprocess.to_dict()))
    predictor = Predictor(folder, device)
    paths, on_topic = [], []
    for scene in URBAN + OTHER:
        files = sorted((REALDATA / "scenes15" / "train" / scene).glob("*.jpg"))[:per_class]
        paths += files
        on_topic += [scene in URBAN] * len(files)
    features = np.concatenate([predictor.predict_with_features([Image.open(p).convert("RGB") for p in
                                                                paths[i:i + 32]])[1] for i in range(0, len(paths), 32)])
    on_topic = np.array(on_topic)
    is_val = np.arange(len(paths)) % 5 == 0
    coef, intercept, threshold, how, counts = fit_gate(features, on_topic, np.arange(len(paths)), is_val)
    save_gate(folder, coef, intercept, GateMeta(threshold, how, "efficientnet_lite0", topic="urban scene",
                                                counts=counts))
    return folder


@contextlib.contextmanager
def served(app):
    """A real uvicorn server on 127.0.0.1 (a free port); yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def request_latencies(urls: dict[str, str], photos: list[Path], repeats: int) -> dict[str, np.ndarray]:
    """{name: per-photo median wall seconds, name + "_cpu": per-photo median CPU seconds of this
    process (client and servers run in it)}; the servers take turns going first. CPU seconds are
    less moved than wall time by other processes on a shared machine."""
    import requests

    session = requests.Session()
    names = list(urls)
    timings = {key: np.zeros((len(photos), repeats)) for name in names for key in (name, f"{name}_cpu")}
    for index, path in enumerate(photos):
        data = path.read_bytes()
        for repeat in range(repeats):
            for name in names if (index + repeat) % 2 == 0 else names[::-1]:
                started, cpu = time.perf_counter(), time.process_time()
                answer = session.post(f"{urls[name]}/predict", files={"file": (path.name, data, "image/jpeg")},
                                      timeout=120)
                timings[name][index, repeat] = time.perf_counter() - started
                timings[f"{name}_cpu"][index, repeat] = time.process_time() - cpu
                answer.raise_for_status()
    return {name: np.median(values, axis=1) for name, values in timings.items()}


def model_call_latencies(predictor, gate, photos: list[Path], repeats: int) -> dict[str, float]:
    """Median seconds per image of the model call alone, with and without the gate (one image a
    call, the two taking turns going first)."""
    from classify.decode import decode_for_model

    calls = {"plain": lambda image: predictor.probabilities([image]),
             "gated": lambda image: gate.scores(predictor.predict_with_features([image])[1])}
    images = [decode_for_model(path.read_bytes(), predictor.preprocess) for path in photos]
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for repeat in range(repeats):
        for index, image in enumerate(images):
            for name in (list(calls) if (index + repeat) % 2 == 0 else list(calls)[::-1]):
                started = time.perf_counter()
                calls[name](image)
                seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in seconds.items()}


def gate_own_seconds(predictor, gate, photo: Path, repeats: int = 2000) -> float:
    """Median seconds of what the gate adds to one answer once the forward pass is done: the
    topic score from the pooled features (`Gate.scores`) and the off-topic decision."""
    from classify.decode import decode_for_model

    _, features = predictor.predict_with_features([decode_for_model(photo.read_bytes(), predictor.preprocess)])
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        score = gate.scores(features)
        bool(score[0] < gate.threshold)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a trained run with a gate (default: build one, see above)")
    parser.add_argument("--photos", type=int, default=40, help="photos of each real collection")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from classify.gate import load_gate
    from classify.model import Predictor
    from classify.serve import create_app

    with tempfile.TemporaryDirectory(prefix="serve-gate-") as scratch:
        run = args.run or build_run(Path(scratch) / "run", args.device)
        predictor, gate = Predictor(run, args.device), load_gate(run)
        if gate is None:
            sys.exit(f"{run} has no topic gate (gate.json / gate.safetensors); train it after `curate prefilter`")
        photos = real_photos(args.photos)
        print(f"machine: {machine()}; device {predictor.device}; run {'built' if args.run is None else run}; "
              f"{len(photos)} real photos x {args.repeats} repeats; gate threshold {gate.threshold:.3f}")
        with served(create_app(predictor, gate=gate)) as gated_url, served(create_app(predictor)) as plain_url:
            request_latencies({"gated": gated_url, "plain": plain_url}, photos[:4], 1)  # warm-up
            latency = request_latencies({"gated": gated_url, "plain": plain_url}, photos, args.repeats)
        calls = model_call_latencies(predictor, gate, photos[:20], args.repeats)
        own = gate_own_seconds(predictor, gate, photos[0])
    gated, plain = np.median(latency["gated"]), np.median(latency["plain"])
    paired = np.median(latency["gated"] / latency["plain"])
    print(f"classify serve, per image (median over photos): gate {gated * 1000:.1f} ms, --no-gate "
          f"{plain * 1000:.1f} ms; ratio {gated / plain:.3f}; median of per-photo ratios {paired:.3f}; "
          f"ratio of means {latency['gated'].mean() / latency['plain'].mean():.3f}; target <= 1.10")
    gated_cpu, plain_cpu = latency["gated_cpu"].mean(), latency["plain_cpu"].mean()
    print(f"classify serve, CPU seconds per image (client + server): gate {gated_cpu * 1000:.1f} ms, --no-gate "
          f"{plain_cpu * 1000:.1f} ms; ratio {gated_cpu / plain_cpu:.3f}")
    print(f"model call alone, per image (median): gate {calls['gated'] * 1000:.2f} ms, "
          f"--no-gate {calls['plain'] * 1000:.2f} ms; ratio {calls['gated'] / calls['plain']:.3f}")
    print(f"the gate's own work per image (Gate.scores + the decision, median): {own * 1e6:.1f} us = "
          f"{own / plain:.5f} of the median --no-gate request")


if __name__ == "__main__":
    main()
