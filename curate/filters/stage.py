"""The filter stage: a pure function over the catalog.

Filters run in a fixed order and the first reason wins:
1. ambiguous_label  tags name two or more recipe labels
2. geo_outlier      farther than max_km from the label's centre (missing_geo with --missing-geo drop)
3. exact_duplicate  same bytes as a photo that stays
4. near_duplicate   same near-duplicate cluster as a photo that stays (only with dedupe_near)
5. owner_cap        beyond the per-owner cap of a label

Re-running recomputes this stage's flags from scratch: rows it dropped last time are
reinstated first; rows dropped by other stages (ingest) are left as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from curate import schema
from curate.errors import UsageError
from curate.filters import duplicates, geo, owners, verify
from curate.filters.neardup import DEFAULT_NEAR_DUP_BITS
from curate.groups import components_from_pairs
from curate.records import apply_drops, reset_stage
from curate.status import status_counts

STAGE = "filter"
CENTRE_METHODS = ("median", "recipe")
MISSING_GEO = ("keep", "drop")


@dataclass(frozen=True)
class FilterConfig:
    max_km: float = 5.0
    center: str = "median"  # median | recipe
    missing_geo: str = "keep"
    min_geo_accuracy: int = 0  # positions the source rates less precise are treated as missing (0: off)
    near_dup_bits: int = DEFAULT_NEAR_DUP_BITS  # evidence in curate/filters/neardup.py
    near_dup_colour_diff: float = verify.DEFAULT_COLOUR_DIFF  # evidence in curate/filters/verify.py
    dedupe_near: bool = False
    max_per_owner: int | None = None
    max_owner_share: float | None = None

    def __post_init__(self):
        if not np.isfinite(self.max_km) or self.max_km <= 0:
            raise UsageError(f"--max-km must be a positive number of km, got {self.max_km}")
        if self.center not in CENTRE_METHODS:
            raise UsageError(f"--center must be one of {', '.join(CENTRE_METHODS)}, got {self.center!r}")
        if self.missing_geo not in MISSING_GEO:
            raise UsageError(f"--missing-geo must be keep or drop, got {self.missing_geo!r}")
        if not (isinstance(self.min_geo_accuracy, int) and 0 <= self.min_geo_accuracy <= 16):
            raise UsageError(f"--min-geo-accuracy must be a whole number from 0 (off) to 16 (street level, "
                             f"Flickr's scale), got {self.min_geo_accuracy!r}")
        if not 0 <= self.near_dup_bits <= 32:
            raise UsageError(f"--near-dup-bits must be between 0 and 32, got {self.near_dup_bits}")
        if not 0 <= self.near_dup_colour_diff <= 255:
            raise UsageError(f"--near-dup-colour-diff must be between 0 and 255, got {self.near_dup_colour_diff}")
        if self.max_per_owner is not None and self.max_per_owner < 1:
            raise UsageError(f"--max-per-owner must be at least 1, got {self.max_per_owner}")
        if self.max_owner_share is not None and not 0 < self.max_owner_share <= 1:
            raise UsageError(f"--max-owner-share must be in (0, 1], got {self.max_owner_share}")


@dataclass
class FilterReport:
    config: dict
    funnel: pd.DataFrame
    geo: pd.DataFrame
    concentration: pd.DataFrame
    caps: pd.DataFrame
    dropped_by_reason: dict[str, int]
    exact_duplicate_groups: int = 0
    near_duplicate_clusters: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        frames = {name: getattr(self, name).replace({np.nan: None}).to_dict("records")
                  for name in ("funnel", "geo", "concentration", "caps")}
        return {"config": self.config, "dropped_by_reason": self.dropped_by_reason,
                "exact_duplicate_groups": self.exact_duplicate_groups,
                "near_duplicate_clusters": self.near_duplicate_clusters, "notes": self.notes, **frames}


def filter_catalog(catalog: pd.DataFrame, config: FilterConfig,
                   recipe_centres: dict[str, tuple[float, float]] | None = None,
                   thumbnails: Mapping[str, bytes] | None = None) -> tuple[pd.DataFrame, FilterReport]:
    """Run the five filters in order; returns a new catalog and the stage report.

    `recipe_centres` maps label -> (lat, lon) and is used with center='recipe'.
    `thumbnails` maps sha256 -> 16x12 RGB bytes (curate.filters.verify); without it,
    near-duplicate candidates from pHash are linked unverified.
    """
    out = reset_stage(catalog, STAGE).reset_index(drop=True)
    notes: list[str] = []
    if (catalog["drop_stage"] == "prefilter").any():
        notes.append("photos the prefilter had dropped were reinstated: run `curate prefilter` again")
    kept = lambda: out["status"] == schema.KEPT  # noqa: E731

    ambiguous = kept() & out["label"].isna() & (out["tag_labels"].map(len) >= 2)
    out = apply_drops(out, pd.Series(np.where(ambiguous, "ambiguous_label", None)), STAGE)

    out, geo_table = _geo_filter(out, config, recipe_centres, notes)

    if out["sha256"].isna().all():
        notes.append("no stored images (metadata-only catalog): exact-duplicate filter skipped")
    group, is_exact = duplicates.exact_duplicates(out)
    out["exact_dup_group"] = group
    out = apply_drops(out, pd.Series(np.where(is_exact, "exact_duplicate", None)), STAGE)

    out, n_clusters = _near_duplicates(out, config, notes, thumbnails)

    labelled_kept = kept() & out["label"].notna()
    concentration = owners.concentration(out.loc[labelled_kept, "label"], owners.owner_keys(out[labelled_kept]))
    caps = pd.DataFrame(columns=["label", "cap", "owners_capped", "photos_capped", "note"])
    if config.max_per_owner is not None or config.max_owner_share is not None:
        is_capped, caps = owners.owner_cap(out, kept(), config.max_per_owner, config.max_owner_share)
        out = apply_drops(out, pd.Series(np.where(is_capped, "owner_cap", None)), STAGE)

    mine = out["drop_stage"] == STAGE
    report = FilterReport(
        config=asdict(config), funnel=status_counts(out), geo=geo_table, concentration=concentration, caps=caps,
        dropped_by_reason={k: int(v) for k, v in out.loc[mine, "drop_reason"].value_counts().items()},
        exact_duplicate_groups=int((group.notna() & (group != out["photo_id"])).groupby(group).any().sum()),
        near_duplicate_clusters=n_clusters, notes=notes)
    return out, report


def _geo_filter(out: pd.DataFrame, config: FilterConfig, recipe_centres, notes: list[str]):
    labelled = (out["status"] == schema.KEPT) & out["label"].notna()
    # a position the source rates coarser than min_geo_accuracy (say a country's centre) says
    # nothing about the city: it neither moves a centre nor is judged, like a missing one
    imprecise = (out["geo_accuracy"] < config.min_geo_accuracy).fillna(False).to_numpy(bool)
    lat, lon = out["lat"].mask(imprecise), out["lon"].mask(imprecise)
    coarse = int((imprecise & labelled.to_numpy()).sum())
    if coarse:
        notes.append(f"{coarse} labelled photos have a position less precise "
                     f"than accuracy {config.min_geo_accuracy}: treated as without coordinates")
    if config.center == "recipe":
        recipe_centres = recipe_centres or {}
        centres = {label: geo.Centre(label, *recipe_centres[label], "recipe") if label in recipe_centres
                   else geo.Centre(label, None, None, "none", "no reference coordinates: nothing dropped")
                   for label in sorted(out.loc[labelled, "label"].unique())}
    else:
        centres = geo.median_centres(out.loc[labelled, "label"], lat[labelled], lon[labelled])
    has_label = out["label"].notna()
    distance = np.full(len(out), np.nan)
    distance[has_label.to_numpy()] = geo.distances_to_centres(out.loc[has_label, "label"], lat[has_label],
                                                              lon[has_label], centres)
    out["geo_distance_km"] = distance
    is_outlier = labelled.to_numpy() & (distance > config.max_km)  # exactly max_km stays
    reason = np.where(is_outlier, "geo_outlier", None)
    if config.missing_geo == "drop":
        reason = np.where(labelled.to_numpy() & lat.isna().to_numpy(), "missing_geo", reason)
    missing = int((labelled & lat.isna()).sum())
    if missing:
        notes.append(f"{missing} labelled photos have no usable coordinates "
                     f"({'dropped as missing_geo' if config.missing_geo == 'drop' else 'kept'})")
    table = geo.distance_summary(out.loc[labelled, "label"], distance[labelled.to_numpy()],
                                 is_outlier[labelled.to_numpy()], centres)
    return apply_drops(out, pd.Series(reason), STAGE), table


def _near_duplicates(out: pd.DataFrame, config: FilterConfig, notes: list[str],
                     thumbnails: Mapping[str, bytes] | None) -> tuple[pd.DataFrame, int]:
    hashed = out["phash"].notna() & out["sha256"].notna()
    if not hashed.any():
        out["near_dup_cluster"] = None
        notes.append("no perceptual hashes (metadata-only catalog): near-duplicate filter skipped")
        return out, 0
    from curate.filters import neardup

    images = out.loc[hashed, ["sha256", "phash"]].drop_duplicates("sha256")  # one node per distinct image
    labels = _image_clusters(neardup.phash_to_uint64(images["phash"]), images["sha256"].tolist(), config,
                             thumbnails, notes)
    key = out["sha256"].map(dict(zip(images["sha256"], labels.astype(str)))).where(hashed, None)
    out["near_dup_cluster"] = duplicates.group_representatives(out, key)
    sizes = key.map(key.value_counts())
    n_clusters = int(key[sizes > 1].nunique())
    if config.dedupe_near:
        is_near = (out["near_dup_cluster"].notna() & (out["near_dup_cluster"] != out["photo_id"])
                   & (out["status"] == schema.KEPT))
        out = apply_drops(out, pd.Series(np.where(is_near, "near_duplicate", None)), STAGE)
    return out, n_clusters


def _image_clusters(hashes: np.ndarray, shas: list[str], config: FilterConfig,
                    thumbnails: Mapping[str, bytes] | None, notes: list[str]) -> np.ndarray:
    """Cluster distinct images: pHash proposes pairs, the colour thumbnail confirms them."""
    from curate.filters import neardup

    if thumbnails is None:
        notes.append("no thumbnails given: near-duplicate pairs are not colour-verified")
        return neardup.cluster_near_duplicates(hashes, config.near_dup_bits)
    first, second = neardup.near_duplicate_pairs(hashes, config.near_dup_bits)
    thumbs = np.zeros((len(shas), verify.THUMB_BYTES), dtype=np.uint8)
    has_thumb = np.zeros(len(shas), dtype=bool)
    for position, sha in enumerate(shas):
        data = thumbnails.get(sha)
        if data is not None and len(data) == verify.THUMB_BYTES:
            thumbs[position] = np.frombuffer(data, dtype=np.uint8)
            has_thumb[position] = True
    close = verify.colour_difference(first, second, thumbs) <= config.near_dup_colour_diff
    linked = has_thumb[first] & has_thumb[second] & close
    return components_from_pairs(len(shas), first[linked], second[linked])
