"""Cleaning quality on a generated collection (the demo, or a scrape of real photos), with
same-run baselines.

Runs a collection's curation in one workspace: with --recipe, the recipe's steps through `curate
run`'s own runner (ingest -> embed -> filter -> prefilter -> split -> check-leakage); without it,
the demo as ingest -> filter -> embed -> prefilter (no split). It prints `curate score`'s rows,
then compares the stages with simple baselines measured on the same photos in the same run:

- off-topic removal: the pre-classifier vs the tag rule "no topic tag = off topic";
- label issues: confident learning vs flagging every photo whose out-of-fold argmax
  disagrees with its label (the simplest use of the same probabilities);
- near-duplicates (with --imagededup): imagededup's PHash (max distance 10, its default)
  on the same stored images, pairwise and per edit kind. imagededup is installed by this
  script into a temporary folder, never a dependency of the package.

With --seeds N it also trains N models (`classify train --seed s`) and runs `classify
evaluate --uncurated --compare-random-split` for each: what curation is worth and leakage
inflation, with their mean and standard error over the seeds.

Run:
  .venv/bin/python bench/scorecard.py                       # the demo, 3000 photos
  .venv/bin/python bench/scorecard.py --recipe scenes-scrape --imagededup --seeds 3
(with --workspace, stages already run there are reused: images, hashes and embeddings are cached).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

CURATION_STEPS = ("ingest", "filter", "embed", "prefilter", "split", "check-leakage")


def demo_pipeline(root: Path, photos: int) -> dict:
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


def recipe_pipeline(root: Path, recipe) -> dict:
    """The recipe's curation steps (no training), through `curate run`'s own runner."""
    from curate.pipeline import plan, run_pipeline
    from curate.workspace import Workspace

    steps = [step for step in plan(recipe, train=False) if step.name.split()[0] in CURATION_STEPS]
    outcomes = run_pipeline(Workspace(root), recipe, steps, echo=lambda line: print(line, flush=True))
    return {outcome.name: outcome.seconds for outcome in outcomes}


def pr(predicted: np.ndarray, actual: np.ndarray) -> str:
    tp = int((predicted & actual).sum())
    precision = tp / predicted.sum() if predicted.sum() else float("nan")
    recall = tp / actual.sum() if actual.sum() else float("nan")
    fp, fn = int((predicted & ~actual).sum()), int((~predicted & actual).sum())
    return f"P {precision:.3f} R {recall:.3f} (tp {tp}, fp {fp}, fn {fn})"


def print_scorecard(rows: list[dict]) -> None:
    for row in rows:
        if "precision" in row:
            value = lambda v: float("nan") if v is None else v  # noqa: E731
            print(f"  {row['metric']:<28} P {value(row['precision']):.3f} R {value(row['recall']):.3f} "
                  f"(tp {row['tp']}, fp {row['fp']}, fn {row['fn']})  met={row['met']}")
        elif "share" in row:
            print(f"  {row['metric']:<28} {row['dropped']}/{row['photos']} = {row['share']:.3f}  met={row['met']}")
        elif "count" in row:
            print(f"  {row['metric']:<28} {row['count']}  met={row['met']}")
        elif "flagged" in row:
            print(f"  {row['metric']:<28} flagged={row['flagged']} share={row['top_owner_share']}  met={row['met']}")


def tag_and_argmax_baselines(frame: pd.DataFrame, topic: str) -> None:
    from curate.prefilter.topic import topic_tagged
    from curate.schema import given_label

    scored = frame[frame["topic_score"].notna()]
    actual = ~scored["is_on_topic"].fillna(False).to_numpy(bool)
    model = (scored["drop_reason"] == "off_topic").to_numpy()
    tag_rule = ~topic_tagged(scored["tags"], topic)
    print(f"off-topic, pre-classifier:              {pr(model, actual)}")
    print(f"off-topic, baseline 'untagged = off':   {pr(tag_rule, actual)}")
    examined = frame[((frame["status"] == "kept") | (frame["drop_reason"] == "label_issue"))
                     & frame["is_label_issue"].notna() & frame["label"].notna()]  # score_prefilter's rows
    if examined.empty:
        print("label issues: not checked")
        return
    given = given_label(examined)  # a relabelled photo is judged against the label ingest gave it
    wrong = (examined["true_label"].astype(object).fillna("") != given).to_numpy(bool)
    flagged = examined["is_label_issue"].astype(bool).to_numpy()
    disagree = (examined["suggested_label"].astype(object) != given).to_numpy(bool)
    print(f"label issues, ours (CL or unlike label):{pr(flagged, wrong)}")
    print(f"label issues, baseline argmax != label: {pr(disagree, wrong)}")


# ---------------------------------------------------------------- imagededup baseline

def install_imagededup(target: Path) -> None:
    """imagededup (no dependencies: torch, numpy, PIL, scikit-learn are already here) plus the
    two small ones it needs, into `target` for this run only."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    "imagededup", "PyWavelets", "tqdm"], check=True)
    sys.path.insert(0, str(target))


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (imagededup hashes in a process pool)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def imagededup_pairs(ws, frame: pd.DataFrame, folder: Path, max_distance: int = 10) -> tuple[set, float]:
    """Pairs of photo ids imagededup's PHash calls duplicates (distance <= max_distance), and
    its CPU seconds (encoding + search, worker processes included). One link per stored photo,
    named by its row number."""
    from imagededup.methods import PHash

    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    for position, row in enumerate(frame.itertuples()):
        name = f"{position:07d}{Path(row.image_path).suffix}"
        link = folder / name
        if not link.exists():
            link.symlink_to(ws.root / row.image_path)
        names[name] = row.photo_id
    start = cpu_seconds()
    found = PHash(verbose=False).find_duplicates(image_dir=str(folder), max_distance_threshold=max_distance)
    seconds = cpu_seconds() - start
    pairs = {tuple(sorted((names[a], names[b]))) for a, others in found.items() for b in others}
    return pairs, seconds


