"""Photos unlike their label: far, in embedding space, from the label's photos by other photographers.

Confident learning (`curate.prefilter.confident`) flags a photo when the label model is confident of
another label. A photo that belongs to none of the labels (sandals tagged "Chicago", a dog under Coast)
gets a diffuse out-of-fold distribution, no class above its threshold, and no flag: audit AB planted
18 real imagenet-sample photos under 15-Scene's Coast by one photographer (15 % of the label) and
label issues found none of them, while their given-label probability averaged 0.28 against 0.84 for
Coast's own photos.

`label_fit` measures each photo's mean cosine similarity to its NEIGHBOURS nearest photos of the same
label outside its own photographer group (owner, with its copies: `LabelEvidence.groups`, so a
photographer's own series cannot vouch for itself), then a robust z within the label (median and
MAD; a group holding more than BIG_GROUP_SHARE of the label is judged against the other groups'
photos only). Below -UNLIKE_Z the photo is unlike its label: a label issue too. Measured on real
photos (docs/benchmarks.md, "Photos unlike their label"): one photographer's imagenet-sample photos
at 5 / 15 / 30 % of a 15-Scene label, 198 of 198 found where confident learning found 6, for 25 good
photos flagged of 1,500 instead of 17 (a bridge as Coast, an RV as LivingRoom); on the scenes scrape,
15 of the 28 off-topic photos the topic cut kept. A label compares at most MAX_REFERENCES of its
photos (a fixed sample), so the cost stays O(photos x MAX_REFERENCES x dimensions).

The z is within the label, so in a tight label (15-Scene's Suburb: bungalows behind lawns, small MAD) a
typical photo can read below -UNLIKE_Z (audit CR: Suburb 0027 at -4.07, 0063 at -3.70, Street 0003 at
-4.75, each with all 10 of its nearest photos in the collection of its own label). `unlike_label` flags
only where the label is not what surrounds the photo: not all of its NEIGHBOURS nearest typical photos of
ALL labels by other photographers carry it, or the photo is isolated in the collection at large
(`unlike_label`). On the benchmark: 198 of 198 planted photos still found, clean-folder flags 22 instead of
25 (the three above; docs/benchmarks.md). The label_fit column is unchanged.
"""

from __future__ import annotations

import numpy as np

NEIGHBOURS = 10
UNLIKE_Z = 3.5  # the project's robust-z alarm (the report's owner alarm uses it too)
MIN_REFERENCES = 3  # fewer photos of the label by other photographers: not judged
MAX_REFERENCES = 2000
BLOCK = 1024  # rows per similarity block
BIG_GROUP_SHARE = 0.1  # a group holding more of a label's judged photos is judged against the others only
MIN_LABEL_PHOTOS = 30  # fewer measured photos in a label: not judged (audit AD: 9.2 % of 12-photo labels flagged)
# Its own label this share of its NEIGHBOURS nearest photos of all labels: surrounded by it, not unlike it. All of
# them: the neighbourhood of a photo far from every label is weak evidence (a chain-mail photo planted under
# 15-Scene's Coast, fit -8.1, had 6 of 10 Coast neighbours; a radiator under Kitchen 9 of 10), and a wrong
# refusal keeps an off-label photo in training, a wrong flag costs one look. On the benchmark 5 of 10 lost 4 of
# 198 plants, 8 of 10 lost 2, all 10 none, each clearing the same 3 typical Suburb/Street photos or more.
OWN_SHARE = 1.0
ROUNDS = 1  # times the median and MAD are recomputed without the photos already below the alarm


def label_fit(x: np.ndarray, codes: np.ndarray, groups: np.ndarray, judged: np.ndarray,
              seed: int = 0) -> np.ndarray:
    """Robust z of each row's similarity to its label (see the module docstring); NaN where not judged
    (`judged` false, fewer than MIN_REFERENCES photos of the label by other groups, a label with fewer
    than MIN_LABEL_PHOTOS such rows, or one whose similarities do not spread: MAD 0). `x`: L2-normalised
    rows; `codes`: label per row; `groups`: photographer group per row. The z is against the label's
    median and MAD, recomputed ROUNDS times without the rows already below -UNLIKE_Z (so off-label photos
    by many photographers do not set what is typical); a group holding more than BIG_GROUP_SHARE of the
    label's rows is judged against the other groups' rows only.

    >>> rng = np.random.default_rng(0)
    >>> centre = np.eye(8)[0]
    >>> x = centre + 0.1 * rng.normal(size=(40, 8)); x[-1] = np.eye(8)[5]  # the last is unlike the rest
    >>> x = x / np.linalg.norm(x, axis=1, keepdims=True)
    >>> z = label_fit(x, np.zeros(40, int), np.arange(40), np.ones(40, bool))
    >>> int(np.argmin(z)), bool(z[-1] < -UNLIKE_Z)
    (39, True)
    """
    return within_labels(label_similarity(x, codes, groups, judged, seed), codes, groups)


