"""`curate filter`'s settings: its flags and a recipe's [filter] keys, declared once (FilterConfig),
and the parsers of the values a flag or recipe may give as text ("off", "auto")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from curate import licences
from curate.filters import calibration, patches, quality, verify
from curate.filters.collages import COLLAGE_CHOICES
from curate.filters.neardup import DEFAULT_NEAR_DUP_BITS
from curate.settings_fields import SettingError, setting

STAGE = "filter"  # the drop_stage of every photo the filter drops (both engines)
CENTRE_METHODS = ("median", "recipe")
MISSING_GEO = ("keep", "drop")
GEO_OFF = "off"


def parse_max_km(value: object) -> float | str:
    """`value` as a positive, finite number of km, or "off" (any case); else a UsageError.

    >>> parse_max_km("5"), parse_max_km(2), parse_max_km("OFF")
    (5.0, 2.0, 'off')
    """
    if isinstance(value, str) and value.strip().casefold() == GEO_OFF:
        return GEO_OFF
    try:
        if isinstance(value, bool):
            raise TypeError("true/false is not a distance")
        km = float(value)
    except (TypeError, ValueError):
        raise SettingError(f"{{max_km}} must be a number of km, or off to turn the geo filter off; got {value!r}",
                           "max_km") from None
    if not np.isfinite(km) or km <= 0:
        raise SettingError(f"{{max_km}} must be a positive number of km, or off to turn the geo filter off; "
                           f"got {value!r}", "max_km")
    return km


def parse_cosine(value: object, name: str) -> float | None:
    """A cosine threshold in (0, 1], or None for "off" (a flag or recipe value may be text)."""
    if value is None or (isinstance(value, str) and value.strip().casefold() == GEO_OFF):
        return None
    try:
        if isinstance(value, bool):
            raise TypeError("true/false is not a cosine")
        cosine = float(value)
    except (TypeError, ValueError):
        cosine = float("nan")
    if not 0 < cosine <= 1:  # NaN fails too
        raise SettingError(f"{{{name}}} must be a cosine in (0, 1], or off; got {value!r}", name)
    return cosine


def _is_word(value: object, word: str) -> bool:
    return isinstance(value, str) and value.strip().casefold() == word


def _number(value: object) -> float:
    """A setting's value as a float; NaN for text that is not a number, and for true/false."""
    try:
        return float("nan") if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return float("nan")


def _parse_colour_diff(value: object) -> float | str:
    """near_dup_colour_diff: a difference in [0, 255], or "auto" (calibrated on the collection)."""
    if _is_word(value, calibration.AUTO):
        return calibration.AUTO
    difference = _number(value)
    if not 0 <= difference <= 255:  # NaN fails too
        raise SettingError(f"{{near_dup_colour_diff}} must be between 0 and 255, or auto; got {value!r}",
                           "near_dup_colour_diff")
    return difference


def _parse_crowded_share(value: object) -> float | None:
    """near_dup_crowded_share: a share in (0, 1), or None for "off"."""
    if value is None or _is_word(value, GEO_OFF):
        return None
    share = _number(value)
    if not 0 < share < 1:  # NaN fails too
        raise SettingError(f"{{near_dup_crowded_share}} must be a share between 0 and 1, or off; got {value!r}",
                           "near_dup_crowded_share")
    return share


def _parse_auto_number(value: object, name: str, fits: Callable[[float], bool], what: str) -> float | str | None:
    """A setting that is a number `fits` accepts (`what` says which, for the error), "auto", or None for "off" (a
    recipe value may be text): near_dup_tone_diff, near_dup_patch_share."""
    if value is None or _is_word(value, GEO_OFF):
        return None
    if _is_word(value, calibration.AUTO):
        return calibration.AUTO
    number = _number(value)
    if not fits(number):  # NaN fails too
        raise SettingError(f"{{{name}}} must be {what}, off or auto; got {value!r}", name, as_key=True)
    return number


