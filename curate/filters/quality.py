"""Image-quality checks: blurry, dark, bright, low information, odd aspect, greyscale, tiny.

Two halves, like CleanVision's issue types and cleanlab Datalab's issue managers:

* `image_statistics(image)` runs inside the single decode pass (curate.vision.features)
  and returns raw, threshold-free numbers (Laplacian variance, brightness percentiles,
  entropy, chroma...). They are stored in the catalog, so changing a threshold
  never decodes an image again.
* `score_quality(catalog)` is pure and vectorised: every check in `CHECKS` turns one
  statistic into a "badness" value (higher = worse) and compares it with its threshold.
  Each check yields the same shape: ``<check>_score`` in [0, 1] (1 = worst; 0.5 exactly at
  the threshold) and its name in the list column ``quality_issues`` when the image fails.

A new check is one badness function plus one `QualityCheck` entry (and its score column
in curate/schema.py). Thresholds were chosen by bench/quality.py on a calibration half of
real photos with known degradations (at most 3% of any collection's originals flagged) and
validated on the other half and by leaving one collection out (docs/benchmarks.md, "Image
quality checks"); none was chosen on the procedural demo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image

from curate import schema
from curate.settings_fields import SettingError

STAT_SIDE = 256  # statistics are measured on the upright image shrunk to this short side (never enlarged)
STATISTICS = ("laplacian_var", "brightness_p05", "brightness_p50", "brightness_p95", "white_clipped_share",
              "centre_clipped_share", "entropy_bits", "chroma_mean")
CLIPPED = 250  # a channel (or grey) value at least this is a clipped highlight
# A collection is "colour" when more than this share of its measured photos has colour; only then
# is a greyscale photo an issue (a scenes15-like collection is greyscale by nature). The default of
# FilterConfig.colour_collection_share (`curate filter --colour-collection-share`, recipe [filter]).
DEFAULT_COLOUR_COLLECTION_SHARE = 0.5


def shrink_for_statistics(image: Image.Image) -> Image.Image:
    """`image` as RGB with its short side shrunk to STAT_SIDE px (smaller images as they are)."""
    width, height = image.size
    scale = STAT_SIDE / min(width, height)
    if scale < 1:
        image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR,
                             reducing_gap=2.0)
        if image.mode == "RGB":  # a new image already: no copy
            return image
    return image.convert("RGB")


def image_statistics(image: Image.Image, grey: Image.Image | None = None) -> dict[str, float]:
    """The raw quality statistics of an upright RGB image (see STATISTICS).

    The image is shrunk to a short side of STAT_SIDE px first (smaller ones are used as
    they are), so sharpness is measured at one scale whatever the photo's resolution.
    `grey`: the shrunk image in mode L, when the caller has it already.

    >>> stats = image_statistics(Image.new("RGB", (64, 48), (128, 128, 128)))
    >>> stats["laplacian_var"], stats["entropy_bits"], stats["chroma_mean"]
    (0.0, 0.0, 0.0)
    """
    return work_statistics(shrink_for_statistics(image), grey)


def work_statistics(work: Image.Image, grey: Image.Image | None = None) -> dict[str, float]:
    """`image_statistics` of an image already shrunk by `shrink_for_statistics` (the decode pass's work image:
    no second shrink or copy)."""
    grey = grey if grey is not None and grey.size == work.size else work.convert("L")
    counts = np.asarray(grey.histogram(), dtype=np.float64)
    p05, p50, p95 = _histogram_percentiles(counts, (0.05, 0.50, 0.95))
    share = counts / counts.sum()
    nonzero = share[share > 0]
    # colour is judged on a 4x box-reduced copy: enough pixels, a sixteenth of the work
    small = np.asarray(work.reduce(4) if min(work.size) >= 16 else work, dtype=np.int16)
    red, green, blue = small[..., 0], small[..., 1], small[..., 2]  # max - min of the channels, pixel by pixel
    chroma = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)
    return {"laplacian_var": _laplacian_var(np.asarray(grey)), "brightness_p05": p05,
            "brightness_p50": p50, "brightness_p95": p95, "white_clipped_share": float(share[CLIPPED:].sum()),
            "centre_clipped_share": centre_clipped_share(work),
            "entropy_bits": float(-(nonzero * np.log2(nonzero)).sum()) + 0.0,
            "chroma_mean": float(chroma.mean())}


def centre_clipped_share(image: Image.Image) -> float:
    """How clipped the central half (middle 50% of width and height) of an RGB image is: the
    mean over its pixels of a weight for the channels at >= CLIPPED (none 0, one 1/4, two 1/2,
    all three 1), so 0 = nothing clipped and 1 = all white.

    The centre, because over-exposure clips the lit subject while a product shot's clean white
    backdrop surrounds it; channels, because an over-exposed red car clips red long before its
    grey value reaches white, while one saturated channel alone is common in untouched photos,
    hence its low weight (bench/quality.py and docs/benchmarks.md, "Image quality checks").

    >>> centre_clipped_share(Image.new("RGB", (8, 8), (255, 255, 255)))
    1.0
    >>> centre_clipped_share(Image.new("RGB", (8, 8), (255, 250, 30)))
    0.5
    """
    width, height = image.size
    centre = np.asarray(image.crop((width // 4, height // 4, width - width // 4, height - height // 4)))
    if centre.size == 0:
        return 0.0
    # the weights are quarters, so their sum is exact in any order: the same value as the mean of the weight per
    # pixel, from a count of the pixels with 0-3 clipped channels
    clipped = (centre >= CLIPPED).view(np.uint8)
    clipped_channels = clipped[..., 0] + clipped[..., 1] + clipped[..., 2]
    pixels = np.bincount(clipped_channels.ravel(), minlength=4)
    return float((_CLIPPED_CHANNEL_WEIGHT * pixels).sum() / clipped_channels.size)


_CLIPPED_CHANNEL_WEIGHT = np.array([0.0, 0.25, 0.5, 1.0])


def _laplacian_var(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian (0 for images under 3x3), as float32. A uint8 image's Laplacian is
    taken in int16 (whole numbers within +-1020: the same values float32 holds exactly), then its variance in
    float32 as for any other image.

    >>> pattern = (np.add.outer(np.arange(6) ** 2, 3 * np.arange(5)) % 17 * 15).astype(np.uint8)
    >>> _laplacian_var(pattern) == _laplacian_var(pattern.astype(np.float32)) > 0
    True
    """
    if min(grey.shape) < 3:
        return 0.0
    if grey.dtype == np.uint8:
        grey = grey.astype(np.int16)
    else:
        grey = np.asarray(grey, dtype=np.float32)
    lap = (4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:])
    return float(lap.astype(np.float32, copy=False).var())


