"""Label issues where near-duplicate copies chain photographers: the label model's fold groups, before and after.

A group for the split is an owner's photos plus every photo joined to them by a copy; the label model's
folds used the same groups, so copies shared by photographers (re-posts, two crops of one picture) could
join most of a label into one group, whose fold model saw too few of the label to judge it. The stage
now keeps each copy set with the photographer holding most of it when that judges more photos
(`curate.split.copy_owner_groups`). This script measures both on a filtered, embedded workspace, in one run:

- **after**: the stage as shipped (`prefilter_catalog`, label issues only);
- **before** (the baseline, same run): the same call with the loose groups made equal to the split's,
  which is what the stage did before.

`--plant N` first gives N photos (among those whose photo_id starts with `--among`) another of those
photos' labels at random (seeded), the truth to score against. Printed for each: photos not judged,
flags, planted mislabels found / not judged, and the flag rate on unplanted photos among those both
judge and among those only "after" judges (15-Scene's own classes overlap: bedroom / living room, coast
/ open country, so some unplanted flags are ambiguous photos, the same for both).

Workspace: the all-real-photos audit's (docs/audits/all-realdata-2026-12-05.md: its
`scripts/01_build_collection.py`, then `curate ingest folder photos --metadata photos.csv`, `curate
embed`, `curate filter`, all defaults; 5,614 photos, 21 labels, invented owners).

Run:  .venv/bin/python bench/label_chains.py WORKSPACE [--plant 150] [--among folder:s15-] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import curate.split  # noqa: E402
from curate import schema  # noqa: E402
from curate.embed import EmbeddingCache  # noqa: E402
from curate.prefilter.run import missing_from_store  # noqa: E402
from curate.prefilter.stage import PrefilterConfig, prefilter_catalog  # noqa: E402
from curate.stage_reports import load_stage_report  # noqa: E402
from curate.workspace import Workspace, read_catalog  # noqa: E402


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def plant(catalog: pd.DataFrame, n: int, among: str, seed: int) -> np.ndarray:
    """Give n kept photos (photo_id starting with `among`) another of their labels at random; returns a mask."""
    rng = np.random.default_rng(seed)
    pool = (catalog[schema.PHOTO_ID].str.startswith(among) & (catalog["status"] == schema.KEPT)
            & catalog["label"].notna()).to_numpy()
    labels = sorted(catalog.loc[pool, "label"].unique())
    chosen = rng.choice(np.flatnonzero(pool), min(n, int(pool.sum())), replace=False)
    for row in chosen:
        given = catalog.at[row, "label"]
        catalog.at[row, "label"] = rng.choice([label for label in labels if label != given])
    planted = np.zeros(len(catalog), bool)
    planted[chosen] = True
    return planted


def run(catalog, vectors, found, ok, chained_only: bool):
    real = curate.split.copy_owner_groups
    if chained_only:  # the stage before: the loose groups are the split's, so it never switches
        curate.split.copy_owner_groups = lambda kept, walks=None: curate.split.split_groups(kept, "owner")
    try:
        started = time.perf_counter()
        result, report = prefilter_catalog(catalog.copy(), vectors, found, ok,
                                           PrefilterConfig(topic=None, label_issues_only=True))
        return result, report, time.perf_counter() - started
    finally:
        curate.split.copy_owner_groups = real


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--plant", type=int, default=150)
    parser.add_argument("--among", default="folder:s15-", help="plant among photos whose photo_id starts so")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    ws = Workspace(args.workspace)
    catalog = read_catalog(ws)
    key = load_stage_report(ws, "embed")["cache_key"]
    vectors, found, ok = EmbeddingCache(ws, key).lookup(catalog["sha256"])
    found = found | missing_from_store(ws, catalog, found)
    planted = plant(catalog, args.plant, args.among, args.seed) if args.plant else np.zeros(len(catalog), bool)
    print(f"{machine()}; workspace {ws.root}: {len(catalog):,} photos, {int(planted.sum())} planted mislabels "
          f"(seed {args.seed})")
    outcome = {}
    for name, chained_only in (("before (split's groups)", True), ("after (as shipped)", False)):
        result, report, seconds = run(catalog, vectors, found, ok, chained_only)
        judged = result["is_label_issue"].notna().to_numpy()
        flagged = result["is_label_issue"].fillna(False).astype(bool).to_numpy()
        outcome[name] = (judged, flagged)
        print(f"{name}: {int((~judged & (result['status'] == schema.KEPT).to_numpy()).sum()):,} kept photos not "
              f"judged, {int(flagged.sum()):,} flagged; planted found {int((flagged & planted).sum())}/"
              f"{int(planted.sum())}, not judged {int((planted & ~judged).sum())}; {seconds:.0f} s")
    (judged_b, flagged_b), (judged_a, flagged_a) = outcome.values()
    pool = catalog[schema.PHOTO_ID].str.startswith(args.among).to_numpy() & ~planted
    masks = (("judged by both", pool & judged_b & judged_a), ("judged after only", pool & judged_a & ~judged_b))
    for what, mask in masks:
        rates = [f"{flags[mask].mean():.1%}" if mask.any() else "–" for flags in (flagged_b, flagged_a)]
        print(f"unplanted flag rate, {what} ({int(mask.sum()):,} photos): before {rates[0]}, after {rates[1]}")
    if planted.any():
        recall = [(flags & planted).sum() / planted.sum() for flags in (flagged_b, flagged_a)]
        ratio = recall[1] / max(recall[0], 1e-9)
        print(f"planted recall after / before: {recall[1]:.3f} / {recall[0]:.3f} = {ratio:.2f}x")


if __name__ == "__main__":
    main()
