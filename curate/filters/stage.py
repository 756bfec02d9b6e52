"""The filter stage: a pure function over the catalog.

Filters run in a fixed order and the first reason wins:
1. licence          licence not among `licences` (only when set; no licence, or one not recognised, is not allowed)
2. ambiguous_label  tags name two or more recipe labels (held when so many that the labels look wrong:
                    `curate.filters.ambiguous`, unless force_ambiguous)
3. geo_outlier      farther than max_km from the label's centre (missing_geo with --missing-geo drop);
                    only for labels that look like places (see `geo.judge_places`) unless force_geo,
                    never with max_km="off"
4. exact_duplicate  same bytes as a photo that stays
5. near_duplicate   same near-duplicate cluster as a photo that stays (only with dedupe_near)
6. quality:<check>  fails an image-quality check named in drop_quality (curate/filters/quality.py);
                    every check is scored and flagged in quality_issues whatever drop_quality says
7. owner_cap        beyond the per-owner cap of a label

Re-running recomputes this stage's flags from scratch: rows it dropped last time are
reinstated first; rows dropped by other stages (ingest) are left as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from curate import schema
from curate.filters import ambiguous as ambiguous_labels
from curate.filters import collages, duplicates, geo, owners, quality
from curate.filters.clusters import IMAGE_COLUMNS, collage_note, image_clusters
from curate.filters.config import STAGE, FilterConfig
from curate.filters.geo_stage import geo_filter
from curate.filters.licence_filter import licence_filter
from curate.records import apply_drops, reset_stage
from curate.status import status_counts

if TYPE_CHECKING:
    from curate.filters.pair_scores import PairScores

QUALITY_SKIPPED = "no image statistics (metadata-only catalog): quality checks skipped"  # a note (both engines)


def unreadable_phash_note(count: int) -> str:
    """The note for photos whose pHash cell is not 16 hex digits (a damaged catalog): both engines say it."""
    return (f"{count:,} photos have a pHash that is not 16 hex digits (a damaged catalog cell): they are left out "
            "of the near-duplicate search; the pandas engine hashes those with a stored image again")



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
    warnings: list[str] = field(default_factory=list)  # the filter did less than asked: one line each, with why
    quality: list[dict] = field(default_factory=list)  # per quality check: threshold, flagged, dropped
    # copies that disagree on the label: exact_images / exact_photos (dropped as ambiguous_label),
    # near_clusters / near_photos (kept photos in near-duplicate clusters spanning labels, only counted)
    label_conflicts: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        frames = {name: getattr(self, name).replace({np.nan: None}).to_dict("records")
                  for name in ("funnel", "geo", "concentration", "caps")}
        return {"config": self.config, "dropped_by_reason": self.dropped_by_reason,
                "exact_duplicate_groups": self.exact_duplicate_groups,
                "near_duplicate_clusters": self.near_duplicate_clusters, "notes": self.notes,
                "warnings": self.warnings, "quality": self.quality, "label_conflicts": self.label_conflicts,
                **frames}

    def summary(self) -> str:
        """One line for `curate filter` and `curate run`: drops by reason, e.g. `dropped 223 geo_outlier,
        12 exact_duplicate` (each command prints the warnings, where the filter did less than asked, on lines of
        their own)."""
        from curate.stage_reports import counts_text

        return f"dropped {counts_text(self.dropped_by_reason)}"


def filter_catalog(catalog: pd.DataFrame, config: FilterConfig,
                   recipe_centres: Mapping[str, tuple[float, float] | geo.Centre] | None = None,
                   thumbnails: Mapping[str, bytes] | None = None,
                   embeddings: tuple[Sequence[str], np.ndarray] | None = None,
                   read_grey: Callable[[str], np.ndarray | None] | None = None,
                   workers: int = 1, open_image: duplicates.ImageOpener | None = None,
                   pair_scores: PairScores | None = None,
                   reviewed_kept: Collection[str] = ()) -> tuple[pd.DataFrame, FilterReport]:
    """Run the seven filters in order (licence, ambiguous label, geo, exact and near duplicates, quality,
    owner caps); returns a new catalog and the stage report.

    `recipe_centres` maps label -> (lat, lon), or a geo.Centre saying where it came from, and
    is used with center='recipe'; a label it lacks is not geo-filtered (a warning says so).
    `thumbnails` maps sha256 -> 16x12 RGB bytes (curate.filters.verify); without it,
    near-duplicate candidates from pHash are linked unverified. `embeddings` is (sha256s,
    vectors) from `curate embed`'s cache: with it, near duplicates are also linked by cosine
    similarity (curate.filters.verify says how). `read_grey` maps sha256 -> the stored image's grey view
    (`curate.filters.pixel_scores.grey_view`, None when unreadable): with it and embeddings, a photo cropped out
    of another is linked on its pixels (curate.filters.windows), its scores by `workers` processes.
    `open_image` maps (sha256, least short side) -> the stored image: with it, the keep rule judges which copy
    of a cluster is an upscale of a smaller copy of its picture on their pixels (`duplicates.upscaled_copies`, over
    `Clusters.apart`: a kept collage joins pictures into one cluster, not into one picture). `pair_scores`:
    the window match's pair scores of earlier runs (curate.filters.pair_scores), used where they decide a pair
    and added to (the caller saves them); the result is the same without. `reviewed_kept`: the photo ids a
    reviewer kept (`curate review`): a collage among them joins its pictures rather than being dropped
    (curate.filters.collages).
    """
    out, notes = _reinstate(catalog)
    warnings: list[str] = []
    out = licence_filter(out, config, notes, warnings)
    out, conflicts = _ambiguous_label_filter(out, config, notes, warnings)
    out, geo_table = geo_filter(out, config, recipe_centres, notes, warnings)
    out, group = _exact_duplicate_filter(out, conflicts["held"], notes)
    out, n_clusters = _near_duplicates(out, config, notes, thumbnails, embeddings, conflicts, read_grey, workers,
                                       open_image, pair_scores, warnings, reviewed_kept)
    out, quality_table = _quality_filter(out, config, notes, warnings)
    out, concentration, caps = _owner_cap_filter(out, config, notes, warnings)
    notes += force_notes(config, warnings)
    report = FilterReport(
        config=asdict(config), funnel=status_counts(out), geo=geo_table, concentration=concentration, caps=caps,
        dropped_by_reason=_dropped_by_reason(out), exact_duplicate_groups=_exact_duplicate_groups(out, group),
        near_duplicate_clusters=n_clusters, notes=notes, warnings=warnings, quality=quality_table,
        label_conflicts=conflicts)
    return out, report


def _kept(out: pd.DataFrame) -> pd.Series:
    """Whether each photo is kept so far: every filter judges only the photos the earlier ones kept."""
    return out["status"] == schema.KEPT


def _reinstate(catalog: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(the catalog with this stage's and every later stage's drops undone, rows numbered from 0; the notes
    so far): a re-run decides again from scratch (`reset_stage`). Undoing the prefilter's drops is said in a
    note, so the user knows to run it again."""
    out = reset_stage(catalog, STAGE).reset_index(drop=True)
    notes: list[str] = []
    if (catalog["drop_stage"] == "prefilter").any():
        notes.append("photos the prefilter had dropped were reinstated: run `curate prefilter` again")
    return out, notes