def _parse_window_score(value: object, name: str = "near_dup_window_score") -> float | None:
    """near_dup_window_score or near_dup_overlap_score: a correlation in (0, 1], or None for "off" (a recipe
    value may be text)."""
    if value is None or _is_word(value, "off"):
        return None
    score = _number(value)
    if not 0 < score <= 1:  # NaN fails too
        raise SettingError(f"{{{name}}} must be a correlation in (0, 1], or off; got {value!r}", name)
    return score


def _shown(default: float | None) -> str:
    """A default as a flag's help says it: 15 or off."""
    return GEO_OFF if default is None else format(default, "g")


MAX_PER_OWNER_LIMIT = 1_000_000_000  # no owner has more photos; past 2**63 numpy cannot even hold it (audit AN)


@dataclass(frozen=True)
class FilterConfig:
    """`curate filter`'s flags and a recipe's [filter] keys, one field each (curate.settings_fields)."""

    max_km: float | str = setting(5.0, help=(  # km, or "off": no photo is dropped as geo_outlier
        "Geo outlier threshold in km, or off to turn the geo filter off (default: recipe, else 5)."))
    center: str = setting("median", help=(  # median | recipe
        "Label centre: median of its photos, or recipe coordinates (default: recipe, else median)."))
    missing_geo: str = setting("keep", help=(
        "Labelled photos without coordinates: keep or drop (default: recipe, else keep; drop is held when over "
        "half of the labelled photos have none: --force-missing-geo)."))
    # drop them even when over half of the labelled photos have none (geo_messages.MAX_MISSING_GEO_SHARE)
    force_missing_geo: bool = setting(False, help=(
        "With --missing-geo drop: drop labelled photos without usable coordinates even when over half of them have "
        "none (default: recipe, else no: they are kept and a warning says so)."))
    # positions the source rates less precise are treated as missing (0: off)
    min_geo_accuracy: int = setting(0, help=(
        "Treat positions the source rates less precise than this as missing (Flickr: 11 city, 16 street; default: "
        "recipe, else 0 = off)."))
    near_dup_bits: int = setting(DEFAULT_NEAR_DUP_BITS, help=(  # evidence in curate/filters/neardup.py
        "pHash Hamming distance (inclusive) for near duplicates."))
    # evidence in curate/filters/verify.py; "auto": calibrated on the collection (calibration.calibrate)
    near_dup_colour_diff: float | str = setting(calibration.AUTO, help=(
        "Max mean RGB difference (0-255) of 16x12 thumbnails that confirms a pHash pair, or auto: "
        f"{calibration.COLOUR_DIFF_FOR_REAL_PHOTOS:g} when the collection's pHashes tell photos apart, else "
        f"{calibration.COLOUR_DIFF_CROWDED:g} (default: recipe, else auto)."))
    # embedding link (when embedded); "off"/None: off
    near_dup_cosine: float | str | None = setting(verify.DEFAULT_NEAR_DUP_COSINE, help=(
        "Link photos whose cached EfficientNet-Lite0 embeddings (curate embed) have at least this cosine, or off "
        "(default: recipe, else 0.90)."))
    near_dup_verify_cosine: float | str | None = setting(verify.DEFAULT_VERIFY_COSINE, help=(
        # embedding confirms a pHash candidate
        "Embedding cosine that confirms a pHash pair whose colours differ, or off (default: recipe, else 0.85)."))
    # an embedding link beyond near_dup_bits also needs colours this close (0-255; None: off);
    # 15 keeps neighbouring opensfm-lund shots apart
    near_dup_link_colour_diff: float | None = setting(verify.DEFAULT_LINK_COLOUR_DIFF, help=(
        f"An embedding link beyond --near-dup-bits also needs a mean RGB difference (0-255) of at most this "
        f"(default: recipe, else {_shown(verify.DEFAULT_LINK_COLOUR_DIFF)})."))
    # a pair of photos left apart whose embeddings are close (>= verify.DEFAULT_WINDOW_COSINE) is linked when
    # one is a window of the other to this score (curate.filters.windows); "off"/None: off
    near_dup_window_score: float | str | None = setting(verify.DEFAULT_WINDOW_SCORE, help=(
        "Link photos the other rules leave apart when one is a crop of the other: their embeddings are close "
        "(curate embed) and their fine detail matches with at least this correlation (0-1) once one is scaled "
        f"and placed inside the other; or off (default: recipe, else {verify.DEFAULT_WINDOW_SCORE:g})."))
    # ... and a pair whose embeddings are closer still (>= verify.DEFAULT_OVERLAP_COSINE) when the two overlap as
    # crops of one picture to this score (curate.filters.pixel_scores.overlap_score); "off"/None: off
    near_dup_overlap_score: float | str | None = setting(verify.DEFAULT_OVERLAP_SCORE, help=(
        "Link photos the other rules leave apart when both are crops of one picture, neither inside the other (or "
        f"one zoomed beyond the window match): their embeddings have cosine >= {verify.DEFAULT_OVERLAP_COSINE:g} "
        "and their fine detail matches with at least this correlation (0-1) where they overlap (half of the "
        "smaller at least) once one is scaled and shifted; or off. Off with --near-dup-window-score off "
        f"(default: recipe, else {verify.DEFAULT_OVERLAP_SCORE:g})."))
    # ... the closest this many of the pairs only the overlap match looks at (~65 ms a pair on one core)
    near_dup_overlap_pairs: int = setting(verify.DEFAULT_OVERLAP_PAIRS, help=(
        "The overlap match looks at the closest this many candidate pairs that are no window candidate (about "
        "65 ms a pair on one core; the filter's note says when more were left; default: recipe, else "
        f"{verify.DEFAULT_OVERLAP_PAIRS:,})."))
    # ... the closest this many candidate pairs (each decoded and matched: ~15 ms a pair on one core)
    near_dup_window_pairs: int = setting(verify.DEFAULT_WINDOW_PAIRS, help=(
        "The window match looks at the closest this many candidate pairs (about 15 ms a pair on one core; the "
        f"filter's note says when more were left; default: recipe, else {verify.DEFAULT_WINDOW_PAIRS:,})."))
    # a pHash pair whose thumbnails agree this well once a tone curve is taken out (gamma,
    # brightness) is linked (0-255; "off"/None: off)
    near_dup_tone_diff: float | str | None = setting(calibration.AUTO, help=(
        "Link a pHash pair whose thumbnails differ by at most this (0-255) once a tone curve (gamma, brightness) is "
        f"taken out, or off, or auto: {calibration.TONE_DIFF_FOR_REAL_PHOTOS:g} when the collection's pHashes tell "
        "photos apart, else off (default: recipe, else auto)."))
    # a pHash pair (up to curate.filters.patches.PATCH_MARGIN_BITS beyond near_dup_bits) left apart whose patches
    # agree this well is linked (curate.filters.patches; "off"/None: off)
    near_dup_patch_share: float | str | None = setting(None, help=(
        f"Link a pHash pair (up to {patches.PATCH_MARGIN_BITS} bits beyond --near-dup-bits) that the other evidence "
        "leaves apart when at least this share of its 8x8 patches agree in detail on the stored images (a sticker, "
        "a logo, a watermark or caption bands over part of a copy; a sepia copy), or auto: "
        f"{calibration.PATCH_SHARE_FOR_REAL_PHOTOS:g} when the collection's pHashes tell photos apart, else off. Off "
        "by default: different photos in one frame, card or mockup template agree too (default: recipe, else off)."))
    # calibration.calibrate: a collection where more than this share of random pairs of different images
    # look alike (pHash, embedding) gets the strict hash limits / no embedding links; "off": never
    near_dup_crowded_share: float | str | None = setting(calibration.CROWDED_SHARE, help=(
        "Calibration: when more than this share of random pairs of images are just beyond --near-dup-bits (up to "
        f"{calibration.CROWDING_MARGIN_BITS} bits more), auto limits are strict; when more are above the link "
        f"cosine while over {calibration.EMBEDDING_FAR_BITS} bits apart, embedding links are off (pairs that look "
        "like one photo's own copies are set aside first). off: no calibration, auto means strict "
        f"(default: recipe, else {calibration.CROWDED_SHARE:g})."))
    # drop copies filed under different labels even when so many that the labels look nested (duplicates.py)
    force_conflicts: bool = setting(False, help=(
        "Drop every copy of an image filed under different labels as ambiguous_label even when they are so many "
        "(10 or more, and over 10% of the labelled photos or most of a label) that the labels look nested or "
        "multi-label (default: recipe, else no: they are kept, one copy per label, with a warning)."))
    # drop photos whose tags name two or more labels even when so many that the labels look wrong (ambiguous.py)
    force_ambiguous: bool = setting(False, help=(
        "Drop photos whose tags name two or more labels as ambiguous_label even when they are so many (10 or "
        "more, and over 10% of the labelled photos or most of a label) that a label looks like an everyday tag "
        "or the labels not exclusive (default: recipe, else no: they are kept without a label, with a warning)."))
    dedupe_near: bool = setting(False, flag="--dedupe-near/--keep-near", help=(
        "Keep one photo per near-duplicate cluster and label, or keep them all (default: recipe, else keep)."))
    # a collage whose panels are copies of different pictures joins them (curate.filters.collages): dropped, or kept
    collages: str = setting("drop", help=(
        "A collage whose two panels are copies of different pictures (it would join them, and collages of "
        "consecutive pictures chain many, on one side of the split): drop it as collage, or keep it, joining them "
        "(default: recipe, else drop; the drop is held when 10 or more photos, over 10% of the labelled ones or most "
        "of a label, are such collages: --force-collages)."))
    # drop them even when so many that they look like the collection's design (collages.held)
    force_collages: bool = setting(False, help=(
        "With --collages drop: drop such collages even when they are so many that they look like the collection's "
        "design (default: recipe, else no: they are kept, joined, with a warning)."))
    max_per_owner: int | None = setting(None, help=(
        "At most N photos per owner per label (a label it would take most of is held: --force-caps)."))
    max_owner_share: float | None = setting(None, help=(
        "At most this fraction of a label per owner (a label it would take most of is held: --force-caps)."))
    # owner caps that would drop more than half of a label are held (owners.label_cap) unless forced
    force_caps: bool = setting(False, help=(
        "Apply --max-per-owner / --max-owner-share even in labels where they drop more than half of the photos "
        "(default: recipe, else no: those labels are not capped, with a warning)."))
    # apply the geo filter to labels that do not look like places (and too small ones)
    force_geo: bool = setting(False, help=(
        "Geo-filter labels that do not look like places (or have too few geotagged photos, or spread wider than "
        "--max-km) too (default: recipe, else no)."))
    # a place whose photos just beyond max_km (within max_median_multiple x it) exceed this share spreads wider
    # than max_km (a metro area): its drops within that ring are held. Evidence (docs/cleaning.md,
    # bench/geo_holds.py): 22 real im2gps cities at 5 km lose 8.7% of their genuine photos at 0.2, 1.2% at 0.1,
    # and every far wrong geotag is dropped at both; the demo's labels reach at most 1%.
    max_spread_share: float = setting(0.1, help=(
        "Hold a place's geo drops (keep them, with a warning) when more than this share of its geotagged photos lie "
        "just beyond --max-km (within --max-median-multiple times it): its photos spread wider than --max-km; those "
        "beyond --max-median-multiple times it are still dropped; 1 never holds, --force-geo drops anyway (default: "
        "recipe, else 0.1)."))
    # a label whose photos beyond max_km exceed this share is not a place
    max_outlier_share: float = setting(0.5, help=(
        "A label is not a place when the filter would drop more than this share of its geotagged photos (for a "
        "label named as a place, with its median photo within 2x --max-km: of those beyond the band of its suburbs) "
        "(default: recipe, else 0.5)."))
    # a label whose name is not a place (placenames.names_a_place) and that has no coordinates in the recipe is held
    # when the filter would drop more than this share of its geotagged photos: a scene or object label shot mostly in
    # one town (audit M: `Kitchen`, 17 of 30 photos in Paris by 7 photographers, lost the 13 taken elsewhere). Evidence
    # (docs/cleaning.md, bench/geo_holds.py): real im2gps scene labels shot in one town lose 17.5 % of their genuine
    # photos at 20 % taken elsewhere, 5.3 % with the hold; the price, a place whose name the lookup misses
    # (eiffel_tower) with 20 % wrong geotags: 37 % of them caught instead of 90 % (kept, with a warning).
    max_unnamed_share: float = setting(0.2, help=(
        "Hold the geo drops of a label whose name is not a place (not a GeoNames city, country or region, and no "
        "lat/lon in the recipe) when the filter would drop more than this share of its geotagged photos: kept, with a "
        "warning; 1 never holds, --force-geo drops anyway (default: recipe, else 0.2)."))
    # ... nor one whose median distance to its centre exceeds this x max_km
    max_median_multiple: float = setting(10.0, help=(
        "... or when its median distance to its centre is above this multiple of --max-km (default: recipe, else "
        "10)."))
    # labels with fewer geotagged photos are not judged, and not geo-filtered
    min_geotagged: int = setting(5, help=(
        "Labels with fewer geotagged photos are not judged and not geo-filtered (default: recipe, else 5)."))
    # allowed licences (curate.licences); None: no licence filter
    licences: tuple[str, ...] | None = setting(None, help=(
        "Keep only these licences, comma-separated (cc-by,cc-by-sa,cc0...; a name without version allows every "
        "version). Photos without a licence are dropped, unless most photos have none: then they are kept, with a "
        "warning (--force-licences drops them)."))
    # drop photos without licence data even when most photos have none (licence_filter.MAX_UNLICENSED_SHARE)
    force_licences: bool = setting(False, help=(
        "With --licences: drop photos without (recognised) licence data even when most photos have none (default: "
        "recipe, else no: they are kept and a warning says so)."))
    # quality checks whose failures are dropped (quality.CHECKS names, or all)
    drop_quality: tuple[str, ...] = setting((), help=(
        "Drop photos failing these image-quality checks, comma-separated: blurry, dark, bright, low_information, "
        "odd_aspect, greyscale, tiny, or all (default: recipe, else none: every check only flags, in "
        "quality_issues)."))
    # apply quality drops that take more than half of a label (quality.held_labels): held otherwise
    force_quality: bool = setting(False, help=(
        "Apply --drop-quality's drops even in labels where they take more than half of the photos (default: "
        "recipe, else no: those labels keep them, flagged, with a warning; labels under 10 photos are never "
        "held)."))
    # the greyscale check only above it
    colour_collection_share: float = setting(quality.DEFAULT_COLOUR_COLLECTION_SHARE, help=(
        "The greyscale check flags photos only when more than this share of the collection has colour (0 to under "
        "1; default: recipe, else 0.5)."))

    def __post_init__(self):
        object.__setattr__(self, "max_km", parse_max_km(self.max_km))
        if self.licences is not None:
            object.__setattr__(self, "licences", licences.parse_allowed(self.licences))
        object.__setattr__(self, "drop_quality", quality.parse_check_names(self.drop_quality))
        object.__setattr__(self, "colour_collection_share",
                           quality.check_colour_collection_share(self.colour_collection_share))
        self._check_place_rule()
        if self.center not in CENTRE_METHODS:
            raise SettingError(f"{{center}} must be one of {', '.join(CENTRE_METHODS)}, got {self.center!r}", "center")
        if self.collages not in COLLAGE_CHOICES:
            raise SettingError(f"{{collages}} must be drop or keep, got {self.collages!r}", "collages")
        if self.missing_geo not in MISSING_GEO:
            raise SettingError(f"{{missing_geo}} must be keep or drop, got {self.missing_geo!r}", "missing_geo")
        if not (isinstance(self.min_geo_accuracy, int) and 0 <= self.min_geo_accuracy <= 16):
            raise SettingError(f"{{min_geo_accuracy}} must be a whole number from 0 (off) to 16 (street level, "
                               f"Flickr's scale), got {self.min_geo_accuracy!r}", "min_geo_accuracy")
        if not 0 <= self.near_dup_bits <= 32:
            raise SettingError(f"{{near_dup_bits}} must be between 0 and 32, got {self.near_dup_bits}", "near_dup_bits")
        object.__setattr__(self, "near_dup_colour_diff", _parse_colour_diff(self.near_dup_colour_diff))
        object.__setattr__(self, "near_dup_crowded_share", _parse_crowded_share(self.near_dup_crowded_share))
        if self.near_dup_link_colour_diff is not None and not 0 <= self.near_dup_link_colour_diff <= 255:
            raise SettingError("{near_dup_link_colour_diff} must be between 0 and 255 (or left out: off), "
                               f"got {self.near_dup_link_colour_diff}", "near_dup_link_colour_diff", as_key=True)
        for name in ("near_dup_cosine", "near_dup_verify_cosine"):
            object.__setattr__(self, name, parse_cosine(getattr(self, name), name))
        object.__setattr__(self, "near_dup_tone_diff", _parse_auto_number(
            self.near_dup_tone_diff, "near_dup_tone_diff", lambda x: 0 <= x <= 255, "between 0 and 255"))
        object.__setattr__(self, "near_dup_patch_share", _parse_auto_number(
            self.near_dup_patch_share, "near_dup_patch_share", lambda x: 0 < x <= 1, "a share in (0, 1]"))
        object.__setattr__(self, "near_dup_window_score", _parse_window_score(self.near_dup_window_score))
        object.__setattr__(self, "near_dup_overlap_score",
                           _parse_window_score(self.near_dup_overlap_score, "near_dup_overlap_score"))
        for name in ("near_dup_window_pairs", "near_dup_overlap_pairs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SettingError(f"{{{name}}} must be a whole number of pairs, 0 or more, got {value!r}", name)
        if self.max_per_owner is not None and self.max_per_owner < 1:
            raise SettingError(f"{{max_per_owner}} must be at least 1, got {self.max_per_owner}", "max_per_owner")
        if self.max_per_owner is not None and self.max_per_owner > MAX_PER_OWNER_LIMIT:  # audit AN: OverflowError
            raise SettingError(f"{{max_per_owner}} must be at most {MAX_PER_OWNER_LIMIT:,}, got {self.max_per_owner}"
                               " (no owner has more photos: to cap nothing, leave it unset)", "max_per_owner")
        if self.max_owner_share is not None and not 0 < self.max_owner_share <= 1:
            raise SettingError(f"{{max_owner_share}} must be in (0, 1], got {self.max_owner_share}", "max_owner_share")

    def _check_place_rule(self) -> None:
        for name in ("max_outlier_share", "max_spread_share", "max_unnamed_share"):
            if not 0 < getattr(self, name) <= 1:
                raise SettingError(f"{{{name}}} must be in (0, 1], got {getattr(self, name)}", name)
        if not (np.isfinite(self.max_median_multiple) and self.max_median_multiple >= 1):
            raise SettingError(f"{{max_median_multiple}} must be a number of at least 1, got "
                               f"{self.max_median_multiple}", "max_median_multiple")
        if isinstance(self.min_geotagged, bool) or not isinstance(self.min_geotagged, int) or self.min_geotagged < 1:
            raise SettingError(f"{{min_geotagged}} must be a whole number of at least 1, got {self.min_geotagged!r}",
                               "min_geotagged")

    @property
    def geo_on(self) -> bool:
        """False with max_km="off"."""
        return self.max_km != GEO_OFF