def _histogram_percentiles(counts: np.ndarray, quantiles: tuple[float, ...]) -> list[float]:
    cumulative = np.cumsum(counts) / max(1, counts.sum())
    return [float(np.searchsorted(cumulative, q)) for q in quantiles]


# ---------------------------------------------------------------- the checks

@dataclass(frozen=True)
class QualityCheck:
    """One check: `badness(catalog) -> values` (higher = worse); fails at >= `threshold`.

    The score is a logistic of (badness - threshold) / `softness`: 0.5 at the threshold,
    towards 1 for worse images. `needs` names the catalog columns it reads; `fails_when` says the
    threshold in the statistic's own units (the badness scale is negated for some checks: dark's
    threshold -90 is a brightness under 90), for the command's table.
    """

    name: str
    badness: Callable[[pd.DataFrame], pd.Series]
    threshold: float
    softness: float
    needs: tuple[str, ...]
    meaning: str
    fails_when: str = ""


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(frame[name], errors="coerce").astype("float64")


def _blur_badness(frame: pd.DataFrame) -> pd.Series:
    # log10 of the Laplacian variance at the fixed 256-px scale: low for blurred photos. Its ratio to
    # the same at half scale (contrast-free) did worse on the calibration half: it flagged 3% of originals.
    return -np.log10(_col(frame, "laplacian_var") + 1.0)


