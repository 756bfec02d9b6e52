"""The geo filter's judgement of each label (pure, both engines): the states a label can be in (GEO_*),
the evidence that keeps a label from being judged (bulk geotags, a centre far from the recipe's or from the
place its name names, a region judged to its own extent), and the verdicts and drop limits they give.
`curate.filters.geo_stage.geo_filter` and the DuckDB engine (curate.outofcore.geo) share them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from curate.filters import geo, placenames
from curate.filters.config import FilterConfig

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
# a label whose name is not a place (`placenames.names_a_place`), without coordinates in the recipe, that would lose
# more than max_unnamed_share of its geotagged photos: a scene or object shot mostly in one town, not a place
GEO_UNNAMED = "skipped: not a place name"
FEW_GEOTAGS = 10  # a median centre of fewer geotags (and under half the label's photos) is moved by a few wrong ones
# a label whose whole name is a country or US state (`placenames.named_region`): each photo judged against the
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


# One photographer's geo outliers of a label, at least this many, all at one position (to SAME_POSITION_DEG): a
# camera's or app's default location, which the filter's note names (a user audit on real im2gps geotags: one
# owner's 13 photos at one identical point thousands of km from the label were dropped under a bare count)
MIN_DEFAULT_PHOTOS = 5
SAME_POSITION_DEG = 1e-4


def default_positions(outliers: pd.DataFrame) -> pd.DataFrame:
    """Per (label, owner_id) of the geo outliers (label, owner_id, lat, lon, km: their distance to the label's
    centre), the photographers with MIN_DEFAULT_PHOTOS or more of them, all at one position (lat and lon within
    SAME_POSITION_DEG): columns label, owner_id, n, lat, lon (the lowest of each) and km (the nearest). Photos
    without an owner_id are left out. The DuckDB engine counts the same in SQL; `geo_messages.default_position_notes`
    reads either.

    >>> outliers = pd.DataFrame({"label": ["paris"] * 6 + ["rome"] * 5, "owner_id": ["a"] * 6 + ["b"] * 5,
    ...                          "lat": [40.0] * 6 + [1.0, 1.0, 1.0, 1.0, 2.0], "lon": [-74.0] * 11,
    ...                          "km": [5837.0] * 6 + [4000.0] * 5})
    >>> default_positions(outliers)[["label", "owner_id", "n", "lat", "lon"]].values.tolist()
    [['paris', 'a', 6, 40.0, -74.0]]
    """
    known = outliers[outliers["owner_id"].notna()]
    grouped = known.groupby(["label", "owner_id"]).agg(
        n=("km", "size"), lat=("lat", "min"), lat_max=("lat", "max"), lon=("lon", "min"), lon_max=("lon", "max"),
        km=("km", "min")).reset_index()
    tolerance = SAME_POSITION_DEG + 1e-9  # 35.0001 - 35.0 is a hair over 1e-4 in floating point (audit CN)
    same = ((grouped["lat_max"] - grouped["lat"] <= tolerance)
            & (grouped["lon_max"] - grouped["lon"] <= tolerance) & (grouped["n"] >= MIN_DEFAULT_PHOTOS))
    return grouped.loc[same, ["label", "owner_id", "n", "lat", "lon", "km"]].reset_index(drop=True)


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
    `geo.owner_counts`, or the same counts from SQL). With recipe centres only `band_owners`, the photographers of
    the photos just beyond max_km (a metro spread by several of them holds the label whatever its share: audit
    CF, `--center recipe` dropped 5 of Beijing's 42 genuine photos at 5-15 km, by several photographers, with no
    word, where the median centre held it); not the rest: a median centre can be one photographer's home, a
    recipe's coordinates say where the place is, whoever took the photos."""
    support = geo.owner_support(counts)
    return spread.join(support if config.center == "median" else support[["band_owners"]])


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
        if placenames.named_region(label) is not None:  # judged by its extent (`named_places`), not the recipe's point
            continue
        km = float(geo.distances_to_centres(pd.Series([label]), pd.Series([centre.lat]), pd.Series([centre.lon]),
                                            {label: given})[0])
        if km > config.max_median_multiple * config.max_km:
            far[label] = km
    return far


SPREAD_QUANTILE = 0.9  # a held label's reach (spread_km): the distance within which 90% of its nearby photos lie


def named_places(centres: Mapping[str, geo.Centre], config: FilterConfig,
                 named: set[str] | None = None) -> tuple[list[str], dict[str, float]]:
    """([the labels whose whole name is a region (`placenames.named_region`: a country or a US state)], {label: km} of
    the labels whose whole name is a big city and whose median centre lies far from every place of that name), for
    median centres (a city the recipe gives coordinates, `named`, is left to them; a region never is: a point is
    not its extent). Both engines.

    A region's photos are judged one by one (`placenames.outside_region`, slack PLACE_SLACK_KM, whatever
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
        if placenames.named_region(label) is not None:  # max_km plays no part: it is a distance from a centre
            regions.append(label)
            continue
        if label in (named or set()):
            continue
        city = placenames.named_city(label)
        if city is not None:
            spelled = placenames.namesakes(label)
            points = city if spelled is None else np.vstack([city, spelled])
            km = placenames.nearest_km(centre.lat, centre.lon, points)
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
    engines, from their own counts of `placenames.outside_region`."""
    held = {label: (int(outside.get(label, 0)), int(geotagged.get(label, 0))) for label in regions
            if outside.get(label, 0) > config.max_outlier_share * geotagged.get(label, 0)}
    return [label for label in regions if label not in held], held


def region_outliers(labels: pd.Series, lat: pd.Series, lon: pd.Series, regions: Iterable[str]) -> np.ndarray:
    """Per row, whether its label is one of `regions` and its position lies outside the region
    (`placenames.outside_region`, slack PLACE_SLACK_KM). Both engines (the DuckDB one through an Arrow UDF)."""
    out = np.zeros(len(labels), dtype=bool)
    values = pd.Series(labels).to_numpy(dtype=object)
    lat = pd.Series(lat).to_numpy("float64", na_value=np.nan)
    lon = pd.Series(lon).to_numpy("float64", na_value=np.nan)
    for label in regions:
        rows = values == label
        if rows.any():
            out[rows] = placenames.outside_region(label, lat[rows], lon[rows], PLACE_SLACK_KM)
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
    place (`placenames.names_a_place`; `named`: the labels the recipe gives coordinates) and that would lose
    more than max_unnamed_share of its geotagged photos is not filtered (GEO_UNNAMED)."""
    regions, name_far, region_far = places
    as_places = [label for label in spread.index if label in (named or set()) or placenames.names_a_place(label)]
    judged = geo.judge_places(spread, max_km, config.max_outlier_share, config.max_median_multiple,
                              config.min_geotagged, config.max_spread_share, as_places) \
        if len(spread) else pd.Series(dtype=object)
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
    return losing > config.max_unnamed_share * row["geotagged"] and not placenames.names_a_place(label)
