"""The topic cut (pure): the threshold the stage chooses, and the sanity checks that hold its drops.

`decide_cut` picks the threshold (`curate.prefilter.threshold`) and collects the reasons to hold it
(too few tagged photos, the tag on too many, a cut emptying the tagged photos, the collection or a
label, a cut the tag or a label's scores do not support); `cut_estimate` bounds the on-topic photos
among an applied cut's drops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from curate.prefilter.config import MIN_LABEL_PHOTOS, PrefilterConfig
from curate.prefilter.threshold import (
    MAX_TAG_CHANCE,
    MAX_WITHIN_CHANCE,
    MIN_TAG_SEPARATION,
    bimodality,
    label_separation,
    percent_apart,
    tag_separation,
    youden_threshold,
)
from curate.stage_reports import names_text

# An untagged photo above the cut is recovered (`topic_recovered`: on topic, the tag merely missing) only when it
# scores at least as high as this share of the tagged photos: the tagged photos' own scores are the evidence of what
# an on-topic photo scores, whatever cut was chosen (audit EG F1, 2026-12-07: three clumps of scores, 8 scattered
# off-topic photos 0.31-0.42, 18 untagged sandals of a photographer who tags his 26 Ferraris 0.66-0.76, Ferraris
# 0.70-0.94; Otsu's cut 0.539 fell between the first clump and the rest and recovered all 18 sandals, where the
# tagged photos' 1st percentile 0.770 keeps the 2 real untagged Ferraris, 0.808 and 0.935, and recovers no sandal).
# Tags that are wrong on some off-topic photos pull the quantile below the cut (then it changes nothing); the
# untagged photos between the cut and it are kept, flagged topic_doubted, with a warning (`recovery_floor`).
RECOVERY_QUANTILE = 0.01

# A topic model learnt from fewer tagged photos than this holds its drops (an audit's re-check: 3 tagged photos
# of 120 dropped 7 untagged ones, 18 with --folds 4, with no word but "scores not bimodal").
MIN_TAGGED = 10


@dataclass(frozen=True)
class Cut:
    """The threshold the stage chose, how, and whether its drops are held (with the reasons)."""

    threshold: float
    method: str  # fixed, otsu, youden, or otsu-uncalibrated (no bimodality, too few untagged)
    bimodality: dict
    reasons: list[str]
    held: bool


def decide_cut(score: np.ndarray, tagged: np.ndarray, config: PrefilterConfig,
               labels: np.ndarray | None = None) -> Cut:
    """Choose the threshold and check it is safe to apply.

    Threshold: `config.threshold` when given; else Otsu's cut when the scores are bimodal
    (`curate.prefilter.threshold.bimodality`); else Youden's J on tagged vs untagged scores when
    at least `min_untagged` photos are untagged; else Otsu's cut, uncalibrated, never applied
    without `force`. Reasons to hold the drops: fewer than MIN_TAGGED tagged photos, the tag is on
    more than `max_topic_share` of the photos, the cut drops more than `max_drop_share` of the tagged
    ones, no calibrated cut, or
    (`collection_reasons`) the cut drops more than `max_total_drop_share` of all the photos or
    more than `max_label_drop_share` of a label's (`labels`: one per score, None where unlabelled).
    """
    test = bimodality(score, config.seed)
    untagged = int((~tagged).sum())
    reasons = []
    if config.threshold is not None:
        threshold, method = config.threshold, "fixed"
    elif test.bimodal:
        threshold, method = test.cut, "otsu"
    elif untagged >= config.min_untagged:
        threshold, method = youden_threshold(score, tagged), "youden"
        reasons += tag_separation_reasons(score, tagged, config.topic)
    else:
        threshold, method = test.cut, "otsu-uncalibrated"
        reasons.append(f"scores not bimodal and only {untagged} untagged photos to calibrate a cut on "
                       f"(min_untagged {config.min_untagged})")
    if int(tagged.sum()) < MIN_TAGGED:
        reasons.append(f"only {int(tagged.sum()):,} of the {len(tagged):,} photos judged carry the tag "
                       f"{config.topic!r}: a topic model learnt from fewer than {MIN_TAGGED} tagged photos cannot be "
                       "trusted to drop photos")
    share = float(tagged.mean())
    if share > config.max_topic_share:  # first: it says what to do instead (audit CR: it came fifth of eight)
        reasons.insert(0, f"{percent_apart(share, config.max_topic_share)} of the {len(tagged):,} photos judged carry "
                       f"the tag {config.topic!r}, too many to tell off-topic ones apart (max_topic_share "
                       f"{config.max_topic_share:.0%}; a collection gathered by that tag: to look for wrong labels "
                       "alone, `curate prefilter --label-issues-only` without --topic)")
    tagged_below = int((tagged & (score < threshold)).sum())
    if tagged_below > config.max_drop_share * tagged.sum():
        reasons.append(f"the cut {threshold:.3f} would drop {tagged_below:,} of {int(tagged.sum()):,} tagged photos "
                       f"({percent_apart(tagged_below / tagged.sum(), config.max_drop_share)}; max_drop_share "
                       f"{config.max_drop_share:.0%})")
    reasons += collection_reasons(score < threshold, tagged, labels, threshold, config)
    unsupported = unsupported_labels(score, tagged, labels, threshold, config.seed) if labels is not None else []
    reasons += unsupported_label_reasons(unsupported, config.topic)
    figures = {"ashman_d": round(test.ashman_d, 4), "mode_gap": round(test.mode_gap, 4),
               "bimodal": test.bimodal, "otsu_cut": round(test.cut, 4), "summary": test.describe(),
               "within_label": unsupported}
    return Cut(float(threshold), method, figures, reasons, held=bool(reasons) and not config.force)


def recovery_floor(score: np.ndarray, tagged: np.ndarray) -> float | None:
    """The score an untagged photo must reach to be recovered as on topic: the RECOVERY_QUANTILE quantile of the
    tagged photos' scores (None without tagged photos). The stage recovers an untagged photo at or above both the
    cut and this floor; one between the two is kept and flagged topic_doubted, not dropped.

    >>> recovery_floor(np.array([0.2, 0.7, 0.8, 0.9, 0.95]), np.array([0, 0, 1, 1, 1], bool))
    0.802
    """
    scores = np.asarray(score, dtype=np.float64)[np.asarray(tagged, dtype=bool)]
    return float(np.quantile(scores, RECOVERY_QUANTILE)) if len(scores) else None


def cut_estimate(score: np.ndarray, tagged: np.ndarray, threshold: float) -> dict:
    """What a cut drops and how many of its drops could be on-topic photos (audit V, 2026-12-06).

    The tagged photos stand for the on-topic ones: if the tag were on a random share of them, the cut
    would lose the same share F of the on-topic photos as of the tagged ones, and the A photos it keeps
    (on-topic, at most) would be 1 - F of them, so about A·F/(1 - F) on-topic photos are among its D
    drops. A rough guide, not a measure: tagged off-topic photos (wrong tags) also score low and raise F,
    and off-topic photos above the cut raise A; where the tag goes on the most typical on-topic photos,
    F is too low and so is the figure (audit Z10: 26 where 73 were on topic, on generated scores). On
    audit V's 20 real-photo scrapes its precision came within about 0.05 of the drops' true precision,
    or below it, in 19; on the demo, whose tags are wrong by design, it says 453 of 965 where the drops
    are almost all off topic.

    >>> cut_estimate(np.array([0.1, 0.2, 0.8, 0.9, 0.9, 0.1]), np.array([0, 0, 1, 1, 1, 1], bool), 0.5)
    {'dropped': 3, 'tagged_below_share': 0.25, 'on_topic_dropped_bound': 1, 'precision_bound': 0.6667}
    """
    below = score < threshold
    dropped, kept = int(below.sum()), int((~below).sum())
    share = float((tagged & below).sum() / tagged.sum()) if tagged.any() else 0.0
    bound = dropped if share >= 1 else min(dropped, int(round(kept * share / (1 - share))))
    return {"dropped": dropped, "tagged_below_share": round(share, 4), "on_topic_dropped_bound": bound,
            "precision_bound": round(1 - bound / dropped, 4) if dropped else None}


def cut_estimate_note(estimate: dict) -> str:
    """The note on an applied cut: its drops and the bound of `cut_estimate` on the on-topic ones among them."""
    return (f"the cut drops {estimate['dropped']:,} photos; {estimate['tagged_below_share']:.0%} of the tagged "
            f"photos score below it, so were every tag right and the tag on a random share of the on-topic photos, "
            f"about {estimate['on_topic_dropped_bound']:,} of the drops would be on topic (a rough guide: fewer where "
            "tags are wrong, as a wrongly tagged off-topic photo scores low too; more where the tagged photos are "
            "the most typical ones); `curate review` shows the drops, --threshold moves the cut")


def tag_separation_reasons(score: np.ndarray, tagged: np.ndarray, topic: str | None) -> list[str]:
    """A reason to hold a cut calibrated on the tag (Youden) when the topic model's scores do not tell
    tagged from untagged photos (`threshold.tag_separation`): such a cut drops photos at random."""
    j, chance = tag_separation(score, tagged)
    if j >= MIN_TAG_SEPARATION and chance < MAX_TAG_CHANCE:
        return []
    return [f"the tag {topic!r} does not tell photos apart: above its best cut, the topic model (out of fold) keeps "
            f"{j * 100:.0f} points more of the tagged photos' share than of the untagged ones' (Youden's J {j:.2f}; a "
            f"tag at random does as well {_share(chance)} of the time; J {MIN_TAG_SEPARATION:g} and a chance under "
            f"{MAX_TAG_CHANCE:.0%} needed), so a cut on it would drop photos at random; is the tag the topic, and on "
            "the photos that show it? Or is nearly every photo on topic, the tag missing from some (then there is "
            "nothing to drop; J cannot exceed the share of off-topic photos among the untagged ones, so a collection "
            "with few off-topic photos reads the same: audit V saw J 0.10 with 5% off topic)"]


MOST_OF_A_LABEL = 0.5  # a cut dropping more of a label's judged photos than this is tested within the label
# A label carrying the tag at under this share of the other photos' rate is held, untested, when the cut takes most
# of it (audit CD, 2026-12-07: ImageNet object labels with `animal` on 95 % of the animal photos, on 15 % of
# vehicles and 6 % of food; the cut took 23 of 26 vehicles and 33 of 47 food photos, all good: 4 tagged vehicles
# are too few to test, under the 90 % label share, and with 5, one of them a mislabelled dog, the test passed). A
# sandals label carries the tag more; audit AE's Highway (53 % against 77 %) and AJ's Street-and-InsideCity
# label (about half the others' rate) sit above a third and stay with the test.
RARELY_TAGGED = 1 / 3


def unsupported_labels(score: np.ndarray, tagged: np.ndarray, labels: np.ndarray, threshold: float,
                       seed: int = 0) -> list[dict]:
    """The labels of MIN_LABEL_PHOTOS or more judged that carry the tag less than the other photos judged and that
    the cut would take most of (MOST_OF_A_LABEL) while, within the label, the scores tell its tagged photos from
    its untagged ones no better than the tag shuffled among them (`threshold.label_separation`, chance
    MAX_WITHIN_CHANCE or more): the model has learnt that the label's photos are seldom tagged, not what the topic
    looks like. One dict per label (photos, dropped, tagged, others_tag_share, j, chance). A label that carries
    the tag at under RARELY_TAGGED of the other photos' rate is held without the test (j and chance None): the
    topic does not describe it, whatever a few tagged photos within it say. Another label too seldom tagged to
    test is left to `collection_reasons`' share; one that carries the tag more (one photographer's off-topic
    photos tagged with the topic filling most of it: the sandals) is the cut's to judge."""
    keys = np.array([None if pd.isna(label) else str(label) for label in np.asarray(labels, dtype=object)],
                    dtype=object)
    below = score < threshold
    found = []
    for label in sorted({key for key in keys if key is not None}):
        rows = keys == label
        photos, dropped, carry = int(rows.sum()), int((rows & below).sum()), int(tagged[rows].sum())
        if photos < MIN_LABEL_PHOTOS or dropped <= MOST_OF_A_LABEL * photos:
            continue
        others, others_tagged = int((~rows).sum()), int(tagged[~rows].sum())
        # the label must carry the tag less (a plain comparison: audit AJ's one-sided Fisher test, proposed so that
        # a 5-point gap would not count, let cuts of precision 0.42-0.57 drop most of a label's good photos on
        # audit AI's collections; a hold is the recoverable mistake, `--force`)
        if not others or carry * others >= others_tagged * photos:
            continue
        figures = {"label": label, "photos": photos, "dropped": dropped, "tagged": carry,
                   "others_tag_share": round(others_tagged / others, 4)}
        if carry * others < RARELY_TAGGED * others_tagged * photos:
            found.append({**figures, "j": None, "chance": None})
            continue
        tested = label_separation(score[rows], tagged[rows], seed)
        if tested is not None and tested[1] >= MAX_WITHIN_CHANCE:
            found.append({**figures, "j": round(tested[0], 4), "chance": round(tested[1], 4)})
    return found