def score_pairs(frame: pd.DataFrame, pairs: set) -> list[str]:
    """Pairwise P/R of `pairs` against the truth near_dup_group (sandals series left out both
    ways, as curate score does), then recall per edit kind over (copy, edit_of) pairs."""
    from curate.score import edit_label, pair_count

    sandals = set(frame.loc[frame["is_sandals"], "photo_id"])
    group = frame.set_index("photo_id")["near_dup_group"]
    kept_pairs = {p for p in pairs if not (p[0] in sandals and p[1] in sandals)}
    correct = sum(1 for a, b in kept_pairs
                  if pd.notna(group.get(a)) and pd.notna(group.get(b)) and group[a] == group[b]
                  and a not in sandals)
    truth_pairs = pair_count(frame["near_dup_group"].where(~frame["is_sandals"]))
    lines = [f"near_duplicate: P {correct / max(1, len(kept_pairs)):.3f} R {correct / max(1, truth_pairs):.3f} "
             f"(tp {correct}, fp {len(kept_pairs) - correct}, fn {truth_pairs - correct})"]
    copies = frame[frame["edit_of"].notna() & ~frame["is_sandals"] & frame["edit_of"].isin(frame["photo_id"])]
    hit = pd.Series([tuple(sorted((a, b))) in pairs for a, b in zip(copies["photo_id"], copies["edit_of"])],
                    index=copies.index)
    for kind, hits in hit.groupby(edit_label(copies)):
        lines.append(f"near_dup:{kind:<20} R {hits.mean():.3f} ({int(hits.sum())}/{len(hits)})")
    return lines


def ours_by_kind(rows: list[dict]) -> dict[str, float]:
    return {row["metric"]: row["recall"] for row in rows if row["metric"].startswith("near_dup")}


def near_duplicate_baseline(ws, frame: pd.DataFrame, rows: list[dict], tmp: Path) -> None:
    install_imagededup(tmp / "site")
    stored = frame[frame["phash"].notna() & frame["image_path"].notna()].reset_index(drop=True)
    pairs, cpu = imagededup_pairs(ws, stored, tmp / "links")
    ours = ours_by_kind(rows)
    print(f"near-duplicates, imagededup PHash (max distance 10) on the same {len(stored)} images, "
          f"{cpu:.1f} CPU s:")
    for line in score_pairs(stored, pairs):
        metric = line.split()[0].rstrip(":")
        mine = ours.get(metric)
        print(f"  {line}" + ("" if mine is None else f"   | curate R {mine:.3f}"))


