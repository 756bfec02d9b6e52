"""The 9:16 portrait-crop search (`curate.filters.portraits.parse_strip_phashes` + `portrait_candidates`) at
100,000 and 1,000,000 images: the windows-only search against the search before it (one multi-index search over
every strip hash, window<->window pairs thrown away), on the same data in the same run, each in its own process
(time and peak memory), and the DuckDB engine's reading of the strip hashes (`curate.outofcore.neardup._strips`)
with the column-wide parse against the per-value one.

Data: real strip hashes (`portraits.strip_phashes` of the decode pass's 256 px grey view) of REAL_PHOTOS landscape
photos of ../shared/realdata (15-Scene, imagenet-sample, the Ferrari photos: each cut to a random 80-100 % of its
width and height, half of them mirrored) and of REAL_PORTRAITS 9:16 full-height crops of them at random offsets.
A synthetic image copies one of them and XORs all its hashes with one random mask of MASK_BITS bits: distances
between one image's own windows are kept exactly (XOR with one mask), different images stay apart, and the real
hashes' uneven bits mostly stay. PORTRAIT_SHARE of the images are portraits; half of those take the mask of a
synthetic copy of their photo (a crop and its photo: a real candidate), the rest a mask of their own.

    .venv/bin/python bench/portrait_search.py [--sizes 100000 1000000] [--skip-old-above 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REALDATA = ROOT.parent / "shared" / "realdata"
REAL_PHOTOS = 1500
REAL_PORTRAITS = 300
MASK_BITS = 12
PORTRAIT_SHARE = 0.01
SEED = 0


def current_search(strips, max_bits: int = 10):
    """`portrait_candidates` as it was (commit c23407e): all strip hashes in one `near_duplicate_pairs`, the
    window<->window pairs dropped after. Returns its result and the pairs the search met."""
    from curate.filters import neardup

    empty = np.zeros(0, np.int64)
    if not strips.portrait.any() or strips.portrait.all():
        return (empty, empty, empty), 0
    x, y = neardup.near_duplicate_pairs(strips.hashes, max_bits)
    met = len(x)
    keep = (strips.portrait[x] != strips.portrait[y]) & (strips.owners[x] != strips.owners[y])
    x, y = x[keep], y[keep]
    x, y = np.where(strips.portrait[x], x, y), np.where(strips.portrait[x], y, x)
    portrait, landscape = strips.owners[x], strips.owners[y]
    bits = neardup.hamming_distance(strips.hashes[x], strips.hashes[y]).astype(np.int64)
    order = np.lexsort((bits, landscape, portrait))
    portrait, landscape, bits = portrait[order], landscape[order], bits[order]
    pair = portrait * (int(strips.owners.max()) + 1) + landscape
    once = np.concatenate([[True], pair[1:] != pair[:-1]]) if len(pair) else np.zeros(0, bool)
    portrait, landscape, bits = portrait[once], landscape[once], bits[once]
    order = np.argsort(bits, kind="stable")
    return (portrait[order], landscape[order], bits[order]), met


def current_parse(values):
    """`parse_strip_phashes` as it was: a Python loop over the values."""
    from curate.filters.portraits import OWN_PREFIX, StripHashes

    hashes, owners, portrait = [], [], []
    for position, value in enumerate(values):
        if not isinstance(value, str):
            continue
        own = value.startswith(OWN_PREFIX)
        tokens = [value[len(OWN_PREFIX):]] if own else value.split()
        try:
            parsed = [int(token, 16) for token in tokens if len(token) == 16]
        except ValueError:
            continue
        if len(parsed) != len(tokens):
            continue
        hashes += parsed
        owners += [position] * len(parsed)
        portrait += [own] * len(parsed)
    return StripHashes(np.array(hashes, dtype=np.uint64), np.array(owners, dtype=np.int64),
                       np.array(portrait, dtype=bool))


def real_strips(rng) -> tuple[list[np.ndarray], list[int], list[int]]:
    """(windows of each real landscape variant, portrait crops' own hashes, each crop's landscape variant)."""
    from PIL import Image, ImageOps

    from curate.filters.portraits import OWN_PREFIX, strip_phashes

    paths = sorted(REALDATA.glob("scenes15/*/*/*.jpg")) + sorted(REALDATA.glob("imagenet-sample/*.jpg"))
    paths += sorted(REALDATA.glob("flickr-ferrari/*/*.jpg"))
    windows: list[np.ndarray] = []
    portraits: list[int] = []
    sources: list[int] = []
    for index in rng.permutation(len(paths)):
        if len(windows) == REAL_PHOTOS:
            break
        photo = Image.open(paths[index]).convert("L")
        width, height = photo.size
        keep_w, keep_h = rng.uniform(0.8, 1.0, 2)
        cut_w, cut_h = int(width * keep_w), int(height * keep_h)
        left, top = int(rng.integers(0, width - cut_w + 1)), int(rng.integers(0, height - cut_h + 1))
        photo = photo.crop((left, top, left + cut_w, top + cut_h))
        if rng.random() < 0.5:
            photo = ImageOps.mirror(photo)
        scale = 256 / min(photo.size)
        photo = photo.resize((max(1, round(photo.width * scale)), max(1, round(photo.height * scale))), Image.LANCZOS)
        value = strip_phashes(photo)
        if value is None or value.startswith(OWN_PREFIX):
            continue
        windows.append(np.array([int(token, 16) for token in value.split()], dtype=np.uint64))
        if len(windows) <= REAL_PORTRAITS:
            span = round(photo.height * 9 / 16)
            left = int(rng.integers(0, photo.width - span + 1))
            crop = strip_phashes(photo.crop((left, 0, left + span, photo.height)))
            if crop is not None and crop.startswith(OWN_PREFIX):
                portraits.append(int(crop[len(OWN_PREFIX):], 16))
                sources.append(len(windows) - 1)
    return windows, portraits, sources


def synthetic_values(n: int, windows, crops, crop_sources, rng) -> list[str | None]:
    """n `phash_strips` values: copies of the real ones, each XORed with its own sparse mask."""
    bits = np.argsort(rng.random((n, 64)), axis=1)[:, :MASK_BITS].astype(np.uint64)
    masks = np.bitwise_or.reduce(np.uint64(1) << bits, axis=1)
    is_portrait = rng.random(n) < PORTRAIT_SHARE
    base = rng.integers(0, len(windows), n)
    crop = rng.integers(0, len(crops), n)
    landscape_of = {}  # real landscape variant -> a synthetic copy of it
    for position in np.flatnonzero(~is_portrait).tolist():
        landscape_of.setdefault(int(base[position]), position)
    values: list[str | None] = []
    for position in range(n):
        if is_portrait[position]:
            pick = int(crop[position])
            mask = masks[position]
            twin = landscape_of.get(crop_sources[pick])
            if position % 2 and twin is not None:
                mask = masks[twin]
            values.append(f"own:{int(np.uint64(crops[pick]) ^ mask):016x}")
        else:
            found = windows[int(base[position])] ^ masks[position]
            values.append(" ".join(f"{int(value):016x}" for value in found))
    return values


def neighbour_share(values, limit: int = 20_000) -> float:
    """Share of one image's adjacent windows within 10 bits of each other (the window<->window pairs)."""
    from curate.filters.neardup import hamming_distance

    near = total = 0
    for value in values[:limit]:
        if value and not value.startswith("own:"):
            found = np.array([int(token, 16) for token in value.split()], dtype=np.uint64)
            near += int((hamming_distance(found[1:], found[:-1]) <= 10).sum())
            total += len(found) - 1
    return near / max(total, 1)


