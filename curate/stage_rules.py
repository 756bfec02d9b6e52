"""Which version of its rules each stage's saved run used, so that an upgrade re-runs what it changed.

A workspace outlives the version of curate that made it. A stage whose rules changed since its report was
written (what it drops, flags, labels or warns of, on the same catalog) would still read as fresh, and `curate
run` would skip it: audit CU MED-3 upgraded the demo's workspace, `curate run` said "0 steps ran, 8 were already
done", and the new prefilter's warning about the planted sandals photographer (24 of 24 rejected, all still
kept) never appeared. Each stage report records the version of the rules its run used (key ``rules``);
`curate.freshness.judge` reads a stage whose report holds another one as stale, saying what changed, so `curate
status` names it and `curate run` runs it again (and the stages after it).

CHANGES holds, per stage, one line for each change to its decisions since version 1 (newest last): a stage's
version is the length of its list plus one. Add a line when a change makes a stage decide or warn differently on
a catalog it has already judged; a faster or quieter way to the same result needs none. Ingest keeps no report
and its rules are not tracked: `curate ingest` run again re-reads the photos' metadata (docs/workspace.md).
"""

from __future__ import annotations

CHANGES: dict[str, tuple[str, ...]] = {
    "embed": (),
    "filter": (
        "2026-12-07: one photographer's geo outliers at one identical position are named as a camera's default",
    ),
    "prefilter": (
        "2026-12-07: photographers whose photos it mostly rejected are named; photos no topic model scored are "
        "judged for label issues; a photo surrounded by its own label is no longer flagged as unlike it",
    ),
    "split": (),
}


def version(stage: str) -> int:
    """The version of `stage`'s rules in this version of curate.

    >>> version("embed"), version("prefilter") > 1
    (1, True)
    """
    return len(CHANGES.get(stage, ())) + 1


def recorded(report: dict) -> int | None:
    """The rules version a stage report records: 1 for a report written before versions were recorded, None for
    a value that is not a positive whole number (a report is user-editable JSON).

    >>> recorded({}), recorded({"rules": 3}), recorded({"rules": "3"}), recorded({"rules": True})
    (1, 3, None, None)
    """
    value = report.get("rules", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def stale_reason(stage: str, report: dict) -> str | None:
    """Why `stage`'s saved run is stale for the rules of this version of curate, None when they are its own.

    >>> stale_reason("embed", {}) is None
    True
    >>> stale_reason("prefilter", {}).split(": ")[0]
    "prefilter's rules changed since it ran (version 1, now 2)"
    >>> stale_reason("split", {"rules": 5})
    "split ran under rules of a newer version of curate (version 5, this one's 1)"
    """
    if stage not in CHANGES:
        return None
    then, now = recorded(report), version(stage)
    if then == now:
        return None
    if then is None:
        return f"its report's rules version is unreadable ({report.get('rules')!r})"
    if then > now:
        return f"{stage} ran under rules of a newer version of curate (version {then}, this one's {now})"
    return (f"{stage}'s rules changed since it ran (version {then}, now {now}): "
            + "; ".join(CHANGES[stage][then - 1:]))
