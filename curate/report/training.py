"""The report's training section (the newest run's evaluation.json: accuracy, comparisons, the sandals test)
and the splits section's check against another collection (reports/contamination.json); pure."""

from __future__ import annotations

import pandas as pd

from curate import schema
from curate.filters.owners import owner_names
from curate.report.explain import accuracy_sentence, comparison_sentences
from curate.report.values import HOW_TO, plain


def copies_section(saved: dict | None, catalog_sha256: str, max_rows: int = 200) -> dict | None:
    """The last `curate check-leakage --against` (its reports/contamination.json), for the splits section:
    the other collection, the summary line, counts, notes and its first `max_rows` copies; "stale" when the
    catalog has changed since that check (its photos' splits and statuses may be others now). None when no
    such check has run."""
    if not saved:
        return None
    rows = list(saved.get("copies") or [])
    section = {"against": str(saved.get("against", "")), "summary": str(saved.get("summary", "")),
               "checked_at": saved.get("finished_at"), "copies_count": int(saved.get("copies_count") or 0),
               "exact": int(saved.get("exact") or 0), "per_split": dict(saved.get("per_split") or {}),
               "notes": [str(note) for note in saved.get("notes") or []], "copies": rows[:max(int(max_rows), 0)]}
    if saved.get("input_catalog_sha256") != catalog_sha256:
        section["stale"] = ("the catalog has changed since this check; run `curate check-leakage --against "
                            f"{section['against']}` again")
    return section


def training_section(evaluation: dict | None, max_rows: int, catalog: pd.DataFrame | None = None,
                     names: dict | None = None, images: pd.DataFrame | None = None) -> dict:
    """Numbers from the newest run's evaluation.json (images are added by the I/O edge).

    Top losses carry their photo's sha256/image_path from the catalog, so they get thumbnails.
    Out of core, `names` ({owner_id: owner_name}) and `images` (sha256, image_path, page_url
    indexed by photo_id) hold the few rows needed instead of `catalog`.
    """
    if not evaluation:
        return {"absent": HOW_TO["training"]}
    top_losses = [dict(r) for r in (evaluation.get("top_losses") or [])[:20]]
    if catalog is not None:
        names = owner_names(catalog)
        images = catalog.set_index(schema.PHOTO_ID)[["sha256", "image_path", "page_url"]]
    names = names or {}
    if images is not None and top_losses:
        for row in top_losses:
            if row.get("photo_id") in images.index:
                row.update({k: plain(v) for k, v in images.loc[row["photo_id"]].items()})
            row["owner_name"] = names.get(row.get("owner_id"))
    comparisons = {}
    for name, comp in (evaluation.get("comparisons") or {}).items():
        comparisons[name] = {k: plain(v) for k, v in comp.items() if isinstance(v, (int, float, str)) or v is None}
        comparisons[name]["notes"] = list(comp.get("notes") or [])
        comparisons[name]["explain"] = comparison_sentences(comparisons[name])
    sandals = evaluation.get("sandals_test")
    return {
        "run": evaluation.get("run"), "split": evaluation.get("split"),
        "photos": evaluation.get("photos"), "accuracy": plain(evaluation.get("accuracy")),
        "macro": evaluation.get("macro"),
        "explain": {"accuracy": accuracy_sentence(plain(evaluation.get("accuracy")), evaluation.get("photos"),
                                                  evaluation.get("split"))},
        "catalog_changed_since_training": evaluation.get("catalog_changed_since_training"),
        "left_out_trained_on": int(evaluation.get("left_out_trained_on") or 0),
        "left_out_touching_trained_on": int(evaluation.get("left_out_touching_trained_on") or 0),
        "per_class": evaluation.get("per_class", []),
        "most_confused": (evaluation.get("most_confused") or [])[:20],
        "top_losses": top_losses,
        "per_owner": [{**r, "owner_name": names.get(r.get("owner_id"))} for r in sorted(
            evaluation.get("per_owner") or [], key=lambda r: (r.get("accuracy", 1), -r.get("photos", 0)))[:max_rows]],
        "per_owner_total": len(evaluation.get("per_owner") or []),
        "comparisons": comparisons,
        # issue K: what curation is worth in one sentence (with its standard error) and the sandals test
        "headline": (comparisons.get("uncurated") or {}).get("headline"),
        # what the headline left out of both models' scores, and why: shown beside it (finding 3 of the long-tail audit)
        "headline_notes": list((comparisons.get("uncurated") or {}).get("notes") or []),
        "sandals_test": sandals_rows(sandals) if isinstance(sandals, dict) else None,
    }


def sandals_rows(sandals: dict) -> dict:
    """The sandals test of evaluation.json as {"summary": sentence, "rows": [(what, value as share/count)]}."""
    wrongly = sandals.get("on_topic_wrongly_gated") or {}
    rows = [("off-topic photos of test photographers", sandals.get("photos"), "count"),
            ("answered with a label" + (" behind the gate" if sandals.get("behind_gate") else ""),
             sandals.get("answered_share"), "share"),
            ("answered by the model alone (no gate)", sandals.get("model_alone_answered_share"), "share"),
            ("on-topic test photos wrongly gated (target ≤ 3%)", wrongly.get("share"), "share"),
            ("accuracy behind the gate (a gated test photo counts as wrong)", wrongly.get("accuracy_behind_gate"),
             "share")]
    return {"summary": sandals.get("summary"),
            "rows": [{"what": what, "value": plain(value), "kind": kind} for what, value, kind in rows
                     if isinstance(value, (int, float)) and not isinstance(value, bool)]}
