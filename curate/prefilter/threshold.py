"""Where to cut the pre-classifier's out-of-fold topic scores (pure NumPy / scikit-learn).

Two automatic cuts, chosen by a stated bimodality test:

- **Otsu** (`otsu_threshold`): the cut of a 256-bin histogram of the scores on [0, 1] that
  maximises the between-group variance. Used only when the scores are **bimodal** by
  `bimodality`: **Ashman's D** of a two-component Gaussian mixture fitted to the scores' logits,
  D = sqrt(2) |mu1 - mu2| / sqrt(s1^2 + s2^2), is at least `MIN_ASHMAN_D` = 2 (Ashman, Bird &
  Zepf 1994: D > 2 is needed for a clean separation of two components), AND the mean scores
  below and above Otsu's cut are at least `MIN_MODE_GAP` = 0.1 apart. The logit is where a
  logistic model's scores for one class are roughly Gaussian; D does not depend on the groups'
  sizes (a 90/10 split is as bimodal as 50/50). Measured (tests/test_prefilter_sanity.py and
  docs/pixels.md): one-humped shapes (Gaussian and flat in logit space, exponential, Beta(20, 1),
  flat plus a bump) give D <= 1.7; the demo's scores 3.5 (360 photos) and 5.4 (3,000); two
  separated groups about 5 at any balance. The gap rule rejects a "two modes" made of clumps a
  few hundredths apart (D is scale-free): a collection where nearly every photo carries the tag
  scores every photo near the tagging rate, in clumps per fold (the real Ferrari folder's scores
  sit at 0.97 and 1.00).
- **Calibrated** (`youden_threshold`), when the scores are not bimodal: the cut that maximises
  Youden's J = P(score >= t | tagged) - P(score >= t | untagged), the ROC point farthest from
  chance between the tagged and untagged score distributions. If on-topic photos score alike
  whether tagged or not, J = (tag rate on topic - tag rate off topic) x (the same J for on- vs
  off-topic photos), so untagged on-topic photos do not move the cut. It is conservative when
  mis-tagged off-topic photos score above untagged ones (it then drops fewer). It needs enough
  untagged photos (`min_untagged` in `PrefilterConfig`); with fewer, the stage does not drop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OTSU_BINS = 256
MIN_ASHMAN_D = 2.0
MIN_MODE_GAP = 0.1
LOGIT_CLIP = 1e-6  # scores of exactly 0 or 1 (a fold trained on one class) stay finite


@dataclass(frozen=True)
class Bimodality:
    """The bimodality test's figures: Otsu's cut, Ashman's D of the two-Gaussian fit to the
    logits, the gap between the mean scores below and above the cut, and the verdict."""

    cut: float
    ashman_d: float
    mode_gap: float
    bimodal: bool

    def describe(self) -> str:
        """One phrase for the command output and the report; when the scores are not bimodal, the check that
        failed comes first and a check that passed says so (audit AM: "not bimodal: Ashman's D 143.23 (needs
        >= 2), ..." read as if D had failed).

        >>> Bimodality(0.5, 143.23, 0.03, False).describe()
        "scores not bimodal: group means 0.03 apart (needs >= 0.1); Ashman's D 143.23 passes (>= 2)"
        """
        checks = [(self.ashman_d >= MIN_ASHMAN_D, f"Ashman's D {self.ashman_d:.2f}", f">= {MIN_ASHMAN_D:g}"),
                  (self.mode_gap >= MIN_MODE_GAP, f"group means {self.mode_gap:.2f} apart", f">= {MIN_MODE_GAP}")]
        if self.bimodal:
            return "scores bimodal: " + ", ".join(f"{what} (needs {bar})" for _, what, bar in checks)
        failed = [f"{what} (needs {bar})" for ok, what, bar in checks if not ok]
        passed = [f"{what} passes ({bar})" for ok, what, bar in checks if ok]
        return "scores not bimodal: " + "; ".join(", ".join(part) for part in (failed, passed) if part)


def otsu_threshold(scores: np.ndarray, bins: int = OTSU_BINS) -> float:
    """The cut in [0, 1] that maximises between-group variance of the score histogram.

    When a run of empty bins ties (two groups with a gap between them), the middle of the gap.

    >>> round(otsu_threshold(np.array([0.1, 0.12, 0.15, 0.8, 0.85, 0.9])), 2)
    0.47
    """
    counts, edges = np.histogram(scores, bins=bins, range=(0.0, 1.0))
    between = _between_variance(counts, edges)
    best = int(np.argmax(between))
    last = best
    while last + 1 < len(between) and np.isclose(between[last + 1], between[best], rtol=1e-12, atol=0):
        last += 1
    return float((edges[1:-1][best] + edges[1:-1][last]) / 2)


def bimodality(scores: np.ndarray, seed: int = 0) -> Bimodality:
    """Test the scores for two groups: Ashman's D >= 2 on their logits and Otsu's sides >= 0.1 apart.

    D comes from scikit-learn's `GaussianMixture` (2 components, 3 starts, `seed`) fitted to
    logit(scores); the gap is mean(scores >= cut) - mean(scores < cut) at `otsu_threshold`.
    Fewer than 4 distinct scores are not bimodal.

    >>> bimodality(np.r_[np.linspace(0.05, 0.15, 20), np.linspace(0.8, 0.9, 20)]).bimodal
    True
    >>> bimodality(np.linspace(0.01, 0.99, 99)).bimodal
    False
    """
    from sklearn.mixture import GaussianMixture

    scores = np.asarray(scores, dtype=np.float64)
    cut = otsu_threshold(scores)
    low = scores < cut
    if len(np.unique(scores)) < 4 or low.all() or not low.any():
        return Bimodality(cut, 0.0, 0.0, False)
    gap = float(scores[~low].mean() - scores[low].mean())
    clipped = np.clip(scores, LOGIT_CLIP, 1 - LOGIT_CLIP)
    logits = np.log(clipped / (1 - clipped))[:, None]
    mixture = GaussianMixture(2, n_init=3, random_state=seed).fit(logits)
    means, variances = mixture.means_.ravel(), mixture.covariances_.ravel()
    ashman_d = float(np.sqrt(2) * abs(means[0] - means[1]) / np.sqrt(variances.sum()))
    return Bimodality(cut, ashman_d, gap, ashman_d >= MIN_ASHMAN_D and gap >= MIN_MODE_GAP)


def youden_threshold(scores: np.ndarray, tagged: np.ndarray) -> float:
    """The cut maximising Youden's J = TPR - FPR, tagged photos as positives, untagged as negatives.

    `score >= cut` is on topic. Among equally good cuts the lowest (it drops the fewest photos).
    Needs at least one tagged and one untagged photo.

    >>> youden_threshold(np.array([0.2, 0.3, 0.35, 0.7, 0.8, 0.9]), np.array([0, 0, 1, 1, 1, 1], bool))
    0.35
    """
    from sklearn.metrics import roc_curve

    fpr, tpr, cuts = roc_curve(np.asarray(tagged, dtype=int), np.asarray(scores, dtype=np.float64),
                               drop_intermediate=False)
    j = tpr - fpr
    best = np.flatnonzero(np.isclose(j, j.max(), rtol=0, atol=1e-12))[-1]  # cuts decrease: last is lowest
    return float(min(cuts[best], 1.0))


# A cut calibrated on the tag needs a tag that the pixels predict. Youden's J at its best cut is the
# two-sample Kolmogorov-Smirnov statistic of tagged vs untagged scores (one-sided), so chance has a
# p-value. A random tag on half of 280 real 15-Scene photos (an acceptance audit): J 0.075, p 0.42, the
# cut dropped 10 % of the photos; real topics of the audits, the demo and the tests' scrapes: J 0.30-0.92,
# p below 1e-4 from 218 photos on. Both must hold: a tag beyond chance, and one that tells photos apart.
MIN_TAG_SEPARATION = 0.2  # J: the share of tagged photos kept above the cut less the share of untagged ones
MAX_TAG_CHANCE = 0.01  # the chance of a J at least as large from a tag that says nothing of the pixels


def tag_separation(scores: np.ndarray, tagged: np.ndarray) -> tuple[float, float]:
    """(J, p): Youden's J at its best cut (= the one-sided two-sample KS statistic, tagged scores higher)
    and the chance of a J as large between photos a tag picks at random. Needs tagged and untagged photos.

    >>> j, p = tag_separation(np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9] * 5), np.array([0, 0, 0, 1, 1, 1] * 5, bool))
    >>> j, p < 1e-6
    (1.0, True)
    """
    from scipy.stats import ks_2samp

    scores, tagged = np.asarray(scores, dtype=np.float64), np.asarray(tagged, dtype=bool)
    test = ks_2samp(scores[tagged], scores[~tagged], alternative="less")  # tagged scores' CDF below: higher
    return float(test.statistic), float(test.pvalue)


# A label whose photos are seldom tagged is learnt as "looks untagged", and a cut can then drop most of it, every
# photo on topic (audit AE: `city` on half of Highway's photos and ~88 % of the others', Highway lost 52 of 60 good
# photos with a note only; audit AI: 53 of 60 with the tag on 15 % of them). A cut that drops most of a label rests on
# pixels only if, within that label, the scores tell tagged from untagged photos better than the tag shuffled within
# it. Tested label by label (audit AI: one average over the labels let good labels hide a wiped-out one, and held
# good cuts where the tag rate was the same everywhere). Measured on 54 real-photo collections with planted truth
# (audits V, AH, AI) and the demo: docs/benchmarks.md.
MAX_WITHIN_CHANCE = 0.05  # a label the cut takes most of is held when the shuffles do as well this often or more
MIN_WITHIN_PHOTOS = 5  # a label is tested with at least this many tagged and as many untagged photos
WITHIN_PERMUTATIONS = 499  # the smallest chance this gives is 1 / 500
MAX_WITHIN_SAMPLE = 2000  # photos per label (a seeded sample above it): the permutations stay cheap at any size


def _ordered_js(order_tags: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Youden's J (tagged scores higher, 0 at worst) of each row of tag vectors laid out in score order;
    `ends`: the last position of each run of equal scores (the possible cuts)."""
    tagged = order_tags.sum(axis=-1, keepdims=True)
    f_tagged = np.cumsum(order_tags, axis=-1)[..., ends] / tagged
    f_untagged = np.cumsum(~order_tags, axis=-1)[..., ends] / (order_tags.shape[-1] - tagged)
    return np.maximum((f_untagged - f_tagged).max(axis=-1), 0.0)


