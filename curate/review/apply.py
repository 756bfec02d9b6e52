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
- drop: a kept photo is dropped with reason ``reviewed``, stage ``review``; a photo already
  dropped keeps its first reason;
- relabel: ``label`` becomes the reviewer's label, the old one is in ``label_before_review``.
"""

from __future__ import annotations

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


def decided_state(decisions: list[dict]) -> pd.DataFrame:
    """Per photo (index photo_id): `status` (kept / dropped / None) and `label` (None when not
    relabelled) that the active decisions ask for; the last one wins."""
    active = active_decisions(decisions)
    frame = pd.DataFrame({"photo_id": [d["photo_id"] for d in active],
                          "action": [d["action"] for d in active],
                          "label": [d.get("label") if d["action"] == "relabel" else None for d in active]},
                         dtype=object)
    if frame.empty:
        return pd.DataFrame({"status": pd.Series(dtype=object), "label": pd.Series(dtype=object)},
                            index=pd.Index([], name="photo_id", dtype=object))
    frame["status"] = frame["action"].map({"keep": schema.KEPT, "relabel": schema.KEPT, "drop": schema.DROPPED})
    status = frame.groupby("photo_id", sort=False)["status"].last()
    label = frame.dropna(subset=["label"]).groupby("photo_id", sort=False)["label"].last()
    return pd.DataFrame({"status": status, "label": label.reindex(status.index)}).astype(object)


def _review_columns(catalog: pd.DataFrame) -> pd.DataFrame:
    missing = [name for name in REVIEW_COLUMNS if name not in catalog.columns]
    if missing:
        catalog = catalog.assign(**{name: pd.Series(None, index=catalog.index, dtype=object) for name in missing})
    return catalog


def restore_automatic(catalog: pd.DataFrame, labels: bool = True) -> pd.DataFrame:
    """The catalog as the automatic stages left it: every earlier review application taken back (pure).

    A review drop is reinstated; a drop that a review keep overrode comes back, unless a stage has
    dropped the photo again since (then the stage's newer drop stands); with `labels`, a relabelled
    photo gets its label back (unless something else rewrote the label since).
    """
    out = _review_columns(catalog).copy()
    status = out["status"].to_numpy()
    review_drop = (out["drop_stage"] == STAGE).to_numpy()
    out.loc[review_drop, ["status", "drop_reason", "drop_stage"]] = [schema.KEPT, None, None]
    overrode = (out["review_overrode_stage"].notna() & (status == schema.KEPT)).to_numpy()
    out.loc[overrode, "status"] = schema.DROPPED
    out.loc[overrode, "drop_stage"] = out.loc[overrode, "review_overrode_stage"]
    out.loc[overrode, "drop_reason"] = out.loc[overrode, "review_overrode_reason"]
    if labels:
        relabelled = (out["review_label"].notna() & (out["label"] == out["review_label"]).fillna(False)).to_numpy()
        out.loc[relabelled, "label"] = out.loc[relabelled, "label_before_review"]
        out[list(REVIEW_COLUMNS)] = None
    else:
        out[["review_status", "review_overrode_stage", "review_overrode_reason"]] = None
    return out


def before_review(catalog: pd.DataFrame) -> pd.DataFrame:
    """`restore_automatic` for readers (curate.freshness): the same frame when nothing was reviewed."""
    reviewed = any(name in catalog.columns and catalog[name].notna().any() for name in REVIEW_COLUMNS)
    if not reviewed and not (catalog["drop_stage"] == STAGE).any():
        return catalog
    return restore_automatic(catalog)


def apply_decisions(catalog: pd.DataFrame, decisions: list[dict]) -> pd.DataFrame:
    """The catalog with the human decisions applied on top of the automatic stages (pure, idempotent).

    Args:
        catalog: the catalog (schema columns; review columns optional).
        decisions: decision dicts in the order they were made (`curate.review.journal.read_decisions`).
    Returns:
        A new catalog; decisions about photos it does not hold are ignored.

    Example: ``apply_decisions(catalog, [{"id": "1", "photo_id": "demo:7", "action": "keep"}])``.
    """
    out = restore_automatic(catalog)
    wanted = decided_state(decisions)
    if wanted.empty or out.empty:
        return out
    status = out["photo_id"].map(wanted["status"]).to_numpy(dtype=object)
    label = out["photo_id"].map(wanted["label"]).to_numpy(dtype=object)
    relabel = pd.notna(label)
    out.loc[relabel, "label_before_review"] = out.loc[relabel, "label"]
    out.loc[relabel, "label"] = label[relabel]
    out.loc[relabel, "review_label"] = label[relabel]
    keep = (status == schema.KEPT)
    revive = keep & (out["status"] == schema.DROPPED).to_numpy() & out["drop_stage"].isin(OVERRIDABLE_STAGES).to_numpy()
    out.loc[revive, "review_overrode_stage"] = out.loc[revive, "drop_stage"]
    out.loc[revive, "review_overrode_reason"] = out.loc[revive, "drop_reason"]
    out.loc[revive, ["status", "drop_reason", "drop_stage"]] = [schema.KEPT, None, None]
    drop = (status == schema.DROPPED)
    newly = drop & (out["status"] == schema.KEPT).to_numpy()
    out.loc[newly, ["status", "drop_reason", "drop_stage"]] = [schema.DROPPED, DROP_REASON, STAGE]
    if "split" in out.columns:
        out.loc[newly, "split"] = None  # dropped photos have no split
    decided = keep & (out["status"] == schema.KEPT).to_numpy() | drop
    out.loc[decided, "review_status"] = np.where(drop[decided], schema.DROPPED, schema.KEPT)
    return out


def photo_state(catalog: pd.DataFrame) -> dict[str, dict]:
    """{photo_id: {"status", "label", "review_status", "review_label", "drop_reason"}} of a few rows,
    as the review page and a decision's before/after show them."""
    columns = ["status", "label", "review_status", "review_label", "drop_reason"]
    frame = _review_columns(catalog)[["photo_id", *columns]]
    return {row[0]: {name: (None if pd.isna(value) else value) for name, value in zip(columns, row[1:])}
            for row in frame.itertuples(index=False)}
