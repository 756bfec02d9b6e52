"""Photographers the prefilter mostly rejected, whose other photos are still kept (pure).

The talk's sandals photographer is caught photo by photo: the pre-classifier drops the sandals it
scores under the cut, and label issues flag the ones unlike Chicago. What photo-by-photo verdicts
do not say is that the few sandals the cut missed belong to a photographer most of whose photos
were rejected: those are the first photos a person should look at (audit CD: a spammer's kitchens
tagged `animal` came back, 19 -> 37 of 40 kept, when the collection grew and the cut moved; their
photographer was never named).

A photographer is named when the prefilter judged at least MIN_JUDGED of their photos, rejected
more than REJECTED_SHARE of them (dropped as off_topic or label_issue, held below the cut as
topic_doubted, or flagged as a label issue; a photo the topic rescue kept is not rejected), and
that many rejections would be very unlikely at the collection's own rate: the binomial tail
P(X >= rejected | judged, rate) is under ALPHA divided by the photographers tested (Bonferroni).
Naming decides nothing: the kept photos stay kept; `curate review --queue owners` shows them first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binom

from curate import schema
from curate.filters.owners import owner_names

MIN_JUDGED = 10  # fewer judged photos of a photographer: a share of them says little
REJECTED_SHARE = 0.5  # more than half of their judged photos rejected
ALPHA = 0.01  # family-wise: divided by the photographers tested
REJECTING_DROPS = ("off_topic", "label_issue")
COLUMNS = ["owner_id", "owner_name", "judged", "rejected", "kept", "rate", "labels"]


def rejected_photos(catalog: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(judged, rejected) per row: the prefilter judged the photo (a topic score or a label quality), and
    rejected it (see the module docstring)."""
    def flag(name: str) -> pd.Series:
        return catalog[name].astype("boolean").fillna(False).astype(bool) if name in catalog else \
            pd.Series(False, index=catalog.index)

    judged = catalog["topic_score"].notna() | catalog["label_quality"].notna()
    rejected = (catalog["drop_reason"].isin(REJECTING_DROPS) | flag("topic_doubted") | flag("is_label_issue")) \
        & ~flag("topic_rescued")
    return judged, judged & rejected


def mostly_rejected_owners(catalog: pd.DataFrame) -> pd.DataFrame:
    """One row per photographer the prefilter mostly rejected (`COLUMNS`; most kept photos first): their
    judged and rejected photos, `kept` = their judged photos still kept (a flagged label issue among them:
    a flag drops nothing), the collection's `rate` of rejection, and `labels` = {label: kept photos} of those
    kept ones. Empty when none.

    >>> rows = [("spam", i < 18, "kept" if i >= 18 else "dropped") for i in range(24)]
    >>> rows += [(f"o{j}", i < 1, "kept" if i >= 1 else "dropped") for j in range(20) for i in range(12)]
    >>> cat = pd.DataFrame(rows, columns=["owner_id", "off", "status"]).assign(
    ...     photo_id=lambda f: [f"p{i}" for i in range(len(f))], owner_name=None, label="chicago",
    ...     topic_score=0.5, label_quality=np.nan, topic_doubted=None, is_label_issue=None, topic_rescued=None,
    ...     drop_reason=lambda f: np.where(f["off"], "off_topic", None))
    >>> mostly_rejected_owners(cat)[["owner_id", "judged", "rejected", "kept", "labels"]].to_dict("records")
    [{'owner_id': 'spam', 'judged': 24, 'rejected': 18, 'kept': 6, 'labels': {'chicago': 6}}]
    """
    judged, rejected = rejected_photos(catalog)
    known = judged & catalog["owner_id"].notna()
    if not known.any():
        return pd.DataFrame(columns=COLUMNS)
    rate = float(rejected[known].sum() / known.sum())
    owners = catalog.loc[known, "owner_id"]
    per_owner = pd.DataFrame({"judged": known[known].groupby(owners).size(),
                              "rejected": rejected[known].groupby(owners).sum().astype(int)})
    tested = per_owner[per_owner["judged"] >= MIN_JUDGED]
    if tested.empty or rate <= 0:
        return pd.DataFrame(columns=COLUMNS)
    tail = binom.sf(tested["rejected"] - 1, tested["judged"], rate)  # P(X >= rejected)
    named = tested[(tested["rejected"] > REJECTED_SHARE * tested["judged"]) & (tail < ALPHA / len(tested))]
    if named.empty:
        return pd.DataFrame(columns=COLUMNS)
    still = known & (catalog["status"] == schema.KEPT) & catalog["owner_id"].isin(named.index)
    labels = catalog.loc[still, "label"].fillna(schema.NO_LABEL)
    kept_labels = labels.groupby(catalog.loc[still, "owner_id"]).agg(lambda s: s.value_counts().sort_index().to_dict())
    names = owner_names(catalog[catalog["owner_id"].isin(named.index)])
    kept = still.groupby(catalog["owner_id"]).sum()
    table = named.rename_axis(None).assign(owner_id=named.index, owner_name=[names.get(o) for o in named.index],
                         kept=[int(kept.get(o, 0)) for o in named.index],
                         rate=rate, labels=[kept_labels.get(o, {}) for o in named.index])
    table = table.sort_values(["kept", "rejected", "owner_id"], ascending=[False, False, True], kind="stable")
    return table[COLUMNS].reset_index(drop=True)