def label_similarity(x: np.ndarray, codes: np.ndarray, groups: np.ndarray, judged: np.ndarray,
                     seed: int = 0) -> np.ndarray:
    """Each judged row's mean cosine similarity to its NEIGHBOURS nearest rows of its label outside its group
    (at most MAX_REFERENCES of the label's rows, a fixed sample): `label_fit` before the z; NaN where not
    measured (`judged` false or fewer than MIN_REFERENCES such rows)."""
    x = np.asarray(x, dtype=np.float32)
    similarity = np.full(len(x), np.nan)
    rng = np.random.default_rng(seed)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for members in np.split(order, bounds):  # one label at a time: O(photos), not O(photos x labels)
        if not len(members):
            continue
        refs = members if len(members) <= MAX_REFERENCES else np.sort(rng.choice(members, MAX_REFERENCES, False))
        mine = members[judged[members]]
        for start in range(0, len(mine), BLOCK):
            rows = mine[start:start + BLOCK]
            sim = x[rows] @ x[refs].T
            sim[groups[rows][:, None] == groups[refs][None, :]] = -np.inf  # its own group cannot vouch for it
            k = min(NEIGHBOURS, len(refs))
            top = -np.partition(-sim, k - 1, axis=1)[:, :k]
            finite = np.isfinite(top)
            enough = finite.sum(axis=1) >= min(MIN_REFERENCES, k)
            mean = np.where(finite, top, 0.0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)
            similarity[rows] = np.where(enough, mean, np.nan)
    return similarity


