"""The report's "Human review" section: what reviewers decided (`curate review`), from the catalog."""

from __future__ import annotations

import pandas as pd

from curate import schema
from curate.report.html_blocks import e, num, table

HOW_TO_REVIEW = "no review decisions yet; run `curate review` to look at the flags and decide"


def review_section(catalog: pd.DataFrame, max_rows: int = 200) -> dict:
    """Counts of reviewed photos (kept, dropped, relabelled), which automatic drops a keep overrode,
    the relabels (from → to, photos), and the reviewed photos themselves (at most `max_rows`)."""
    columns = ("review_status", "review_label", "label_before_review", "review_overrode_stage",
               "review_overrode_reason")
    frame = catalog.reindex(columns=[schema.PHOTO_ID, "label", "status", *columns])
    reviewed = frame["review_status"].notna() | frame["review_label"].notna()
    if not reviewed.any():
        return {"absent": HOW_TO_REVIEW}
    rows = frame[reviewed]
    overrode = (rows["review_overrode_stage"] + ": " + rows["review_overrode_reason"].fillna("?")).dropna()
    relabelled = rows[rows["review_label"].notna()]
    relabels = (relabelled.assign(before=relabelled["label_before_review"].fillna("(none)"))
                .groupby(["before", "review_label"]).size().sort_values(ascending=False).head(max_rows))
    shown = rows.head(max(int(max_rows), 0))
    return {
        "reviewed": int(len(rows)),
        "kept": int((rows["review_status"] == "kept").sum()),
        "dropped": int((rows["review_status"] == "dropped").sum()),
        "relabelled": int(len(relabelled)),
        "overrode": {key: int(n) for key, n in overrode.value_counts().items()},
        "relabels": [{"from": before, "to": after, "photos": int(n)} for (before, after), n in relabels.items()],
        "rows": [{"photo_id": r.photo_id, "decision": None if pd.isna(r.review_status) else r.review_status,
                  "label": None if pd.isna(r.label) else r.label,  # NaN is not JSON
                  "label_before_review": None if pd.isna(r.label_before_review) else r.label_before_review,
                  "overrode": None if pd.isna(r.review_overrode_stage) else
                  f"{r.review_overrode_stage}: {r.review_overrode_reason}"}
                 for r in shown.itertuples(index=False)],
    }


def render_review(s: dict) -> str:
    """The section's HTML."""
    overrode = ", ".join(f"{e(k)} {v}" for k, v in s["overrode"].items()) or "none"
    parts = [f'<p>{num(s["reviewed"])} photos reviewed: {num(s["kept"])} kept, {num(s["dropped"])} dropped, '
             f'{num(s["relabelled"])} relabelled. Automatic drops a reviewer overrode: {overrode}. '
             "Decisions are in reviews.jsonl and win over every stage on re-runs.</p>"]
    if s["relabels"]:
        parts.append("<h3>Relabels</h3>" + table(["from", "to", "photos"], [
            [e(r["from"]), e(r["to"]), num(r["photos"])] for r in s["relabels"]], left=2))
    parts.append(f'<h3>Reviewed photos (first {len(s["rows"])})</h3>' + table(
        ["photo", "decision", "label", "label before", "overrode"],
        [[e(r["photo_id"]), e(r["decision"]), e(r["label"]), e(r["label_before_review"]), e(r["overrode"])]
         for r in s["rows"]], left=5))
    return "".join(parts)
