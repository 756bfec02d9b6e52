"""Which version of its rules each stage's saved run used, so that an upgrade re-runs what it changed.

A workspace outlives the version of curate that made it. A stage whose rules changed since its report was
written (what it drops, flags, labels or warns of, on the same catalog) would still read as fresh, and `curate
run` would skip it: audit CU MED-3 upgraded the demo's workspace, `curate run` said "0 steps ran, 8 were already
done", and the new prefilter's warning about the planted sandals photographer (24 of 24 rejected, all still
kept) never appeared. Each stage report records the version of the rules its run used (key ``rules``);
`curate.freshness.judge` reads a stage whose report holds another one as stale, saying what changed, so `curate
status` names it and `curate run` runs it again (and the stages after it).

CHANGES holds, per stage, one entry for each new version of its rules (newest last): a stage's version is the
length of its list plus one. An entry that `decides` changes what the stage drops, flags, labels or splits on a
catalog it has already judged: a run under older rules reads as stale. One that does not only adds warnings or
notes the stage's last run could not give: `curate status` says so in a note, and nothing needs running again. A
faster or quieter way to the same result needs no entry. A report without a version was written by version 1: any
curate before 2026-12-07 13:00 UTC, so a version-2 entry names what changed up to then, not only that day.
Ingest keeps no report and its rules are not tracked: `curate ingest` run again re-reads the photos' metadata
(docs/workspace.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    """One new version of a stage's rules: what changed (no `;`: the state line joins reasons with it) and
    whether it `decides` (see the module docstring)."""

    what: str
    decides: bool = True


CHANGES: dict[str, tuple[Change, ...]] = {
    "embed": (Change(
        "photos with a colour profile other than sRGB (Adobe RGB, camera and Display P3 profiles) have been read "
        "converted to sRGB since 2026-12-06, and their vectors computed before are computed again"),),
    "filter": (Change(
        "up to 2026-12-07: crops, framed and turned copies are linked on their pixels (12-05, 12-06), a "
        "--missing-geo drop is held when most photos lack coordinates, a copy framed by text bars loses to its "
        "original, labels spread by several photographers are held as not places, a city's suburbs no longer make "
        "it one, and one photographer's outliers at one position are named as a camera's default"), Change(
        "the hashes and quality statistics of photos with a colour profile other than sRGB, measured before "
        "2026-12-06 on unconverted pixels, are measured again on sRGB ones, and a phone screenshot with large "
        "header or caption text or a 16:9 photo on a tall screen is trimmed to its photo (border rule 3), and a "
        "collage of two photos is linked to both"), Change(
        "a 9:16 portrait crop of a landscape photo (a Stories or wallpaper repost) is linked to it by the strip hashes "
        "of the photo's windows, computed once for every stored image, and a copy under a watermark tiled over the "
        "whole picture (or a logo or sticker lighter or darker than what it covers) is linked to its photo when "
        "their pixels differ only one way (the overlay check)"), Change(
        "a collage of photos of different pictures, which joined them (and collages of consecutive pictures chained "
        "many) into one split group, is dropped as collage unless --collages keep, so each picture keeps its own "
        "copies, and a 9:16 crop is matched with a collage's windows after its own photo's"), Change(
        "a copy under a watermark tiled over the picture is put after its photo by the keep rule (the overlay check "
        "tells which side carries the text), so --dedupe-near keeps the clean photo and near_dup_cluster names it, "
        "and with collages kept (--collages keep, or their drop held) which copy is an upscale is judged within each "
        "picture's own copies, not against the other pictures the collages join"), Change(
        "a soft original is no longer judged an upscale of its own downscale without evidence from the smaller copy "
        "(the band test), so --dedupe-near keeps it over that copy; of byte-identical copies one with an owner is "
        "kept before the id, so the kept row keeps its attribution; white text tiled over a bright photo marks its "
        "copy and a copy sharpened hard marks neither side; a reviewer's keep of a collage under its id's float twin "
        "joins the collage to its pictures; a 4:5 or 2:3 portrait crop of a landscape photo is linked to it"), Change(
        "a portrait crop linked only to a collage's window over one of its panels is a copy of that panel's picture, "
        "no longer dropped with the collage as one (nor counted among the collages), and a reviewer's keep of it no "
        "longer keeps the collage")),
    "prefilter": (Change(
        "up to 2026-12-07: a cut taking most of a label the tag seldom goes on is held, no geo rescue where the label "
        "model cannot vouch, photos no topic model scored are judged for label issues, a photo surrounded by its "
        "own label is no longer flagged as unlike it, and photographers whose photos it mostly rejected are "
        "named"), Change(
        "photos with a colour profile other than sRGB are judged on vectors of their sRGB pixels (embed version "
        "2)"), Change(
        "an untagged photo above the topic cut is recovered as on topic only from the tagged photos' own 1st "
        "percentile up, and one under it is kept as doubted, with a warning naming its photographers")),
    "split": (Change(
        "up to 2026-12-07: its warnings name the groups copies chained and count the photos that crossed by cause",
        decides=False), Change(
        "a group holding more than the train share is named with what unchains it, and a cluster under two labels "
        "that a collage joins names the collage as the photo to drop", decides=False)),
}


def version(stage: str) -> int:
    """The version of `stage`'s rules in this version of curate.

    >>> version("embed"), version("prefilter") > 1
    (2, True)
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
    """Why `stage`'s saved run is stale for the rules of this version of curate: a change since it ran that
    `decides`, a report of a newer curate, or an unreadable version; None otherwise.

    >>> stale_reason("embed", {"rules": version("embed")}) is None
    True
    >>> stale_reason("prefilter", {"rules": 2}).split(": ")[0]
    "prefilter's rules changed since it ran (version 2, now 4)"
    >>> stale_reason("split", {"rules": 5})
    "split ran under rules of a newer version of curate (version 5, this one's 3)"
    >>> stale_reason("split", {}) is None  # its version 2 only warns more
    True
    """
    heading = stale_heading(stage, report)
    if heading is None or stage not in CHANGES or not heading.startswith(f"{stage}'s rules changed"):
        return heading
    then = recorded(report)
    return f"{heading}: " + ", ".join(change.what for change in CHANGES[stage][then - 1:] if change.decides)