def within_labels(similarity: np.ndarray, codes: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """`label_z` of `label_similarity`, one label at a time: `label_fit`."""
    fit = np.full(len(similarity), np.nan)
    order = np.argsort(codes, kind="stable")
    for members in np.split(order, np.flatnonzero(np.diff(codes[order])) + 1):
        if len(members):
            fit[members] = label_z(similarity[members], groups[members])
    return fit


def label_z(raw: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The robust z of one label's raw fits (NaN: not measured), as `label_fit` describes."""
    measured = np.isfinite(raw)
    if measured.sum() < MIN_LABEL_PHOTOS:
        return np.full(len(raw), np.nan)
    reference = measured.copy()
    for _ in range(ROUNDS + 1):
        z = standardised(raw, raw[reference])
        below = np.nan_to_num(z, nan=0.0) < -UNLIKE_Z
        if not (reference & below).any() or (reference & ~below).sum() < MIN_LABEL_PHOTOS:
            break
        reference &= ~below
    ids, counts = np.unique(groups[measured], return_counts=True)
    for group in ids[counts > BIG_GROUP_SHARE * measured.sum()]:
        others = reference & (groups != group)
        if others.sum() >= MIN_LABEL_PHOTOS:
            theirs = groups == group
            z[theirs] = standardised(raw[theirs], raw[others])
    return z


def standardised(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Robust z of `values` against `reference` (median, 1.4826 x MAD); NaN when the MAD is 0.

    >>> standardised(np.array([5.0, 0.0]), np.array([4.0, 5.0, 6.0])).tolist()
    [0.0, -3.37...]
    """
    median = np.median(reference)
    mad = 1.4826 * np.median(np.abs(reference - median))
    return (values - median) / mad if mad > 0 else np.full(len(values), np.nan)


def own_label_share(x: np.ndarray, codes: np.ndarray, groups: np.ndarray, rows: np.ndarray, typical: np.ndarray,
                    seed: int = 0) -> np.ndarray:
    """For each of `rows`: the share of its NEIGHBOURS nearest `typical` rows of ALL labels, outside its own
    photographer group, that carry its own label (NaN with fewer than MIN_REFERENCES such rows). The
    references are the typical rows, or a fixed sample of MAX_REFERENCES of them drawn across labels (in
    proportion to their size, so the share still reads which label surrounds the photo), so the cost stays
    O(rows x MAX_REFERENCES); a label with fewer than NEIGHBOURS photos in that sample never surrounds a photo
    (its fit alone decides, as before audit CR). `typical`: rows that may vouch (a photo unlike its own label
    may not: off-label photos by many photographers would otherwise vouch for each other).

    >>> rng = np.random.default_rng(0)
    >>> x = np.repeat(np.eye(3)[[0, 1, 0]], [12, 12, 1], axis=0) + 0.1 * rng.normal(size=(25, 3))
    >>> x = x / np.linalg.norm(x, axis=1, keepdims=True)
    >>> codes = np.repeat([0, 1, 1], [12, 12, 1])  # the last: labelled 1 among label 0's photos
    >>> typical = np.arange(25) < 24  # the last may not vouch
    >>> own_label_share(x, codes, np.arange(25), np.array([0, 12, 24]), typical).tolist()
    [1.0, 1.0, 0.0]
    """
    x = np.asarray(x, dtype=np.float32)
    refs = np.flatnonzero(typical)
    if len(refs) > MAX_REFERENCES:
        refs = np.sort(np.random.default_rng(seed).choice(refs, MAX_REFERENCES, False))
    share = np.full(len(rows), np.nan)
    k = min(NEIGHBOURS, len(refs))
    for start in range(0, len(rows) if k else 0, BLOCK):
        block = rows[start:start + BLOCK]
        sim = x[block] @ x[refs].T
        sim[groups[block][:, None] == groups[refs][None, :]] = -np.inf  # its own group cannot vouch for it
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        finite = np.isfinite(np.take_along_axis(sim, top, axis=1))
        same = (codes[refs][top] == codes[block][:, None]) & finite
        count = finite.sum(axis=1)
        share[start:start + len(block)] = np.where(count >= MIN_REFERENCES, same.sum(axis=1) / np.maximum(count, 1),
                                                   np.nan)
    return share


def unlike_label(fit: np.ndarray, similarity: np.ndarray, x: np.ndarray, codes: np.ndarray, groups: np.ndarray,
                 seed: int = 0) -> np.ndarray:
    """Rows unlike their label: `label_fit` below -UNLIKE_Z, unless their label is what surrounds them. A photo
    of a tight label can sit far below the label's median similarity and still be nearer its own label than
    any other (audit CR: a Suburb bungalow at -4.07, its 10 nearest photos all Suburb). Such a photo is not
    flagged when (1) all its NEIGHBOURS nearest typical photos of ALL labels by other photographers carry its
    label (`own_label_share` at least OWN_SHARE) and (2) it is not isolated in the collection: its
    `similarity` (`label_similarity`, here the similarity to those neighbours) is not below -UNLIKE_Z as a
    robust z against every typical photo's, whatever its label. Without (2), a photo far from every label
    is "surrounded" by whichever label it leans to (in a collection of a few tight labels, one always).

    >>> rng = np.random.default_rng(0)
    >>> x = np.repeat(np.eye(3)[[0, 1, 0]], [12, 12, 1], axis=0) + 0.1 * rng.normal(size=(25, 3))
    >>> x = x / np.linalg.norm(x, axis=1, keepdims=True)
    >>> codes = np.repeat([0, 1, 1], [12, 12, 1])  # the last: labelled 1 among label 0's photos
    >>> similarity = label_similarity(x, codes, np.arange(25), np.ones(25, bool))
    >>> fit = np.zeros(25); fit[[12, 24]] = -5.0  # both far below their label's typical similarity
    >>> np.flatnonzero(unlike_label(fit, similarity, x, codes, np.arange(25))).tolist()  # 12 is among its own
    [24]
    """
    candidates = np.flatnonzero(np.nan_to_num(fit, nan=0.0) < -UNLIKE_Z)
    typical = np.isfinite(similarity)  # measured, a small label's photos too (their z is not judged)
    typical[candidates] = False  # a photo unlike its own label vouches for no label
    unlike = np.zeros(len(fit), bool)
    if not len(candidates) or not typical.any():
        unlike[candidates] = True
        return unlike
    surrounded = own_label_share(x, codes, groups, candidates, typical, seed) >= OWN_SHARE
    isolated = standardised(similarity[candidates], similarity[typical]) < -UNLIKE_Z  # NaN (no spread): not
    unlike[candidates] = ~surrounded | isolated  # too few references to say: the fit alone decides, as before
    return unlike
