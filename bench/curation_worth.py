"""What curation is worth (issue K): curated − uncurated test accuracy over training seeds, the
sandals test, and ablations, on the same clean owner-disjoint test set.

Per collection (a recipe with a demo or scrape source):

1. Ingest and embed once (a base workspace); then curate it in copies, one per variant:
   the recipe as it is ("full"), geo rescue flipped, topic rescue flipped, relabel flipped, and no
   prefilter at all (filter → split only); `--ablations` picks some of them. Each variant runs
   `curate run`'s own steps (curate.pipeline).
2. For each training seed (`--seeds`, default 3): train the full curation's model and run
   `classify evaluate --uncurated` on it: curated and uncurated accuracy on the clean test set,
   the sandals test (off-topic photos of test photographers answered with a label at p >= 0.5:
   the uncurated model alone vs the curated model behind its topic gate), the on-topic test
   photos the gate wrongly answers as off-topic, and the on-topic test photos each model labels
   by the sandals test's own rule (a model unsure of everything would pass the sandals test).
3. For each ablation and its seeds (`--ablation-seeds`, default 1): train on the variant's
   curation, minus anything touching the full curation's clean test set, and score it on that
   same test set (`ablation_catalog`); worth = its accuracy − the same seed's uncurated accuracy.
   Training ablations ("off-topic class on/off": `classify train --off-topic-class` flipped) train
   the full curation itself with one setting changed.

Prints figures and their baselines (the uncurated model, measured in the same run), with mean
and standard error over seeds; writes `curation_worth.json` into the workspace, nothing to docs.

Run (CPU: 3 seeds x 2 models + 3 ablations per collection is the bulk; see docs/benchmarks.md):
  .venv/bin/python bench/curation_worth.py --workspace /tmp/curation-worth
  .venv/bin/python bench/curation_worth.py --recipe demo --photos 600 --epochs 1 --seeds 2 \\
      --ablation-seeds 1 --workspace /tmp/cw-small                        # a quick plumbing check
With --workspace, finished curation steps and trained runs are reused (a killed run resumes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scorecard import CURATION_STEPS, print_scorecard  # noqa: E402  (bench/ is not a package)

BASE_STEPS = ("ingest", "embed")
VARIANT_STEPS = tuple(step for step in CURATION_STEPS if step not in BASE_STEPS)  # filter ... check-leakage
GATE_TARGET, WRONGLY_GATED_TARGET, WORTH_TARGET_PP = 0.05, 0.03, 3.0


# ---------------------------------------------------------------- curation variants
def variant_recipes(recipe, only: list[str] | None = None) -> dict[str, tuple[object, tuple[str, ...]]]:
    """{variant name: (recipe, curation steps)}: the recipe as is, geo rescue, topic rescue and relabel
    each flipped (when this version of `curate prefilter` has them), and no prefilter; with `only`,
    the full curation and the ablations named there."""
    from curate.prefilter.stage import PrefilterConfig

    fields = {f.name: f.default for f in dataclasses.fields(PrefilterConfig)}
    prefilter = recipe.stage_defaults("prefilter")
    variants = {"full": (recipe, VARIANT_STEPS)}
    for option, what in (("geo_rescue", "geo rescue"), ("topic_rescue", "topic rescue"), ("relabel", "relabel")):
        if option not in fields:
            print(f"note: curate prefilter has no {option} option here: its ablation is not measured")
            continue
        value = bool(prefilter.get(option, fields[option]))
        stages = {**recipe.stages, "prefilter": {**prefilter, option: not value}}
        variants[f"{what} {'off' if value else 'on'}"] = (dataclasses.replace(recipe, stages=stages), VARIANT_STEPS)
    variants["no prefilter"] = (recipe, tuple(step for step in VARIANT_STEPS if step != "prefilter"))
    if only is not None:
        unknown = sorted(set(only) - set(variants))
        if unknown:
            raise SystemExit(f"--ablations: unknown {unknown}; choose from {sorted(set(variants) - {'full'})}")
        variants = {name: value for name, value in variants.items() if name == "full" or name in only}
    return variants


def run_steps(ws, recipe, names: tuple[str, ...]) -> dict[str, float]:
    """Run the steps of `curate run` whose first word is in `names` (finished ones are skipped)."""
    from curate.pipeline import plan, run_pipeline

    steps = [step for step in plan(recipe, train=False) if step.name.split()[0] in names]
    outcomes = run_pipeline(ws, recipe, steps, echo=lambda line: print(f"    {line}", flush=True))
    return {outcome.name: outcome.seconds for outcome in outcomes}


def curate_variants(root: Path, recipe, only: list[str] | None = None) -> dict[str, object]:
    """{variant name: its curated Workspace}; ingest and embed run once, in `root/base`."""
    from curate.workspace import Workspace

    base = Workspace(root / "base")
    print(f"  base (ingest, embed): {root / 'base'}", flush=True)
    run_steps(base, recipe, BASE_STEPS)
    out = {}
    for name, (variant, steps) in variant_recipes(recipe, only).items():
        folder = root / name.replace(" ", "-")
        if not folder.exists():
            shutil.copytree(base.root, folder)
        print(f"  curating variant '{name}' ({', '.join(steps)}) in {folder}", flush=True)
        run_steps(Workspace(folder), variant, steps)
        out[name] = Workspace(folder)
    return out


def ablation_catalog(ablated: pd.DataFrame, curated: pd.DataFrame) -> pd.DataFrame:
    """The catalog an ablation trains on, so that it is scored on the full curation's clean test set.

    The full curation's kept test photos are kept, with its label, as the test split; every other
    photo touching them (same photographer, same bytes or near-duplicate cluster) is dropped (stage
    "compare"); the ablation's other kept photos keep the full curation's train/val split where it
    had one, else go to train. So an ablation differs from the full curation only in what it trains on.
    """
    from classify.compare import clean_test_reasons
    from curate import schema
    from curate.records import apply_drops

    test = curated[(curated["status"] == schema.KEPT) & (curated["split"] == "test")]
    out = ablated.reset_index(drop=True).copy()
    main = curated.set_index(schema.PHOTO_ID).reindex(out[schema.PHOTO_ID])
    in_test = out[schema.PHOTO_ID].isin(set(test[schema.PHOTO_ID])).to_numpy()
    out.loc[in_test, ["status", "drop_reason", "drop_stage"]] = [schema.KEPT, None, None]
    out.loc[in_test, "label"] = main["label"].to_numpy()[in_test]
    reasons = clean_test_reasons(out, test).where(~in_test, None)
    out = apply_drops(out, reasons, "compare")
    main_split = main["split"].astype(object).to_numpy()
    kept = (out["status"] == schema.KEPT).to_numpy()
    split = np.where(in_test, "test", np.where(np.isin(main_split, ["train", "val"]), main_split, "train"))
    out["split"] = pd.Series(np.where(kept, split, None), index=out.index, dtype=object)
    return out


# ---------------------------------------------------------------- training and scoring
def full_row(ws, config, seed: int, device: str) -> dict:
    """Train the full curation's model (seed `seed`) and `classify evaluate --uncurated` it."""
    from classify.compare import train_or_reuse
    from classify.evaluate_run import evaluate_and_write
    from curate.workspace import read_catalog

    run_dir = ws.root / "runs" / f"full-seed{seed}"
    start = time.perf_counter()
    catalog = read_catalog(ws)
    train_or_reuse(ws, run_dir, config, catalog, gate=True)
    ensure_gate(ws, run_dir, catalog, config, device)
    evaluation, _ = evaluate_and_write(run_dir, ws, "test", 1, device, uncurated=True)
    c = evaluation.comparisons["uncurated"]
    return {"variant": "full", "seed": seed, "accuracy": c["curated_accuracy"], "uncurated": c["uncurated_accuracy"],
            "worth_pp": c["curation_worth_pp"], "test_photos": c["clean_test_photos"],
            "sandals_photos": c.get("sandals_photos"), "sandals_uncurated": c.get("uncurated_sandals_answered_share"),
            "sandals": c.get("curated_sandals_answered_share"), "behind_gate": c.get("curated_behind_gate"),
            "sandals_alone": c.get("curated_alone_sandals_answered_share"),
            "wrongly_gated": c.get("on_topic_wrongly_gated_share"),
            "on_topic_answered": c.get("curated_on_topic_answered_share"),
            "on_topic_answered_uncurated": c.get("uncurated_on_topic_answered_share"),
            "worth_se_owners": c.get("curation_worth_se_owners_pp"),  # over test photographers
            "seconds": time.perf_counter() - start}