def stale_heading(stage: str, report: dict) -> str | None:
    """`stale_reason` without the list of what changed (a paragraph): what `curate status`'s table shows, the
    whole reason being printed below it (audit DA 5: cut at "(version 1, now 2): 202…" at 100 and 200 columns).

    >>> stale_heading("prefilter", {"rules": 2})
    "prefilter's rules changed since it ran (version 2, now 4)"
    >>> stale_heading("split", {}) is None, stale_heading("embed", {"rules": 2}) is None
    (True, True)
    """
    if stage not in CHANGES:
        return None
    then, now = recorded(report), version(stage)
    if then is None:
        return f"its report's rules version is unreadable ({report.get('rules')!r})"
    if then > now:
        return f"{stage} ran under rules of a newer version of curate (version {then}, this one's {now})"
    changed = any(change.decides for change in CHANGES[stage][then - 1:])
    return f"{stage}'s rules changed since it ran (version {then}, now {now})" if changed else None


def new_warnings_note(stage: str, report: dict) -> str | None:
    """A note for a stage whose rules gained only warnings since it ran (`Change.decides` false): what running
    it again would add. None when there are none (or the stage is stale by `stale_reason`).

    >>> new_warnings_note("split", {}).split(":")[0]
    'this version of curate gives warnings split could not when it ran (up to 2026-12-07'
    >>> new_warnings_note("split", {"rules": 3}) is None
    True
    """
    then = recorded(report)
    if stage not in CHANGES or then is None or then >= version(stage) or stale_reason(stage, report):
        return None
    added = ", ".join(change.what for change in CHANGES[stage][then - 1:])
    return (f"this version of curate gives warnings {stage} could not when it ran ({added}); run it again to "
            "see them (its results stay as they are)")
