"""The filter's geo step (pure): each label's centre, each photo's distance to it, and whether the
label is judged a place that the filter applies to (`label_verdicts`), with the lines that say
what it did and why. The DuckDB engine (curate.outofcore.filter) computes the distances in SQL and
shares the judgement and the messages from here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import numpy as np
import pandas as pd

from curate import schema
from curate.filters import geo
from curate.filters.config import STAGE, FilterConfig
from curate.records import apply_drops

# Per-label state of the geo filter (the `geo_filter` column of the stage report's geo table).
GEO_APPLIED, GEO_FORCED, GEO_OFF_LABEL = "applied", "forced", "off"
GEO_NOT_A_PLACE, GEO_TOO_FEW, GEO_NO_CENTRE = "skipped: not a place", "skipped: too few geotagged", \
    "skipped: no centre"
# a label without one usable geotag: nothing to judge or drop (not "too few", which names a label that has some,
# nor "no centre", which with --center recipe names a label the recipe gives no coordinates)
GEO_NO_GEOTAGS = "skipped: no geotags"
GEO_HELD = "held: spread wider than max_km"  # a place whose photos spread beyond max_km: its drops are held
# a label whose geotags' median centre lies far from the recipe's coordinates for it: which is right is unknown
GEO_DISPUTED = "skipped: centre far from the recipe's"
# most geotags of two or more labels at one identical position (a bulk or default geotag): they cannot judge them
GEO_BULK = "skipped: bulk geotag"
# a label whose centre rests on one or two photographers while more put their photos of it elsewhere
# (`geo.rests_on_few_owners`): the centre is where they shoot, not a place; its drops are held
GEO_FEW_OWNERS = "skipped: one photographer's place"
# a label whose name is not a place (`geo.names_a_place`), without coordinates in the recipe, that would lose more
# than max_unnamed_share of its geotagged photos: a scene or object shot mostly in one town, not a place
GEO_UNNAMED = "skipped: not a place name"
FEW_GEOTAGS = 10  # a median centre of fewer geotags (and under half the label's photos) is moved by a few wrong ones
# a label whose whole name is a country or US state (`geo.named_region`): each photo judged against the
# region itself, not max_km (audit W: "France" and "Thailand" lost 40 genuine photos at 5 km around their median)
GEO_REGION = "applied: a region, to its own extent"
# a label whose whole name is a big city, whose median centre lies far from every place so named: most of its
# geotags may sit at one wrong spot (a default or home geotag), and filtering around it drops the right ones
GEO_NAME_FAR = "skipped: centre far from the named place"
# how far a named city's median centre may lie from the GeoNames city (at least; the ring if larger), and how far
# outside a named region's cities a photo may lie (at least): a metro area, a border town's suburb.
# Real Flickr tags with geotags (flickr-api-recordings): paris 3 km, sydney 0, columbus 19; fairfield 3,359 from the
# Fairfield of 117,000 (the photos are of a smaller one; no Fairfield reaches the check's 500,000, so it is not checked)
PLACE_SLACK_KM = 50.0


def geo_filter(out: pd.DataFrame, config: FilterConfig, recipe_centres, notes: list[str],
                warnings: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    labelled = ((out["status"] == schema.KEPT) & out["label"].notna()).to_numpy()
    lat, lon = usable_positions(out, config, labelled, notes)
    if config.center == "recipe":
        centres = recipe_label_centres(sorted(out.loc[labelled, "label"].unique()), recipe_centres or {}, notes)
    else:
        centres = geo.median_centres(out.loc[labelled, "label"], lat[labelled], lon[labelled])
    disputed = disputed_centres(centres, recipe_centres if config.center == "median" else None, config)
    usable = labelled & lat.notna().to_numpy() & lon.notna().to_numpy()
    points = pd.DataFrame({"label": out.loc[usable, "label"], "lat": lat[usable], "lon": lon[usable]})
    bulk = bulk_positions(modal_points(points.value_counts().rename("n").reset_index()), config, centres)
    has_label = out["label"].notna().to_numpy()
    distance = np.full(len(out), np.nan)
    distance[has_label] = geo.distances_to_centres(out.loc[has_label, "label"], lat[has_label],
                                                   lon[has_label], centres)
    out["geo_distance_km"] = distance
    if not config.geo_on:
        notes.append("geo filter off (--max-km off): no photo dropped as geo_outlier; distances still recorded")
    regions, name_far = named_places(centres, config, set(recipe_centres or {}))
    outside = labelled & region_outliers(out["label"], lat, lon, regions)
    regions, region_far = judge_regions(regions, out.loc[outside, "label"].value_counts().to_dict(),
                                        out.loc[usable, "label"].value_counts().to_dict(), config)
    places = (regions, name_far, region_far)
    verdicts, spread = geo_verdicts(out.loc[labelled, "label"], out.loc[labelled, "owner_id"], distance[labelled],
                                    centres, config, disputed, set(bulk["label"]), set(recipe_centres or {}), places)
    # exactly max_km stays; a held place (a metro area) keeps its photos just beyond max_km, but a
    # geotag beyond max_median_multiple x max_km is far outside any metro area: dropped all the same;
    # a region's photos are judged one by one (`region_outliers`)
    limit = out["label"].map(drop_limits(verdicts, config)).to_numpy("float64", na_value=np.nan)
    # NaN limit (a label not judged, or a region): never by distance; a region's photos outside it
    is_outlier = labelled & ((distance > limit) | (outside & (out["label"].map(verdicts) == GEO_REGION).to_numpy()))
    reason = np.where(is_outlier, "geo_outlier", None)
    if config.missing_geo == "drop":
        reason = np.where(labelled & lat.isna().to_numpy(), "missing_geo", reason)
    missing = int((labelled & lat.isna().to_numpy()).sum())
    if missing:
        notes.append(f"{missing:,} labelled photo{'s have' if missing != 1 else ' has'} no usable coordinates "
                     f"({'dropped as missing_geo' if config.missing_geo == 'drop' else 'kept'})")
    table = geo.distance_summary(out.loc[labelled, "label"], distance[labelled], is_outlier[labelled], centres,
                                 located=(lat.notna() & lon.notna()).to_numpy()[labelled])
    table = with_verdicts(table, spread, verdicts, config, disputed, bulk, places)
    warnings += geo_warnings(table, config, spread, set(recipe_centres or {}))  # (audit AP: places by the recipe)
    warnings += geo_evidence_warnings(table, bulk, disputed, config)
    return apply_drops(out, pd.Series(reason), STAGE), table


def modal_points(counts: pd.DataFrame) -> pd.DataFrame:
    """Per label, its most common exact position, how many photos sit there (n) and how many are
    geotagged in all, from (label, lat, lon, n) counts of the usable geotags (ties: the lowest lat,
    then lon; both engines)."""
    counts = counts.assign(geotagged=counts.groupby("label")["n"].transform("sum"))
    ordered = counts.sort_values(["label", "n", "lat", "lon"], ascending=[True, False, True, True])
    return ordered.drop_duplicates("label").reset_index(drop=True)


def bulk_positions(points: pd.DataFrame, config: FilterConfig,
                   centres: Mapping[str, geo.Centre] | None = None) -> pd.DataFrame:
    """The rows of `modal_points` (label, lat, lon, n, geotagged) whose one identical position holds
    most of the label's geotags (at least min_geotagged) and is either the same for two or more
    labels (an audit's four cities all at one point in Paris) or, with --center recipe, farther than
    max_km from the recipe's coordinates for the label (`far_km`; NaN where not measured): a bulk or
    default geotag, which says nothing about where the photos were taken. Such labels are not judged
    (GEO_BULK), and --force-geo, which would drop every photo at that point, is not offered. One label
    at one identical point near its own centre is not flagged (a city's centroid geotag). Both engines."""
    points = points.assign(n=points["n"].astype("int64"), geotagged=points["geotagged"].astype("int64"))
    heavy = points[(points["n"] * 2 > points["geotagged"]) & (points["n"] >= config.min_geotagged)]
    shared = heavy.groupby(["lat", "lon"])["label"].transform("size") >= 2
    far_km = pd.Series(np.nan, index=heavy.index)
    if config.center == "recipe" and config.geo_on and centres and len(heavy):
        far_km[:] = geo.distances_to_centres(heavy["label"], heavy["lat"], heavy["lon"], dict(centres))
    far = far_km > config.max_km if config.geo_on else pd.Series(False, index=heavy.index)
    bulk = heavy.assign(shared=shared, far_km=far_km)[shared | far]
    return bulk.sort_values(["lat", "lon", "label"]).reset_index(drop=True)


def geo_evidence_warnings(table: pd.DataFrame, bulk: pd.DataFrame, disputed: Mapping[str, float],
                          config: FilterConfig) -> list[str]:
    """Geotags that cannot judge a label, which the filter would otherwise trust (both engines):
    - `bulk_positions`: one identical position holding most geotags of two or more labels (an
      audit's four cities all at one point passed as places with no outlier): their drops are held;
    - a median centre far from the recipe's coordinates (`disputed_centres`): its drops are held;
    - a label the filter dropped photos of, whose centre rests on fewer than FEW_GEOTAGS geotags
      and under half its photos: a few wrong geotags move such a centre."""
    lines = []
    geotagged = table.set_index("label")["geotagged"]
    held = ("the geo filter is off" if not config.geo_on else "--force-geo applies the filter to them anyway"
            if config.force_geo else "their geo drops are held")
    for (lat, lon), group in bulk.groupby(["lat", "lon"], sort=True):
        far = "" if len(group) > 1 else f", {group['far_km'].iloc[0]:,.0f} km from the recipe's coordinates"
        lines.append(f"the geotags of {', '.join(group['label'])} are mostly one identical position ({lat:.5g}, "
                     f"{lon:.5g}; {int(group['n'].sum()):,} of {int(group['geotagged'].sum()):,} photos{far}): a "
                     f"bulk or default geotag says nothing about where they were taken, so the geo filter cannot "
                     f"judge them ({held}); check the source's coordinates")
    disputed = {label: km for label, km in disputed.items() if label not in set(bulk["label"])}
    if disputed:
        far = "; ".join(f"{label} {km:,.0f} km ({int(geotagged.get(label, 0)):,} geotagged photos)"
                        for label, km in disputed.items())
        lines.append(f"the median centre of the geotags lies far from the recipe's coordinates for: {far}; wrong "
                     "geotags, or photos of another place: their geo drops are held; --center recipe measures "
                     "distances from the recipe's coordinates, --force-geo drops around the geotags' own centre")
    few = table[(table["geo_outliers"] > 0) & (table["geotagged"] < FEW_GEOTAGS)
                & (table["geotagged"] * 2 < table["photos"])]
    if len(few):
        named = ", ".join(f"{row.label} ({row.geotagged} of {row.photos} photos geotagged, {row.geo_outliers} dropped)"
                          for row in few.itertuples())
        lines.append(f"geo outliers dropped from labels whose centre rests on a few geotags: {named}; a few wrong "
                     "geotags move such a centre, and then the right ones are dropped; check them, or give the "
                     "labels coordinates in the recipe (--center recipe)")
    return lines


def usable_positions(out: pd.DataFrame, config: FilterConfig, labelled: np.ndarray,
                      notes: list[str]) -> tuple[pd.Series, pd.Series]:
    """lat/lon with positions coarser than min_geo_accuracy masked: a position the source rates
    coarser (say a country's centre) says nothing about the city: it neither moves a centre
    nor is judged, like a missing one."""
    imprecise = (out["geo_accuracy"] < config.min_geo_accuracy).fillna(False).to_numpy(bool)
    coarse = int((imprecise & labelled).sum())
    if coarse:
        notes.append(f"{coarse} labelled photos have a position less precise "
                     f"than accuracy {config.min_geo_accuracy}: treated as without coordinates")
    return out["lat"].mask(imprecise), out["lon"].mask(imprecise)


def recipe_label_centres(labels: list[str], given: Mapping, notes: list[str]) -> dict[str, geo.Centre]:
    """Each label's centre from the recipe; a label the recipe gives no coordinates has none."""
    centres = {}
    for label in labels:
        value = given.get(label)
        if isinstance(value, geo.Centre):
            centres[label] = value
        elif value is not None:
            centres[label] = geo.Centre(label, float(value[0]), float(value[1]), "recipe")
        else:
            centres[label] = geo.Centre(label, None, None, "none",
                                        "no reference coordinates in the recipe: not geo-filtered")
    guessed = [f"{c.label} ({c.note})" for c in centres.values() if c.method == "geonames"]
    if guessed:
        notes.append("labels without lat/lon in the recipe use the GeoNames city of the same name: "
                     + ", ".join(guessed) + "; add lat/lon to the recipe if that is not the place")
    return centres


def geo_verdicts(labels: pd.Series, owners: pd.Series, distance: np.ndarray, centres: dict[str, geo.Centre],
                 config: FilterConfig, disputed: Mapping[str, float], bulk: set[str],
                 named: set[str] | None = None, places: tuple[list, Mapping, Mapping] = ([], {}, {})
                 ) -> tuple[dict[str, str], pd.DataFrame]:
    """Per label: whether the geo filter applies to it (GEO_* constants), and its spread (with the
    photographers its centre rests on: `geo.owner_support`); `places`: `named_places`."""
    max_km = config.max_km if config.geo_on else np.inf
    ring_km = geo.metro_ring_km(max_km, config.max_median_multiple)
    spread = geo.label_spread(labels, distance, max_km, ring_km, SPREAD_QUANTILE)
    spread = with_owner_support(spread, geo.owner_counts(labels, owners, distance, ring_km, max_km), config)
    return label_verdicts(spread, centres, config, max_km, disputed, bulk, named, places), spread


def with_owner_support(spread: pd.DataFrame, counts: pd.DataFrame, config: FilterConfig) -> pd.DataFrame:
    """`spread` with the photographers each label's centre rests on (`geo.owner_support` of
    `geo.owner_counts`, or the same counts from SQL), for median centres only: a median centre can be
    one photographer's home; a recipe's coordinates say where the place is, whoever took the photos."""
    return spread.join(geo.owner_support(counts)) if config.center == "median" else spread


def disputed_centres(centres: Mapping[str, geo.Centre], recipe_centres: Mapping | None,
                     config: FilterConfig) -> dict[str, float]:
    """{label: km} of the labels whose median centre lies farther than max_median_multiple x max_km
    from the recipe's own coordinates for them (not GeoNames guesses): the geotags or the recipe are
    wrong, and the filter cannot tell which (an audit's 5 geotags of 50, 3 of them wrong: the median
    sat on the wrong ones and the 2 right photos were dropped). Both engines."""
    if not recipe_centres or not config.geo_on:
        return {}
    far = {}
    for label, centre in sorted(centres.items()):
        given = recipe_centres.get(label)
        if not isinstance(given, geo.Centre) or given.method != "recipe" or centre.lat is None:
            continue
        if geo.named_region(label) is not None:  # judged by its extent (`named_places`), not from the recipe's point
            continue
        km = float(geo.distances_to_centres(pd.Series([label]), pd.Series([centre.lat]), pd.Series([centre.lon]),
                                            {label: given})[0])
        if km > config.max_median_multiple * config.max_km:
            far[label] = km
    return far


SPREAD_QUANTILE = 0.9  # a held label's reach (spread_km): the distance within which 90% of its nearby photos lie


def named_places(centres: Mapping[str, geo.Centre], config: FilterConfig,
                 named: set[str] | None = None) -> tuple[list[str], dict[str, float]]:
    """([the labels whose whole name is a region (`geo.named_region`: a country or a US state)], {label: km} of the
    labels whose whole name is a big city and whose median centre lies far from every place of that name), for
    median centres (a city the recipe gives coordinates, `named`, is left to them; a region never is: a point is
    not its extent). Both engines.

    A region's photos are judged one by one (`geo.outside_region`, slack PLACE_SLACK_KM, whatever
    max_km: at --max-km 150 "France" kept London, audit Z2): one whose nearest GeoNames city lies outside
    the region, far from the region's cities, is a geo outlier; none inside it is, wherever the label's
    centre sits (`judge_regions` holds a region most of whose geotags lie outside it). A big city's median
    centre farther than PLACE_SLACK_KM (the ring if larger) from every GeoNames city of that name, of any size
    (Paris, Texas counts), sits where the name is not: most geotags may be wrong, or it is a smaller place of
    that name GeoNames does not hold, and the label is not judged (GEO_NAME_FAR).
    """
    if config.center != "median" or not config.geo_on:
        return [], {}
    ring_km = config.max_median_multiple * config.max_km
    regions, far = [], {}
    for label, centre in sorted(centres.items()):
        if centre.lat is None or centre.method != "median":
            continue
        # a region is judged by its extent even where the recipe gives it a point (audit AP: with the docs'
        # lat/lon per label, "california" and "italy" were held, their medians 127-778 km from the point)
        if geo.named_region(label) is not None:  # max_km plays no part: it is a distance from a centre
            regions.append(label)
            continue
        if label in (named or set()):
            continue
        city = geo.named_city(label)
        if city is not None:
            spelled = geo.namesakes(label)
            points = city if spelled is None else np.vstack([city, spelled])
            km = geo.nearest_km(centre.lat, centre.lon, points)
            if km > max(ring_km, PLACE_SLACK_KM):
                far[label] = km
    return regions, far


def judge_regions(regions: list[str], outside: Mapping[str, int], geotagged: Mapping[str, int],
                  config: FilterConfig) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """(the regions of `named_places` to judge photo by photo, {label: (outside, geotagged)} of those held
    (with --force-geo they are judged all the same, `label_verdicts`):
    more than max_outlier_share of their geotagged photos lie outside the region their name names, so the
    geotags, not the photos, are the likely fault — a camera's default position, a bulk geotag — and
    dropping them would cost most of the label; GEO_NAME_FAR, `--force-geo` drops them anyway). Both
    engines, from their own counts of `geo.outside_region`."""
    held = {label: (int(outside.get(label, 0)), int(geotagged.get(label, 0))) for label in regions
            if outside.get(label, 0) > config.max_outlier_share * geotagged.get(label, 0)}
    return [label for label in regions if label not in held], held


def region_outliers(labels: pd.Series, lat: pd.Series, lon: pd.Series, regions: Iterable[str]) -> np.ndarray:
    """Per row, whether its label is one of `regions` and its position lies outside the region
    (`geo.outside_region`, slack PLACE_SLACK_KM). Both engines (the DuckDB one through an Arrow UDF)."""
    out = np.zeros(len(labels), dtype=bool)
    values = pd.Series(labels).to_numpy(dtype=object)
    lat = pd.Series(lat).to_numpy("float64", na_value=np.nan)
    lon = pd.Series(lon).to_numpy("float64", na_value=np.nan)
    for label in regions:
        rows = values == label
        if rows.any():
            out[rows] = geo.outside_region(label, lat[rows], lon[rows], PLACE_SLACK_KM)
    return out


def drop_limits(verdicts: Mapping[str, str], config: FilterConfig) -> dict[str, float]:
    """{label: km} beyond which a label's photos are geo outliers (both engines): max_km where the filter
    applies, the ring where a place is held (GEO_HELD); a region's photos are judged one by one
    (`region_outliers`), other labels lose none."""
    if not config.geo_on:
        return {}
    ring_km = geo.metro_ring_km(config.max_km, config.max_median_multiple)
    limits = {}
    for label, verdict in verdicts.items():
        if verdict in (GEO_APPLIED, GEO_FORCED):
            limits[label] = config.max_km
        elif verdict == GEO_HELD:
            limits[label] = ring_km
    return limits


def label_verdicts(spread: pd.DataFrame, centres: dict[str, geo.Centre], config: FilterConfig, max_km: float,
                   disputed: Mapping[str, float] | None = None, bulk: set[str] | None = None,
                   named: set[str] | None = None, places: tuple[list, Mapping, Mapping] = ([], {}, {})
                   ) -> dict[str, str]:
    """Per label, from its spread (`geo.label_spread`, in memory or from SQL): whether the geo
    filter applies to it (GEO_* constants); a label of `bulk_positions` or a `disputed` one
    (`disputed_centres`) is not judged. `places` (`named_places`): a label named after a region is
    judged against the region's extent (GEO_REGION), one whose centre lies far from the place its
    name names is not judged (GEO_NAME_FAR). A place judged around its median centre whose name is not a
    place (`geo.names_a_place`; `named`: the labels the recipe gives coordinates) and that would lose
    more than max_unnamed_share of its geotagged photos is not filtered (GEO_UNNAMED)."""
    regions, name_far, region_far = places
    judged = geo.judge_places(spread, max_km, config.max_outlier_share, config.max_median_multiple,
                              config.min_geotagged, config.max_spread_share) if len(spread) else pd.Series(dtype=object)
    skipped = {"not_a_place": GEO_NOT_A_PLACE, "too_few": GEO_TOO_FEW, "spread": GEO_HELD,
               "few_owners": GEO_FEW_OWNERS}
    verdicts = {}
    for label, centre in centres.items():
        verdict = judged.get(label)  # None: no photo of the label has a distance, i.e. no usable geotag
        if not config.geo_on:
            verdicts[label] = GEO_OFF_LABEL
        elif centre.lat is None and config.center == "recipe":
            verdicts[label] = GEO_NO_CENTRE
        elif verdict is None:  # a median centre is undefined exactly then
            verdicts[label] = GEO_NO_GEOTAGS
        elif label in (bulk or set()):  # before disputed: a bulk geotag is also far from the recipe's place
            verdicts[label] = GEO_FORCED if config.force_geo else GEO_BULK
        elif label in (disputed or {}):
            verdicts[label] = GEO_FORCED if config.force_geo else GEO_DISPUTED
        elif label in name_far:
            verdicts[label] = GEO_FORCED if config.force_geo else GEO_NAME_FAR
        elif label in region_far:  # --force-geo: its photos outside the region dropped all the same
            verdicts[label] = GEO_REGION if config.force_geo else GEO_NAME_FAR
        elif label in regions:
            verdicts[label] = GEO_REGION
        elif verdict in ("place", "spread") and unnamed(label, verdict, spread, centre, config, named):
            verdicts[label] = GEO_FORCED if config.force_geo else GEO_UNNAMED
        elif verdict == "place":
            verdicts[label] = GEO_APPLIED
        else:
            verdicts[label] = GEO_FORCED if config.force_geo else skipped[verdict]
    return verdicts


def unnamed(label: str, judge: str, spread: pd.DataFrame, centre: geo.Centre, config: FilterConfig,
            named: set[str] | None) -> bool:
    """Whether a label the spread judges a place (or a spread one) is held as GEO_UNNAMED (see
    `label_verdicts`): the share it would lose is of its geotagged photos beyond max_km (a spread
    label: beyond the ring, which it still drops)."""
    if centre.method != "median" or label in (named or set()):
        return False
    row = spread.loc[label]
    losing = row["beyond_max_km"] - (row["near_max_km"] if judge == "spread" else 0)
    return losing > config.max_unnamed_share * row["geotagged"] and not geo.names_a_place(label)


def with_verdicts(table: pd.DataFrame, spread: pd.DataFrame, verdicts: dict[str, str], config: FilterConfig,
                  disputed: Mapping[str, float] | None = None, bulk: pd.DataFrame | None = None,
                  places: tuple[list, Mapping, Mapping] = ([], {}, {})) -> pd.DataFrame:
    """The geo table with each label's spread, its verdict and, for a skipped label, why."""
    regions, name_far, region_far = places
    table = table.join(spread[["beyond_max_km", "outlier_share", "near_max_km", "spread_km"]], on="label")
    for name in ("beyond_max_km", "near_max_km"):
        table[name] = table[name].fillna(0).astype(int)
    table.insert(table.columns.get_loc("geo_outliers"), "beyond_max_km", table.pop("beyond_max_km"))
    table.insert(table.columns.get_loc("geo_outliers"), "outlier_share", table.pop("outlier_share"))
    table.insert(table.columns.get_loc("geo_outliers"), "near_max_km", table.pop("near_max_km"))
    table["geo_filter"] = table["label"].map(verdicts)
    ring_km = geo.metro_ring_km(config.max_km, config.max_median_multiple) if config.geo_on else np.inf
    owned = OWNER_COLUMNS if set(OWNER_COLUMNS) <= set(spread.columns) else []
    table = table.join(spread[owned], on="label")
    at = {} if bulk is None else {row.label: (row.n, f"({row.lat:.5g}, {row.lon:.5g})", "as are other labels' photos"
                                              if row.shared else f"{row.far_km:,.0f} km from the recipe's coordinates")
                                  for row in bulk.itertuples()}
    why = {GEO_NOT_A_PLACE: lambda r: f"{r.beyond_max_km} of {r.geotagged} geotagged photos "
                                      f"({r.outlier_share:.0%}) beyond {config.max_km:g} km, median {r.p50_km:,.0f} km",
           GEO_TOO_FEW: lambda r: f"{r.geotagged} geotagged photos, fewer than {config.min_geotagged} to judge",
           GEO_NO_GEOTAGS: lambda r: "no geotagged photo: nothing to judge, nothing dropped",
           GEO_HELD: lambda r: f"{r.near_max_km} of {r.geotagged} geotagged photos ({r.near_max_km / r.geotagged:.0%}) "
                               f"just beyond {config.max_km:g} km (within {ring_km:g} km; 90% within "
                               f"{r.spread_km:,.1f} km): kept; beyond {ring_km:g} km: dropped",
           GEO_DISPUTED: lambda r: f"median centre of {r.geotagged} geotagged photos "
                                   f"{(disputed or {}).get(r.label, np.nan):,.0f} km from the recipe's coordinates",
           GEO_BULK: lambda r: f"{at[r.label][0]} of {r.geotagged} geotagged photos at {at[r.label][1]}, "
                               f"{at[r.label][2]}: a bulk or default geotag",
           GEO_FEW_OWNERS: lambda r: few_owners_note(r, ring_km),
           GEO_UNNAMED: lambda r: f"{r.beyond_max_km} of {r.geotagged} geotagged photos ({r.outlier_share:.0%}) beyond "
                                  f"{config.max_km:g} km, and its name is not a place: kept",
           GEO_REGION: lambda r: ("names a region (GeoNames): photos whose nearest city lies outside it and far from "
                                  "its own cities dropped" + (", with --force-geo although most of its geotags lie "
                                                              "outside it" if r.label in region_far else "")),
           GEO_NAME_FAR: lambda r: (f"median centre of {r.geotagged} geotagged photos {name_far[r.label]:,.0f} km "
                                    "from every place of that name (GeoNames): its geotags may be mostly wrong, or it "
                                    "is another place of that name" if r.label in name_far else
                                    f"{region_far[r.label][0]} of {r.geotagged} geotagged photos outside the region "
                                    "its name names (GeoNames): its geotags may be mostly wrong")}
    notes = [why[r.geo_filter](r) if r.geo_filter in why and not r.note else r.note for r in table.itertuples()]
    table["note"] = notes
    return table.drop(columns=owned)


OWNER_COLUMNS = ["near_owners", "band_owners", "far_owners", "top_owner", "top_owner_photos"]  # geo.owner_support's


def few_owners_note(row, ring_km: float) -> str:
    """Why a GEO_FEW_OWNERS label is not judged, from its table row joined with `geo.owner_support`."""
    within = "1 photographer" if row.near_owners == 1 else f"{row.near_owners} photographers"
    return (f"{row.top_owner_photos} of {row.geotagged} geotagged photos ({row.top_owner_photos / row.geotagged:.0%}) "
            f"by {row.top_owner}; {within} within {ring_km:g} km of the centre, {row.far_owners} others beyond")


def geo_warnings(table: pd.DataFrame, config: FilterConfig, spread: pd.DataFrame | None = None,
                 given: Collection[str] = ()) -> list[str]:
    """One line per kind of label the geo filter skipped (or applied only because forced); `spread`
    (with `geo.owner_support`'s columns) names the photographer of a GEO_FEW_OWNERS label; `given`: the labels
    the recipe gives coordinates (places by the user's word)."""
    by_need = table.sort_values(["beyond_max_km", "label"], ascending=[False, True])
    names = lambda state, need=True: ", ".join(  # noqa: E731
        by_need.loc[(by_need["geo_filter"] == state) & need, "label"])
    lines = []
    if names(GEO_NOT_A_PLACE) and config.center == "recipe":  # the recipe says they are places: the geotags disagree
        lines += recipe_far_warnings(by_need[by_need["geo_filter"] == GEO_NOT_A_PLACE], config)
    elif names(GEO_NOT_A_PLACE):
        lines += not_a_place_warnings(by_need[by_need["geo_filter"] == GEO_NOT_A_PLACE], config)
    if names(GEO_TOO_FEW, by_need["beyond_max_km"] > 0):
        lines.append(f"labels with fewer than {config.min_geotagged} geotagged photos are not judged: "
                     f"{names(GEO_TOO_FEW, by_need['beyond_max_km'] > 0)}; geo filter skipped for them; "
                     "pass --force-geo to apply")
    if names(GEO_NO_CENTRE):
        lines.append(f"labels without reference coordinates in the recipe: {names(GEO_NO_CENTRE)}; geo filter "
                     "skipped for them; add lat/lon to their [[labels]] entry, or use --center median")
    if names(GEO_HELD):
        lines.append(held_spread_warning(by_need[by_need["geo_filter"] == GEO_HELD], config))
    if names(GEO_FEW_OWNERS) and spread is not None:
        lines.append(few_owners_warning(by_need[by_need["geo_filter"] == GEO_FEW_OWNERS], spread, config))
    if names(GEO_UNNAMED):
        lines.append(unnamed_warning(by_need[by_need["geo_filter"] == GEO_UNNAMED], config))
    if names(GEO_REGION):
        lines.append(f"labels that name a country or US state: {names(GEO_REGION)}; judged against the "
                     f"region itself (GeoNames), not --max-km {config.max_km:g}: only photos taken outside it are "
                     "dropped as geo_outlier; give a label lat/lon in the recipe and --center recipe to filter it "
                     "around a point instead")
    if names(GEO_NAME_FAR):
        far = "; ".join(f"{row.label} ({row.geotagged} geotagged photos)" for row in
                        by_need[by_need["geo_filter"] == GEO_NAME_FAR].itertuples())
        lines.append(f"the geotags of {far} lie far from every place of that name, or mostly outside the region it "
                     "names (GeoNames; the table's note says how): most of them may sit at one wrong spot (a default "
                     "or home position), or the label is another place of that name, and filtering would drop the "
                     "right photos; their geo drops are held; check a few of their photos, then give the place's "
                     "lat/lon in the recipe and --center recipe, or --force-geo to filter anyway")
    if names(GEO_FORCED):
        lines.append(f"geo filter applied because of --force-geo to labels it would skip: {names(GEO_FORCED)}")
    lines += unnamed_applied_warnings(by_need[~by_need["label"].isin(list(given))], config)
    return lines


def unnamed_applied_warnings(table: pd.DataFrame, config: FilterConfig) -> list[str]:
    """A line naming the labels whose names are not places, filtered around their photos' median centre (no
    recipe coordinates) and losing photos: under max_unnamed_share they are not held (GEO_UNNAMED), but nothing
    says they are places (audit AE: a `Bedroom` label of 48 real New York geotags lost its 12 photos taken
    elsewhere, 20 %, at --max-km 50 with no line naming it; at 5 km a line called it a metro area)."""
    applied = table[table["geo_filter"].isin([GEO_APPLIED, GEO_HELD]) & (table["centre"] == "median")
                    & (table["geo_outliers"] > 0)]
    applied = applied[~applied["label"].map(geo.names_a_place).astype(bool)]
    if applied.empty:
        return []
    named = "; ".join(f"{row.label} {row.geo_outliers} of {row.geotagged} geotagged photos "
                      f"({row.geo_outliers / row.geotagged:.0%})" for row in applied.itertuples())
    return [f"geo drops applied to labels whose names are not places: {named} dropped as geo_outlier, far from "
            f"where most of their photos were taken (their photos' median centre; at most "
            f"{config.max_unnamed_share:.0%} of them, so not held); a scene or object shot mostly in one town reads "
            "as a place: if these are not places, --max-km off keeps them; if they are, give their lat/lon in the "
            "recipe's [[labels]]"]


def not_a_place_warnings(rows: pd.DataFrame, config: FilterConfig) -> list[str]:
    """The lines for the GEO_NOT_A_PLACE labels (rows of the geo table, most photos beyond max_km first):
    one for labels whose names are not places (colours, objects, scenes), one for labels named as places
    that spread far wider than max_km (a country, a big city at 2 km), whose fix is a larger --max-km,
    not --force-geo (audit W4, 2026-12-06: the line called Hong Kong, Paris and Japan "non-places" and
    offered only --force-geo, which would have dropped 583 genuine photos of its regions); each says what
    --force-geo would drop."""
    why = (f"over {config.max_outlier_share:.0%} of their geotagged photos beyond {config.max_km:g} km, or a median "
           f"distance over {config.max_median_multiple:g}x that")
    named = rows["label"].map(geo.names_a_place).astype(bool)
    lines = []
    if (~named).any():
        other = rows[~named]
        lines.append(f"labels look like non-places: {', '.join(other['label'])}; geo filter skipped for them ({why}); "
                     f"pass --max-km off to silence, --force-geo to apply (it would drop "
                     f"{int(other['beyond_max_km'].sum()):,} of their photos)")
    if named.any():
        places = rows[named]
        # each label's own scale: one limit for all would be the widest label's (audit Z6: 1,170 km, set by one
        # label's wrong geotags, for a Tokyo whose photos lie within 42 km)
        each = ", ".join(f"{row.label} (--max-km {int(np.ceil(row.p90_km))})" if pd.notna(row.p90_km) else row.label
                         for row in places.itertuples())
        lines.append(f"labels named as places spread far wider than {config.max_km:g} km: {each}; geo filter skipped "
                     f"for them ({why}): a big city or a region, or wrong geotags; the --max-km given after each (90% "
                     "of its geotagged photos lie within it) judges it at its own scale, in a run of its own or a "
                     f"recipe; --force-geo would drop {int(places['beyond_max_km'].sum()):,} of their photos at "
                     f"{config.max_km:g} km")
    return lines


def held_spread_warning(held: pd.DataFrame, config: FilterConfig) -> str:
    """The line for the GEO_HELD labels (rows of the geo table, most photos beyond max_km first): the
    photos kept just beyond max_km, those still dropped beyond the ring, and a --max-km that fits."""
    suggest = max(int(np.ceil(held["spread_km"].max())), int(np.ceil(config.max_km)) + 1)
    ring_km = geo.metro_ring_km(config.max_km, config.max_median_multiple)
    far = int(held["geo_outliers"].sum())
    beyond = (f"{far:,} photo{'s' if far != 1 else ''} beyond {ring_km:g} km still dropped as geo_outlier" if far
              else f"none lies beyond {ring_km:g} km, where photos would still be dropped")
    # a label whose name is not a place is shot in many places, not spread over a metro area (audit AE F2b; audit
    # AM: at --max-km 1000 colour labels were called a metro area)
    unnamed = held.loc[~held["label"].map(geo.names_a_place).astype(bool), "label"]
    scenes = f"{', '.join(unnamed)}: not place names, shot in many places"
    wider = "a metro area" if unnamed.empty else scenes if len(unnamed) == len(held) else f"a metro area; {scenes}"
    larger = f"pass a larger --max-km (e.g. --max-km {suggest}, 90% of their nearby photos)"
    fix = "--max-km off keeps them (their names are not places)" if len(unnamed) == len(held) else larger
    return (f"held: geo drops of {', '.join(held['label'])} kept ({int(held['near_max_km'].sum()):,} photos); "
            f"{beyond}: {geo.MIN_SPREAD_PHOTOS} or more of their geotagged photos, by {geo.MIN_SPREAD_OWNERS} or more "
            f"photographers or over {config.max_spread_share:.0%} of them, lie just beyond "
            f"{config.max_km:g} km, they spread wider ({wider}); {fix}, or --force-geo to drop them anyway")


def unnamed_warning(labels: pd.DataFrame, config: FilterConfig) -> str:
    """The line for the GEO_UNNAMED labels (rows of the geo table, most photos beyond max_km first)."""
    named = "; ".join(f"{row.label} ({row.beyond_max_km} of {row.geotagged} geotagged photos, {row.outlier_share:.0%})"
                      for row in labels.itertuples())
    return (f"held: geo drops of {named} kept: their names are not places and the filter would drop over "
            f"{config.max_unnamed_share:.0%} of their geotagged photos beyond {config.max_km:g} km (a scene or object "
            "shot mostly in one town reads as a place); if one is a place, give its lat/lon in the recipe's [[labels]] "
            "or pass --force-geo to drop them; --max-km off silences this")


def few_owners_warning(labels: pd.DataFrame, spread: pd.DataFrame, config: FilterConfig) -> str:
    """The line for the GEO_FEW_OWNERS labels (rows of the geo table): each one's main photographer
    and share, and how many others put their photos beyond the ring."""
    ring_km = geo.metro_ring_km(config.max_km, config.max_median_multiple)
    named = "; ".join(f"{row.label} ({spread.at[row.label, 'top_owner']} took "
                      f"{spread.at[row.label, 'top_owner_photos']} of its {row.geotagged} geotagged photos, "
                      f"{spread.at[row.label, 'top_owner_photos'] / row.geotagged:.0%}; "
                      f"{spread.at[row.label, 'far_owners']} other photographers' photos lie beyond {ring_km:g} km)"
                      for row in labels.itertuples())
    return (f"held: geo drops of {named} kept: fewer than {geo.MIN_PLACE_OWNERS} photographers took photos "
            "near the centre and more took them elsewhere, so the centre is where a photographer shoots, not a "
            "place; nothing is dropped as geo_outlier from them; pass --force-geo to drop around that centre anyway")


def recipe_far_warnings(far: pd.DataFrame, config: FilterConfig) -> list[str]:
    """With --center recipe, the lines for labels whose geotags lie far from the recipe's coordinates
    (skipped as GEO_NOT_A_PLACE). Where none of a label's geotagged photos lies within max_km of them,
    --force-geo would drop every one (an audit's bulk geotag in Paris for four cities): the geotags
    or the coordinates are wrong, so the line says what to check and does not offer --force-geo."""
    none_near = far["beyond_max_km"] >= far["geotagged"]
    lines = []
    if none_near.any():
        named = ", ".join(f"{row.label} (median {row.p50_km:,.0f} km)" for row in far[none_near].itertuples())
        lines.append(f"the geotags of {named} lie far from the recipe's coordinates for them, none within "
                     f"{config.max_km:g} km: wrong geotags, or wrong coordinates; geo filter skipped for them "
                     "(--force-geo would drop every one); check the recipe's lat/lon for these labels and a few "
                     "of their photos' geotags")
    if not none_near.all():
        lines.append(f"the geotags of {', '.join(far.loc[~none_near, 'label'])} lie far from the recipe's "
                     f"coordinates for them (over {config.max_outlier_share:.0%} beyond {config.max_km:g} km, or a "
                     f"median distance over {config.max_median_multiple:g}x that): wrong geotags, or wrong "
                     "coordinates; geo filter skipped for them; check a few of their photos, then --force-geo drops "
                     "the far ones, --center median judges them around their own centre")
    return lines
