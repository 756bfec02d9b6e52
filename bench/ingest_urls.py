"""Benchmark `curate ingest urls`: concurrent vs sequential downloads, then a resume run.

A loopback HTTP server (tests/httpfixtures.py) serves N small distinct JPEGs, each
response delayed by --latency-ms to stand in for the network. The images are spread
over --hosts loopback addresses (127.0.0.1, 127.0.0.2, ...), each its own "host" for
the downloader's per-host politeness limit, so 16 workers at the default 4 per host
can all be busy. In one run it measures, on fresh workspaces:

1. sequential: 1 worker;
2. concurrent: --workers workers (default 16);
   (1 and 2 alternate for --rounds rounds; the speed-up is the ratio of the medians)
3. resume: the concurrent command again over its last completed workspace, which
   must send no request at all (the script exits 1 otherwise).

Everything goes through `curate.ingest.urls.ingest_urls` (CSV read, row building,
download, decode/validate, content-addressed store, journal, atomic catalog write), so
the figures are end-to-end ingest throughput, not raw HTTP.

    .venv/bin/python bench/ingest_urls.py --images 300 --latency-ms 30
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.httpfixtures when run as a script

import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from curate.ingest.http import DownloadConfig  # noqa: E402
from curate.ingest.urls import UrlIngestOptions, ingest_urls  # noqa: E402
from curate.workspace import Workspace, read_catalog  # noqa: E402
from tests.httpfixtures import FakeServer, Response  # noqa: E402


def make_jpegs(count: int, seed: int = 0) -> list[bytes]:
    """Distinct 160x120 JPEGs with some texture (a few KB each, like small thumbnails)."""
    rng = random.Random(seed)
    images = []
    for _ in range(count):
        base = Image.new("RGB", (160, 120), tuple(rng.randrange(256) for _ in range(3)))
        noise = Image.effect_noise((160, 120), rng.uniform(20, 60)).convert("RGB")
        buffer = io.BytesIO()
        Image.blend(base, noise, 0.3).save(buffer, "JPEG", quality=85)
        images.append(buffer.getvalue())
    return images


def start_servers(stack: ExitStack, hosts: int, latency_s: float, images: list[bytes]) -> tuple[list, list[str]]:
    """One FakeServer per loopback address; image i lives on host i % hosts."""
    servers = [stack.enter_context(FakeServer(f"127.0.0.{h + 1}", latency_s=latency_s)) for h in range(hosts)]
    urls = []
    for i, body in enumerate(images):
        server = servers[i % hosts]
        server.route(f"/{i}.jpg", Response(body, content_type="image/jpeg"))
        urls.append(server.url(f"/{i}.jpg"))
    return servers, urls


def serve(conn, hosts: int, latency_s: float, images: list[bytes]) -> None:
    """Child process: run the servers, send the URLs, answer 'hits' until told to stop."""
    with ExitStack() as stack:
        servers, urls = start_servers(stack, hosts, latency_s, images)
        conn.send(urls)
        while conn.recv() == "hits":
            conn.send(sum(server.hit_count() for server in servers))


class ServerProcess:
    """The loopback servers in their own process, so they do not share the client's GIL
    (a real image host does not run inside the downloader either)."""

    def __init__(self, hosts: int, latency_s: float, images: list[bytes]):
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child, hosts, latency_s, images), daemon=True)
        self._process.start()
        self.urls: list[str] = self._conn.recv()

    def hits(self) -> int:
        self._conn.send("hits")
        return self._conn.recv()

    def close(self) -> None:
        self._conn.send("stop")
        self._process.join(10)


def cpu_steal_counters() -> tuple[int, int] | None:
    """(steal, total) jiffies from /proc/stat: on a VM, time the hypervisor gave to others."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_percent(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] == before[1]:
        return None
    return 100 * (after[0] - before[0]) / (after[1] - before[1])


def timed_ingest(root: Path, file: Path, workers: int, per_host: int, server: ServerProcess) -> dict:
    """One ingest run; returns wall seconds, server requests and the catalog's kept count."""
    hits_before = server.hits()
    options = UrlIngestOptions(path=file, download=DownloadConfig(workers=workers, per_host=per_host))
    steal_before, started = cpu_steal_counters(), time.perf_counter()
    report = ingest_urls(Workspace(root), options)
    seconds, steal = time.perf_counter() - started, steal_percent(steal_before, cpu_steal_counters())
    kept = int((read_catalog(Workspace(root))["status"] == "kept").sum())
    return {"seconds": seconds, "requests": server.hits() - hits_before, "stored": report.stored, "kept": kept,
            "steal": "n/a" if steal is None else f"{steal:.0f}%"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=30.0, help="server delay per request")
    parser.add_argument("--hosts", type=int, default=4, help="loopback addresses 127.0.0.1..N")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--per-host", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="sequential/concurrent pairs; medians are reported")
    args = parser.parse_args(argv)

    images = make_jpegs(args.images)
    server = ServerProcess(args.hosts, args.latency_ms / 1000, images)
    print(f"{args.images} JPEGs (mean {sum(map(len, images)) / len(images) / 1024:.1f} KiB), "
          f"{args.latency_ms:g} ms server latency, {args.hosts} loopback hosts, per-host limit {args.per_host}")
    runs: dict[str, list[dict]] = {"sequential": [], "concurrent": []}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-urls-") as tmp:
            file = Path(tmp) / "urls.csv"
            pd.DataFrame({"photoid": range(len(images)), "downloadurl": server.urls}).to_csv(file, index=False)
            for round_number in range(1, args.rounds + 1):  # interleaved, so drifting machine load hits both
                for name, workers, per_host in (("sequential", 1, 1), ("concurrent", args.workers, args.per_host)):
                    run = timed_ingest(Path(tmp) / f"{name}-{round_number}", file, workers, per_host, server)
                    runs[name].append(run)
                    print_run(f"{name} #{round_number}", workers, run, args.images)
            last = Path(tmp) / f"concurrent-{args.rounds}"
            resume = timed_ingest(last, file, args.workers, args.per_host, server)
    finally:
        server.close()

    medians = {name: statistics.median(run["seconds"] for run in group) for name, group in runs.items()}
    ratio = medians["sequential"] / medians["concurrent"]
    for name, seconds in medians.items():
        print(f"median {name:<11} {seconds:7.2f} s  {args.images / seconds:8.1f} images/s")
    print(f"speed-up (ratio of medians) {ratio:.2f}x  (goal >= 8x: {'met' if ratio >= 8 else 'NOT met'})")
    print(f"resume over the completed workspace: {resume['seconds']:.2f} s, requests={resume['requests']}, "
          f"kept={resume['kept']}")
    complete = all(run["kept"] == args.images for group in runs.values() for run in group)
    if resume["requests"] or resume["kept"] != args.images or not complete:
        print("FAIL: the resume run downloaded something, or a run is incomplete", file=sys.stderr)
        return 1
    return 0


def print_run(name: str, workers: int, run: dict, images: int) -> None:
    print(f"{name:<14} workers={workers:<3} {run['seconds']:7.2f} s  {images / run['seconds']:8.1f} images/s  "
          f"requests={run['requests']}  stored={run['stored']}  cpu steal={run['steal']}")


if __name__ == "__main__":
    sys.exit(main())
