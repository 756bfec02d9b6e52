"""`curate export` speed: 100,000 photos as hard links and as WebDataset shards, against a plain
`cp -r` of the same image files in the same run.

The first run generates a workspace in --root (default /tmp/ne-bench): N small, distinct JPEGs
(64x48, about 1.5 kB each, 10 labels, 20 photos per owner) in the content-addressed store, a
catalog, and a real `curate split` of it; later runs reuse it. Each export then runs in a child
process (so that its peak memory is its own) into an empty folder, and again into the finished
folder (the idempotent re-run). The same WebDataset export of a 10,000-photo workspace cut from
the same files shows how peak memory grows with the collection (and the same hard-link export of
it, for the folder formats' export state): the bench prints both peaks, the
peak of a child that only imports `curate.export` (the baseline of the same run) and the growth
per photo above it. An hf-parquet export of the big workspace is timed too.
Run:  .venv/bin/python bench/export.py [--photos 100000] [--root /tmp/ne-bench] [--scratch DIR]
(--scratch: where the exports go, default --root; workspaces already in --root are only read)

Memory against collection size: `--memory 100000,300000,1000000` exports each size's workspace
(`ws-N` in --root, cut from the largest one's files when absent) as hard links and as WebDataset,
each once into an empty folder in its own child, with the imports-only child before and after
as the baseline of the same run, and prints each peak, the largest size's peak over the
smallest's and the growth per photo between them.

The cost of checking each image against its SHA-256 (`--verify`, the default): `--verify-cost`
exports the --photos workspace as hard links, as copies and as WebDataset, each with and without
`--no-verify`, into empty folders, alternating, `--repeat` times, and prints the median time of
each and the ratio with / without.

The cost of the upright check (`reencode.upright_copy`: each copied image's header is read for an EXIF
orientation, 16-bit pixels or transparency; `reencode.link_reads_otherwise`: each linked one's, to count the
links plain readers misread): `--upright-cost` exports the --photos workspace as copies, as WebDataset and
as hard links, each as shipped and with the check replaced by "copy as stored" (no count for links) in the
child, alternating, `--repeat` times, and prints the median time of each and the ratio.

The cost of the journal written through (`state.Journal`: a "pending" line before each file is placed and
its key after, each handed to the OS at once, so a SIGKILL loses none): `--journal-cost` exports the
--photos workspace as hard links and as copies, each as shipped and with the journal as it was before
(buffered, one line a file, no "pending" line) in the child, alternating, `--repeat` times.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

LABELS = [f"city_{i}" for i in range(10)]


def _encode(start: int, stop: int, root: str) -> list[tuple[str, str]]:
    """JPEGs for photo numbers [start, stop): smooth random pictures, distinct per number."""
    from PIL import Image

    from curate.store import relative_image_path, sha256_hex

    out = []
    for number in range(start, stop):
        rng = np.random.default_rng(number)
        small = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
        buffer = io.BytesIO()
        small.resize((64, 48), Image.BICUBIC).save(buffer, "JPEG", quality=85)
        data = buffer.getvalue()
        digest = sha256_hex(data)
        rel = relative_image_path(digest, "jpg")
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out.append((digest, rel))
    return out


def build_workspace(root: Path, photos: int, source: Path | None = None) -> None:
    """A catalog of `photos` kept, labelled photos with stored images, split by `curate split`.
    With `source`, the first `photos` images of that workspace are hard-linked instead of encoded."""
    from curate.split import SplitConfig, run_split
    from curate.workspace import Workspace, write_catalog

    ws = Workspace(root)
    if source is None:
        chunks = [(s, min(s + 5000, photos)) for s in range(0, photos, 5000)]
        with ProcessPoolExecutor(2) as pool:
            stored = [pair for part in pool.map(_encode, *zip(*[(a, b, str(root)) for a, b in chunks]))
                      for pair in part]
    else:
        big = pd.read_parquet(source / "catalog.parquet", columns=["photo_id", "sha256", "image_path"])
        big = big.sort_values("photo_id").head(photos)
        stored = list(zip(big["sha256"], big["image_path"]))
        for _, rel in stored:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            os.link(source / rel, root / rel)
    numbers = np.arange(photos)
    labels = np.array(LABELS)[numbers % len(LABELS)]
    catalog = pd.DataFrame({
        "photo_id": [f"folder:{n:07d}" for n in numbers], "source": "folder",
        "source_id": [f"{n:07d}.jpg" for n in numbers],
        "owner_id": [f"{n // 20}@N00" for n in numbers], "owner_name": [f"Owner {n // 20}" for n in numbers],
        "tags": [np.array([label], dtype=object) for label in labels], "label": labels,
        "tag_labels": [np.array([label], dtype=object) for label in labels],
        "license": np.array(["cc-by-2.0", "cc-by-sa-4.0", "cc0-1.0"])[numbers % 3],
        "url": [f"https://example.invalid/{n}" for n in numbers],
        "sha256": [digest for digest, _ in stored], "image_path": [rel for _, rel in stored],
        "width": 64, "height": 48, "image_format": "JPEG", "status": "kept"})
    write_catalog(ws, catalog)
    run_split(ws, SplitConfig())


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it is not inherited from the
    parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(root: Path, out: Path, fmt: str, link: str, verify: bool = True, upright: bool = True) -> None:
    """One export in this process; prints {"seconds", "peak_rss_mb", "written"} as JSON
    (format "none": only the imports, the memory baseline). `upright` False: every image is copied
    as stored, the export before the upright check (the baseline of `--upright-cost`)."""
    from curate.export import ExportConfig, export_workspace
    from curate.workspace import Workspace

    if not upright:
        import curate.export.files as files
        import curate.export.writers as writers

        # where each is looked up: place_file in files, the shard and link writers in writers
        files.upright_copy = writers.upright_copy = lambda source, ext: None
        writers.link_reads_otherwise = lambda source, link, resize: False
    if os.environ.get("BENCH_JOURNAL") == "buffered":  # the journal before 2026-12-06 (see the module)
        import curate.export.state as state

        state.Journal.begin = lambda self, target: None
        state.Journal.done = lambda self, target, key: self._handle.write(f"{target}\t{key}\n")

    if fmt == "none":
        print(json.dumps({"seconds": 0.0, "peak_rss_mb": peak_rss_mb(), "written": 0, "photos": 0}))
        return
    started = time.perf_counter()
    result = export_workspace(Workspace(root), out, ExportConfig(fmt, link=link, verify=verify))
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "written": result.written,
                      "photos": result.plan.photos}))


def run_child(root: Path, out: Path, fmt: str, link: str = "copy", verify: bool = True, upright: bool = True) -> dict:
    line = subprocess.run([sys.executable, __file__, "--child", str(root), str(out), fmt, link, str(int(verify)),
                           str(int(upright))],
                          check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(line)


def journal_cost(root: Path, scratch: Path, repeat: int) -> None:
    """Median seconds of a hard-link and a copy export with the journal written through and buffered."""
    out = scratch / "out-journal"
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeat):
        for name, link in (("hard links", "hardlink"), ("copies", "copy")):
            for journal in ("through", "buffered"):
                shutil.rmtree(out, ignore_errors=True)
                os.environ["BENCH_JOURNAL"] = journal
                run = run_child(root, out, "imagefolder", link)
                times.setdefault((name, journal), []).append(run["seconds"])
    os.environ.pop("BENCH_JOURNAL", None)
    shutil.rmtree(out, ignore_errors=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; {run['photos']:,} photos; median of {repeat}")
    for name in ("hard links", "copies"):
        on, off = float(np.median(times[(name, "through")])), float(np.median(times[(name, "buffered")]))
        print(f"{name}: {on:.1f} s with the journal written through, {off:.1f} s buffered: {on / off:.2f}x")


def upright_cost(root: Path, scratch: Path, repeat: int) -> None:
    """Median seconds of a copy, a WebDataset and a hard-link export with and without the upright check (for
    links: the check that counts the linked photos plain readers misread; see the module)."""
    out = scratch / "out-upright"
    times: dict[tuple[str, bool], list[float]] = {}
    kinds = (("copies", "imagefolder", "copy"), ("webdataset", "webdataset", "copy"),
             ("hard links", "imagefolder", "hardlink"))
    for _ in range(repeat):
        for name, fmt, link in kinds:
            for upright in (True, False):
                shutil.rmtree(out, ignore_errors=True)
                run = run_child(root, out, fmt, link, True, upright)
                times.setdefault((name, upright), []).append(run["seconds"])
    shutil.rmtree(out, ignore_errors=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; {run['photos']:,} photos; median of {repeat}")
    for name, _, _ in kinds:
        on, off = float(np.median(times[(name, True)])), float(np.median(times[(name, False)]))
        print(f"{name}: {on:.1f} s with the upright check, {off:.1f} s without: {on / off:.2f}x")


def verify_cost(root: Path, scratch: Path, repeat: int) -> None:
    """Median seconds of each export with and without the SHA-256 check (see the module)."""
    out = scratch / "out-verify"
    times: dict[tuple[str, bool], list[float]] = {}
    for _ in range(repeat):
        for name, fmt, link in (("hard links", "imagefolder", "hardlink"), ("copies", "imagefolder", "copy"),
                                ("webdataset", "webdataset", "copy")):
            for verify in (True, False):
                shutil.rmtree(out, ignore_errors=True)
                run = run_child(root, out, fmt, link, verify)
                times.setdefault((name, verify), []).append(run["seconds"])
    shutil.rmtree(out, ignore_errors=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; {run['photos']:,} photos; median of {repeat}")
    for name in ("hard links", "copies", "webdataset"):
        on, off = float(np.median(times[(name, True)])), float(np.median(times[(name, False)]))
        print(f"{name}: {on:.1f} s with the check, {off:.1f} s with --no-verify: {on / off:.2f}x")


def timed_cp(source: Path, target: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(source), str(target)], check=True)
    return time.perf_counter() - started


def memory_sweep(sizes: list[int], root: Path, scratch: Path) -> None:
    """Peak RSS of the hard-link and WebDataset exports at each size (see the module)."""
    sizes = sorted(sizes)
    largest = root / f"ws-{sizes[-1]}"
    for photos in reversed(sizes):
        ws = root / f"ws-{photos}"
        if not (ws / "reports" / "split.json").exists():
            shutil.rmtree(ws, ignore_errors=True)
            started = time.perf_counter()
            build_workspace(ws, photos, None if ws == largest else largest)
            print(f"built {ws} ({photos:,} photos) in {time.perf_counter() - started:.0f} s", flush=True)
    out = scratch / "out-memory"
    baseline = [run_child(root / f"ws-{sizes[0]}", out, "none")["peak_rss_mb"]]
    runs: dict[str, dict[int, dict]] = {"hard links": {}, "webdataset": {}}
    for photos in sizes:
        for name, fmt, link in (("hard links", "imagefolder", "hardlink"), ("webdataset", "webdataset", "copy")):
            shutil.rmtree(out, ignore_errors=True)
            runs[name][photos] = run = run_child(root / f"ws-{photos}", out, fmt, link)
            print(f"{photos:>9,} photos, {name:<10}: {run['seconds']:6.1f} s, peak RSS {run['peak_rss_mb']:4.0f} MB",
                  flush=True)
    shutil.rmtree(out, ignore_errors=True)
    baseline.append(run_child(root / f"ws-{sizes[0]}", out, "none")["peak_rss_mb"])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"baseline (imports only): {baseline[0]:.0f} MB before, {baseline[1]:.0f} MB after")
    base = max(baseline)
    for name, by_size in runs.items():
        low, high = by_size[sizes[0]], by_size[sizes[-1]]
        growth = (high["peak_rss_mb"] - low["peak_rss_mb"]) * 1024 / (high["photos"] - low["photos"])
        peaks = " -> ".join(f"{by_size[n]['peak_rss_mb']:.0f}" for n in sizes)
        print(f"{name}: peak RSS {peaks} MB at {' / '.join(f'{n:,}' for n in sizes)} photos; "
              f"{high['peak_rss_mb'] / low['peak_rss_mb']:.2f}x from the smallest to the largest, "
              f"{growth:+.3f} kB a photo; above the baseline {low['peak_rss_mb'] - base:.0f} -> "
              f"{high['peak_rss_mb'] - base:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--root", type=Path, default=Path("/tmp/ne-bench"))
    parser.add_argument("--scratch", type=Path, default=None)
    parser.add_argument("--memory", type=str, default=None,
                        help="comma-separated sizes: only the memory sweep (see the module)")
    parser.add_argument("--verify-cost", action="store_true", help="only the cost of the SHA-256 check")
    parser.add_argument("--upright-cost", action="store_true", help="only the cost of the upright check")
    parser.add_argument("--journal-cost", action="store_true", help="only the cost of the journal written through")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scratch = args.scratch or args.root
    if args.memory:
        memory_sweep([int(n) for n in args.memory.split(",")], args.root, scratch)
        return
    big, small = args.root / f"ws-{args.photos}", args.root / f"ws-{args.small}"
    if args.verify_cost or args.upright_cost or args.journal_cost:
        if not (big / "reports" / "split.json").exists():
            shutil.rmtree(big, ignore_errors=True)
            build_workspace(big, args.photos)
        (verify_cost if args.verify_cost else upright_cost if args.upright_cost else journal_cost)(
            big, scratch, args.repeat)
        return
    for root, photos, source in ((big, args.photos, None), (small, args.small, big)):
        if not (root / "reports" / "split.json").exists():
            shutil.rmtree(root, ignore_errors=True)
            started = time.perf_counter()
            build_workspace(root, photos, source)
            print(f"built {root} ({photos:,} photos) in {time.perf_counter() - started:.0f} s")
    outs = {name: scratch / f"out-{name}" for name in ("hard", "hard-small", "wds", "wds-small", "cp", "hfpq")}
    for path in outs.values():
        shutil.rmtree(path, ignore_errors=True)
    cp_s = timed_cp(big / "images", outs["cp"])
    hard = run_child(big, outs["hard"], "imagefolder", "hardlink")
    hard_again = run_child(big, outs["hard"], "imagefolder", "hardlink")
    wds = run_child(big, outs["wds"], "webdataset")
    wds_again = run_child(big, outs["wds"], "webdataset")
    wds_small = run_child(small, outs["wds-small"], "webdataset")
    hard_small = run_child(small, outs["hard-small"], "imagefolder", "hardlink")
    hfpq = run_child(big, outs["hfpq"], "hf-parquet")
    baseline = run_child(small, outs["wds-small"], "none")
    size_mb = sum(p.stat().st_size for p in outs["cp"].rglob("*") if p.is_file()) / 1e6
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; {hard['photos']:,} photos, {size_mb:.0f} MB of JPEG")
    print(f"cp -r of the image store (baseline): {cp_s:.1f} s")
    for name, run, goal in (("imagefolder, hard links", hard, 60), ("webdataset shards", wds, 300)):
        print(f"{name}: {run['seconds']:.1f} s (goal <= {goal} s), {run['seconds'] / cp_s:.2f}x cp -r, "
              f"peak RSS {run['peak_rss_mb']:.0f} MB")
    print(f"re-export, nothing changed: hard links {hard_again['seconds']:.1f} s ({hard_again['written']} written), "
          f"webdataset {wds_again['seconds']:.1f} s ({wds_again['written']} written)")
    print(f"hf-parquet: {hfpq['seconds']:.1f} s, {hfpq['seconds'] / cp_s:.2f}x cp -r, "
          f"peak RSS {hfpq['peak_rss_mb']:.0f} MB")
    base, low, high = baseline["peak_rss_mb"], wds_small["peak_rss_mb"], wds["peak_rss_mb"]
    per_photo_kb = (high - low) * 1024 / (wds["photos"] - wds_small["photos"])
    print(f"webdataset peak RSS: {low:.0f} MB at {wds_small['photos']:,} photos, {high:.0f} MB at "
          f"{wds['photos']:,} ({high / low:.2f}x); baseline (imports only) {base:.0f} MB; above it "
          f"{low - base:.0f} MB -> {high - base:.0f} MB, {per_photo_kb:.2f} kB a photo")
    low, high = hard_small["peak_rss_mb"], hard["peak_rss_mb"]
    per_photo_kb = (high - low) * 1024 / (hard["photos"] - hard_small["photos"])
    print(f"imagefolder (hard links) peak RSS: {low:.0f} MB at {hard_small['photos']:,} photos, {high:.0f} MB at "
          f"{hard['photos']:,} ({high / low:.2f}x), {per_photo_kb:.2f} kB a photo")
    for path in outs.values():
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6] == "1", sys.argv[7] == "1")
    else:
        main()
