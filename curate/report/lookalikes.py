"""The report's "Look-alikes across the split" section: what the last `curate check-leakage` listed for review
(curate.leakage_lookalikes, kept in reports/check-leakage.json), with the first pairs' thumbnails side by side.

Read from the saved check, never recomputed: the search needs `curate embed`'s vectors and takes seconds to
minutes, and the report shows what the check said. Both catalog engines give the same section: the catalog is
read only for the shown pairs' photos (`photos_of`), one row per photo id.
"""

from __future__ import annotations

import pandas as pd

from curate import schema
from curate.report.data import GALLERY_FIELDS
from curate.report.html_blocks import e, gallery, num
from curate.report.values import plain

PHOTO_COLUMNS = (*GALLERY_FIELDS, "split")  # what a shown pair's thumbnails and captions read from the catalog
NOT_COMPUTED = ("the look-alike list was not computed: the last `curate check-leakage` ran before it listed "
                "val/test photos that look like a train photo; run `curate check-leakage` again")
HOW_TO_REVIEW = ("Look at each pair (a thumbnail opens the full image). A copy the filter missed (the same picture "
                 "cropped, recompressed or retouched) leaks: drop the val/test photo (a line {\"id\": \"any text\", "
                 "\"photo_id\": \"…\", \"action\": \"drop\"} per photo in a file, applied with `curate review "
                 "--import-decisions FILE`) and run `curate split` again. Two different photos of one landmark, "
                 "scene or model do not leak and can stay. `curate check-leakage --json` lists every pair "
                 "(look_alikes); they are not counted as leaks.")


def shown_pairs(saved: dict | None, max_gallery: int) -> list[dict]:
    """The saved look-alike pairs the section shows: the first `max_gallery` (highest cosine first), [] when the
    check has none or `saved` is not a check-leakage report that listed them."""
    found = (saved or {}).get("look_alikes")
    pairs = found.get("pairs") if isinstance(found, dict) else None
    if not isinstance(pairs, list):
        return []
    return [pair for pair in pairs if isinstance(pair, dict)][:max(int(max_gallery), 0)]


def shown_photo_ids(saved: dict | None, max_gallery: int) -> list[str]:
    """The photo ids (val/test and train) of the shown pairs, sorted: what the I/O edge reads from the catalog."""
    return sorted({str(pair[key]) for pair in shown_pairs(saved, max_gallery)
                   for key in ("photo_id", "train_photo_id") if pair.get(key) is not None})


def lookalikes_section(saved: dict | None, catalog_sha256: str, max_gallery: int,
                       photos: pd.DataFrame | None = None) -> dict | None:
    """The section from reports/check-leakage.json (`saved`; None: no check saved one, so no section).

    Args:
        saved: the saved check (`curate.leakage_lookalikes.save_lookalikes`); one without ``look_alikes``
            (written before the check listed them) gives ``{"absent": NOT_COMPUTED}``.
        catalog_sha256: today's catalog's hash; another than the check's marks the section "stale".
        max_gallery: pairs shown with thumbnails; photos: the catalog's rows of `shown_photo_ids`
            (PHOTO_COLUMNS; any order, the first row of an id wins).

    Returns {"min_cosine": cosine or None (the list was off), "count": pairs listed or None (not checked: the
    notes say why), "checked", "summary", "nearest_cosine", "nearest_from", "notes", "checked_at", "pairs": the
    first pairs, each with its two photos as a gallery}.

    >>> off = lookalikes_section({"input_catalog_sha256": "h", "look_alikes": {"min_cosine": None}}, "h", 3)
    >>> off["min_cosine"], off["count"], off["pairs"]
    (None, None, [])
    >>> lookalikes_section({"input_catalog_sha256": "h"}, "h", 3) == {"absent": NOT_COMPUTED}
    True
    """
    if not saved:
        return None
    found = saved.get("look_alikes")
    if not isinstance(found, dict):
        return {"absent": NOT_COMPUTED}
    count = found.get("count")
    by_id = _photos_by_id(photos)
    section = {"min_cosine": plain(found.get("min_cosine")), "count": None if count is None else int(count),
               "checked": int(found.get("checked") or 0), "summary": found.get("summary"),
               # the highest cosine found outside every group, down to nearest_from (None: none that near, or a
               # check saved before it was kept), which the summary gives when no pair reached the cut
               "nearest_cosine": plain(found.get("nearest_cosine")), "nearest_from": plain(found.get("nearest_from")),
               "notes": [str(note) for note in found.get("notes") or []], "checked_at": saved.get("finished_at"),
               "pairs": [_pair(pair, by_id) for pair in shown_pairs(saved, max_gallery)]}
    if saved.get("input_catalog_sha256") != catalog_sha256:
        section["stale"] = ("the catalog has changed since this check (splits and drops may be others now); run "
                            "`curate check-leakage` again")
    return section


