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
    x = np.asarray(x, dtype=np.float32)
    fit = np.full(len(x), np.nan)
    rng = np.random.default_rng(seed)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for members in np.split(order, bounds):  # one label at a time: O(photos), not O(photos x labels)
        if not len(members):
            continue
        refs = members if len(members) <= MAX_REFERENCES else np.sort(rng.choice(members, MAX_REFERENCES, False))
        positions = np.flatnonzero(judged[members])
        mine = members[positions]
        raw = np.full(len(members), np.nan)
        for start in range(0, len(mine), BLOCK):
            rows = mine[start:start + BLOCK]
            sim = x[rows] @ x[refs].T
            sim[groups[rows][:, None] == groups[refs][None, :]] = -np.inf  # its own group cannot vouch for it
            k = min(NEIGHBOURS, len(refs))
            top = -np.partition(-sim, k - 1, axis=1)[:, :k]
            finite = np.isfinite(top)
            enough = finite.sum(axis=1) >= min(MIN_REFERENCES, k)
            mean = np.where(finite, top, 0.0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)
            raw[positions[start:start + len(rows)]] = np.where(enough, mean, np.nan)
        fit[members] = label_z(raw, groups[members])
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


def unlike_label(fit: np.ndarray) -> np.ndarray:
    """Rows whose `label_fit` is below -UNLIKE_Z."""
    return np.nan_to_num(fit, nan=0.0) < -UNLIKE_Z