def ensure_gate(ws, run_dir, catalog, config, device: str) -> None:
    """Fit the topic gate of a finished run that has none recorded (a run reused from before the
    gate was fitted by `classify train`), as `classify train` does when training ends."""
    from classify.devices import pick_device
    from classify.gate import fit_run_gate
    from classify.model import META, RunMeta, save_meta

    meta = RunMeta.from_file(run_dir / META)
    if meta.gate:  # fitted, or a recorded reason why not
        return
    meta.gate = fit_run_gate(ws, run_dir, catalog, pick_device(device), cache_side=config.cache_side, seed=config.seed)
    save_meta(run_dir, meta)


def ablation_row(ws_full, name: str, ws_variant, config, seed: int, uncurated: float, device: str) -> dict:
    """Train on variant `name`'s curation (`ablation_catalog`); score on the full curation's test set."""
    from classify.compare import train_or_reuse
    from classify.evaluate_run import evaluate_run
    from curate.workspace import read_catalog

    run_dir = ws_full.root / "runs" / f"{re.sub(r'[^A-Za-z0-9]+', '-', name)}-seed{seed}"
    start = time.perf_counter()
    catalog = ablation_catalog(read_catalog(ws_variant), read_catalog(ws_full))
    train_or_reuse(ws_full, run_dir, config, catalog, gate=True)
    ensure_gate(ws_full, run_dir, catalog, config, device)
    evaluation = evaluate_run(run_dir, ws_full, "test", 1, device)
    sandals = evaluation.sandals_test or {}
    accuracy = evaluation.report.accuracy
    return {"variant": name, "seed": seed, "accuracy": accuracy, "uncurated": uncurated,
            "worth_pp": (accuracy - uncurated) * 100, "test_photos": evaluation.report.photos,
            "sandals_photos": sandals.get("photos"), "sandals": sandals.get("answered_share"),
            "behind_gate": sandals.get("behind_gate"), "sandals_alone": sandals.get("model_alone_answered_share"),
            "wrongly_gated": (sandals.get("on_topic_wrongly_gated") or {}).get("share"),
            "on_topic_answered": (sandals.get("on_topic_answered") or {}).get("share"),
            "seconds": time.perf_counter() - start}