def _ambiguous_label_filter(out: pd.DataFrame, config: FilterConfig, notes: list[str],
                            warnings: list[str]) -> tuple[pd.DataFrame, dict]:
    """Drop as ambiguous_label the kept photos whose label is in doubt: byte-identical copies filed under
    different labels, and unlabelled photos whose tags name two or more labels, unless either kind is held
    (so many that the labels look nested or wrong, not the photos). Returns the catalog and the
    label_conflicts counts of the report (`held`: the exact-duplicate step then keeps one copy per label)."""
    conflicting, conflicts, per_label = _exact_label_conflicts(out, config, notes, warnings)
    ambiguous = _ambiguous_tags(out, per_label["photos"].astype("int64"), config, conflicts, notes, warnings)
    out = apply_drops(out, pd.Series(np.where(ambiguous | conflicting, "ambiguous_label", None)), STAGE)
    return out, conflicts


def _exact_label_conflicts(out: pd.DataFrame, config: FilterConfig, notes: list[str],
                           warnings: list[str]) -> tuple[pd.Series, dict, pd.DataFrame]:
    """(the copies to drop, the label_conflicts counts, label -> photos and conflicting ones among the kept
    labelled photos): byte-identical copies filed under different labels all go, as no copy's label can be
    trusted; held (none dropped, a warning) when `duplicates.conflicts_held` says they are so many that the
    labels look nested or multi-label, unless force_conflicts; else a note names them."""
    conflicting, conflict_labels = duplicates.label_conflicts(out, out["sha256"])
    conflicts = {"exact_images": len(conflict_labels), "exact_photos": int(conflicting.sum()), "near_clusters": 0,
                 "near_photos": 0}
    labelled = _kept(out) & out["label"].notna()
    per_label = pd.DataFrame({"photos": out.loc[labelled, "label"].value_counts(),
                              "conflicting": out.loc[labelled & conflicting, "label"].value_counts()}).fillna(0)
    held = not config.force_conflicts and duplicates.conflicts_held(per_label)
    conflicts["held"] = held
    if held:
        warnings.append(exact_conflict_hold_warning(conflicts, conflict_labels, int(per_label["photos"].sum())))
        conflicting = pd.Series(False, index=out.index)
    else:
        notes += exact_conflict_notes(conflicts, conflict_labels, per_label)
    return conflicting, conflicts, per_label