def _photos_by_id(photos: pd.DataFrame | None) -> dict[str, dict]:
    if photos is None or photos.empty:
        return {}
    rows = photos.reindex(columns=list(PHOTO_COLUMNS)).drop_duplicates(schema.PHOTO_ID)
    return {str(row[schema.PHOTO_ID]): {key: plain(value) for key, value in row.items()}
            for row in rows.to_dict("records")}


def _pair(pair: dict, by_id: dict[str, dict]) -> dict:
    """A saved pair with its two photos (val/test first) as a gallery, captioned with the split and label the check
    compared (the catalog's may have changed since: the section is then stale); a photo the catalog no longer
    holds is shown by its id, without a thumbnail."""
    photos = []
    for key, split, label in (("photo_id", pair.get("split"), pair.get("label")),
                              ("train_photo_id", "train", pair.get("train_label"))):
        photo_id = plain(pair.get(key))
        unknown = {column: None for column in PHOTO_COLUMNS} | {schema.PHOTO_ID: photo_id}
        photos.append(by_id.get(str(photo_id), unknown) | {"split": plain(split), "label": plain(label)})
    return {"photo_id": plain(pair.get("photo_id")), "split": plain(pair.get("split")),
            "label": plain(pair.get("label")), "train_photo_id": plain(pair.get("train_photo_id")),
            "train_label": plain(pair.get("train_label")), "cosine": plain(pair.get("cosine")),
            "photos": {"total": len(photos), "shown": len(photos), "photos": photos}}


def render_lookalikes(s: dict) -> str:
    """The section's HTML: the check's line, its notes, each shown pair as a two-photo gallery, how to review."""
    when = f" (checked {s['checked_at']})" if s.get("checked_at") else ""
    if s.get("min_cosine") is None:
        return (f'<p class="note">The look-alike list was off (`--lookalike-cosine off` or `[leakage] '
                f"lookalike_cosine = \"off\"`){e(when)}.</p>")
    parts = [f'<p class="note">note: {e(note)}</p>' for note in s.get("notes") or []]
    if s.get("count") is None:  # skipped: the notes say why
        return (f'<p class="note">Look-alikes at cosine ≥ {num(s["min_cosine"])} were not checked{e(when)}.</p>'
                + "".join(parts))
    mark = "" if s["count"] else ' class="ok"'  # look-alikes are for review, not leaks: not red
    parts.insert(0, f'<p{mark}>{e(s.get("summary"))}{e(when)}.</p>')
    if not s["count"]:
        return "".join(parts)
    parts.append(f'<p class="why">{e(HOW_TO_REVIEW)}</p>')
    if len(s["pairs"]) < s["count"]:
        parts.append(f'<p class="note">showing {len(s["pairs"])} of {s["count"]:,} pairs, highest cosine first</p>')
    for pair in s["pairs"]:
        parts.append(f'<h4>{e(pair["split"])} photo {e(pair["photo_id"])} ({e(pair["label"])}) looks like train '
                     f'photo {e(pair["train_photo_id"])} ({e(pair["train_label"])}): cosine {num(pair["cosine"])}</h4>'
                     + gallery(pair["photos"], ("split", "label", "owner_id")))
    return "".join(parts)