def training_ablations(config, catalog: pd.DataFrame, only: list[str] | None = None) -> dict[str, dict]:
    """{name: changes to the training config}: the full curation trained with one setting flipped.

    With the off-topic class on, "off-topic class off, equal steps" also trains without it for as
    many optimiser steps: both stages' epochs scaled by (labelled + off-topic) / labelled training
    photos, so that more steps alone cannot explain a difference (not for a probe: it takes no steps)."""
    from classify.data import labelled_rows
    from classify.trainer import off_topic_rows

    name = f"off-topic class {'off' if config.off_topic_class else 'on'}"
    out = {name: {"off_topic_class": not config.off_topic_class}}
    if config.off_topic_class and not config.probe:
        labelled = int((labelled_rows(catalog)["split"] == "train").sum())
        ratio = (labelled + len(off_topic_rows(catalog))) / max(labelled, 1)
        out["off-topic class off, equal steps"] = {
            "off_topic_class": False, "head_epochs": max(1, round(config.head_epochs * ratio)) if config.head_epochs
            else 0, "epochs": round(config.epochs * ratio)}
    return {k: v for k, v in out.items() if only is None or k in only}


def measure(workspaces: dict, config, seeds: int, ablation_seeds: int, device: str,
            only: list[str] | None = None) -> list[dict]:
    """Every (variant, seed) row: the full curation for `seeds` seeds, each ablation for `ablation_seeds`."""
    from curate.workspace import read_catalog

    rows, uncurated = [], {}
    for seed in range(seeds):
        row = full_row(workspaces["full"], dataclasses.replace(config, seed=seed), seed, device)
        uncurated[seed] = row["uncurated"]
        rows.append(row)
        print(f"  seed {seed}: {row_line(row)}", flush=True)
    ablations = {name: (ws, {}) for name, ws in workspaces.items() if name != "full"}
    ablations.update({name: (workspaces["full"], changes)
                      for name, changes in training_ablations(config, read_catalog(workspaces["full"]),
                                                              only).items()})
    for name, (ws, changes) in ablations.items():
        for seed in range(min(ablation_seeds, seeds)):
            row = ablation_row(workspaces["full"], name, ws, dataclasses.replace(config, seed=seed, **changes), seed,
                               uncurated[seed], device)
            rows.append(row)
            print(f"  {name}, seed {seed}: {row_line(row)}", flush=True)
    return rows