def _dark_badness(frame: pd.DataFrame) -> pd.Series:
    return -(_col(frame, "brightness_p50") + _col(frame, "brightness_p95")) / 2


def _bright_badness(frame: pd.DataFrame) -> pd.Series:
    # clipped highlights separate over-exposure from bright scenes better than any percentile; in the
    # centre only, so that a product shot's white backdrop is not over-exposure (the whole-image share
    # flagged 4.6% of all 1,000 imagenet-sample photos, 6.7% of one half). Times the square root of the
    # median brightness (0-1), because over-exposure lifts every tone while a white car, a white sky or
    # a saturated red bonnet in a normally exposed scene clips with ordinary mid-tones around it (the
    # clipped share alone flagged 3 of 49 ferraris in the validation half). The median counts the
    # clipped pixels too, so a white backdrop lifts it: half the whole frame's clipped share is taken
    # off (without it a piggy bank on white was flagged; docs/benchmarks.md, "Image quality checks").
    median = _col(frame, "brightness_p50") / 255
    return _col(frame, "centre_clipped_share") * np.sqrt(median) * (1 - _col(frame, "white_clipped_share") / 2)


def _low_information_badness(frame: pd.DataFrame) -> pd.Series:
    return -_col(frame, "entropy_bits")


def _aspect_badness(frame: pd.DataFrame) -> pd.Series:
    width, height = _col(frame, "width"), _col(frame, "height")
    return np.log2(np.maximum(width / height, height / width))


def _greyscale_badness(frame: pd.DataFrame) -> pd.Series:
    return -_col(frame, "chroma_mean")


def _tiny_badness(frame: pd.DataFrame) -> pd.Series:
    return -np.log2(np.minimum(_col(frame, "width"), _col(frame, "height")))


# Thresholds: bench/quality.py's calibration half, rounded (docs/benchmarks.md, "Image quality checks").
CHECKS: tuple[QualityCheck, ...] = (
    QualityCheck("blurry", _blur_badness, -1.55, 0.15, ("laplacian_var",),
                 "little fine detail: Laplacian variance at 256 px short side under ~35", "Laplacian variance < 35"),
    QualityCheck("dark", _dark_badness, -90.0, 8.0, ("brightness_p50", "brightness_p95"),
                 "the mean of median and 95th-percentile brightness is under 90 (of 255)",
                 "(p50 + p95) / 2 < 90 of 255"),
    QualityCheck("bright", _bright_badness, 0.117, 0.03,
                 ("centre_clipped_share", "brightness_p50", "white_clipped_share"),
                 "over-exposed: the central half's clipped share (a pixel's channels >= 250 weigh 1/4, 1/2, 1) "
                 "x sqrt(median brightness of 1) x (1 - half the frame's clipped share) is over 0.117",
                 "clipped centre > 0.117"),
    QualityCheck("low_information", _low_information_badness, -3.75, 0.3, ("entropy_bits",),
                 "near-uniform: the grey histogram's entropy is under 3.75 bits", "entropy < 3.75 bits"),
    QualityCheck("odd_aspect", _aspect_badness, float(np.log2(2.5)), 0.1, ("width", "height"),
                 "long side over 2.5x the short side", "long side > 2.5x short"),
    QualityCheck("greyscale", _greyscale_badness, -1.6, 0.5, ("chroma_mean",),
                 "no colour (mean max-min channel difference under 1.6 of 255) in a collection of colour photos",
                 "colour < 1.6 of 255"),
    QualityCheck("tiny", _tiny_badness, float(-np.log2(72)), 0.2, ("width", "height"),
                 "short side under 72 px", "short side < 72 px"),
)
CHECK_BY_NAME = {check.name: check for check in CHECKS}
SCORE_COLUMNS = tuple(f"{check.name}_score" for check in CHECKS)
ALL = "all"


