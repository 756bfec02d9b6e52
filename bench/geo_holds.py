"""The geo filter's metro-area hold on real geotags: good photos kept and wrong geotags still caught,
against the filter without the hold (the behaviour before it), in the same run.

Data: the real im2gps3k geotags (../shared/realdata/im2gps-meta, Flickr photos) within 30 km of
big cities; every one of them is a genuine photo of its city (the ground truth "good"). Into
each city label, `--wrong` (default 10 %) of its photos get a wrong geotag: the real position of
another im2gps3k photo at least 200 km away (the classic "tagged Amsterdam, taken in Korea").

Settings, each on the same labelled rows:
- no hold: `max_spread_share` 1 and no photographer rule (the filter before the hold existed) at `--max-km` 5;
- hold by share only: the default `max_spread_share` 0.1 without the photographer rule (before audit W1);
- hold: the defaults (a spread of 3+ photos just beyond `max_km` by 2+ photographers, or over 10 %);
- suggested: the `--max-km` the hold's warning suggests, with the hold;
- other `max_spread_share` values (`--shares`), for the threshold's evidence;
- a `--max-km` sweep (`--sweep`), share only against the defaults: genuine photos dropped should not rise
  with the limit (audit W1).

Printed per setting: good photos dropped, wrong geotags dropped, labels held; then the ratios
good-kept(hold) / good-kept(no hold) and caught(hold) / caught(no hold). Wrong geotags that land
within 50 km (a neighbouring town) are not planted: the filter cannot tell them from suburbs, and
the hold keeps them by design (docs/cleaning.md).
Then the hold for labels whose names are not places (`max_unnamed_share`, docs/cleaning.md), against
the filter without it (`max_unnamed_share` 1) in the same run:
- the same city labels renamed `place_NN` (a landmark or district a name lookup does not know), with
  10/20/30 % wrong geotags (`--renamed-wrong`): wrong geotags still caught, labels held (what the hold costs);
- scene labels shot mostly in one town (audit M's `Kitchen`): each city's real photos within 30 km plus a
  share (`--far-shares`) of real photos at least 200 km away, every one a genuine photo of the scene:
  genuine photos dropped.
Run:  .venv/bin/python bench/geo_holds.py [--wrong 0.1] [--seeds 3] [--far-shares 0.1 0.2 0.3 0.4]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate import schema  # noqa: E402
from curate.filters import geo  # noqa: E402
from curate.filters.geo_labels import GEO_HELD, GEO_UNNAMED  # noqa: E402
from curate.filters.stage import FilterConfig, filter_catalog  # noqa: E402

META = ROOT.parent / "shared" / "realdata" / "im2gps-meta" / "im2gps3k_places365.csv"
CITIES = {"london": (51.507, -0.128), "paris": (48.857, 2.352), "newyork": (40.713, -74.006),
          "rome": (41.893, 12.483), "tokyo": (35.68, 139.76), "sanfrancisco": (37.775, -122.419),
          "barcelona": (41.385, 2.173), "chicago": (41.878, -87.630), "beijing": (39.904, 116.407),
          "losangeles": (34.052, -118.244), "berlin": (52.52, 13.405), "istanbul": (41.008, 28.978),
          "moscow": (55.756, 37.617), "seattle": (47.606, -122.332), "sydney": (-33.869, 151.209),
          "amsterdam": (52.373, 4.893), "washington": (38.907, -77.037), "hongkong": (22.319, 114.169),
          "singapore": (1.352, 103.82), "prague": (50.075, 14.438), "vienna": (48.208, 16.373),
          "madrid": (40.417, -3.704), "seoul": (37.566, 126.978), "bangkok": (13.756, 100.502),
          "venice": (45.44, 12.316), "florence": (43.77, 11.256), "lasvegas": (36.17, -115.14),
          "boston": (42.36, -71.058), "toronto": (43.653, -79.383), "budapest": (47.498, 19.04)}
MIN_PHOTOS = 10  # a city label needs this many genuine photos within 30 km
WITHIN_KM, FAR_KM = 30.0, 200.0


def labelled_rows(meta: pd.DataFrame, wrong: float, seed: int) -> pd.DataFrame:
    """One row per genuine city photo (within 30 km), `wrong` of each label's rows moved to the
    position of a photo >= 200 km away; column `planted` marks those."""
    rng = np.random.default_rng(seed)
    parts = []
    for city, (lat, lon) in CITIES.items():
        km = geo.haversine_km(lat, lon, meta["LAT"].to_numpy(), meta["LON"].to_numpy())
        near = np.flatnonzero(km <= WITHIN_KM)
        if len(near) < MIN_PHOTOS:
            continue
        far = np.flatnonzero(km >= FAR_KM)
        rows = pd.DataFrame({"label": city, "lat": meta["LAT"].to_numpy()[near], "lon": meta["LON"].to_numpy()[near],
                             "owner_id": meta["AUTHOR"].to_numpy()[near], "planted": False})
        moved = rng.choice(len(rows), size=int(round(wrong * len(rows))), replace=False)
        source = rng.choice(far, size=len(moved), replace=False)
        rows.loc[moved, ["lat", "lon"]] = meta[["LAT", "LON"]].to_numpy()[source]
        rows.loc[moved, "planted"] = True
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def catalog(rows: pd.DataFrame) -> pd.DataFrame:
    n = len(rows)
    frame = pd.DataFrame({"photo_id": [f"g:{i:05d}" for i in range(n)], "source": "g",
                          "source_id": [str(i) for i in range(n)], "status": "kept",
                          "tags": [[] for _ in range(n)], "tag_labels": [[] for _ in range(n)],
                          "label": rows["label"].to_numpy(), "lat": rows["lat"].to_numpy(),
                          "lon": rows["lon"].to_numpy(), "owner_id": rows["owner_id"].to_numpy()})
    return schema.to_pandas(schema.conform(frame))


def measure(rows: pd.DataFrame, config: FilterConfig) -> dict:
    out, report = filter_catalog(catalog(rows), config)
    dropped = (out["drop_reason"] == "geo_outlier").to_numpy()
    planted = rows["planted"].to_numpy()
    table = report.geo
    suggested = None
    for warning in report.warnings:
        found = re.search(r"--max-km (\d+(?:\.\d+)?)", warning)
        if warning.startswith("held: geo drops of ") and found:
            suggested = float(found.group(1))
    return {"good": int((~planted).sum()), "good_dropped": int((dropped & ~planted).sum()),
            "wrong": int(planted.sum()), "wrong_dropped": int((dropped & planted).sum()),
            "held": int((table["geo_filter"] == GEO_HELD).sum()), "labels": len(table), "suggested": suggested,
            "held_labels": sorted(table.index[table["geo_filter"] == GEO_HELD]) if "label" not in table.columns
            else sorted(table.loc[table["geo_filter"] == GEO_HELD, "label"])}


@contextmanager
def share_only():
    """The hold as it was before audit W1 (2026-12-06): a spread on its share alone, not on its photographers."""
    original = geo.MIN_SPREAD_OWNERS
    geo.MIN_SPREAD_OWNERS = 10**9
    try:
        yield
    finally:
        geo.MIN_SPREAD_OWNERS = original


def scene_rows(meta: pd.DataFrame, far_share: float, seed: int) -> pd.DataFrame:
    """Per city, a scene label `scene_NN`: the real photos within 30 km plus `far_share` of the label from
    real photos at least 200 km away (all genuine: `planted` is False everywhere)."""
    rng = np.random.default_rng(seed)
    parts = []
    for number, (lat, lon) in enumerate(CITIES.values()):
        km = geo.haversine_km(lat, lon, meta["LAT"].to_numpy(), meta["LON"].to_numpy())
        near, far = np.flatnonzero(km <= WITHIN_KM), np.flatnonzero(km >= FAR_KM)
        if len(near) < MIN_PHOTOS:
            continue
        picked = np.r_[near, rng.choice(far, size=int(round(far_share / (1 - far_share) * len(near))), replace=False)]
        parts.append(pd.DataFrame({"label": f"scene_{number:02d}", "lat": meta["LAT"].to_numpy()[picked],
                                   "lon": meta["LON"].to_numpy()[picked], "owner_id": meta["AUTHOR"].to_numpy()[picked],
                                   "planted": False}))
    return pd.concat(parts, ignore_index=True)


def unnamed_held(rows: pd.DataFrame, config: FilterConfig) -> tuple[dict, int]:
    """`measure`'s counts, and how many labels the unnamed hold skipped."""
    out, report = filter_catalog(catalog(rows), config)
    dropped = (out["drop_reason"] == "geo_outlier").to_numpy()
    planted = rows["planted"].to_numpy()
    counts = {"good": int((~planted).sum()), "good_dropped": int((dropped & ~planted).sum()),
              "wrong": int(planted.sum()), "wrong_dropped": int((dropped & planted).sum())}
    return counts, int((report.geo["geo_filter"] == GEO_UNNAMED).sum())


