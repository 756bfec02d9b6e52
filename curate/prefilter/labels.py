"""The label model's evidence and what the prefilter says of it (pure): which photos a fold model can
judge, copies judged alike, the model's figures, and the notes and warnings on label issues.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from curate.prefilter.confident import LabelIssues
from curate.prefilter.config import MIN_LABEL_PHOTOS

SKIPPED = "label issues skipped: "  # how the note on skipped label issues starts (`skipped_note`)


@dataclass(frozen=True)
class LabelEvidence:
    """The label model's out-of-fold view of the examined (kept, labelled) photos.

    rows: catalog row numbers; classes: label names; codes: given label per row (index into
    classes); proba: (rows, classes) out-of-fold probabilities; fold: fold per row; groups:
    photographer group per row; found: confident learning's result.
    """

    rows: np.ndarray
    classes: np.ndarray
    codes: np.ndarray
    proba: np.ndarray
    fold: np.ndarray
    groups: np.ndarray
    found: LabelIssues  # its is_issue already leaves the unjudged photos out
    unjudged: np.ndarray  # bool per row: too little support to judge (`fold_support`, MIN_LABEL_SUPPORT[_SHARE])


# A flag needs a fold model that saw at least this many photos of the photo's given label (`fold_support`):
# the project's "a smaller label is judged by chance" size (curate.prefilter.config.MIN_LABEL_PHOTOS). On a
# long-tailed real collection (16 labels of 3-72 photos, 72 photographers, 9 planted mislabels; the
# 2026-12-05 long-tail audit) photographer-grouped folds left a small label mostly in one fold (one
# photographer holding 11 of dog's 15 photos, a re-post joining two): of the photos scored by a model
# that saw 0-9 of their label's photos, 45 of 72 were flagged, 1 of them a planted mislabel; of those
# scored with support 10 or more, 8 of 301 (6 of them planted). The 15-Scene, scenes-scrape and demo
# collections have every photo's support far above it.
MIN_LABEL_SUPPORT = MIN_LABEL_PHOTOS
# ... and at least this share of the label's photos: a model that saw a sliver of a large label knows one
# corner of what it looks like. With 5 even folds a model sees 80 %; below a quarter, one group holds most of
# the label. The audit of all 5,614 real photos (2026-12-05) had near-duplicate pairs by different
# photographers join 316 of Forest's 328 photos into one group: the model scoring them saw 12 (4 %) and
# flagged 181 right labels (agreement 3 %); with each cluster given one owner, 28 flags and 91 %. No other
# label's photos sat between 10 % and 25 % there; the lowest judged share was OpenCountry's 38 %. Such
# chains are why `repair._evidence` falls back to `curate.split.copy_owner_groups` (each copy set with its main
# photographer, no chains) when the split's groups leave photos unjudged that those would judge: after the
# overlap match there, 2,097 unjudged photos of 9 labels became 40 (bench/label_chains.py).
MIN_LABEL_SUPPORT_SHARE = 0.25


def fold_support(codes: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Per row: how many photos of its label the model that scores it trains on (those outside its fold).

    >>> fold_support(np.array([0, 0, 0, 1, 1]), np.array([0, 0, 1, 0, 1])).tolist()
    [1, 1, 2, 1, 1]
    """
    total = np.bincount(codes)
    pair = fold.astype(np.int64) * len(total) + codes
    _, position, in_own_fold = np.unique(pair, return_inverse=True, return_counts=True)
    return total[codes] - in_own_fold[position]