def label_separation(scores: np.ndarray, tagged: np.ndarray, seed: int = 0) -> tuple[float, float] | None:
    """(J, chance) of one label's photos: Youden's J between the scores of its tagged and untagged photos, and the
    share of WITHIN_PERMUTATIONS shuffles of the tag among them that reach it; None with fewer than
    MIN_WITHIN_PHOTOS tagged or untagged photos (nothing to test).

    >>> j, chance = label_separation(np.tile([0.1, 0.2, 0.3, 0.7, 0.8, 0.9], 5), np.tile([0, 0, 0, 1, 1, 1], 5) > 0)
    >>> round(j, 2), chance
    (1.0, 0.002)
    >>> label_separation(np.tile([0.1, 0.2, 0.3, 0.7, 0.8, 0.9], 5), np.repeat([True, False], 15))[1] > 0.05
    True
    """
    scores, tagged = np.asarray(scores, dtype=np.float64), np.asarray(tagged, dtype=bool)
    rng = np.random.default_rng(seed)
    rows = np.arange(len(scores))
    if len(rows) > MAX_WITHIN_SAMPLE:
        rows = np.sort(rng.choice(rows, MAX_WITHIN_SAMPLE, replace=False))
    tags = tagged[rows]
    if tags.sum() < MIN_WITHIN_PHOTOS or (~tags).sum() < MIN_WITHIN_PHOTOS:
        return None
    order = np.argsort(scores[rows], kind="stable")
    ends = np.append(np.flatnonzero(np.diff(scores[rows][order]) > 0), len(rows) - 1)
    tags = tags[order]
    j = float(_ordered_js(tags, ends))
    null = _ordered_js(rng.permuted(np.tile(tags, (WITHIN_PERMUTATIONS, 1)), axis=1), ends)
    return j, float((1 + (null >= j - 1e-12).sum()) / (WITHIN_PERMUTATIONS + 1))