def child(kind: str, path: str) -> None:
    """One measurement in this process: time and peak memory above the values already read."""
    import pyarrow.parquet as pq

    from curate.filters import portraits as module

    table = pq.read_table(path)
    values = table.column("phash_strips").to_pylist() if kind in ("old", "new") else None
    before = _rss_mb()
    started = time.perf_counter()
    met = parse_peak = None
    if kind == "old":
        strips = current_parse(values)
        parsed = time.perf_counter()
        parse_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        (found, met) = current_search(strips)
    elif kind == "new":
        strips = module.parse_strip_phashes(values)
        parsed = time.perf_counter()
        parse_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        found = module.portrait_candidates(strips)
    else:  # the DuckDB engine's read: "ooc-old" parses Python strings a batch at a time, "ooc-new" the Arrow column
        import duckdb

        from curate.outofcore import neardup as ooc

        con = duckdb.connect()
        con.execute(f"CREATE TABLE nd_images AS SELECT (row_number() OVER () - 1)::BIGINT AS pos, phash_strips "
                    f"FROM read_parquet('{path}')")
        before, started = _rss_mb(), time.perf_counter()
        if kind == "ooc-old":
            module.parse_strip_phashes, saved = current_parse, module.parse_strip_phashes
            try:
                strips = _old_strips(con)
            finally:
                module.parse_strip_phashes = saved
        else:
            strips = ooc._strips(con)
        parsed = time.perf_counter()
        found = (strips.owners,)
    done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"parse_s": parsed - started, "search_s": done - parsed, "peak_above_mb": peak - before,
                      "parse_peak_above_mb": None if parse_peak is None else parse_peak - before,
                      "hashes": int(len(strips.hashes)), "portraits": int(strips.portrait.sum()),
                      "pairs": int(len(found[0])), "met": met,
                      "digest": int(np.bitwise_xor.reduce(np.concatenate(found).astype(np.int64) * 2654435761
                                                          + np.arange(sum(map(len, found)))) if len(found[0]) else 0)}))