def unsupported_label_reasons(unsupported: list[dict], topic: str | None) -> list[str]:
    """The reasons for `unsupported_labels`, one line for the labels tested within and one for those held as
    too rarely tagged, each naming its labels and their figures.

    >>> print(unsupported_label_reasons([{"label": "vehicles", "photos": 26, "dropped": 23, "tagged": 4,
    ...                                   "others_tag_share": 0.95, "j": None, "chance": None}], "animal")[0])
    ... # doctest: +NORMALIZE_WHITESPACE
    the cut would drop most of vehicles (23 of 26; tagged 4, 15% against 95% of the other photos), which
    carries the tag 'animal' at under a third of the other photos' rate: a label that is not a kind of the
    topic, or one the tag is seldom used on; a cut on the tag would take the label, not its off-topic photos
    """
    tested = [row for row in unsupported if row["j"] is not None]
    rare = [row for row in unsupported if row["j"] is None]
    lines = []
    if tested:
        named = names_text([f"{_figures(row)}; J {row['j']:.2f}, as well {_share(row['chance'])} of the time)"
                            for row in tested], shown=6)
        lines.append(f"the cut would drop most of {named}, and within {'each' if len(tested) > 1 else 'it'} the "
                     f"topic model (out of fold) scores the photos tagged {topic!r} and the others alike (Youden's J; "
                     f"the tag shuffled among the label's photos does as well, {MAX_WITHIN_CHANCE:.0%} or more needed "
                     "to hold): it has learnt that these photos are seldom tagged, not what the topic looks like; is "
                     "the tag used less on this label, its photos on topic all the same?")
    if rare:
        named = names_text([f"{_figures(row)})" for row in rare], shown=6)
        lines.append(f"the cut would drop most of {named}, which carr{'y' if len(rare) > 1 else 'ies'} the tag "
                     f"{topic!r} at under a third of the other photos' rate: a label that is not a kind of the topic, "
                     "or one the tag is seldom used on; a cut on the tag would take the label, not its off-topic "
                     "photos")
    return lines