# ---------------------------------------------------------------- printing
def share(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


def row_line(row: dict) -> str:
    gate = "behind its gate" if row.get("behind_gate") else "no gate"
    return (f"curated {row['accuracy']:.1%} vs uncurated {row['uncurated']:.1%} on {row['test_photos']} test photos "
            f"({row['worth_pp']:+.1f} pp); sandals: {share(row['sandals'])} ({gate}; alone "
            f"{share(row.get('sandals_alone'))}) of {row['sandals_photos']}"
            + (f" vs uncurated {share(row['sandals_uncurated'])}" if row.get("sandals_uncurated") is not None else "")
            + f"; on-topic wrongly gated {share(row['wrongly_gated'])}; on-topic labelled by the sandals rule "
              f"{share(row.get('on_topic_answered'))}"
            + (f" vs uncurated {share(row['on_topic_answered_uncurated'])}"
               if row.get("on_topic_answered_uncurated") is not None else "")
            + (f"; worth s.e. over test photographers {row['worth_se_owners']:.1f} pp"
               if row.get("worth_se_owners") is not None else "")
            + f" ({row['seconds']:.0f} s)")


def mean_of(frame: pd.DataFrame, column: str) -> float | None:
    values = pd.to_numeric(frame[column], errors="coerce").dropna()
    return float(values.mean()) if len(values) else None


def print_summary(rows: list[dict]) -> None:
    """Per variant: worth mean (s.e.), the sandals shares and the targets, then the headline sentence."""
    from classify.compare_scores import curation_headline, standard_error

    table = pd.DataFrame(rows)
    full = table[table["variant"] == "full"]
    for name, group in table.groupby("variant", sort=False):
        worth = group["worth_pp"].tolist()
        se = standard_error(worth)
        sandals, wrongly = mean_of(group, "sandals"), mean_of(group, "wrongly_gated")
        print(f"  {name:<16} worth {np.mean(worth):+.1f} pp (s.e. {'n/a' if math.isnan(se) else f'{se:.1f}'}, "
              f"{len(worth)} seed{'s' if len(worth) > 1 else ''}, target >= +{WORTH_TARGET_PP:g}); "
              f"sandals {share(sandals)} (target <= {GATE_TARGET:.0%}: "
              f"{'met' if sandals is not None and sandals <= GATE_TARGET else 'not met'}); on-topic wrongly gated "
              f"{share(wrongly)} (target <= {WRONGLY_GATED_TARGET:.0%})")
    uncurated, curated = mean_of(full, "sandals_uncurated"), mean_of(full, "sandals")
    if uncurated is not None and curated is not None:
        ratio = "inf" if curated == 0 else f"{uncurated / curated:.1f}x"
        gate = "behind its gate" if full["behind_gate"].all() else "(no gate)"
        print(f"  sandals ratio: uncurated alone {share(uncurated)} / curated {gate} {share(curated)} = {ratio}")
    sandals = {"sandals_photos": int(full["sandals_photos"].iloc[0] or 0),
               "curated_behind_gate": bool(full["behind_gate"].all()),
               "uncurated_sandals_answered_share": uncurated, "curated_sandals_answered_share": curated,
               "on_topic_wrongly_gated_share": mean_of(full, "wrongly_gated")}
    print("  " + curation_headline(full["worth_pp"].tolist(), int(full["test_photos"].iloc[0]),
                                   sandals if uncurated is not None and curated is not None else None))


# ---------------------------------------------------------------- main
def load(name: str, photos: int | None):
    """The recipe; `photos` overrides a demo or scrape source's size (a quick run)."""
    from curate.recipes import load_recipe

    recipe = load_recipe(name)
    if photos:
        sources = tuple({**s, "photos": photos} if s.get("kind") in ("demo", "scrape") else s for s in recipe.sources)
        recipe = dataclasses.replace(recipe, sources=sources)
    return recipe


def train_config(recipe, args):
    from classify.train import TrainConfig
    from curate.pipeline import build_config

    config = build_config(TrainConfig, recipe.stage_defaults("train"), "recipe [train]")
    overrides = {k: v for k, v in (("epochs", args.epochs), ("head_epochs", args.head_epochs),
                                   ("image_size", args.image_size)) if v is not None}
    config = dataclasses.replace(config, **overrides)
    if args.train_set:  # --train-set KEY=VALUE: any other [train] setting, checked as a recipe's
        section = {key: _value(text) for key, text in (item.split("=", 1) for item in args.train_set)}
        config = build_config(TrainConfig, {**recipe.stage_defaults("train"), **overrides, **section},
                              "--train-set")
    return config


def _value(text: str):
    """A --train-set value: JSON (true, 3, 0.5, "x") or else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def run_collection(name: str, root: Path, args) -> list[dict]:
    from curate.ingest.demo import read_truth
    from curate.score import SCRAPE_TARGETS, scorecard
    from curate.workspace import read_catalog

    recipe = load(name, args.photos)
    start = time.perf_counter()
    print(f"{recipe.name}: curating ({root})", flush=True)
    curation = None if args.ablations is None else [name for name in args.ablations
                                                     if not name.startswith("off-topic class")]
    workspaces = curate_variants(root, recipe, curation)
    catalog = read_catalog(workspaces["full"])
    truth, config = read_truth(workspaces["full"])
    scrape = type(config).__name__ == "ScrapeConfig"
    print(f"  full curation's scorecard ({len(catalog)} photos):")
    print_scorecard(scorecard(catalog, truth, 5.0, recipe.stage_defaults("split").get("test"),
                                SCRAPE_TARGETS if scrape else None))
    rows = measure(workspaces, train_config(recipe, args), args.seeds, args.ablation_seeds, args.device,
                   args.ablations)
    print(f"{recipe.name}: summary (wall {time.perf_counter() - start:.0f} s)")
    print_summary(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", action="append", help="collection(s); default: demo and scenes-scrape")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds of the full curation vs uncurated")
    parser.add_argument("--ablation-seeds", type=int, default=1, help="training seeds per ablation")
    parser.add_argument("--photos", type=int, help="override the source's photo count (a quick run)")
    parser.add_argument("--epochs", type=int, help="override [train] epochs")
    parser.add_argument("--head-epochs", type=int, help="override [train] head_epochs")
    parser.add_argument("--image-size", type=int, help="override [train] image_size")
    parser.add_argument("--ablations", action="append", help=(
        "ablation(s) to run, e.g. 'topic rescue off' (repeatable); default: every one"))
    parser.add_argument("--train-set", action="append", metavar="KEY=VALUE",
                        help="any other [train] setting, e.g. off_topic_class=true (repeatable)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workspace", type=Path, help="root folder (reused: finished steps and runs are kept)")
    args = parser.parse_args()
    if args.seeds < 1 or args.ablation_seeds < 0:
        parser.error("--seeds must be >= 1 and --ablation-seeds >= 0")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; seeds {args.seeds}, ablation seeds {args.ablation_seeds}")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workspace or Path(tmp)
        results = {name: run_collection(name, root / name, args) for name in args.recipe or ["demo", "scenes-scrape"]}
        root.mkdir(parents=True, exist_ok=True)
        (root / "curation_worth.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    from curate.console import install_console_output

    install_console_output()  # show the library's progress lines and notes, as the CLI does
    main()
