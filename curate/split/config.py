"""`curate split`'s settings and what a group is: SplitConfig (flags and recipe keys), the columns it refuses,
and the tolerances its notes and warnings hold the achieved shares to (curate.split)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curate import schema
from curate.settings_fields import SettingError, setting

TOLERANCE = 0.02  # ±2 percentage points of a label's photos
SHORT_SPLIT = 0.5  # val or test under this part of its requested share of the collection is warned about


@dataclass(frozen=True)
class SplitConfig:
    """`curate split`'s flags and a recipe's [split] keys, one field each (curate.settings_fields)."""

    val: float = setting(0.1, help="Share of each label's photos for validation.")
    test: float = setting(0.2, help="Share of each label's photos for test.")
    by: str = setting("owner", help="Group by owner (default), by none, or by owner and another column too.")
    seed: int = setting(0, help="Random seed (same seed, same split).")
    reshuffle: bool = setting(False, flag="--reshuffle", help=(
        "Place every photo afresh. By default a photo an earlier split placed stays where it was (its group "
        "goes where most of its earlier photos are) and new photos fill the shares around them, unless val, "
        "test, by or seed changed."))

    def __post_init__(self):
        for name, value in (("val", self.val), ("test", self.test)):
            if not np.isfinite(value) or value < 0:
                raise SettingError(f"{{{name}}} must be a fraction >= 0, got {value}", name)
        if self.val + self.test >= 1:
            raise SettingError(f"{{val}} + {{test}} must leave photos for training (sum < 1), got "
                               f"{self.val + self.test:g}", "val", "test")
        if self.by != "none" and self.by != "owner" and self.by not in schema.COLUMN_BY_NAME:
            raise SettingError(f"{{by}} must be owner, none or a catalog column, got {self.by!r}", "by")
        if reason := by_refusal(self.by):
            raise SettingError(f"{{by}} cannot be {self.by}: {reason}; use owner (default), none or another column "
                               "with one value per photo (e.g. source)", "by")
        if self.seed < 0:
            raise SettingError(f"{{seed}} must be 0 or more, got {self.seed}", "seed")

    @property
    def fractions(self) -> np.ndarray:
        return np.array([1 - self.val - self.test, self.val, self.test])


PLACING_SETTINGS = ("val", "test", "by", "seed")  # an earlier split placed with other values is placed afresh


def changed_settings(config: SplitConfig, earlier: dict | None) -> list[str]:
    """The settings that place photos whose values differ from the earlier split's (its saved report's
    config; None or a report without them: none differ), as "val 0.1 → 0.2".

    >>> changed_settings(SplitConfig(val=0.2), {"val": 0.1, "test": 0.2, "by": "owner", "seed": 0})
    ['val 0.1 → 0.2']
    """
    if not isinstance(earlier, dict):
        return []
    return [f"{name} {earlier[name]} → {getattr(config, name)}" for name in PLACING_SETTINGS
            if name in earlier and earlier[name] != getattr(config, name)]


def by_refusal(by: str) -> str | None:
    """Why a column can neither group the split nor be checked for leaks by `curate check-leakage --by`
    (both refuse it, in one line each), or None."""
    if by in schema.COLUMN_BY_NAME and pa.types.is_list(schema.COLUMN_BY_NAME[by].type):
        return "it holds a list per photo, not one group"
    return {"label": "the split is stratified by label, so each label belongs in every split (grouping by it "
                     "would put each label whole into one split and leave val and test empty)",
            "split": "it is what the split writes",
            "status": "every photo split is kept"}.get(by)


def one_group_by_column(config: SplitConfig, group: np.ndarray, by_owner) -> bool:
    """Whether a --by column alone put every kept photo into one group while val or test was asked for
    (`by_owner()`: the groups without the column); both engines (audit AN: `--by source` with one source gave
    train/val/test 68/0/0, exit 0, and training went on without a val split)."""
    if config.by in ("owner", "none") or not (config.val or config.test) or len(group) < 2 or group.max() > 0:
        return False
    return bool(np.asarray(by_owner()).max() > 0)


def one_group_error(by: str) -> str:
    """The refusal of `one_group_by_column`, naming the way out."""
    return (f"--by {by} joins every kept photo into one group (its values link them all, with the photographers and "
            f"copies they share), so nothing could go to val or test; split by owner (the default; recipe [split] by), "
            "or by a column whose values mark separate groups of photos")


def grouping(by: str) -> str:
    """What a group is, for the split's summary line and its warnings (both engines).

    >>> grouping("taken_at")
    'by owner (or walk) ∪ taken_at ∪ near-duplicate cluster ∪ exact duplicate'
    """
    if by == "none":
        return "none: each photo on its own, so photographers and copies cross splits"
    return f"by owner (or walk){'' if by == 'owner' else ' ∪ ' + by} ∪ near-duplicate cluster ∪ exact duplicate"