def parse_check_names(names) -> tuple[str, ...]:
    """Check names from a list or a comma-separated string ('all' means every check), in CHECKS
    order; an unknown name raises UsageError naming the known ones.

    >>> parse_check_names("dark, blurry")
    ('blurry', 'dark')
    """
    items = names.split(",") if isinstance(names, str) else list(names or ())
    items = [str(item).strip() for item in items if str(item).strip()]
    if ALL in items:
        return tuple(CHECK_BY_NAME)
    unknown = [item for item in items if item not in CHECK_BY_NAME]
    if unknown:
        raise SettingError(f"unknown quality check {unknown[0]!r} in {{drop_quality}}; "
                           f"known checks: {', '.join(CHECK_BY_NAME)} (or all)", "drop_quality")
    return tuple(name for name in CHECK_BY_NAME if name in items)


def check_colour_collection_share(share) -> float:
    """`share` as a float in [0, 1), or UsageError (the setting colour_collection_share)."""
    try:
        value = float(share)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(share, bool) or not 0 <= value < 1:
        raise SettingError(f"{{colour_collection_share}} must be a share from 0 to under 1 (the greyscale check "
                           f"runs only when more than this share of photos has colour; default "
                           f"{DEFAULT_COLOUR_COLLECTION_SHARE}), got {share!r}", "colour_collection_share")
    return value


def measured_rows(catalog: pd.DataFrame) -> pd.Series:
    """Which rows have image statistics (a Laplacian variance): only they are scored."""
    return catalog["laplacian_var"].notna() if "laplacian_var" in catalog.columns \
        else pd.Series(False, index=catalog.index)