def too_little_support(codes: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Per row: whether the model that scores it saw too few photos of its label to judge it (fewer than
    MIN_LABEL_SUPPORT, or under MIN_LABEL_SUPPORT_SHARE of the label).

    >>> codes, fold = np.array([0] * 40 + [1] * 20), np.array([0, 1, 2, 3] * 10 + [0] * 16 + [1] * 4)
    >>> too_little_support(codes, fold)[[0, 40, 59]].tolist()  # the model scoring row 40 saw 4 of its label's 20
    [False, True, False]
    """
    support = fold_support(codes, fold)
    return (support < MIN_LABEL_SUPPORT) | (support < MIN_LABEL_SUPPORT_SHARE * np.bincount(codes)[codes])


def unchained_note(labels: np.ndarray, chained: np.ndarray, loose: np.ndarray, unjudged: np.ndarray,
                   loose_unjudged: np.ndarray) -> str:
    """The note saying that the label model's folds kept each copy set with its main photographer instead
    of joining photographers through shared copies, and what that won.

    >>> labels = np.array(["Forest"] * 6 + ["Coast"] * 2)
    >>> print(unchained_note(labels, np.array([0] * 5 + [1, 2, 2]), np.arange(8) // 2,
    ...                      np.array([True] * 5 + [False] * 3), np.zeros(8, bool)))  # doctest: +NORMALIZE_WHITESPACE
    label issues: near-duplicate copies shared by photographers joined them into groups holding most of a
    label (Forest 5 of 6 photos), too few left for a fold model to judge it; the label model's folds keep each
    copy set with the photographer holding most of it instead (4 groups, not 3), so 5 more photos were judged
    (the split still keeps such photographers together)
    """
    frame = pd.DataFrame({"label": labels, "group": chained, "won": unjudged & ~loose_unjudged})
    largest = frame.groupby(["label", "group"]).size().groupby(level=0).max()
    won_by_label = frame.groupby("label")["won"].sum()
    gaining = won_by_label[won_by_label > 0].sort_values(ascending=False, kind="stable").index
    named = [f"{label} {int(largest[label]):,} of {int((labels == label).sum()):,} photos" for label in gaining[:4]]
    held = f" ({', '.join(named)}{', …' if len(gaining) > 4 else ''})" if named else ""
    won = int(unjudged.sum()) - int(loose_unjudged.sum())
    return (f"label issues: near-duplicate copies shared by photographers joined them into groups holding most "
            f"of a label{held}, too few left for a fold model to judge it; the label model's folds keep each copy "
            f"set with the photographer holding most of it instead ({len(np.unique(loose)):,} groups, not "
            f"{len(np.unique(chained)):,}), so {won:,} more photo{'s were' if won != 1 else ' was'} judged "
            f"(the split still keeps such photographers together)")


def copy_sets(kept: pd.DataFrame) -> np.ndarray:
    """Copy set per row (0..k-1): rows joined by a near-duplicate cluster or an exact copy, others alone."""
    from curate.groups import components

    return components(kept["near_dup_cluster"].reset_index(drop=True), kept["exact_dup_group"].reset_index(drop=True))


def spread_to_copies(flags: np.ndarray, copies: np.ndarray, codes: np.ndarray, suggested: np.ndarray) -> np.ndarray:
    """`flags` also set on each row of a copy set that shares a flagged row's given label (`codes`) and whose own
    most probable class (`suggested`) is not that label: copies of one photo under one label, which the model
    doubts alike, get one verdict. Confident learning flags a set number of photos per class, the least
    self-confident first, so of two copies just apart it may flag one (a photo at 0.067 flagged, its 10 % resize
    at 0.087 not, both most probably another label, in a real collection of 359 photos). A copy the model
    believes under its label keeps its own verdict (a cluster may join two crops of one scene, which the
    backbone sees apart).

    >>> spread_to_copies(np.array([True, False, False, False, False]), np.array([0, 0, 0, 1, 0]),
    ...                  np.array([2, 2, 1, 2, 2]), np.array([0, 0, 0, 0, 2])).tolist()
    [True, True, False, False, False]
    """
    key = pd.factorize(pd.Series(copies.astype(np.int64) * (int(codes.max(initial=0)) + 1) + codes))[0]
    flagged = np.zeros(key.max(initial=-1) + 1, bool)
    flagged[key[flags]] = True
    return flags | (flagged[key] & (suggested != codes))



# `--drop-label-issues` holds a label's drops when its flags are more than this share of its judged photos: the
# label model then disagrees with most of the label, which says more about the model (a label the features do
# not see, a label of a different kind) than about the photos. Before the fold-support guard, a long-tailed
# real collection lost 60-80 % of dog, monkey, fungus and fish this way, every drop but one a right label
# (the 2026-12-05 long-tail audit); the topic cut holds at 0.9 of a label, the quality drops and owner caps hold at 0.5.
MAX_LABEL_ISSUE_DROP_SHARE = 0.5


def heavy_issue_labels(labels: np.ndarray, flagged: np.ndarray) -> dict[str, tuple[int, int]]:
    """label -> (flagged, photos) for the labels whose flags exceed MAX_LABEL_ISSUE_DROP_SHARE of their photos
    (the judged ones: the caller leaves the others out).

    >>> heavy_issue_labels(np.array(["a"] * 4 + ["b"] * 4), np.array([1, 1, 1, 0, 1, 0, 0, 0], bool))
    {'a': (3, 4)}
    """
    frame = pd.DataFrame({"label": labels, "flagged": flagged})
    counts = frame.groupby("label")["flagged"].agg(["sum", "size"])
    heavy = counts[counts["sum"] > MAX_LABEL_ISSUE_DROP_SHARE * counts["size"]]
    return {str(label): (int(row["sum"]), int(row["size"])) for label, row in heavy.iterrows()}


def one_photographer_causes(heavy: dict[str, tuple[int, int]], labels: np.ndarray, unlike: np.ndarray,
                            owners: np.ndarray) -> dict[str, tuple[str, int]]:
    """label -> (photographer, photos) for the heavy labels more than half of whose flags are photos unlike the
    label by one known photographer: then not the model but that photographer's photos are the story (audit
    AD: one photographer's 25 off-label photos beside 20 good ones held the label with a warning blaming the
    model).

    >>> one_photographer_causes({"Street": (25, 45)}, np.array(["Street"] * 4), np.array([1, 1, 1, 0], bool),
    ...                         np.array(["sam", "sam", "ann", "sam"], object))
    {}
    >>> one_photographer_causes({"Street": (2, 3)}, np.array(["Street"] * 3), np.array([1, 1, 0], bool),
    ...                         np.array(["sam", "sam", "ann"], object))
    {'Street': ('sam', 2)}
    """
    causes = {}
    for label, (flagged, _) in heavy.items():
        mine = (labels == label) & unlike & pd.notna(owners)
        if not mine.any():
            continue
        top = pd.Series(owners[mine]).value_counts().sort_index().sort_values(ascending=False, kind="stable")
        if top.iloc[0] > 0.5 * flagged:
            causes[label] = (str(top.index[0]), int(top.iloc[0]))
    return causes


def issue_drop_warning(heavy: dict[str, tuple[int, int]], held: bool,
                       causes: dict[str, tuple[str, int]] | None = None) -> str:
    """The warning for labels most of whose photos are flagged, their drops held (or applied under --force);
    `causes` (`one_photographer_causes`) names a photographer whose photos unlike the label are most flags.

    >>> print(issue_drop_warning({"dog": (10, 15)}, held=True))  # doctest: +NORMALIZE_WHITESPACE
    held: --drop-label-issues would drop more than half of 1 label (dog 10 of 15): the label model disagrees
    with most of it, which says more about the model than the photos; those flags are kept, not dropped.
    Look at them (`curate review`); --force (recipe force = true) drops them anyway
    """
    named = ", ".join(f"{label} {flagged:,} of {photos:,}" for label, (flagged, photos) in sorted(heavy.items()))
    count = f"{len(heavy)} label{'s' if len(heavy) != 1 else ''}"
    told = "".join(f"; {count_:,} of {label}'s flags are photos unlike it by one photographer, {owner}: look at "
                   "that photographer's photos (`curate review --queue owners`)"
                   for label, (owner, count_) in sorted((causes or {}).items()))
    if not held:
        return (f"--drop-label-issues dropped more than half of {count} ({named}) although the label model "
                f"disagrees with most of it: applied, as --force asked{told}")
    why = ("the label model disagrees with most of it, which says more about the model than the photos"
           if len(causes or {}) < len(heavy) else "most of it is flagged")
    look = told if told else ". Look at them (`curate review`)"
    return (f"held: --drop-label-issues would drop more than half of {count} ({named}): {why}; those flags are "
            f"kept, not dropped{look}; --force (recipe force = true) drops them anyway")


def unjudged_note(per_label: pd.DataFrame) -> str:
    """The note naming the labels some of whose photos were not judged (`MIN_LABEL_SUPPORT`, `_SHARE`).

    >>> table = pd.DataFrame({"label": ["dog", "Coast", "fish"], "photos": [15, 72, 6], "unjudged": [15, 0, 6]})
    >>> print(unjudged_note(table))  # doctest: +NORMALIZE_WHITESPACE
    label issues not judged for 21 photos of 2 labels (dog 15 of 15, fish 6 of 6): the fold models that scored
    them saw fewer than 10 photos of their label, or under a quarter of them (a small label, or one
    photographer or near-duplicates by several holding most of it, so that its photos share a fold); a flag
    there would be a guess. They are not flagged (is_label_issue
    empty); `curate review` lists them after the flags, or add photos from more photographers
    """
    hit = per_label[per_label["unjudged"] > 0].sort_values(["unjudged", "label"], ascending=[False, True])
    shown = ", ".join(f"{r.label} {int(r.unjudged):,} of {int(r.photos):,}" for r in hit.head(8).itertuples())
    more = f", and {len(hit) - 8} more" if len(hit) > 8 else ""
    total = int(hit["unjudged"].sum())
    return (f"label issues not judged for {total:,} photo{'s' if total != 1 else ''} of {len(hit)} "
            f"label{'s' if len(hit) != 1 else ''} ({shown}{more}): the fold models that scored them saw fewer than "
            f"{MIN_LABEL_SUPPORT} photos of their label, or under a quarter of them (a small label, or one "
            "photographer or near-duplicates by several holding most of it, so that its photos share a fold); a "
            "flag there would be a guess. They are not flagged "
            "(is_label_issue empty); `curate review` lists them after the flags, or add photos from more photographers")


MIN_WEAK_LABEL = 10  # photos of a label for its agreement to be named
WEAK_AGREEMENT = 0.5  # below it, the label model mostly disagrees with the label's own photos


def label_model_figures(evidence: LabelEvidence, flagged: np.ndarray | None = None) -> dict:
    """How far the label model's word goes: its out-of-fold agreement with the given labels, next to
    the share of the most common label (what a model that learnt nothing would score).

    Confident learning flags the photos this model confidently disagrees with, so a flag is evidence
    of a wrong label only as far as the model is right: on a clean real collection whose labels the
    ImageNet features hardly see (flickr-ferrari's car colours: 76% agreement, majority 37%) all 11
    flags were right labels (docs/pixels.md). The figures go in the stage report, its summary line
    and the report, so that a reader weighs the flags before `--drop-label-issues`.

    `flagged`: the photos flagged as label issues (the catalog's `is_label_issue`: confident learning's flags and
    the photos no label fits), counted per weak label and in `flagged_share`; confident learning's alone when not
    given (audit BB: a label's sentence said 50 flagged beside the table's 51).

    A weak label's `photos`, `agreement` and `flagged` count its judged photos only (not `evidence.unjudged`), as
    the report's table of label issues does ("photos judged", "model agrees"), and so does the rule that makes a
    label weak (review BG F8: 12 dog photos, 8 unjudged, called weak at 17% beside the table's 50% of 4).
    """
    codes, proba = evidence.codes, evidence.proba
    flagged = evidence.found.is_issue if flagged is None else np.asarray(flagged, bool)
    n = len(codes)
    agrees = proba.argmax(axis=1) == codes if n else np.zeros(0, bool)
    # per label (10+ judged photos): where the model agrees with under half of a label's judged given labels, its
    # flags on that label are mostly its own confusion (audit AM: 5 of 5 flags on the Ferraris were white cars, the
    # model agreeing with 39% of white's labels). Unjudged photos stay out: their fold model saw too few of the
    # label for its word to count, and the report's table leaves them out of "model agrees"
    weak = {}
    for name, (mine, agreement) in judged_agreement(evidence).items():
        if mine.sum() >= MIN_WEAK_LABEL and agreement < WEAK_AGREEMENT:
            weak[name] = {"photos": int(mine.sum()), "agreement": round(agreement, 4),
                          "flagged": int(flagged[mine].sum())}
    return {"photos": int(n), "classes": int(len(evidence.classes)),
            "out_of_fold_accuracy": round(float(agrees.mean()), 4) if n else None,
            "majority_share": round(float(np.bincount(codes).max() / n), 4) if n else None,
            "flagged_share": round(float(flagged.mean()), 4) if n else None,
            "weak_labels": weak}


def judged_agreement(evidence: LabelEvidence) -> dict[str, tuple[np.ndarray, float | None]]:
    """{label: (its judged photos as a row mask, the label model's out-of-fold agreement with their given label,
    None when none is judged)}: what makes a label weak (`label_model_figures`) and one the geo rescue cannot
    vouch for (`curate.prefilter.rescue.unvouched_labels`)."""
    judged = ~np.asarray(evidence.unjudged, bool)
    agrees = evidence.proba.argmax(axis=1) == evidence.codes if len(evidence.codes) else np.zeros(0, bool)
    out = {}
    for code, name in enumerate(evidence.classes):
        mine = (evidence.codes == code) & judged
        out[str(name)] = (mine, float(agrees[mine].mean()) if mine.any() else None)
    return out


def why_no_label_folds(labels: int, groups: int, largest: int, folds: int) -> str | None:
    r"""Why the label model's `folds` photographer-grouped, label-stratified folds cannot be made, and what
    to do; None when they can. `labels`, `groups`: how many among the labelled photos; `largest`: the
    photos of the largest label (scikit-learn refuses to stratify when every label has fewer than `folds`).

    >>> print(why_no_label_folds(100, 300, 3, 5).replace("; ", ";\n"))
    every label has fewer than 5 photos among kept photos (the largest has 3);
    --folds 3 or fewer, or more photos per label
    >>> why_no_label_folds(100, 300, 5, 5) is None
    True
    """
    if labels < 2:
        return "fewer than two labels among kept photos"
    if groups < folds:
        return f"fewer than {folds} photographer groups among labelled photos"
    if largest >= folds:
        return None
    if largest < 2:
        return "every label has one photo among kept photos; label issues need a label with 2 photos or more"
    return (f"every label has fewer than {folds} photos among kept photos (the largest has {largest}); "
            f"--folds {largest} or fewer, or more photos per label")


def skipped_note(why: str, config, rescue_off_topic: bool) -> str:
    r"""The note for label issues skipped because of `why`, naming the repairs skipped with them.

    >>> from curate.prefilter.config import PrefilterConfig
    >>> print(skipped_note("too few", PrefilterConfig(topic="t", relabel=True), True).replace("; ", ";\n"))
    label issues skipped: too few;
    relabel, geo rescue and topic rescue skipped with them (they need the label model)
    """
    repairs = [name for name, on in (("relabel", config.relabel), ("geo rescue", config.geo_rescue),
                                     ("topic rescue", rescue_off_topic)) if on]
    if not repairs:
        return f"{SKIPPED}{why}"
    named = repairs[0] if len(repairs) == 1 else f"{', '.join(repairs[:-1])} and {repairs[-1]}"
    return (f"{SKIPPED}{why}; {named} skipped with them "
            f"({'it needs' if len(repairs) == 1 else 'they need'} the label model)")