def _old_strips(con):
    """`_strips` as it was: a batch's strings as Python strings."""
    from curate.filters.portraits import StripHashes, parse_strip_phashes
    from curate.outofcore.db import record_batches

    parts = []
    for batch in record_batches(con, "SELECT pos, phash_strips FROM nd_images WHERE phash_strips IS NOT NULL "
                                     "ORDER BY pos"):
        found = parse_strip_phashes(batch.column(1).to_pylist())
        positions = np.asarray(batch.column(0).to_pylist(), dtype=np.int64)
        parts.append(StripHashes(found.hashes, positions[found.owners], found.portrait))
    return StripHashes(*(np.concatenate(values) for values in zip(*parts)))


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(kind: str, path: Path, timeout: float) -> dict | None:
    try:
        done = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True,
                              timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--skip-old-above", type=int, default=1_000_000, help="no old search above this many images")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one measurement may take")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    rng = np.random.default_rng(SEED)
    started = time.monotonic()
    windows, crops, crop_sources = real_strips(rng)
    print(f"real strip hashes: {len(windows)} landscape photos ({sum(map(len, windows)) / len(windows):.1f} windows "
          f"each), {len(crops)} 9:16 crops of them; {time.monotonic() - started:.0f} s")
    with tempfile.TemporaryDirectory(prefix="portrait_search_") as scratch:
        for n in args.sizes:
            values = synthetic_values(n, windows, crops, crop_sources, np.random.default_rng(SEED + n))
            real_share = neighbour_share([" ".join(f"{int(v):016x}" for v in found) for found in windows])
            print(f"\n{n:,} images: adjacent windows within 10 bits: real {real_share:.3f}, synthetic "
                  f"{neighbour_share(values):.3f}")
            path = Path(scratch) / f"strips_{n}.parquet"
            pq.write_table(pa.table({"phash_strips": pa.array(values, pa.string())}), path)
            del values
            rows = {}
            for kind in ("new", "old", "ooc-new", "ooc-old"):
                if kind == "old" and n > args.skip_old_above:
                    continue
                rows[kind] = found = measure(kind, path, args.timeout)
                if found is None:
                    print(f"  {kind}: over {args.timeout:.0f} s, stopped")
                    continue
                met = f", the search met {found['met']:,} pairs" if found["met"] is not None else ""
                got = f", {found['pairs']:,} candidates" if kind in ("new", "old") else " read"
                parse_peak = ("" if found["parse_peak_above_mb"] is None
                              else f" ({found['parse_peak_above_mb']:.0f} MB by the end of the parse)")
                print(f"  {kind}: parse {found['parse_s']:.2f} s, search {found['search_s']:.2f} s, total "
                      f"{found['parse_s'] + found['search_s']:.2f} s; peak {found['peak_above_mb']:.0f} MB above the "
                      f"values read{parse_peak}; {found['hashes']:,} strip hashes, {found['portraits']:,} portraits"
                      f"{got}{met}")
            for new, old in (("new", "old"), ("ooc-new", "ooc-old")):
                if rows.get(new) and rows.get(old):
                    same = rows[new]["digest"] == rows[old]["digest"] and rows[new]["pairs"] == rows[old]["pairs"]
                    total = [rows[k]["parse_s"] + rows[k]["search_s"] for k in (new, old)]
                    print(f"  {old} / {new}: {total[1] / total[0]:.1f}x the time, "
                          f"{rows[old]['peak_above_mb'] / max(rows[new]['peak_above_mb'], 1):.1f}x the memory; "
                          f"the same result: {same}")


if __name__ == "__main__":
    main()