def owners_line(table: pd.DataFrame, limit: int = 3) -> str | None:
    """The line naming the photographers of `mostly_rejected_owners` (None when there are none).

    >>> t = pd.DataFrame([{"owner_id": "72@N00", "owner_name": "sandalman", "judged": 240, "rejected": 228,
    ...                    "kept": 12, "rate": 0.09, "labels": {"chicago": 12}}])
    >>> print(owners_line(t))  # doctest: +NORMALIZE_WHITESPACE
    1 photographer's photos were mostly rejected (off topic or unlike their label; the collection's rate is 9%):
    sandalman (72@N00) 228 of 240, 12 still kept (chicago 12). Their kept photos are the likeliest to be the same
    kind: look at them first (`curate review --queue owners`); nothing more was dropped
    """
    if table is None or not len(table):
        return None
    count = f"{len(table):,} photographer{'s' if len(table) != 1 else ''}'s"
    shown = []
    for row in table.head(limit).itertuples(index=False):
        who = f"{row.owner_name} ({row.owner_id})" if isinstance(row.owner_name, str) else str(row.owner_id)
        where = ", ".join(f"{label} {n:,}" for label, n in sorted(row.labels.items(), key=lambda kv: (-kv[1], kv[0])))
        kept = f"{row.kept:,} still kept ({where})" if row.kept else "none still kept"
        shown.append(f"{who} {row.rejected:,} of {row.judged:,}, {kept}")
    more = f"; and {len(table) - limit:,} more" if len(table) > limit else ""
    rate = float(table["rate"].iloc[0])
    advice = ("Their kept photos are the likeliest to be the same kind: look at them first (`curate review --queue "
              "owners`); nothing more was dropped") if table["kept"].sum() else "None of their photos is kept"
    return (f"{count} photos were mostly rejected (off topic or unlike their label; the collection's rate is "
            f"{rate:.0%}): {'; '.join(shown)}{more}. {advice}")


def owners_records(table: pd.DataFrame) -> list[dict]:
    """`mostly_rejected_owners` as plain records for a stage report (JSON)."""
    return [{"owner_id": str(r.owner_id), "owner_name": r.owner_name if isinstance(r.owner_name, str) else None,
             "judged": int(r.judged), "rejected": int(r.rejected), "kept": int(r.kept), "rate": round(float(r.rate), 4),
             "labels": {str(k): int(v) for k, v in r.labels.items()}} for r in table.itertuples(index=False)]


def owner_rejection(catalog: pd.DataFrame) -> pd.Series:
    """Per row: the share of its photographer's judged photos rejected, where the photographer is named by
    `mostly_rejected_owners` (NaN elsewhere): the review queue's order."""
    table = mostly_rejected_owners(catalog)
    share = dict(zip(table["owner_id"], table["rejected"] / table["judged"].clip(lower=1), strict=True))
    return catalog["owner_id"].map(share).astype(float) if share else pd.Series(np.nan, index=catalog.index)
