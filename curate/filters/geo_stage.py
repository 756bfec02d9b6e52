"""The filter's geo step (pure): each label's centre, each photo's distance to it, and the drops of the
labels judged places that the filter applies to (`geo_filter`). How a label is judged lives in
curate.filters.geo_labels, the lines that say what it did and why in curate.filters.geo_messages; the
DuckDB engine (curate.outofcore.geo) computes the distances in SQL and shares both.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from curate import schema
from curate.filters import geo
from curate.filters.config import STAGE, FilterConfig
from curate.filters.geo_labels import (
    GEO_REGION,
    bulk_positions,
    default_positions,
    disputed_centres,
    drop_limits,
    geo_verdicts,
    judge_regions,
    modal_points,
    named_places,
    region_outliers,
)
from curate.filters.geo_messages import (
    default_position_notes,
    geo_evidence_warnings,
    geo_warnings,
    missing_geo_lines,
    with_verdicts,
)
from curate.records import apply_drops


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
    unlocated = labelled & lat.isna().to_numpy()
    # why, by coord_issue; a position masked as coarser than --min-geo-accuracy is `imprecise`
    issue = (out["coord_issue"] if "coord_issue" in out else pd.Series(None, index=out.index)).astype(object)
    issue = issue.mask(out["lat"].notna() & lat.isna(), "imprecise").fillna("missing")
    why = issue[unlocated]
    held = missing_geo_lines(why.value_counts().to_dict(), int(labelled.sum()), config, notes, warnings)
    if config.missing_geo == "drop" and not held:
        reason = np.where(unlocated, "missing_geo", reason)
    notes += default_position_notes(default_positions(pd.DataFrame({
        "label": out.loc[is_outlier, "label"], "owner_id": out.loc[is_outlier, "owner_id"],
        "lat": lat[is_outlier], "lon": lon[is_outlier], "km": distance[is_outlier]})))
    table = geo.distance_summary(out.loc[labelled, "label"], distance[labelled], is_outlier[labelled], centres,
                                 located=(lat.notna() & lon.notna()).to_numpy()[labelled])
    table = with_verdicts(table, spread, verdicts, config, disputed, bulk, places)
    warnings += geo_warnings(table, config, spread, set(recipe_centres or {}))  # (audit AP: places by the recipe)
    warnings += geo_evidence_warnings(table, bulk, disputed, config)
    return apply_drops(out, pd.Series(reason), STAGE), table


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
