"""The `review` stage: human decisions applied to the catalog, winning over every automatic stage.

A decision (one line of ``<workspace>/reviews.jsonl``, see `curate.review.journal`) says what a
person decided about one photo: ``keep``, ``drop``, ``relabel`` (to ``label``; a relabelled photo
is kept too) or ``undo`` (of the decision ``undoes``; an undo can itself be undone). Per photo
the last active decision wins, separately for the status (keep / drop / relabel) and the label
(relabel).

`apply_decisions` is pure and idempotent: it first takes back what an earlier application did
(`restore_automatic`: the catalog as the automatic stages left it, from the review columns of
`curate.schema`), then applies the active decisions. Filter and prefilter call it after every
run, so a kept photo is never dropped again by a threshold and a relabel survives re-runs:

- keep: a photo a stage dropped is kept; the drop it overrode is kept in
  ``review_overrode_stage`` / ``review_overrode_reason`` (ingest drops, photos without a usable
  image, cannot be kept);
- drop: a photo is dropped with reason ``reviewed``, stage ``review``; one a stage had dropped
  already keeps that drop in ``review_overrode_stage`` / ``review_overrode_reason`` (and gets it
  back when the decision is undone). So the same decisions give the same reason whichever stages
  ran after them: a re-run stage never sees a photo a reviewer dropped (ingest drops, photos
  without a usable image, keep their reason);
- relabel: ``label`` becomes the reviewer's label, the old one is in ``label_before_review``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from curate import schema

STAGE = "review"
DROP_REASON = "reviewed"
ACTIONS = ("keep", "drop", "relabel", "undo")
OVERRIDABLE_STAGES = ("filter", "prefilter")  # ingest drops have no usable image: a keep cannot revive them
REVIEW_COLUMNS = ("review_status", "review_label", "label_before_review", "review_overrode_stage",
                  "review_overrode_reason")


def active_decisions(decisions: list[dict]) -> list[dict]:
    """The keep/drop/relabel decisions still in force, in order: undone ones and undos left out.

    Walked backwards, so an undo that is itself undone no longer cancels its target.

    >>> d = [{"id": "a", "action": "keep"}, {"id": "b", "action": "undo", "undoes": "a"}]
    >>> active_decisions(d)
    []
    >>> active_decisions(d + [{"id": "c", "action": "undo", "undoes": "b"}])[0]["id"]
    'a'
    """
    cancelled: set[str] = set()
    active = []
    for decision in reversed(decisions):
        if decision.get("id") in cancelled:
            continue
        if decision["action"] == "undo":
            cancelled.add(decision.get("undoes"))
        else:
            active.append(decision)
    return active[::-1]


# a source id that is a whole number with '.0', as pandas writes an integer id column that has a blank (the ingest's
# `curate.ingest.mapping.whole_ids` reads `\.0+` so); only the part after a colon, the source id, counts
FLOAT_ID_TAIL = r"(?<=:)([+-]?\d+)\.0+$"
_FLOAT_TAILS = ("",) + tuple("." + "0" * zeros for zeros in range(1, 9))  # '.0' to '.00000000'


def float_id_twins(photo_ids: Iterable[str], held_ids: Collection[str]) -> dict[str, str]:
    """{photo id: held id} for each of `photo_ids` that the workspace does not hold (`held_ids`) but that differs from
    exactly one held id only by a trailing '.0' (up to eight zeros) on its numeric source id, either way round. A
    workspace ingested before ids were read as integers keeps `folder:2911718073.0` (see
    `curate.ingest.mapping.stored_float_id`), a new one made from the same folder holds `folder:2911718073`:
    decisions moved between them name the same photo.
    An id with two such twins held (`f:9` and `f:9.00`) is ambiguous and left out.

    >>> float_id_twins(["f:12.0", "f:7", "f:9.0", "f:x.0", "f:3"], ["f:12", "f:7.0", "f:9", "f:9.00", "f:x", "f:3"])
    {'f:12.0': 'f:12', 'f:7': 'f:7.0'}
    """
    held = held_ids if isinstance(held_ids, pd.Series) else pd.Series(list(held_ids), dtype=object)
    key_of = {photo_id: re.sub(FLOAT_ID_TAIL, r"\1", photo_id) for photo_id in set(photo_ids)}
    # the held ids that could be a twin: a key, or a key with a '.0' tail (looked up, not every held id rewritten:
    # review DB LOW-3, 1.6 s at 1M ids on every stage run)
    forms = {key + tail for key in key_of.values() if re.search(r":[+-]?\d+$", key) for tail in _FLOAT_TAILS}
    candidates = set(held[held.isin(forms | set(key_of))])
    twins_of: dict[str, list[str]] = {}
    for held_id in candidates:
        twins_of.setdefault(re.sub(FLOAT_ID_TAIL, r"\1", held_id), []).append(held_id)
    return {photo_id: twins_of[key][0] for photo_id, key in sorted(key_of.items())
            if photo_id not in candidates and len(twins_of.get(key, ())) == 1}  # one twin, not two


def in_time_order(decisions: list[dict]) -> list[dict]:
    """Decisions ordered by when they were made (file order among equal times): an imported decision is appended
    to the journal, so file order is not time order. Left in file order when any lacks a readable `when`.

    >>> d = [{"id": "a", "when": "2026-12-08T01:34:55.000+00:00"}, {"id": "b", "when": "2026-12-08T01:34:52+00:00"}]
    >>> [x["id"] for x in in_time_order(d)]
    ['b', 'a']
    >>> [x["id"] for x in in_time_order(d + [{"id": "c"}])]
    ['a', 'b', 'c']
    """
    times = []
    for decision in decisions:
        try:
            when = datetime.fromisoformat(str(decision["when"]))
        except (KeyError, ValueError):
            return list(decisions)
        times.append(when if when.tzinfo else when.replace(tzinfo=UTC))
    order = sorted(range(len(decisions)), key=times.__getitem__)
    return [decisions[i] for i in order]


def _decided(decisions: list[dict]) -> tuple[dict[str, str], dict[str, str]]:
    """({photo_id: kept/dropped}, {photo_id: label}) asked for by the active decisions; the latest made wins,
    wherever an import put it in the journal. (A loop over decisions, not photos: people make thousands.)"""
    status: dict[str, str] = {}
    label: dict[str, str] = {}
    for decision in in_time_order(active_decisions(decisions)):
        pid = decision["photo_id"]
        status[pid] = schema.DROPPED if decision["action"] == "drop" else schema.KEPT
        if decision["action"] == "relabel":
            label[pid] = decision["label"]
    return status, label


def decided_state(decisions: list[dict]) -> pd.DataFrame:
    """Per photo (index photo_id): `status` (kept / dropped) and `label` (None when not relabelled)
    that the active decisions ask for; the last one wins."""
    status, label = _decided(decisions)
    index = pd.Index(list(status), name=schema.PHOTO_ID, dtype=object)
    return pd.DataFrame({"status": pd.Series(status, index=index, dtype=object),
                         "label": pd.Series(label, dtype=object).reindex(index)}, index=index)


def _review_columns(catalog: pd.DataFrame) -> pd.DataFrame:
    missing = [name for name in REVIEW_COLUMNS if name not in catalog.columns]
    if missing:
        catalog = catalog.assign(**{name: pd.Series(None, index=catalog.index, dtype=object) for name in missing})
    return catalog


_TOUCHED = ("status", "drop_reason", "drop_stage", "label", "split", *REVIEW_COLUMNS)


def _columns(catalog: pd.DataFrame) -> dict[str, np.ndarray]:
    """Writable object arrays of the columns review touches (null as None)."""
    out = {}
    for name in _TOUCHED:
        if name in catalog.columns:
            values = catalog[name].to_numpy(dtype=object, copy=True)
            values[pd.isna(values)] = None
            out[name] = values
    return out


def _frame(catalog: pd.DataFrame, arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """A copy of `catalog` holding `arrays`, each column in its own dtype again (missing review columns: object)."""
    out = catalog.copy()
    for name, values in arrays.items():
        column = pd.Series(values, index=catalog.index, dtype=object)
        out[name] = column.astype(catalog[name].dtype) if name in catalog.columns else column
    return out


def _restore(c: dict[str, np.ndarray], labels: bool) -> None:
    """restore_automatic on column arrays, in place."""
    review_drop = c["drop_stage"] == STAGE
    # a review drop of a photo a stage had dropped: the stage's drop comes back; of a kept one: kept
    under = review_drop & pd.notna(c["review_overrode_stage"])
    c["drop_stage"][under] = c["review_overrode_stage"][under]
    c["drop_reason"][under] = c["review_overrode_reason"][under]
    review_drop &= ~under
    c["status"][review_drop], c["drop_reason"][review_drop], c["drop_stage"][review_drop] = schema.KEPT, None, None
    overrode = pd.notna(c["review_overrode_stage"]) & (c["status"] == schema.KEPT) & ~review_drop
    c["status"][overrode] = schema.DROPPED
    c["drop_stage"][overrode] = c["review_overrode_stage"][overrode]
    c["drop_reason"][overrode] = c["review_overrode_reason"][overrode]
    # a kept photo a later stage dropped since (the filter's geo_outlier kept by a reviewer, then judged off
    # topic by a re-run prefilter): without the decision the earlier drop stands, and the later stage would
    # never have seen the photo; keeping the later drop lost the earlier one (the filter then read stale)
    rank = {stage: i for i, stage in enumerate(OVERRIDABLE_STAGES)}
    overridden_rank = np.array([rank.get(stage, -1) for stage in c["review_overrode_stage"]])
    dropped_rank = np.array([rank.get(stage, -1) for stage in c["drop_stage"]])
    earlier = (c["status"] == schema.DROPPED) & (overridden_rank >= 0) & (overridden_rank < dropped_rank)
    c["drop_stage"][earlier] = c["review_overrode_stage"][earlier]
    c["drop_reason"][earlier] = c["review_overrode_reason"][earlier]
    cleared = REVIEW_COLUMNS if labels else ("review_status", "review_overrode_stage", "review_overrode_reason")
    if labels:
        relabelled = pd.notna(c["review_label"]) & (c["label"] == c["review_label"])
        c["label"][relabelled] = c["label_before_review"][relabelled]
    for name in cleared:
        c[name][:] = None


def restore_automatic(catalog: pd.DataFrame, labels: bool = True) -> pd.DataFrame:
    """The catalog as the automatic stages left it: every earlier review application taken back (pure).

    A review drop is reinstated; a drop that a review keep overrode comes back, unless a stage has
    dropped the photo again since (then the stage's newer drop stands); with `labels`, a relabelled
    photo gets its label back (unless something else rewrote the label since).
    """
    c = _columns(_review_columns(catalog))
    _restore(c, labels)
    return _frame(catalog, c)


def before_review(catalog: pd.DataFrame) -> pd.DataFrame:
    """`restore_automatic` for readers (curate.freshness): the same frame when nothing was reviewed."""
    reviewed = any(name in catalog.columns and catalog[name].notna().any() for name in REVIEW_COLUMNS)
    if not reviewed and not (catalog["drop_stage"] == STAGE).any():
        return catalog
    return restore_automatic(catalog)


def apply_decisions(catalog: pd.DataFrame, decisions: list[dict], recomputed: tuple[str, ...] = ()) -> pd.DataFrame:
    """The catalog with the human decisions applied on top of the automatic stages (pure, idempotent).

    Args:
        catalog: the catalog (schema columns; review columns optional).
        decisions: decision dicts in the order they were made (`curate.review.journal.read_decisions`).
        recomputed: the stages whose drops the catalog was just recomputed by (a stage's run: itself and the
            later stages it reset). A photo a reviewer kept that they no longer drop loses its record of the
            drop the keep overrode (audit AF: forced, then held again, a kept photo still "overrode"
            `quality:dark`, and undoing the keep dropped it for a reason the filter no longer gave).
    Returns:
        A new catalog (a shallow copy when there is nothing to apply or take back); decisions about
        photos it does not hold are ignored.

    Example: ``apply_decisions(catalog, [{"id": "1", "photo_id": "demo:7", "action": "keep"}])``.
    """
    catalog = _forget_stale_overrides(catalog, recomputed)
    status, label = _decided(decisions)
    held = catalog[schema.PHOTO_ID].isin(set(status)) if status else None
    if held is not None and held.sum() < len(status):  # decisions naming ids it lacks: pandas' '.0' twins?
        twins = float_id_twins(status, catalog[schema.PHOTO_ID])
        if twins:  # (review CZ MED-2: decisions imported before the import matched them)
            status, label = _decided([{**d, "photo_id": twins.get(d["photo_id"], d["photo_id"])} for d in decisions])
    if not status and before_review(catalog) is catalog:  # nothing decided, nothing to take back
        return catalog.copy(deep=False)
    c = _columns(_review_columns(catalog))
    _restore(c, labels=True)
    if status and len(catalog):
        _apply(c, _lookup(catalog[schema.PHOTO_ID], status), _lookup(catalog[schema.PHOTO_ID], label))
    return _frame(catalog, c)


def _forget_stale_overrides(catalog: pd.DataFrame, recomputed: tuple[str, ...]) -> pd.DataFrame:
    """`catalog` without the overridden drops of `recomputed` stages on kept photos: a stage that has just
    re-run and kept such a photo no longer drops it, so there is no drop left to override."""
    if not recomputed or "review_overrode_stage" not in catalog.columns:
        return catalog
    stale = ((catalog["status"] == schema.KEPT) & catalog["review_overrode_stage"].isin(recomputed)).to_numpy()
    if not stale.any():
        return catalog
    catalog = catalog.copy()
    catalog.loc[stale, ["review_overrode_stage", "review_overrode_reason"]] = None
    return catalog


def _lookup(photo_ids: pd.Series, mapping: dict[str, str]) -> np.ndarray:
    """mapping[photo_id] per row (None where absent). A dict lookup for the few rows of one decision
    (pandas' per-call overhead dominates there), `Series.map` for a catalog."""
    if len(photo_ids) < 1000:
        return np.array([mapping.get(pid) for pid in photo_ids.to_numpy(dtype=object)], dtype=object)
    return photo_ids.map(mapping).to_numpy(dtype=object)


def _apply(c: dict[str, np.ndarray], status: np.ndarray, label: np.ndarray) -> None:
    """The decided `status` and `label` per row (None: no decision) applied to column arrays, in place."""
    relabel = pd.notna(label)
    c["label_before_review"][relabel] = c["label"][relabel]
    c["label"][relabel] = c["review_label"][relabel] = label[relabel]
    keep, drop = status == schema.KEPT, status == schema.DROPPED
    revive = keep & (c["status"] == schema.DROPPED) & np.isin(c["drop_stage"], OVERRIDABLE_STAGES)
    c["review_overrode_stage"][revive] = c["drop_stage"][revive]
    c["review_overrode_reason"][revive] = c["drop_reason"][revive]
    c["status"][revive], c["drop_reason"][revive], c["drop_stage"][revive] = schema.KEPT, None, None
    over = drop & (c["status"] == schema.DROPPED) & np.isin(c["drop_stage"], OVERRIDABLE_STAGES)
    c["review_overrode_stage"][over] = c["drop_stage"][over]
    c["review_overrode_reason"][over] = c["drop_reason"][over]
    c["drop_reason"][over], c["drop_stage"][over] = DROP_REASON, STAGE
    newly = drop & (c["status"] == schema.KEPT)
    c["status"][newly], c["drop_reason"][newly], c["drop_stage"][newly] = schema.DROPPED, DROP_REASON, STAGE
    if "split" in c:
        c["split"][newly] = None  # dropped photos have no split
    c["review_status"][keep & (c["status"] == schema.KEPT)] = schema.KEPT
    c["review_status"][drop] = schema.DROPPED


def overridden_note(catalog: pd.DataFrame, stage: str) -> list[str]:
    """A note on a stage's drops that a reviewer's keep overrides in `catalog` (the stage's output with the
    decisions applied): the stage's counts are its own decisions, the catalog keeps these photos (audit AF:
    `dropped 27 quality:dark` printed, 26 in the catalog, with nothing to reconcile the two).

    >>> frame = pd.DataFrame({"status": ["kept", "kept", "dropped"], "review_overrode_stage": ["filter", None, None],
    ...                       "review_overrode_reason": ["quality:dark", None, None]})
    >>> overridden_note(frame, "filter")[0][:73]
    "a reviewer's keep overrides 1 of this run's drops (quality:dark 1): the c"
    """
    if "review_overrode_stage" not in catalog.columns:
        return []
    mine = (catalog["status"] == schema.KEPT) & (catalog["review_overrode_stage"] == stage)
    if not mine.any():
        return []
    counts = catalog.loc[mine, "review_overrode_reason"].value_counts()
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in counts.items())
    return [f"a reviewer's keep overrides {int(mine.sum()):,} of this run's drops ({reasons}): the catalog keeps "
            "them; this stage's counts (its drops, its funnel) are its own decisions (`curate review` shows the "
            "reviewer's)"]


def photo_state(catalog: pd.DataFrame) -> dict[str, dict]:
    """{photo_id: {"status", "label", "review_status", "review_label", "drop_reason"}} of a few rows,
    as the review page and a decision's before/after show them."""
    columns = ("status", "label", "review_status", "review_label", "drop_reason")
    arrays = [catalog[name].to_numpy(dtype=object) if name in catalog.columns else [None] * len(catalog)
              for name in columns]
    return {pid: {name: (None if pd.isna(values[i]) else values[i]) for name, values in zip(columns, arrays)}
            for i, pid in enumerate(catalog[schema.PHOTO_ID].to_numpy(dtype=object))}
