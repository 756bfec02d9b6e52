"""The report's "Photographers" section: how concentrated each label's kept photos are by owner,
and an alarm only where that concentration is unusual for the collection.

The rule (documented in docs/report.md). For each label take its top owner's kept photo count
``k`` (the photographer with most photos of that label). Across the labels, ``log k`` is compared
with its median by a robust z-score,

    z = (log k - median) / scale,   scale = max(1.4826 * MAD, 1 / sqrt(median k)),

where MAD is the median absolute deviation of ``log k`` over the labels and ``1/sqrt(median k)``
is the counting noise of ``log k`` (so a dozen small labels whose top owners all have 8 photos do
not make 12 photos look extreme). A label alarms when ``z > 3.5`` (Iglewicz and Hoaglin's cut for
a modified z-score) AND its top owner holds more than ``owner_alarm`` of its kept photos. Counts,
not shares, are compared because a share says little on its own: in a collection whose
photographers each shoot a few dozen photos of their home city, a top share of 40% is ordinary,
while one owner with several times more photos than any other label's top owner is not (the
demo's sandals photographer). With fewer than three labels there is no collection to compare
with, so nothing alarms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from curate import schema
from curate.filters.owners import (
    DOMINANT_MIN_PHOTOS,
    DOMINANT_SHARE,
    dominance_lines,
    dominated_labels,
    owner_names,
)

Z_ALARM = 3.5  # Iglewicz & Hoaglin (1993): |modified z| > 3.5 is a potential outlier
MIN_LABELS = 3  # fewer labels: no collection to compare with
OWNER_GALLERY = 12  # most thumbnails under one alarm


def concentration_z(top_photos: pd.Series, top_owners: pd.Series | None = None) -> pd.Series:
    """Robust z-score of log(top owner's photo count) per label (index: label); NaN for < 3 labels.

    `top_owners` (same index): each label's top owner. A label whose top owner also tops other labels is
    compared with itself and the labels other owners top, not with that owner's other labels: one
    photographer topping half the labels would otherwise set the median and MAD, and none of their labels
    would look unusual (audit CD: a spammer topping two of the labels never alarmed). When that leaves fewer
    than 3 labels, or an owner tops every label, the plain rule stands.

    >>> concentration_z(pd.Series({"a": 8, "b": 9, "c": 10, "d": 60})).round(1).to_dict()
    {'a': -0.5, 'b': -0.2, 'c': 0.2, 'd': 5.7}
    >>> tops = pd.Series({"a": 10, "b": 10, "d": 60, "e": 60})  # one owner tops half the labels
    >>> concentration_z(tops).round(1).to_dict()["d"], concentration_z(tops, pd.Series(
    ...     {"a": "ann", "b": "bob", "d": "spam", "e": "spam"})).round(1).to_dict()["d"]
    (0.7, 5.7)
    """
    counts = top_photos.astype("float64")
    if len(counts) < MIN_LABELS:
        return pd.Series(np.nan, index=counts.index)
    z = _robust_z(np.log(counts), counts)
    if top_owners is None:
        return z
    owners = top_owners.reindex(counts.index)
    repeated = owners.duplicated(keep=False) & owners.notna()
    for label in counts.index[repeated.to_numpy()]:
        reference = (owners != owners[label]).to_numpy() | (counts.index == label)
        if reference.sum() >= MIN_LABELS:
            z[label] = _robust_z(np.log(counts[reference]), counts[reference])[label]
    return z


def _robust_z(log_k: pd.Series, counts: pd.Series) -> pd.Series:
    """(log k - median) / max(1.4826 MAD, 1/sqrt(median k)) over `log_k` (the module docstring's rule)."""
    median = float(log_k.median())
    mad = float((log_k - median).abs().median())
    scale = max(1.4826 * mad, 1.0 / np.sqrt(float(counts.median())))
    return (log_k - median) / scale


def photographers_section(cat: pd.DataFrame, owner_alarm: float, max_gallery: int, gallery, top: int = 5) -> dict:
    """Per label (kept photos): photographers (distinct known owners; photos without an owner counted
    apart, as curate.filters.owners counts them), effective photographers (1/Σshare² over the photos
    with an owner), top owners with names, the concentration z-score and the alarm (see the module
    docstring); a gallery (at most min(max_gallery, OWNER_GALLERY) photos) of the top owner's photos
    under each alarm only.

    `gallery(rows, max_gallery)` builds a gallery dict (curate.report.data.gallery).
    """
    kept = cat[(cat["status"] == schema.KEPT) & (cat["label"] != schema.NO_LABEL)]
    owned = kept[kept["owner_id"].notna()]
    counts = owned.groupby(["label", "owner_id"]).size().rename("photos").reset_index()
    counts = counts.sort_values(["label", "photos", "owner_id"], ascending=[True, False, True], kind="stable")
    square = counts.assign(square=counts["photos"].astype("int64") ** 2).groupby("label")
    per_label = pd.DataFrame({"photos": kept.groupby("label").size(),
                              "no_owner": kept["owner_id"].isna().groupby(kept["label"]).sum()})
    per_label = per_label.join(pd.DataFrame({"owners": square.size(), "square_sum": square["square"].sum()}))
    listed: dict[str, list] = {}
    for label, owner, photos in counts.groupby("label").head(top).itertuples(index=False):
        listed.setdefault(label, []).append((owner, int(photos)))
    per_label["top"] = per_label.index.to_series().map(listed)

    def top_rows(label: str, owner_id: str, limit: int) -> dict:
        return gallery(owned[(owned["label"] == label) & (owned["owner_id"] == owner_id)], limit)

    return photographers_from_counts(per_label.rename_axis("label").reset_index(), owner_names(kept), owner_alarm,
                                     max_gallery, top_rows)


def photographers_from_counts(per_label: pd.DataFrame, names: dict, owner_alarm: float, max_gallery: int,
                              top_rows) -> dict:
    """The section from per-label owner counts (the step both catalog engines share).

    Args:
        per_label: one row per label with kept photos: label, photos, no_owner (photos without an
            owner), owners (distinct known owners), square_sum (Σ photos² over those owners) and top
            (a list of (owner_id, photos) of known owners, most photos first, ties by owner_id;
            missing or empty where no photo has an owner).
        names: {owner_id: owner_name} for (at least) the owners in `top`.
        top_rows: `top_rows(label, owner_id, limit)` -> gallery dict of that owner's kept photos of
            the label (first `limit` in catalog order).
    """
    per_label = per_label.sort_values("label", kind="stable").copy()
    per_label["top"] = [t if isinstance(t, list) else [] for t in per_label["top"]]
    for name in ("no_owner", "owners", "square_sum"):
        per_label[name] = [int(v) if pd.notna(v) else 0 for v in per_label[name]]
    owned = per_label[per_label["top"].map(len) > 0]  # labels of owner-less photos only have no top owner
    tops = pd.Series([int(t[0][1]) for t in owned["top"]], index=owned["label"], dtype="int64")
    z = concentration_z(tops, pd.Series([t[0][0] for t in owned["top"]], index=owned["label"], dtype=object))
    labels = [_label_entry(row, z.get(row.label), owner_alarm, names) for row in per_label.itertuples(index=False)]
    for entry in labels:
        if entry["alarm"]:
            entry["gallery"] = top_rows(entry["label"], entry["top_owner"], min(int(max_gallery), OWNER_GALLERY))
    labels.sort(key=lambda e: (-(e["concentration_z"] if e["concentration_z"] is not None else -np.inf), e["label"]))
    # mostly one photographer's, whatever the other labels' top owners hold (the alarm cannot see a small label)
    shares = pd.DataFrame([{"label": e["label"], "photos": e["photos"], "top_owner": e["top_owner"],
                            "top_owner_photos": e["top_photos"], "top_owner_share": e["top_share"]} for e in labels],
                          columns=["label", "photos", "top_owner", "top_owner_photos", "top_owner_share"])
    dominated = set(dominated_labels(shares)["label"])
    for entry in labels:
        entry["dominated"] = entry["label"] in dominated
    return {"owner_alarm": float(owner_alarm), "z_alarm": Z_ALARM, "judged": bool(len(z.dropna())),
            "alarms": sum(e["alarm"] for e in labels), "dominant_share": DOMINANT_SHARE,
            "dominant_min_photos": DOMINANT_MIN_PHOTOS, "warnings": dominance_lines(shares), "labels": labels}


def _label_entry(row, z, owner_alarm: float, names: dict) -> dict:
    """One label's row of the section (`row`: a row of photographers_from_counts' table)."""
    total = int(row.photos)
    known = total - int(row.no_owner)
    # 1/Σshare² = known²/Σphotos²: integers until the one division, so both engines agree to the bit
    effective = float(known * known / int(row.square_sum)) if int(row.square_sum) else None
    z = None if z is None or not np.isfinite(z) else float(z)
    top_owner, top_photos = (row.top[0][0], int(row.top[0][1])) if row.top else (None, 0)
    alarm = top_owner is not None and z is not None and z > Z_ALARM and top_photos / total > owner_alarm
    return {"label": row.label, "photos": total, "owners": int(row.owners), "no_owner": int(row.no_owner),
            "effective_owners": effective,
            "top_owners": [{"owner_id": o, "owner_name": names.get(o), "photos": int(n), "share": float(n / total)}
                           for o, n in row.top],
            "top_owner": top_owner, "top_owner_name": names.get(top_owner),
            "top_photos": top_photos, "top_share": float(top_photos / total),
            "concentration_z": z, "alarm": bool(alarm)}