def _figures(row: dict) -> str:
    """A label's figures in a reason, its closing bracket left to the caller."""
    return (f"{row['label']} ({row['dropped']:,} of {row['photos']:,}; tagged {row['tagged']:,}, "
            f"{row['tagged'] / row['photos']:.0%} against {row['others_tag_share']:.0%} of the other photos")


def _share(value: float) -> str:
    """A share as a percentage precise enough to compare with a 1 % bar: 1.3 % is not "1%" (an audit could not
    tell which test a held cut failed).

    >>> _share(0.0134), _share(0.25), _share(0.0004)
    ('1.3%', '25%', '0.04%')
    """
    digits = 0 if value >= 0.1 else 1 if value >= 0.01 else 2
    return f"{value * 100:.{digits}f}%"


def collection_reasons(below: np.ndarray, tagged: np.ndarray, labels: np.ndarray | None, threshold: float,
                       config: PrefilterConfig) -> list[str]:
    """Reasons to hold a cut that would empty the collection or its labels (both the mark of a wrong
    --topic, or of labels that are not kinds of the topic), one line each; [] when neither.

    `below`: the photos the cut would drop. A label counts when it has at least `MIN_LABEL_PHOTOS`
    photos judged. Topic rescue cannot refill an emptied label (its label model learns from kept
    photos only), so the check comes before it. ImageNet's 6 object labels with `--topic food`: the
    cut would drop 88% of the photos and all of the 5 labels that are not food; the scrapes this
    stage is made for lose 35-40% of their photos and at most 55-70% of one label (the one a
    sandals-style photographer files off-topic photos under); docs/prefilter-rescue.md.
    """
    reasons, n = [], len(below)
    dropped = int(below.sum())
    if n and dropped > config.max_total_drop_share * n:
        # with the tag on nearly every photo the topic is right and the tag tells nothing apart (its own reason
        # says so): no "wrong --topic?" then (audit AM: 98 of 100 real Flickr Ferraris tagged `ferrari`)
        asked = "" if float(np.mean(tagged)) > config.max_topic_share else \
            f": is {config.topic!r} the topic of this collection (a wrong --topic)?"
        reasons.append(f"the cut {threshold:.3f} would drop {dropped:,} of the {n:,} photos judged "
                       f"({percent_apart(dropped / n, config.max_total_drop_share)}; max_total_drop_share "
                       f"{config.max_total_drop_share:.0%}){asked}")
    if labels is None or not n:
        return reasons
    frame = pd.DataFrame({"label": labels, "below": below, "tagged": tagged}).dropna(subset=["label"])
    per_label = frame.groupby("label").agg(photos=("below", "size"), below=("below", "sum"), tagged=("tagged", "sum"))
    emptied = per_label[(per_label["photos"] >= MIN_LABEL_PHOTOS)
                        & (per_label["below"] > config.max_label_drop_share * per_label["photos"])]
    if emptied.empty:
        return reasons
    emptied = emptied.sort_values(["photos", "below"], ascending=False)
    named = [f"{label} {int(row.below):,} of {int(row.photos):,}" for label, row in emptied.head(6).iterrows()]
    more = f" and {len(emptied) - 6} more" if len(emptied) > 6 else ""
    lost = emptied["below"] / emptied["photos"]
    whole = "every" if (lost == 1).all() else "nearly every" if (lost >= 0.9).all() else "most"
    tag_count, photos = int(emptied["tagged"].sum()), int(emptied["photos"].sum())
    tags = (f"none of their photos carries the tag {config.topic!r}" if tag_count == 0 else
            f"{tag_count:,} of their {photos:,} photos carry the tag {config.topic!r}")
    # mostly tagged: the tag vouches for these labels, so the cut is the suspect, not the labels
    cause = ("the tag says they are on topic: the cut does not tell the topic apart" if tag_count >= photos / 2 else
             f"labels that are not kinds of the topic {config.topic!r}, or a wrong --topic")
    whole += " photos" if whole == "most" else " photo"  # audit CD: "most photo of 1 label"
    reasons.append(f"the cut {threshold:.3f} would drop {whole} of {len(emptied)} "
                   f"label{'s' if len(emptied) > 1 else ''} ({', '.join(named)}{more}; max_label_drop_share "
                   f"{config.max_label_drop_share:.0%}) and {tags}: {cause}")
    return reasons