# ---------------------------------------------------------------- training comparisons

def train_and_compare(ws, recipe, seeds: int) -> None:
    """Per training seed: curated, uncurated and random-split test accuracy (see the
    `classify evaluate` flags); then mean and standard error over the seeds."""
    from dataclasses import replace

    from classify.evaluate_run import evaluate_and_write
    from classify.train import TrainConfig, train
    from curate.pipeline import build_config

    base = build_config(TrainConfig, recipe.stage_defaults("train"), "recipe [train]")
    rows = []
    for seed in range(seeds):
        run_dir = ws.root / "runs" / f"bench-seed{seed}"
        start = time.perf_counter()
        train(ws, run_dir, replace(base, seed=seed), resume=(run_dir / "checkpoint.pt").exists())
        evaluation, _ = evaluate_and_write(run_dir, ws, "test", 1, "auto", compare_random_split=True,
                                           uncurated=True)
        comparisons = evaluation.comparisons
        row = {"seed": seed, "curated": evaluation.report.accuracy, "test_photos": evaluation.report.photos,
               "uncurated": comparisons["uncurated"]["uncurated_accuracy"],
               "random_split": comparisons["random_split"]["random_split_accuracy"],
               "seconds": time.perf_counter() - start}
        rows.append(row)
        print(f"  seed {seed}: curated {row['curated']:.1%} on {row['test_photos']} test photos, uncurated "
              f"{row['uncurated']:.1%}, random split {row['random_split']:.1%} ({row['seconds']:.0f} s)", flush=True)
    table = pd.DataFrame(rows)
    worth = (table["curated"] - table["uncurated"]) * 100
    inflation = (table["random_split"] - table["curated"]) * 100
    se = lambda s: s.std(ddof=1) / math.sqrt(len(s)) if len(s) > 1 else float("nan")  # noqa: E731
    print(f"  mean: curated {table['curated'].mean():.1%}, uncurated {table['uncurated'].mean():.1%}, "
          f"random split {table['random_split'].mean():.1%}")
    print(f"  what curation is worth: {worth.mean():+.1f} pp (s.e. {se(worth):.1f}); "
          f"leakage inflation: {inflation.mean():+.1f} pp (s.e. {se(inflation):.1f})")


def main() -> None:
    from curate.ingest.demo import read_truth
    from curate.recipes import load_recipe
    from curate.score import SCRAPE_TARGETS, join_truth, scorecard
    from curate.workspace import Workspace, read_catalog

    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=3000, help="demo size (without --recipe)")
    parser.add_argument("--recipe", help="a recipe with a demo or scrape source, e.g. scenes-scrape")
    parser.add_argument("--imagededup", action="store_true", help="imagededup PHash near-duplicate baseline")
    parser.add_argument("--seeds", type=int, default=0, help="training seeds for what curation is worth")
    parser.add_argument("--workspace", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workspace or Path(tmp) / "ws"
        recipe = load_recipe(args.recipe) if args.recipe else None
        start = time.perf_counter()
        seconds = recipe_pipeline(root, recipe) if recipe else demo_pipeline(root, args.photos)
        ws = Workspace(root)
        catalog = read_catalog(ws)
        truth, config = read_truth(ws)
        scrape = type(config).__name__ == "ScrapeConfig"
        frame = join_truth(catalog, truth)
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}; "
              + (f"recipe {recipe.name}, {len(catalog)} photos" if recipe
                 else f"demo collection {args.photos} photos, seed 0"))
        print("stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items())
              + f" (wall {time.perf_counter() - start:.0f} s)")
        rows = scorecard(catalog, truth, 5.0, 0.2 if recipe else None, SCRAPE_TARGETS if scrape else None)
        print_scorecard(rows)
        tag_and_argmax_baselines(frame, recipe.topic if recipe else "skyline")
        if args.imagededup:
            near_duplicate_baseline(ws, frame, rows, Path(tmp))
        if args.seeds:
            if recipe is None:
                raise SystemExit("--seeds needs --recipe (the training settings come from its [train])")
            train_and_compare(ws, recipe, args.seeds)


if __name__ == "__main__":
    from curate.console import install_console_output

    install_console_output()  # show the library's progress lines and notes, as the CLI does
    main()
