"""What changed since the last report (`curate report`, both catalog engines): the photos, the kept ones, each
split and each label between the report.json a report folder held and the one written now.

Audit BV (2026-12-07): a collection grown from 3,242 to 5,505 photos, 40 deleted and relabelled, got a report of
its state alone; "val went from 164 to 50 photos" or "+2,263 photos" was nowhere. A report now keeps its counts
(`counts`) and the next one compares with them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

SPLIT_NAMES = ("train", "val", "test")
SHOWN_LABELS = 8  # labels named in the line, the largest changes first


def counts(report: dict) -> dict:
    """The numbers a later report compares with, from a report dict (its sections; one written before reports
    kept `counts` gives them too): photos, kept, {label: kept}, {split: photos}, {stage/reason: dropped}.

    >>> counts({"photos": 5, "sections": {"overview": {"funnel": [{"label": "a", "kept": 3, "dropped": {"f/x": 2}}]},
    ...                                   "splits": {"per_label": [{"train_photos": 2, "val_photos": 0,
    ...                                                              "test_photos": 1}]}}})
    {'photos': 5, 'kept': 3, 'labels': {'a': 3}, 'splits': {'train': 2, 'val': 0, 'test': 1}, 'dropped': {'f/x': 2}}
    """
    sections = report.get("sections") or {}
    funnel = (sections.get("overview") or {}).get("funnel") or []
    labels = {str(row.get("label")): int(row.get("kept") or 0) for row in funnel if isinstance(row, dict)}
    dropped: dict[str, int] = {}
    for row in funnel:
        for reason, photos in ((row.get("dropped") or {}) if isinstance(row, dict) else {}).items():
            dropped[reason] = dropped.get(reason, 0) + int(photos or 0)
    per_label = (sections.get("splits") or {}).get("per_label") or []
    splits = {name: sum(int(row.get(f"{name}_photos") or 0) for row in per_label if isinstance(row, dict))
              for name in SPLIT_NAMES} if per_label else {}
    return {"photos": int(report.get("photos") or 0), "kept": sum(labels.values()), "labels": labels,
            "splits": splits, "dropped": {reason: n for reason, n in dropped.items() if n}}


def workspace_digest(root: Path) -> str:
    """Which workspace a report's counts came from: 16 hex digits of its folder's resolved path (a report page is
    shared; the path is not written in it)."""
    return hashlib.sha256(str(Path(root).resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def changes(previous: dict | None, current: dict) -> dict | None:
    """{"before": the earlier report's counts, "after": these} when a report was there before (None for the
    first, or one that is not a report). No time is kept: a workspace's report is the same bytes whichever engine
    writes it (the counts name the workspace by a digest of its path, so two copies of it differ there)."""
    if not isinstance(previous, dict) or "photos" not in previous:
        return None
    try:  # a report.json edited or written by something else: no line rather than no report (review BY)
        before = previous.get("counts") if isinstance(previous.get("counts"), dict) else counts(previous)
        before = {key: value for key, value in before.items() if key != "workspace"}
        change = {"before": before, "after": counts(current)}
        line(change)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return change


def _splits_text(splits: dict) -> str:
    return "/".join(f"{int(splits.get(name, 0)):,}" for name in SPLIT_NAMES) if splits else "none"


def _delta(before: int, after: int) -> str:
    return f"{before:,} → {after:,} ({after - before:+,})" if before != after else f"{after:,} (no change)"


def line(change: dict | None) -> str | None:
    r"""One line for the page and `curate report`'s output, or None when nothing was there before.

    >>> before = {"photos": 10, "kept": 8, "labels": {"a": 5, "b": 3}, "splits": {"train": 6, "val": 1, "test": 1},
    ...           "dropped": {}}
    >>> after = {"photos": 15, "kept": 12, "labels": {"a": 9, "c": 3}, "splits": {"train": 9, "val": 1, "test": 2},
    ...          "dropped": {"prefilter/off_topic": 3}}
    >>> print(line({"before": before, "after": after}).replace("; ", ";\n"))
    since the last report: photos 10 → 15 (+5);
    kept 8 → 12 (+4);
    train/val/test 6/1/1 → 9/1/2;
    labels new: c;
    gone: b;
    kept per label: a +4;
    dropped: prefilter/off_topic +3
    """
    if not change:
        return None
    before, after = change["before"], change["after"]
    parts = [f"photos {_delta(before.get('photos', 0), after['photos'])}",
             f"kept {_delta(before.get('kept', 0), after['kept'])}"]
    split_before, split_after = before.get("splits") or {}, after.get("splits") or {}
    if split_before != split_after:
        parts.append(f"train/val/test {_splits_text(split_before)} → {_splits_text(split_after)}")
    labels_before, labels_after = before.get("labels") or {}, after["labels"]
    new = [name for name in labels_after if name not in labels_before]
    gone = [name for name in labels_before if name not in labels_after]
    if new or gone:
        parts.append("labels " + "; ".join(f"{what}: {', '.join(names[:SHOWN_LABELS])}"
                                           + (f" and {len(names) - SHOWN_LABELS:,} more" if len(names) > SHOWN_LABELS
                                              else "")
                                           for what, names in (("new", new), ("gone", gone)) if names))
    moved = sorted(((after_n - labels_before[name], name) for name, after_n in labels_after.items()
                    if name in labels_before and after_n != labels_before[name]), key=lambda x: (-abs(x[0]), x[1]))
    if moved:
        parts.append("kept per label: " + ", ".join(f"{name} {diff:+,}" for diff, name in moved[:SHOWN_LABELS])
                     + (f" and {len(moved) - SHOWN_LABELS:,} more" if len(moved) > SHOWN_LABELS else ""))
    reasons = sorted(set(before.get("dropped") or {}) | set(after.get("dropped") or {}))
    dropped = [(reason, (after.get("dropped") or {}).get(reason, 0) - (before.get("dropped") or {}).get(reason, 0))
               for reason in reasons]
    dropped = [(reason, diff) for reason, diff in dropped if diff]
    if dropped:
        parts.append("dropped: " + ", ".join(f"{reason} {diff:+,}" for reason, diff in dropped))
    return "since the last report: " + "; ".join(parts)
