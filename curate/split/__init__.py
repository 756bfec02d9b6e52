"""`curate split`: train / val / test without a photographer or a near-duplicate on two sides.

Groups are connected components of: same owner ∪ same near-duplicate cluster ∪ same
exact-duplicate group (or another column with `by`). Unlike scikit-learn's
GroupShuffleSplit, whose sizes count groups, sizes here count photos, per label:
groups are placed largest first (ties in seeded random order), each into the split
whose per-label photo deficit it fills best. A label whose photos sit in one or two
huge groups cannot hit the target; the report says so (requested vs achieved).
`by="none"` gives a plain stratified random split, to measure leakage inflation.
Only kept photos get a split; dropped photos keep `split` null. Split before `curate filter`
has found near-duplicate clusters, it groups by owner (and exact image) only: the report's
`warnings` say so. A stage that re-runs after the split (a filter that drops other photos, or
reinstates the prefilter's drops) leaves the split *stale* (see curate.freshness): `classify
train` and `curate check-leakage` refuse it until `curate split` runs again.

The package, every name importable from here: `config` (SplitConfig, what a group is), `placement` (the
groups and the split each goes to), `stage` (`split_catalog`, its report and table, the I/O edge
`run_split`), `notes` (the report's notes and warnings on the split), `losses` (labels the earlier
stages took most of, copies kept under two labels) and `earlier` (a split placed again keeps an earlier
split's photos where they were).
"""

from __future__ import annotations

from curate.schema import SPLITS  # was importable from curate.split, the module, too
from curate.split.config import (
    SHORT_SPLIT,
    TOLERANCE,
    SplitConfig,
    by_refusal,
    grouping,
    one_group_by_column,
    one_group_error,
)
from curate.split.losses import (
    LOSS_STAGES,
    LOST_SHARE,
    MIN_LOST_LABEL,
    NOT_LOSSES,
    RELABELLED,
    REVIEW_QUEUES,
    cross_label_copies,
    cross_label_copy_warnings,
    label_losses,
    lost_label_warnings,
)
from curate.split.notes import (
    CELL_DEGREES,
    UNDATED_CLUSTER,
    by_none_warnings,
    empty_column_notes,
    empty_split_cause,
    empty_split_reasons,
    empty_split_warnings,
    no_owner_notes,
    off_share_notes,
    short_split_warnings,
    undated_cluster_warnings,
    undated_clusters,
    unevaluated_label_warnings,
    ungrouped_duplicates_warning,
    walk_heavy_notes,
    walk_table,
    without_collage_advice,
)
from curate.split.placement import (
    _test_before_val,  # noqa: F401 (not in __all__: private, but tests/test_split.py checks it alone)
    assign_groups,
    copy_owner_groups,
    sessions,
    split_groups,
    too_small,
)
from curate.split.stage import (
    SplitReport,
    run_split,
    shares_table,
    split_catalog,
    split_table,
)

__all__ = [
    "CELL_DEGREES", "LOSS_STAGES", "LOST_SHARE", "MIN_LOST_LABEL", "NOT_LOSSES", "RELABELLED", "REVIEW_QUEUES",
    "SHORT_SPLIT", "SPLITS", "SplitConfig", "SplitReport", "TOLERANCE", "UNDATED_CLUSTER",
    "assign_groups", "by_none_warnings", "by_refusal", "copy_owner_groups", "cross_label_copies",
    "cross_label_copy_warnings", "empty_column_notes", "empty_split_cause", "empty_split_reasons",
    "empty_split_warnings", "grouping", "label_losses", "lost_label_warnings", "no_owner_notes", "off_share_notes",
    "one_group_by_column", "one_group_error", "run_split", "sessions", "shares_table", "short_split_warnings",
    "split_catalog", "split_groups", "split_table", "too_small", "undated_cluster_warnings", "undated_clusters",
    "unevaluated_label_warnings", "ungrouped_duplicates_warning", "walk_heavy_notes", "walk_table",
    "without_collage_advice",
]
