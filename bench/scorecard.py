"""Cleaning quality on the demo collection, with same-run baselines.

Runs the demo pipeline (ingest -> filter -> embed -> prefilter) in one workspace and prints
`curate score`'s rows, then compares the pixel-based stages with what tags alone give on
the same photos:

- off-topic removal: the pre-classifier vs the tag rule "no topic tag = off topic";
- label issues: confident learning vs flagging every photo whose out-of-fold argmax
  disagrees with its label (the simplest use of the same probabilities).

Run:  .venv/bin/python bench/scorecard.py [--photos 3000] [--workspace DIR]
(with --workspace, stages already run there are reused: images, hashes and embeddings are cached).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def pipeline(root: Path, photos: int) -> dict:
    from curate.demo.config import DemoConfig
    from curate.embed import EmbedConfig, run_embed
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.ingest.demo import ingest_demo
    from curate.prefilter.run import run_prefilter
    from curate.prefilter.stage import PrefilterConfig
    from curate.recipes import load_recipe
    from curate.workspace import Workspace

    ws = Workspace(root)
    seconds = {}
    start = time.perf_counter()
    ingest_demo(ws, DemoConfig(photos=photos), images=True, workers=2)
    seconds["ingest"] = time.perf_counter() - start
    recipe = load_recipe("skylines")
    start = time.perf_counter()
    run_filter(ws, FilterConfig(max_km=5.0), recipe)
    seconds["filter"] = time.perf_counter() - start
    start = time.perf_counter()
    run_embed(ws, EmbedConfig())
    seconds["embed"] = time.perf_counter() - start
    start = time.perf_counter()
    run_prefilter(ws, PrefilterConfig(topic="skyline"))
    seconds["prefilter"] = time.perf_counter() - start
    return seconds


def pr(predicted: np.ndarray, actual: np.ndarray) -> str:
    tp = int((predicted & actual).sum())
    precision = tp / predicted.sum() if predicted.sum() else float("nan")
    recall = tp / actual.sum() if actual.sum() else float("nan")
    return f"P {precision:.3f} R {recall:.3f} (tp {tp}, fp {int((predicted & ~actual).sum())}, fn {int((~predicted & actual).sum())})"


def main() -> None:
    from curate.prefilter.stage import topic_tagged
    from curate.score import join_truth, scorecard
    from curate.workspace import Workspace, read_catalog

    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=3000)
    parser.add_argument("--workspace", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workspace or Path(tmp)
        seconds = pipeline(root, args.photos)
        ws = Workspace(root)
        catalog = read_catalog(ws)
        truth = pd.read_parquet(ws.truth_path)
        frame = join_truth(catalog, truth)
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}; demo collection {args.photos} photos, seed 0")
        print("stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
        for row in scorecard(catalog, truth, 5.0):
            if "precision" in row:
                print(f"  {row['metric']:<28} P {row['precision'] if row['precision'] is not None else float('nan'):.3f} "
                      f"R {row['recall'] if row['recall'] is not None else float('nan'):.3f}  met={row['met']}")
            elif "share" in row:
                print(f"  {row['metric']:<28} {row['dropped']}/{row['photos']} = {row['share']:.3f}  met={row['met']}")

        scored = frame[frame["topic_score"].notna()]
        actual = ~scored["is_skyline"].fillna(False).to_numpy(bool)
        model = (scored["drop_reason"] == "off_topic").to_numpy()
        tag_rule = ~topic_tagged(scored["tags"], "skyline")
        print(f"off-topic, pre-classifier:            {pr(model, actual)}")
        print(f"off-topic, baseline 'untagged = off': {pr(tag_rule, actual)}")

        examined = frame[(frame["status"] == "kept") & frame["is_label_issue"].notna()]
        wrong = (examined["true_label"].astype(object).fillna("") != examined["label"].astype(object)).to_numpy(bool)
        flagged = examined["is_label_issue"].astype(bool).to_numpy()
        disagree = (examined["suggested_label"] != examined["label"]).to_numpy(bool)
        print(f"label issues, confident learning:      {pr(flagged, wrong)}")
        print(f"label issues, baseline argmax != label: {pr(disagree, wrong)}")


if __name__ == "__main__":
    main()