def _ambiguous_tags(out: pd.DataFrame, label_counts: pd.Series, config: FilterConfig, conflicts: dict,
                    notes: list[str], warnings: list[str]) -> pd.Series:
    """The kept unlabelled photos whose tags name two or more labels (`label_counts`: label -> kept labelled
    photos), none when `ambiguous_labels.held` holds them: so many that a label looks like an everyday tag or
    the labels not exclusive, unless force_ambiguous. Counts them in `conflicts`, with their notes and
    warnings."""
    ambiguous = _kept(out) & out["label"].isna() & (out["tag_labels"].map(len) >= 2)
    amb_pairs = ambiguous_labels.pair_names(out.loc[ambiguous, "tag_labels"]).value_counts()
    conflicts["ambiguous_photos"] = int(ambiguous.sum())
    conflicts["ambiguous_held"] = ambiguous_labels.held(label_counts, amb_pairs, config.force_ambiguous)
    amb_notes, amb_warnings = ambiguous_labels.lines(label_counts, amb_pairs, conflicts["ambiguous_held"])
    notes += amb_notes
    warnings += amb_warnings
    return pd.Series(False, index=out.index) if conflicts["ambiguous_held"] else ambiguous


def _exact_duplicate_filter(out: pd.DataFrame, conflicts_held: bool, notes: list[str]) -> tuple[pd.DataFrame,
                                                                                               pd.Series]:
    """(the catalog with exact_dup_group filled and the copies of a photo that stays dropped as
    exact_duplicate, the groups): one copy per label when the label conflicts were held, so each label keeps
    its own copy. A metadata-only catalog has no bytes to compare: a note says the filter was skipped."""
    if out["sha256"].isna().all():
        notes.append("no stored images (metadata-only catalog): exact-duplicate filter skipped")
    group, is_exact = duplicates.exact_duplicates(out, per_label=conflicts_held)
    out["exact_dup_group"] = group
    out = apply_drops(out, pd.Series(np.where(is_exact, "exact_duplicate", None)), STAGE)
    return out, group


def _quality_filter(out: pd.DataFrame, config: FilterConfig, notes: list[str],
                    warnings: list[str]) -> tuple[pd.DataFrame, list[dict]]:
    """`_quality` (score every check, drop the failures of config.drop_quality), then the warnings and the
    note on what the drops took from each label, so a label losing much of itself does not go unsaid."""
    out, quality_table = _quality(out, config, notes, warnings)
    photos, drops = _quality_drops(out)
    warnings += quality.drop_warnings(*quality.labelled_only(photos, drops), forced=config.force_quality)
    notes += quality.drop_note(photos, drops)
    return out, quality_table


