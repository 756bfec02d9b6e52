"""Geo rescue and relabel against a generated collection's truth, with baselines from the same run.

Usage (a workspace where `curate ingest demo` or `curate ingest scrape`, `curate embed`,
`curate filter` and `curate prefilter --relabel` ran, e.g. after `curate run datasets/demo.toml`):

    python bench/geo_rescue.py WORKSPACE

Geo rescue: the filter's geo outliers the prefilter judged, by what the truth says they are
(right label and on topic: only the geotag is wrong; wrong label: taken elsewhere or mislabelled;
off topic), rescued by the stage's rule (confident-learning class = label, topic score above the
threshold) vs the plain baseline "out-of-fold argmax = label" (no threshold, no topic check).
Relabel: the relabelled photos' precision against the truth vs the baseline "relabel every
flagged label issue", and how many of the wrong labels among the examined photos were fixed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def load(root: Path) -> pd.DataFrame:
    catalog = pd.read_parquet(root / "catalog.parquet")
    truth = pd.read_parquet(root / "demo_truth.parquet")
    frame = catalog.merge(truth[["photo_id", "true_label", "is_on_topic"]], on="photo_id", how="left")
    frame["given"] = frame["original_label"].where(frame["original_label"].notna(), frame["label"])
    return frame


def rescue_table(frame: pd.DataFrame) -> pd.DataFrame:
    judged = frame[frame["geo_rescued"].notna()].copy()
    on_topic = judged["is_on_topic"].fillna(False).astype(bool)
    judged["truth"] = "off topic"
    judged.loc[on_topic & (judged["true_label"] == judged["given"]), "truth"] = "right label, on topic"
    judged.loc[on_topic & (judged["true_label"] != judged["given"]), "truth"] = "wrong label"
    judged["rescued"] = judged["geo_rescued"].astype(bool)
    judged["argmax_baseline"] = judged["suggested_label"] == judged["given"]
    return judged.groupby("truth").agg(judged=("rescued", "size"), rescued=("rescued", "sum"),
                                       argmax_baseline=("argmax_baseline", "sum"))


def relabel_lines(frame: pd.DataFrame) -> list[str]:
    examined = frame[frame["is_label_issue"].notna() & frame["given"].notna()]
    wrong = examined["true_label"].astype(object) != examined["given"]
    fixable = wrong & examined["true_label"].isin(set(examined["given"]))
    relabelled = examined[examined["original_label"].notna()]
    flagged = examined[examined["is_label_issue"].astype(bool)]
    right = int((relabelled["label"] == relabelled["true_label"]).sum())
    baseline = int((flagged["suggested_label"] == flagged["true_label"]).sum())
    return [f"examined {len(examined):,}; wrong labels among them {int(wrong.sum()):,} "
            f"({int(fixable.sum()):,} whose true label is one of the labels)",
            f"relabel (calibrated margin): {len(relabelled):,} relabelled, {right:,} right "
            f"(precision {right / max(len(relabelled), 1):.3f}; fixed {right / max(int(fixable.sum()), 1):.1%} of the "
            "fixable)",
            f"baseline, every flagged issue: {len(flagged):,} relabelled, {baseline:,} right "
            f"(precision {baseline / max(len(flagged), 1):.3f})"]


def main(root: Path) -> None:
    frame = load(root)
    report = json.loads((root / "reports" / "prefilter.json").read_text())
    print(f"workspace {root}: geo rescue {report.get('geo_rescue', {}).get('rescued')} of "
          f"{report.get('geo_rescue', {}).get('geo_outliers')}; relabel {report.get('relabel') or 'off'}")
    if frame["geo_rescued"].notna().any():
        print(rescue_table(frame).to_string())
    if frame["is_label_issue"].notna().any():
        print("\n".join(relabel_lines(frame)))


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "demo_truth.parquet").is_file():
        sys.exit("usage: python bench/geo_rescue.py WORKSPACE  (a workspace with demo_truth.parquet, after "
                 "`curate prefilter --relabel`)")
    main(Path(sys.argv[1]))