def unnamed_tables(meta: pd.DataFrame, args) -> None:
    """The hold for labels whose names are not places, against the filter without it, same rows."""
    print(f"\nlabels whose names are not places (max_km {args.max_km:g}, summed over {args.seeds} seeds):")
    print("| rows | setting | genuine photos dropped | wrong geotags dropped | labels held as unnamed |")
    print("|---|---|---|---|---|")
    renamed = lambda rows: rows.assign(label="place_" + pd.Series(pd.factorize(rows["label"])[0],  # noqa: E731
                                                                  index=rows.index).astype(str).str.zfill(2))
    cases = [(f"cities renamed place_NN, {wrong:.0%} wrong",
              lambda seed, wrong=wrong: renamed(labelled_rows(meta, wrong, seed))) for wrong in args.renamed_wrong]
    cases += [(f"scenes shot in one town, {share:.0%} elsewhere",
               lambda seed, share=share: scene_rows(meta, share, seed)) for share in args.far_shares]
    for name, build in cases:
        for setting, config in (("no unnamed hold", FilterConfig(max_km=args.max_km, max_unnamed_share=1.0)),
                                ("unnamed hold", FilterConfig(max_km=args.max_km))):
            total, held, labels = {"good": 0, "good_dropped": 0, "wrong": 0, "wrong_dropped": 0}, 0, 0
            for seed in range(args.seeds):
                rows = build(seed)
                counts, count = unnamed_held(rows, config)
                total = {key: total[key] + counts[key] for key in total}
                held, labels = held + count, labels + rows["label"].nunique()
            wrong = (f"{total['wrong_dropped']:,} of {total['wrong']:,} ({total['wrong_dropped'] / total['wrong']:.1%})"
                     if total["wrong"] else "-")
            print(f"| {name} | {setting} | {total['good_dropped']:,} of {total['good']:,} "
                  f"({total['good_dropped'] / total['good']:.1%}) | {wrong} | {held} of {labels} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wrong", type=float, default=0.1, help="share of each label given a far wrong geotag")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-km", type=float, default=5.0)
    parser.add_argument("--shares", type=float, nargs="*", default=[0.05, 0.2, 0.3],
                        help="other max_spread_share values to measure beside the default")
    parser.add_argument("--renamed-wrong", type=float, nargs="*", default=[0.1, 0.2, 0.3],
                        help="wrong-geotag shares for the city labels renamed to names that are not places")
    parser.add_argument("--sweep", type=float, nargs="*", default=[3, 5, 7, 10, 12, 15, 25],
                        help="--max-km values for the sweep table")
    parser.add_argument("--far-shares", type=float, nargs="*", default=[0.1, 0.2, 0.3, 0.4],
                        help="shares of a scene label's photos taken far from its town, for the unnamed hold")
    args = parser.parse_args()
    if not META.exists():
        sys.exit(f"real data not found at {META}")
    meta = pd.read_csv(META)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}; data: {META.name}")
    totals: dict[str, dict] = {}
    for seed in range(args.seeds):
        rows = labelled_rows(meta, args.wrong, seed)
        with share_only():
            runs = {"no hold": measure(rows, FilterConfig(max_km=args.max_km, max_spread_share=1.0)),
                    "hold by share only (before audit W1)": measure(rows, FilterConfig(max_km=args.max_km))}
        runs["hold"] = measure(rows, FilterConfig(max_km=args.max_km))
        for share in args.shares:  # other max_spread_share values, for the threshold's evidence
            runs[f"hold at max_spread_share {share:g}"] = measure(
                rows, FilterConfig(max_km=args.max_km, max_spread_share=share))
        suggested = runs["hold"]["suggested"]
        if suggested:
            runs[f"suggested --max-km {suggested:g}"] = measure(rows, FilterConfig(max_km=suggested))
        for name, run in runs.items():
            key = name if not name.startswith("suggested") else "suggested --max-km"
            total = totals.setdefault(key, {"good": 0, "good_dropped": 0, "wrong": 0, "wrong_dropped": 0, "held": 0,
                                            "labels": 0, "runs": []})
            for field in ("good", "good_dropped", "wrong", "wrong_dropped", "held", "labels"):
                total[field] += run[field]
            total["runs"].append(name)
        print(f"seed {seed}: {runs['hold']['labels']} city labels, {runs['hold']['good']} genuine photos, "
              f"{runs['hold']['wrong']} wrong geotags planted; held: {', '.join(runs['hold']['held_labels']) or 'none'}"
              f"; suggested --max-km {suggested if suggested else '-'}")
    print(f"\nsummed over {args.seeds} seeds (wrong share {args.wrong:.0%}, max_km {args.max_km:g}):")
    print("| setting | genuine photos dropped | wrong geotags dropped | labels held |")
    print("|---|---|---|---|")
    for name, t in totals.items():
        print(f"| {name} | {t['good_dropped']:,} of {t['good']:,} ({t['good_dropped'] / t['good']:.1%}) | "
              f"{t['wrong_dropped']:,} of {t['wrong']:,} ({t['wrong_dropped'] / t['wrong']:.1%}) | "
              f"{t['held']} of {t['labels']} |")
    base, hold = totals["no hold"], totals["hold"]
    kept = lambda t: t["good"] - t["good_dropped"]  # noqa: E731
    print(f"\ngenuine photos kept, hold / no hold: {kept(hold) / kept(base):.3f}x "
          f"({kept(hold):,} vs {kept(base):,})")
    print(f"wrong geotags caught, hold / no hold: {hold['wrong_dropped'] / max(1, base['wrong_dropped']):.3f}x "
          f"({hold['wrong_dropped']:,} vs {base['wrong_dropped']:,})")
    sweep_table(meta, args)
    unnamed_tables(meta, args)