def _owner_cap_filter(out: pd.DataFrame, config: FilterConfig, notes: list[str],
                      warnings: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(catalog, owner concentration before the caps, caps table): drop as owner_cap the kept photos beyond
    max_per_owner / max_owner_share of a label (when either is set; `owners.owner_cap` holds a label the caps
    would take most of, unless force_caps), then note the labels one owner still dominates."""
    concentration = _owner_concentration(out)
    caps = pd.DataFrame(columns=owners.CAP_COLUMNS)
    if config.max_per_owner is not None or config.max_owner_share is not None:
        is_capped, caps = owners.owner_cap(out, _kept(out), config.max_per_owner, config.max_owner_share,
                                           config.force_caps)
        out = apply_drops(out, pd.Series(np.where(is_capped, "owner_cap", None)), STAGE)
        warnings += owners.cap_warnings(caps, concentration, config.max_owner_share)
        notes += owners.cap_note(caps, concentration, config.max_per_owner, config.max_owner_share)
    notes += owners.dominance_lines(_owner_concentration(out))  # the dominance note judges the photos the caps left
    return out, concentration, caps


def _owner_concentration(out: pd.DataFrame) -> pd.DataFrame:
    """`owners.concentration` of the kept labelled photos: how much of each label its owners took."""
    labelled_kept = _kept(out) & out["label"].notna()
    return owners.concentration(out.loc[labelled_kept, "label"], out.loc[labelled_kept, "owner_id"])


def _dropped_by_reason(out: pd.DataFrame) -> dict[str, int]:
    """drop_reason -> photos this stage dropped (the report's counts; other stages' drops are theirs)."""
    mine = out["drop_stage"] == STAGE
    return {k: int(v) for k, v in out.loc[mine, "drop_reason"].value_counts().items()}


def _exact_duplicate_groups(out: pd.DataFrame, group: pd.Series) -> int:
    """How many exact-duplicate groups hold more than their representative (`group`: each row's
    representative; a photo without a copy is a group of one, not counted)."""
    return int((group.notna() & (group != out[schema.PHOTO_ID])).groupby(group).any().sum())


def force_notes(config: FilterConfig, warnings: list[str]) -> list[str]:
    """Notes on the --force-… flags (both engines; audit AF): one given without the drop it forces does nothing
    (a re-run is from scratch, so `--force-quality` alone also undoes an earlier `--drop-quality`), and the
    flags the held lines name are recipe keys too, for `curate run`, which takes no such flag.

    >>> force_notes(FilterConfig(force_quality=True), [])[0][:62]
    '--force-quality forces nothing without --drop-quality (recipe '
    >>> force_notes(FilterConfig(), ["held: … or --force-caps to cap them anyway"])[0][:66]
    'each --force-… flag the held lines name is a recipe key as well, i'
    >>> force_notes(FilterConfig(), ["held: geo drops of … or --force-geo to drop them anyway"])[0][65:110]
    'in its filter section (--force-geo: force_geo'
    """
    idle = [(config.force_quality and not config.drop_quality, "--force-quality", "--drop-quality", "drop_quality"),
            (config.force_caps and config.max_per_owner is None and config.max_owner_share is None, "--force-caps",
             "--max-per-owner or --max-owner-share", "max_per_owner or max_owner_share"),
            (config.force_licences and config.licences is None, "--force-licences", "--licences", "licences"),
            (config.force_geo and not config.geo_on, "--force-geo", "a --max-km", "max_km"),
            (config.force_missing_geo and config.missing_geo != "drop", "--force-missing-geo", "--missing-geo drop",
             "missing_geo"),
            (config.force_collages and config.collages != "drop", "--force-collages", "--collages drop", "collages")]
    notes = [f"{flag} forces nothing without {needs} (recipe {key}): this run dropped only what its own settings "
             "ask for (a re-run also undoes what an earlier run dropped with them)"
             for given, flag, needs, key in idle if given]
    named = sorted({flag for line in warnings for flag in re.findall(r"--force(?:-[a-z]+)+", line)})
    if named:  # the flags the held lines name, each with its key (audit AP: the one example was --force-quality)
        keys = "; ".join(f"{flag}: {flag[2:].replace('-', '_')} = true" for flag in named)
        notes.append(f"each --force-… flag the held lines name is a recipe key as well, in its filter section "
                     f"({keys}), for `curate run`, which takes no such flag")
    return notes


def exact_conflict_notes(conflicts: dict, labels: list[tuple[str, ...]],
                         per_label: pd.DataFrame | None = None) -> list[str]:
    """The note on byte-identical copies filed under different labels (shared with the DuckDB engine);
    `per_label` (label -> photos, conflicting): the labels that lose most of their photos are named, as the
    ambiguous note names them (audit AF 9: street lost 15 of 26 to a forced drop without a word)."""
    if not conflicts["exact_images"]:
        return []
    most = ""
    if per_label is not None and len(per_label):
        heavy = per_label[per_label["conflicting"] > 0.5 * per_label["photos"]].sort_index()
        if len(heavy):
            most = "; most of " + ", ".join(f"{label} ({int(row.conflicting):,} of {int(row.photos):,})"
                                            for label, row in heavy.iterrows())
    return [f"{conflicts['exact_photos']:,} photos are byte-identical copies filed under different labels "
            f"({conflicts['exact_images']:,} image{'s' if conflicts['exact_images'] != 1 else ''}: "
            f"{duplicates.conflict_examples(labels)}): every copy dropped as "
            f"ambiguous_label{most}; keep the right one with `curate review --queue duplicates`"]


def exact_conflict_hold_warning(conflicts: dict, labels: list[tuple[str, ...]], labelled: int) -> str:
    """The warning when copies under different labels are so many that they look like nested or
    multi-label folders (`duplicates.conflicts_held`): kept, one per label (shared with DuckDB)."""
    photos = conflicts["exact_photos"]
    return (f"held: {photos:,} photos ({photos / max(labelled, 1):.0%} of the labelled ones) are byte-identical "
            f"copies filed under different labels ({duplicates.conflict_examples(labels)}): that many looks like "
            "nested or multi-label folders, not mistakes, so they are kept, one copy per label (a one-label "
            "classifier then learns each of those images under both labels); --force-conflicts drops every copy "
            "as ambiguous_label, `curate review --queue duplicates` settles them one by one")


def near_conflict_notes(conflicts: dict, labels: list[tuple[str, ...]]) -> list[str]:
    """The note on near-duplicate clusters whose kept photos carry different labels (kept: they may be two
    shots of a scene that two labels share; shared with the DuckDB engine)."""
    if not conflicts["near_clusters"]:
        return []
    one = conflicts["near_clusters"] == 1
    return [f"{conflicts['near_clusters']:,} near-duplicate cluster{' spans' if one else 's span'} different labels "
            f"({conflicts['near_photos']:,} kept photos: {duplicates.conflict_examples(labels)}): kept; look at them "
            "with `curate review --queue duplicates`"]


def _near_duplicates(out: pd.DataFrame, config: FilterConfig, notes: list[str], thumbnails: Mapping[str, bytes] | None,
                     embeddings: tuple[Sequence[str], np.ndarray] | None = None,
                     conflicts: dict | None = None,
                     read_grey: Callable[[str], np.ndarray | None] | None = None,
                     workers: int = 1, open_image: duplicates.ImageOpener | None = None,
                     pair_scores: PairScores | None = None, warnings: list[str] | None = None,
                     reviewed_kept: Collection[str] = ()) -> tuple[pd.DataFrame, int]:
    from curate.filters.phash import parse_phashes

    readable = parse_phashes(out["phash"])[1]
    unreadable = int((out["phash"].notna().to_numpy() & ~readable).sum())
    if unreadable:
        notes.append(unreadable_phash_note(unreadable))
    hashed = pd.Series(readable, index=out.index) & out["sha256"].notna()
    if not hashed.any():
        out["near_dup_cluster"] = None
        notes.append("no perceptual hashes (metadata-only catalog): near-duplicate filter skipped")
        return out, 0
    columns = [name for name in IMAGE_COLUMNS if name in out]
    images = out.loc[hashed, columns].drop_duplicates("sha256")  # one node per distinct image
    reviewed = out.loc[out[schema.PHOTO_ID].isin(collages.reviewed_ids(reviewed_kept, out[schema.PHOTO_ID])) & hashed,
                       "sha256"]
    clusters = image_clusters(images, config, thumbnails, embeddings, notes, read_grey, workers, pair_scores,
                              images["sha256"].isin(set(reviewed)).to_numpy())
    out, drop = collages.drop_bridges(out, images["sha256"], clusters, STAGE,
                                      config.collages == "drop", config.force_collages, notes,
                                      [] if warnings is None else warnings)
    labels = clusters.labels(drop)
    key = out["sha256"].map(dict(zip(images["sha256"], labels.astype(str)))).where(hashed, None)
    # an upscale is judged within its picture's copies (`apart`: the clusters without the bridging collages' panel
    # links, `labels` when they are dropped), not against the other pictures a kept collage joins (audit DQ: 545
    # of 572 pairs scored compared different pictures, all 33 upscales found were wrong); once for both choices
    picture = out["sha256"].map(dict(zip(images["sha256"], clusters.apart.astype(str)))).where(hashed, None)
    upscaled = duplicates.upscaled_copies(out, picture, open_image, workers)
    overlaid = None if clusters.overlaid is None else (
        out["sha256"].isin(set(images["sha256"][clusters.overlaid])) & hashed).to_numpy(bool)
    out["near_dup_cluster"] = duplicates.group_representatives(out, key, upscaled, overlaid)
    sizes = key.map(key.value_counts())
    n_clusters = int(key[sizes > 1].nunique())
    spanning, span_labels = duplicates.label_conflicts(out, out["near_dup_cluster"])
    if conflicts is not None:
        conflicts.update(near_clusters=len(span_labels), near_photos=int(spanning.sum()))
        notes += near_conflict_notes(conflicts, span_labels)
    if config.dedupe_near:
        # one photo kept per cluster *and label*: a cluster spanning labels keeps one photo of each
        # (the note above counts it); otherwise its representative's label would win by photo order
        within_label = key.where(key.isna(), key.astype(str) + "\x1f" + out["label"].fillna("\x00").astype(str))
        keeper = duplicates.group_representatives(out, within_label, upscaled, overlaid)
        is_near = keeper.notna() & (keeper != out[schema.PHOTO_ID]) & (out["status"] == schema.KEPT)
        # a cluster holding a collage holds distinct photos (the collage links each of its panels' photos): it
        # shares one side of the split, but none of its photos is dropped as another's copy (DI: 29 distinct
        # photos would have gone from one chain of collages)
        with_collage = key[out["phash_panels"].notna() & key.notna()].unique() if "phash_panels" in out else []
        whole = is_near & key.isin(with_collage)
        if whole.any():
            notes.append(collage_note(int(key[whole].nunique())))
        out = apply_drops(out, pd.Series(np.where(is_near & ~whole, "near_duplicate", None)), STAGE)
    return out, n_clusters


def _quality_drops(out: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """(label -> photos kept before the quality step, (label, reason, dropped) of its drops), the unlabelled
    photos under schema.NO_LABEL: what `quality.drop_note` reads (and `quality.drop_warnings`, without the
    unlabelled), right after `_quality`."""
    label = out["label"].astype(object).where(out["label"].notna(), schema.NO_LABEL)
    by_quality = (out["drop_stage"] == STAGE) & out["drop_reason"].astype(str).str.startswith("quality:")
    return _label_counts(label, (out["status"] == schema.KEPT) | by_quality, by_quality, out["drop_reason"])


def _label_counts(label: pd.Series, base: pd.Series, dropped: pd.Series,
                  reason: pd.Series) -> tuple[pd.Series, pd.DataFrame]:
    """(label -> photos of `base`, (label, reason, dropped) over the `dropped` rows): the counts the quality
    hold, note and warning read, before the drops (`_quality`) or after them (`_quality_drops`)."""
    drops = pd.DataFrame({"label": label[dropped], "reason": reason[dropped]})
    return label[base].value_counts(), drops.groupby(["label", "reason"]).size().rename("dropped").reset_index()


def _quality(out: pd.DataFrame, config: FilterConfig, notes: list[str],
             warnings: list[str]) -> tuple[pd.DataFrame, list[dict]]:
    """Score every quality check (flags in quality_issues); drop the failures of the checks in
    config.drop_quality as quality:<check> (the first failed check in CHECKS order names it), except in
    labels where that would take more than half of the photos (`quality.held_labels`, unless
    config.force_quality)."""
    scores, summary = quality.score_quality(out, config.colour_collection_share)
    for name in scores.columns:
        out[name] = scores[name]
    measured = out["laplacian_var"].notna()
    if not measured.any():
        notes.append(QUALITY_SKIPPED)
    elif summary["colour_collection"] is False:
        notes.append(f"mostly greyscale collection ({1 - summary['colour_share']:.0%} of photos): "
                     "the greyscale check flags nothing")
    failed = summary["failed"]
    reason = pd.Series([None] * len(out), index=out.index, dtype=object)
    for check in reversed([c for c in quality.CHECKS if c.name in config.drop_quality]):
        reason = reason.mask(failed[check.name], f"quality:{check.name}")
    notes += quality.crowded_check_note({c.name: int(failed[c.name].sum()) for c in quality.CHECKS},
                                        int(measured.sum()))
    kept_before = out["status"] == schema.KEPT
    key = out["label"].astype(object).where(out["label"].notna(), schema.NO_LABEL)
    photos, would_drop = _label_counts(key, kept_before, kept_before & reason.notna(), reason)
    held = quality.held_labels(photos, would_drop, config.force_quality)
    flags = pd.DataFrame([{"label": label, "check": name, "flagged": int(n)} for name in config.drop_quality
                          for label, n in key[kept_before & failed[name]].value_counts().items()],
                         columns=["label", "check", "flagged"])
    warnings += quality.held_warning(photos, held, flags)
    reason = reason.mask(key.isin(held.index), None)
    out = apply_drops(out, reason, STAGE)
    table = [{"check": c.name, "threshold": float(c.threshold), "meaning": c.meaning,
              "flagged": int(failed[c.name].sum()),
              "dropped": int((kept_before & (out["drop_reason"] == f"quality:{c.name}")).sum()),
              "drops": c.name in config.drop_quality} for c in quality.CHECKS]
    return out, table
