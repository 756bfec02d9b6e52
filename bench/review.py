"""`curate review` at 100,000 photos: first page and next card, over real HTTP (uvicorn).

Workspace: a synthetic catalog (default 100,000 rows: flags of every queue in realistic shares,
10 labels, 5,000 owners) whose rows point at a few hundred small JPEGs (320x240), written to
/tmp/ob-bench. Figures:
- start: the session loads the catalog and applies reviews.jsonl (once, before the URL is printed);
- first page: GET of the label-issue queue's first page (the queues are built at start), and
  the first page of every other queue (goal <= 1 s each);
- next card: GET of a card's thumbnail (made on first request) + the POST of its decision (goal
  <= 100 ms each), median / p95 / max over `--cards`;
- baseline, same run: what each decision would cost if it rewrote the catalog (read, apply, write).
Run:  .venv/bin/python bench/review.py [--photos 100000] [--cards 100]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LABELS = ["amsterdam", "chicago", "london", "new_york", "paris", "rome", "shanghai", "sydney", "tokyo", "toronto"]


def synthetic_catalog(photos: int, images: list[str], seed: int = 0) -> pd.DataFrame:
    """A catalog with every queue's flags: label issues, off-topic drops, recovered, geo outliers,
    near-duplicate clusters, dominant owners and quality issues."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"bench:{i}" for i in range(photos)], dtype=object)
    label = rng.choice(LABELS, photos).astype(object)
    owner = np.where(rng.random(photos) < 0.05, "big@N01", rng.integers(0, 5000, photos).astype(str)).astype(object)
    reason = np.full(photos, None, dtype=object)
    stage = np.full(photos, None, dtype=object)
    draw = rng.random(photos)
    reason[draw < 0.05], stage[draw < 0.05] = "geo_outlier", "filter"
    off = (draw >= 0.05) & (draw < 0.15)
    reason[off], stage[off] = "off_topic", "prefilter"
    cluster = ids.copy()
    starts = np.flatnonzero(rng.random(photos) < 0.01)
    for start in starts[starts < photos - 3]:
        cluster[start:start + 3] = ids[start]
    quality = [["blurry"] if q else [] for q in rng.random(photos) < 0.05]
    frame = pd.DataFrame({
        "photo_id": ids, "source": "bench", "source_id": ids, "owner_id": owner,
        "tags": [[name, "skyline"] for name in label], "tag_labels": [[name] for name in label], "label": label,
        "lat": rng.uniform(-60, 60, photos), "lon": rng.uniform(-180, 180, photos),
        "sha256": [hashlib.sha256(i.encode()).hexdigest() for i in ids],
        "image_path": [images[i % len(images)] for i in range(photos)],
        "status": np.where(reason == None, "kept", "dropped"), "drop_reason": reason, "drop_stage": stage,  # noqa: E711
        "geo_distance_km": rng.exponential(3, photos) + np.where(reason == "geo_outlier", 50, 0),
        "near_dup_cluster": cluster, "quality_issues": quality, "blurry_score": rng.random(photos),
        "topic_score": rng.random(photos), "topic_recovered": rng.random(photos) < 0.05,
        "label_quality": rng.random(photos), "is_label_issue": rng.random(photos) < 0.08,
        "suggested_label": rng.choice(LABELS, photos).astype(object)})
    return frame


def make_images(root: Path, count: int) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(1)
    paths = []
    for i in range(count):
        relative = f"images/{i % 256:02x}/bench-{i}.jpg"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        small = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((320, 240), Image.BICUBIC)
        small.save(root / relative, "JPEG", quality=85)
        paths.append(relative)
    return paths


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def main() -> None:
    import requests

    from curate.review.app import create_app
    from curate.review.apply import apply_decisions
    from curate.review.journal import read_decisions
    from curate.review.queues import QUEUES
    from curate.review.session import ReviewSession
    from curate.workspace import Workspace, read_catalog, write_catalog

    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--cards", type=int, default=100)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--root", type=Path, default=Path("/tmp/ob-bench"))
    args = parser.parse_args()
    root = args.root / f"ws-{args.photos}"
    ws = Workspace(root)
    (root / "reviews.jsonl").unlink(missing_ok=True)
    for old in (root / "cache" / "review-thumbs").rglob("*.jpg") if root.exists() else ():
        old.unlink()
    made, images = timed(lambda: make_images(root, args.images))
    write_catalog(ws, synthetic_catalog(args.photos, images))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"{args.photos:,} photos, {args.images} images made in {made:.1f} s")

    load_s, session = timed(lambda: ReviewSession(ws, user="bench", flush_delay_s=5.0))
    app_ = create_app(session)
    headers = {"X-CSRF-Token": app_.state.csrf}
    from serve_gate import served

    try:
        with served(app_) as url:
            print(f"start (read catalog, apply decisions, build the queues): {load_s:.2f} s")
            first_s, page = timed(lambda: requests.get(f"{url}/?queue=label_issues", timeout=60))
            assert page.status_code == 200, page.text[:200]
            print(f"first page (label_issues): {first_s * 1000:.0f} ms  goal <= 1000 ms")
            for queue in QUEUES[1:]:
                seconds, answer = timed(lambda queue=queue: requests.get(f"{url}/?queue={queue}", timeout=60))
                assert answer.status_code == 200
                print(f"  first page of {queue}: {seconds * 1000:.0f} ms")
            ids = session.catalog["photo_id"].to_numpy()[session.queue("label_issues").positions[:args.cards]]
            card_ms = []
            for pid in ids:
                start = time.perf_counter()
                thumb = requests.get(f"{url}/thumb/{pid}", timeout=60)
                done = requests.post(f"{url}/api/decide", json={"photo_ids": [pid], "action": "keep"}, headers=headers,
                                     timeout=60)
                card_ms.append((time.perf_counter() - start) * 1000)
                assert thumb.status_code == 200 and done.status_code == 200
            ms = np.array(card_ms)
            print(f"next card (thumbnail made + decision posted), {len(ms)} cards: median {np.median(ms):.0f} ms, "
                  f"p95 {np.percentile(ms, 95):.0f} ms, max {ms.max():.0f} ms  goal <= 100 ms")
            baseline_s, _ = timed(lambda: write_catalog(ws, apply_decisions(read_catalog(ws), read_decisions(ws))))
            print(f"baseline, same run: one decision that rewrites the catalog (read, apply, write): "
                  f"{baseline_s * 1000:.0f} ms = {baseline_s * 1000 / np.median(ms):.0f}x the median card")
    finally:
        session.close()


if __name__ == "__main__":
    main()