def sweep_table(meta: pd.DataFrame, args) -> None:
    """Genuine photos dropped as --max-km grows, the hold by share only against the default (audit W1: a
    larger --max-km lost more genuine photos, since fewer labels crossed the share)."""
    print(f"\n--max-km sweep (summed over {args.seeds} seeds, wrong share {args.wrong:.0%}):")
    print("| --max-km | share only: genuine dropped | share only: wrong dropped | default: genuine dropped "
          "| default: wrong dropped |")
    print("|---|---|---|---|---|")
    for max_km in args.sweep:
        totals = {"share": [0, 0, 0, 0], "default": [0, 0, 0, 0]}
        for seed in range(args.seeds):
            rows = labelled_rows(meta, args.wrong, seed)
            with share_only():
                share = measure(rows, FilterConfig(max_km=max_km))
            default = measure(rows, FilterConfig(max_km=max_km))
            for name, run in (("share", share), ("default", default)):
                totals[name] = [a + b for a, b in zip(totals[name], (run["good_dropped"], run["good"],
                                                                     run["wrong_dropped"], run["wrong"]))]
        (sg, sn, sw, swn), (dg, dn, dw, dwn) = totals["share"], totals["default"]
        print(f"| {max_km:g} | {sg:,} of {sn:,} | {sw:,} of {swn:,} | {dg:,} of {dn:,} | {dw:,} of {dwn:,} |")


if __name__ == "__main__":
    main()
