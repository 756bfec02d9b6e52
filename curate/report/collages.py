"""The Duplicates section's collage part: the photos `curate filter` dropped as ``collage`` (curate.filters.collages)
with what that means and how to undo it, and whether collages were held or kept instead (audit DY F6: the report
showed only a funnel column; each dropped collage is a cluster of one, so the near-duplicate gallery skipped it).

Both catalog engines give the same part: each reads its gallery of the dropped collages (catalog order) its own way,
the rest comes from the filter report (its config and its held warning).
"""

from __future__ import annotations

from curate.filters import collages
from curate.report.html_blocks import e, gallery

MEANING = ("a collage is a side-by-side composite of two or more different pictures; the filter links it to each "
           "picture it shows, so kept it would join them (and their copies and photographers) into one split group, "
           "and collages of consecutive pictures chain many into one; so each such collage is dropped as `collage`, "
           "and the pictures it shows stay apart")
UNDO = ("`curate filter --collages keep` keeps them all (joined to the pictures they show); to keep a single one, "
        "`curate review --queue duplicates` shows them and a keep decision keeps it")


def collages_part(filter_report: dict, dropped: dict) -> dict:
    """The part from the filter report and `dropped`, the gallery of the photos dropped as collage.

    Returns {"mode": "drop" or "keep" (the filter's `--collages`), "dropped": photos dropped as collage, "held": the
    filter's warning when it held the drop (else None), "meaning", "undo", "gallery"}.

    >>> part = collages_part({"config": {"collages": "keep"}}, {"total": 0, "shown": 0, "photos": []})
    >>> part["mode"], part["dropped"], part["held"]
    ('keep', 0, None)
    """
    config = filter_report.get("config") or {}
    return {"mode": config.get("collages", "drop"), "dropped": int(dropped.get("total") or 0),
            "held": collages.held_in([str(w) for w in filter_report.get("warnings") or []]),
            "meaning": MEANING, "undo": UNDO, "gallery": dropped}


def render_collages(part: dict | None) -> str:
    """The part's HTML (under the near-duplicate clusters): nothing when no collage was dropped, held or kept."""
    if not part:
        return ""
    if part.get("held"):
        return (f'<h3>Collages: held</h3><p class="bad">{e(part["held"])}</p>'
                f'<p class="why">What a collage is: {e(part["meaning"])}.</p>')
    if part.get("mode") == "keep":
        return ('<h3>Collages: kept</h3><p class="note">the filter ran with `--collages keep`: any collage of '
                "different pictures was kept, joined to the pictures it shows (they share one side of the split; "
                "`--collages drop`, the default, drops them).</p>")
    if not part.get("dropped"):
        return ""
    count = part["dropped"]
    return (f'<h3>Collages: {count:,} photo{"s" if count != 1 else ""} dropped as collage</h3>'
            f'<p class="why">What it means: {e(part["meaning"])}. To undo: {e(part["undo"])}.</p>'
            + gallery(part["gallery"], ("label", "owner_id")))
