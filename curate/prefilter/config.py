"""`curate prefilter`'s settings: its flags and a recipe's [prefilter] keys, declared once
(PrefilterConfig; its checks say which combinations make sense)."""

from __future__ import annotations

from dataclasses import dataclass

from curate.errors import UsageError
from curate.recipes import squash
from curate.settings_fields import SettingError, setting

HELD_CUT = "no photo dropped as off topic"  # how a held cut's line begins (the command, `curate status`, the report)

MODES = ("embeddings", "finetune")
# A label's drop share is judged only on labels with this many photos judged: a smaller label loses all
# its photos by chance too often (4 of 4 at a 40% off-topic rate: 1 in 40), a larger one seldom (10 of
# 10: 1 in 10,000); a collection of many small labels is still covered by max_total_drop_share.
MIN_LABEL_PHOTOS = 10


def parse_threshold(text: str) -> float | None:
    """A --threshold (or a recipe's threshold string): "auto" is None, else a number.

    >>> parse_threshold("auto"), parse_threshold("0.4")
    (None, 0.4)
    """
    if text.strip().lower() == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise SettingError(f"{{threshold}} must be auto or a number between 0 and 1, got {text!r}",
                           "threshold") from None


@dataclass(frozen=True)
class PrefilterConfig:
    """`curate prefilter`'s flags and a recipe's [prefilter] keys, one field each (curate.settings_fields);
    `topic` is the recipe's top-level topic."""

    # None: no topic model, label issues only (`--label-issues-only`)
    topic: str | None = setting(help="Topic tag used as the weak label (default: the recipe's topic).")
    threshold: float | None = setting(None, parse=parse_threshold, help=(  # None: auto (Otsu on out-of-fold scores)
        "auto (Otsu's cut when the out-of-fold scores are bimodal, else calibrated on tagged vs untagged scores) "
        "or a probability in (0, 1) (default: recipe, else auto)."))
    folds: int = setting(5, help="Out-of-fold folds, grouped by photographer (default: recipe, else 5).")
    seed: int = setting(0, help="Fold assignment seed (default: recipe, else 0).")
    regularisation: float = setting(1.0, flag="--C", help=(  # logistic regression C
        "Inverse regularisation strength of the logistic regression (default: recipe, else 1)."))
    label_issues: bool = setting(True, help=(
        "Flag probable label errors (confident learning, and photos unlike their label's photos by other "
        "photographers; default: recipe, else on)."))
    drop_label_issues: bool = setting(False, flag="--drop-label-issues", help=(
        "Drop flagged label issues (reason label_issue) instead of only flagging them."))
    # embeddings: logistic regression; finetune: a binary CNN per fold (classify)
    mode: str = setting("embeddings", help=(
        "embeddings (logistic regression, fast) or finetune (a binary CNN per fold; for GPUs) (default: recipe, "
        "else embeddings)."))
    # Sanity: above these the stage keeps every photo, flags the doubted ones and says why.
    max_topic_share: float = setting(0.8, help=(  # the tag is on more than this share of the photos judged
        "Hold the drops (keep every photo, flag the doubted ones) when the topic tag is on more than this share of "
        "the photos judged (default: recipe, else 0.8)."))
    max_drop_share: float = setting(0.3, help=(  # the cut would drop more than this share of the tagged photos
        "Hold the drops when the cut would drop more than this share of the tagged photos (default: recipe, else "
        "0.3)."))
    # the whole collection: a wrong --topic (ImageNet objects, --topic food: 88%); real 15-Scene, 60% off topic: 65%
    max_total_drop_share: float = setting(0.75, help=(
        "Hold the drops when the cut would drop more than this share of all the photos judged (a wrong --topic, or "
        "a collection mostly off the topic) (default: recipe, else 0.75)."))
    # one label: labels that are not kinds of the topic, or a wrong --topic (a scrape's worst label loses ~55-70%)
    max_label_drop_share: float = setting(0.9, help=(
        f"Hold the drops when the cut would drop more than this share of the photos of a label (one with at least "
        f"{MIN_LABEL_PHOTOS} photos judged): labels that are not kinds of the topic, or a wrong --topic (default: "
        "recipe, else 0.9)."))
    # fewer untagged photos cannot calibrate a cut when scores are not bimodal
    min_untagged: int = setting(20, help=(
        "Hold the drops when the scores are not bimodal and fewer photos than this are untagged to calibrate a cut "
        "(default: recipe, else 20)."))
    # no topic model: label issues alone, for photos without tags (topic None)
    label_issues_only: bool = setting(False, flag="--label-issues-only", help=(
        "No topic: fit no pre-classifier, drop nothing as off topic, only flag probable label errors (photos without "
        "tags, e.g. a folder of class folders; recipe: label_issues_only = true)."))
    force: bool = setting(False, flag="--force", help=(  # apply the drops anyway
        "Drop below the threshold even when the sanity checks hold the drops (tag on most photos, too many tagged "
        "photos dropped, no calibrated cut), and drop the label issues of a label most of whose photos are flagged "
        "(with --drop-label-issues) (recipe: force = true)."))
    # keep geo outliers whose pixels agree with their label (curate.prefilter.rescue)
    geo_rescue: bool = setting(True, help=(
        "Keep the filter's geo outliers whose pixels agree with their label and the topic, as geo_rescued "
        "(default: recipe, else on)."))
    # or "argmax": the label is the most probable class (no threshold)
    geo_rescue_rule: str = setting("class_threshold", help=(
        "class_threshold: the label must be the confident-learning class (its probability reaches the class's "
        "mean self-confidence); argmax: the most probable class (default: recipe, else class_threshold)."))
    # keep the cut's off_topic drops whose pixels agree with their label (curate.prefilter.rescue)
    topic_rescue: bool = setting(True, help=(
        "Keep photos below the topic threshold whose label the label model confidently believes, as topic_rescued "
        "(default: recipe, else on)."))
    # the expected share of on-topic photos among the rescued below which the rescue keeps none
    topic_rescue_precision: float = setting(0.8, help=(
        "Keep no photo by topic rescue when the expected share of on-topic photos among those it would keep "
        "(estimated from the photos whose pixels show another label) is below this, from 0.5 to below 1 (default: "
        "recipe, else 0.8)."))
    # replace confidently wrong labels by suggested_label, keeping original_label
    relabel: bool = setting(False, help=(
        "Replace confidently wrong labels by suggested_label, keeping original_label (default: recipe, else off)."))
    # the expected share of right new labels the relabel margin is cut for
    relabel_precision: float = setting(0.9, help=(
        "Expected share of right new labels the relabel margin is cut for, from 0.5 to below 1 (default: recipe, "
        "else 0.9)."))

    def __post_init__(self) -> None:
        for name in ("max_topic_share", "max_drop_share", "max_total_drop_share", "max_label_drop_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise SettingError(f"{{{name}}} must be a share between 0 and 1, got {value!r}", name, as_key=True)
        if isinstance(self.min_untagged, bool) or not isinstance(self.min_untagged, int) or self.min_untagged < 1:
            raise SettingError(f"{{min_untagged}} must be a whole number >= 1, got {self.min_untagged!r}",
                               "min_untagged", as_key=True)
        for name in ("force", "geo_rescue", "topic_rescue", "relabel", "label_issues_only"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"prefilter {name} must be true or false, got {getattr(self, name)!r}")
        if (self.relabel or self.drop_label_issues) and not self.label_issues:
            # relabelling or dropping label issues needs them found: here, so that `curate prefilter` and a
            # recipe's `curate run` read one recipe alike (audit AW2: only the command line implied it)
            object.__setattr__(self, "label_issues", True)
        if self.geo_rescue_rule not in ("class_threshold", "argmax"):
            raise SettingError(f"{{geo_rescue_rule}} must be class_threshold or argmax, got {self.geo_rescue_rule!r}",
                               "geo_rescue_rule")
        for name in ("relabel_precision", "topic_rescue_precision"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.5 <= value < 1.0:
                raise SettingError(f"{{{name}}} must be a share from 0.5 to below 1 (e.g. 0.9), got {value!r}", name)
        if self.mode not in MODES:
            raise SettingError(f"{{mode}} must be one of {', '.join(MODES)}, got {self.mode!r}", "mode")
        if self.topic is not None and (not isinstance(self.topic, str) or not self.topic.strip()):
            raise SettingError("{topic} must name a tag, e.g. skyline", "topic")
        if self.topic is not None and not squash(self.topic):  # `-`, `_`: no key, and every tag would match in SQL
            raise SettingError(f"{{topic}} must name a tag with a letter, digit or symbol, e.g. skyline; got "
                               f"{self.topic!r} (review CT)", "topic")
        if self.label_issues_only and self.topic is not None:
            raise SettingError("{label_issues_only} fits no topic model: give it or a topic, not both",
                               "label_issues_only")
        if self.topic is None and not self.label_issues_only:
            raise SettingError("say which tag marks the topic, or ask for label issues only ({label_issues_only})",
                               "label_issues_only")
        if self.topic is None and not self.label_issues:
            raise UsageError("without a topic the prefilter only looks for label issues: drop --no-label-issues, "
                             "or give --topic TAG")
        if self.topic is None and self.mode == "finetune":
            raise SettingError("{mode} finetune trains a topic CNN and needs a topic; without one, label issues are "
                               "found on the embeddings ({mode} embeddings)", "mode")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise SettingError(f"{{threshold}} must be auto or a number between 0 and 1, got {self.threshold}",
                               "threshold")
        if self.folds < 2:
            raise SettingError(f"{{folds}} must be at least 2, got {self.folds}", "folds")
        if not 0 <= self.seed < 2**32:  # scikit-learn's random_state range
            raise SettingError(f"{{seed}} must be between 0 and 2**32 - 1, got {self.seed}", "seed")
        if not self.regularisation > 0:
            raise SettingError(f"{{regularisation}} must be positive, got {self.regularisation}", "regularisation",
                               as_key=True)