def check_failures(catalog: pd.DataFrame, check: QualityCheck, measured: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(badness, fails) of one check for each row; unmeasured rows have NaN badness and never fail."""
    badness = check.badness(catalog) if all(c in catalog.columns for c in check.needs) \
        else pd.Series(np.nan, index=catalog.index)
    badness = badness.where(measured)
    return badness, (badness >= check.threshold).to_numpy()


def colour_counts(catalog: pd.DataFrame) -> tuple[int, int]:
    """(measured photos, those the greyscale check does not fail) of `catalog`: summed over the
    parts of a collection, the counts `score_quality` judges the collection colour by (the
    out-of-core filter scores a catalog in batches and passes the whole collection's counts).

    >>> colour_counts(pd.DataFrame({"laplacian_var": [9.0, 9.0, None], "chroma_mean": [0.0, 30.0, 30.0]}))
    (2, 1)
    """
    measured = measured_rows(catalog)
    _, fails = check_failures(catalog, CHECK_BY_NAME["greyscale"], measured)
    return int(measured.sum()), int((~fails[measured.to_numpy()]).sum())


def score_quality(catalog: pd.DataFrame,
                  colour_collection_share: float = DEFAULT_COLOUR_COLLECTION_SHARE,
                  collection_counts: tuple[int, int] | None = None) -> tuple[pd.DataFrame, dict]:
    """Scores and issues of every check for each row (pure, vectorised).

    Returns (frame indexed like `catalog` with one ``<check>_score`` column per check and
    ``quality_issues`` (list of failed check names), summary). Rows without statistics get
    null scores and no issues. Greyscale is judged against the collection: when at most
    `colour_collection_share` of the measured photos have colour, its scores are 0 and nobody
    fails it (0: every collection with a colour photo counts as colour). `summary`: whether the
    collection counts as colour (colour_collection, colour_share) and `failed`, a boolean frame
    with one column per check. `collection_counts`: `colour_counts` of the whole collection when
    `catalog` is one batch of it (None: `catalog` is the collection).
    """
    measured = measured_rows(catalog)
    scores, failed = {}, {}
    colour_share = None
    for check in CHECKS:
        badness, is_issue = check_failures(catalog, check, measured)
        score = 1.0 / (1.0 + np.exp(-(badness - check.threshold) / check.softness))
        if check.name == "greyscale":
            total, colour = collection_counts or (int(measured.sum()), int((~is_issue[measured.to_numpy()]).sum()))
            colour_share = colour / total if total else None
            if colour_share is not None and colour_share <= colour_collection_share:
                score, is_issue = score.where(score.isna(), 0.0), np.zeros(len(catalog), dtype=bool)
        scores[f"{check.name}_score"] = score.astype("float64")
        failed[check.name] = is_issue
    names = np.array(list(failed), dtype=object)
    matrix = np.column_stack(list(failed.values())) if len(catalog) else np.zeros((0, len(failed)), dtype=bool)
    out = pd.DataFrame(scores, index=catalog.index)
    out["quality_issues"] = [list(names[row]) for row in matrix]
    return out, {"colour_collection": None if colour_share is None else colour_share > colour_collection_share,
                 "colour_share": colour_share, "failed": pd.DataFrame(failed, index=catalog.index)}


MAX_QUALITY_DROP_SHARE = 0.5  # quality drops taking more of a label's photos than this: held (kept, flagged)
NOTED_LABEL_SHARE = 0.1  # the note on applied drops names labels losing more than this share
MIN_HELD_LABEL = 10  # smaller labels are not held (the project's "judged by chance" size, as for copies)


def held_labels(photos: pd.Series, would_drop: pd.DataFrame, force: bool) -> pd.Series:
    """Labels of MIN_HELD_LABEL photos or more whose asked-for quality drops would take more than
    MAX_QUALITY_DROP_SHARE of their photos:
    label -> the photos it would lose (empty when `force`; both engines). `photos`: label (schema.NO_LABEL for the
    unlabelled) -> its kept photos before the quality step; `would_drop`: (label, reason, dropped) rows.
    Audit AA: `--drop-quality all` dropped 94 % of a collection of night photos and all 29 of one label, and
    100 % of one of 64 px photos, with one warning; the geo and licence stages hold such drops.

    >>> drops = pd.DataFrame({"label": ["lund", "lund", "coast"], "reason": ["quality:dark", "quality:blurry",
    ...                       "quality:dark"], "dropped": [20, 9, 3]})
    >>> held_labels(pd.Series({"lund": 29, "coast": 40}), drops, force=False).to_dict()
    {'lund': 29}
    >>> held_labels(pd.Series({"lund": 9, "coast": 40}), drops.assign(dropped=[6, 3, 3]), force=False).to_dict()
    {}
    """
    if force or not len(would_drop):
        return pd.Series(dtype="int64")
    per_label = would_drop.groupby("label")["dropped"].sum()
    size = photos.reindex(per_label.index)
    # a label of a few photos that are truly bad is not a look (audit AC): applied, and `drop_note` names it
    judged = (size >= MIN_HELD_LABEL) & (per_label > MAX_QUALITY_DROP_SHARE * size)
    return per_label[judged].sort_index().astype("int64")


def main_checks(drops: pd.DataFrame) -> pd.Series:
    """label -> the check that takes most of its photos in (label, reason, dropped) rows (ties: first by name).

    >>> main_checks(pd.DataFrame({"label": ["a", "a"], "reason": ["quality:dark", "quality:blurry"],
    ...                           "dropped": [2, 5]})).to_dict()
    {'a': 'blurry'}
    """
    main = drops.sort_values(["dropped", "reason"], ascending=[False, True]).drop_duplicates("label")
    return main.set_index("label")["reason"].str.removeprefix("quality:")


def labelled_only(photos: pd.Series, drops: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """`photos` and `drops` (label, reason, dropped) without the unlabelled photos (schema.NO_LABEL): what
    `drop_warnings` judges, from the counts `drop_note` reads."""
    return photos.drop(schema.NO_LABEL, errors="ignore"), drops[drops["label"] != schema.NO_LABEL]


def held_checks(photos: pd.Series, flags: pd.DataFrame, labels) -> dict:
    """label -> the dropping checks that would each take more than half of its photos on their own, or the one
    that flags most of them, with counts (`flags`: (label, check, flagged) rows of the checks --drop-quality
    names, over the kept photos). Audit AF: the held line named `blurry`, the first check 25 night photos
    failed, while `dark` flagged all 28: leaving `blurry` out, as it advised, was held again.

    >>> flags = pd.DataFrame({"label": ["paris", "paris"], "check": ["blurry", "dark"], "flagged": [25, 28]})
    >>> held_checks(pd.Series({"paris": 40}), flags, ["paris"])
    {'paris': 'dark 28, blurry 25'}
    >>> held_checks(pd.Series({"paris": 60}), flags, ["paris"])
    {'paris': 'dark 28'}
    """
    named = {}
    for label in labels:
        mine = flags[(flags["label"] == label) & (flags["flagged"] > 0)]
        mine = mine.sort_values(["flagged", "check"], ascending=[False, True])
        heavy = mine[mine["flagged"] > MAX_QUALITY_DROP_SHARE * photos[label]]
        shown = heavy if len(heavy) else mine.head(1)
        named[label] = ", ".join(f"{row.check} {row.flagged:,}" for row in shown.itertuples())
    return named


def held_warning(photos: pd.Series, held: pd.Series, flags: pd.DataFrame | None) -> list[str]:
    """The `held:` line for `held_labels` (both engines): the labels, what each would lose and the checks
    that take most of it (`held_checks` from `flags`, needed when a label is held), and what to do."""
    if held.empty:
        return []
    order = (held / photos.reindex(held.index)).sort_index().sort_values(ascending=False, kind="stable").index
    main = held_checks(photos, flags, order)
    named = ", ".join(f"{label} {held[label]:,} of {photos[label]:,} ({main[label]})" for label in order[:6])
    return [f"held: the quality drops would take more than half of {len(held)} label"
            f"{'s' if len(held) != 1 else ''} ({named}{', …' if len(held) > 6 else ''}): kept, still flagged in "
            "quality_issues; if that is the labels' own look (black-and-white, night, small or panorama photos), "
            "leave those checks out of --drop-quality; if they are truly bad, --force-quality drops them"]


def losing_labels(lost: pd.Series, photos: pd.Series) -> str:
    """"; labels losing over 10%: …" for a drop note: the labels whose `lost` photos are more than
    NOTED_LABEL_SHARE of their `photos` (label -> count each), most first, six named ("" when none).

    >>> losing_labels(pd.Series({"a": 5, "b": 1}), pd.Series({"a": 10, "b": 20}))
    '; labels losing over 10%: a 50%'
    """
    share = (lost / photos.reindex(lost.index)).dropna()
    share = share[share > NOTED_LABEL_SHARE].sort_index().sort_values(ascending=False, kind="stable")
    return f"; labels losing over {NOTED_LABEL_SHARE:.0%}: " + ", ".join(
        f"{label} {value:.0%}" for label, value in share.head(6).items()) if len(share) else ""


def drop_note(photos: pd.Series, drops: pd.DataFrame) -> list[str]:
    """One note on the quality drops applied (both engines): how many, by check, and the labels losing more
    than NOTED_LABEL_SHARE of their photos (audit AA: 42 % of a collection lost without a word)."""
    dropped = int(drops["dropped"].sum()) if len(drops) else 0
    if not dropped:
        return []
    by_check = drops.groupby("reason")["dropped"].sum().sort_index().sort_values(ascending=False, kind="stable")
    checks = ", ".join(f"{reason.removeprefix('quality:')} {n:,}" for reason, n in by_check.items())
    labels = losing_labels(drops.groupby("label")["dropped"].sum(), photos)
    return [f"--drop-quality dropped {dropped:,} of {int(photos.sum()):,} photos ({dropped / photos.sum():.0%}): "
            f"{checks}{labels}"]


CROWDED_CHECK_SHARE = 0.5  # a check flagging more of the measured photos than this: a note


def crowded_check_note(flagged: dict[str, int], measured: int) -> list[str]:
    """A note naming the checks that flag more than CROWDED_CHECK_SHARE of the measured photos (both
    engines): that is the collection's look, not defects (audit AA: `dark` on 93 % of night photos, `tiny`
    on every photo of a 64 px collection, filling the review queue with good photos).

    >>> crowded_check_note({"dark": 93, "blurry": 4}, 100)[0][:49]
    'the dark check flags 93 of the 100 measured photo'
    """
    crowded = {name: n for name, n in flagged.items() if measured and n > CROWDED_CHECK_SHARE * measured}
    if not crowded:
        return []
    named = ", ".join(f"the {name} check flags {n:,} of the {measured:,} measured photos ({n / measured:.0%})"
                      for name, n in crowded.items())
    return [f"{named}: that many is more likely the collection's own look (night, black-and-white, small or "
            "panorama photos) than defects; its flags fill `curate review --queue quality`, and --drop-quality "
            "would hold its drops"]


def drop_warnings(photos: pd.Series, drops: pd.DataFrame, forced: bool = True) -> list[str]:
    """A warning when the asked-for quality drops take more than MAX_QUALITY_DROP_SHARE of the labelled
    photos or of a label's (both engines). `photos`: label -> its photos kept before the quality step;
    `drops`: one row per (label, reason: quality:<check>) with the photos `dropped`. An acceptance audit's
    `--drop-quality all` took 46 % of 384 real 15-Scene photos and emptied Coast, OpenCountry and Store,
    whose real photos are black and white, with no word. Such drops are now held (`held_labels`) unless
    --force-quality; forced, they are applied and the line names the labels and the check that took most of
    each. Not `forced`, only labels under MIN_HELD_LABEL photos (never held) can be named, and the line says so
    (audit AG: it said "as --force-quality asked" of a run without the flag).

    >>> photos = pd.Series({"Coast": 40, "Kitchen": 40})
    >>> drops = pd.DataFrame({"label": ["Coast", "Coast", "Kitchen"], "dropped": [38, 2, 1],
    ...                       "reason": ["quality:greyscale", "quality:dark", "quality:dark"]})
    >>> line = drop_warnings(photos, drops)[0]
    >>> line.startswith("the quality drops take 41 of the 80 labelled photos (51%)"), "Coast 100% (greyscale)" in line
    (True, True)
    >>> drop_warnings(photos, drops.iloc[1:])
    []
    >>> drop_warnings(pd.Series({"small": 9, "big": 40}), pd.DataFrame({"label": ["small"], "dropped": [6],
    ...               "reason": ["quality:dark"]}), forced=False)[0][61:142]
    'more than half of small 67% (dark): applied (labels under 10 photos are not held)'

    """
    total, dropped = int(photos.sum()), int(drops["dropped"].sum()) if len(drops) else 0
    if not dropped:
        return []
    per_label = drops.groupby("label")["dropped"].sum()
    share = (per_label / photos.reindex(per_label.index)).sort_values(ascending=False)
    heavy = share[share > MAX_QUALITY_DROP_SHARE]
    if heavy.empty and dropped <= MAX_QUALITY_DROP_SHARE * total:
        return []
    main = main_checks(drops)
    named = ", ".join(f"{label} {value:.0%} ({main[label]})" for label, value in heavy.head(6).items())
    which = f" and more than half of {named}{', …' if len(heavy) > 6 else ''}" if len(heavy) else ""
    why = "as --force-quality asked" if forced else f"labels under {MIN_HELD_LABEL} photos are not held"
    return [f"the quality drops take {dropped:,} of the {total:,} labelled photos ({dropped / total:.0%}){which}: "
            f"applied ({why}); if these are the labels' own look (black-and-white, night or "
            "panorama photos), leave that check out of --drop-quality (it still flags them in quality_issues)"]