def _between_variance(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Unnormalised between-group variance for every cut at an inner bin edge."""
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)[:-1]
    weight_high = counts.sum() - weight_low
    sum_low = np.cumsum(counts * centres)[:-1]
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (np.sum(counts * centres) - sum_low) / np.maximum(weight_high, 1)
    return weight_low * weight_high * (mean_low - mean_high) ** 2


def percent_apart(value: float, limit: float) -> str:
    """`value` as a percentage with the fewest decimals (up to 2) at which it differs from `limit`
    printed alike, so that a message comparing the two reads true; "just under/over <limit>" when
    even 2 decimals do not tell them apart.

    `:.0%` alone prints 0.796 next to a limit of 0.8 as "80%". Rounding keeps the order, so the
    first number of decimals where the two differ shows the value on the right side of the limit.

    >>> percent_apart(0.796, 0.8), percent_apart(0.3, 0.8), percent_apart(0.7504, 0.75), percent_apart(0.79999, 0.8)
    ('79.6%', '30%', '75.04%', 'just under 80%')
    """
    for decimals in range(3):
        text = f"{value:.{decimals}%}"
        if text != f"{limit:.{decimals}%}":
            return text
    return f"just {'under' if value < limit else 'over'} {limit * 100:g}%"


def percent_below(value: float, limit: float, limit_name: str = "") -> str:
    """"value < limit" as percentages that read true (`percent_apart`), the limit after `limit_name`.

    >>> percent_below(0.796, 0.8), percent_below(0.3, 0.8, "min"), percent_below(0.79999, 0.8)
    ('79.6% < 80%', '30% < min 80%', 'just under 80%')
    """
    shown = f"{limit_name} {limit * 100:g}%".lstrip()
    text = percent_apart(value, limit)
    return f"just under {shown}" if text.startswith("just") else f"{text} < {shown}"
