"""The demo generator's working tables: frozen dataclasses of per-owner or per-slot arrays.

`curate.demo.metadata` builds them in order — `Owners`, then `Slots` (each slot's own
`SlotContent`), then `Structure` (bursts, duplicates and broken files; every slot's
content copied from its source slot) — and turns the last into records and truth;
`curate.scrape.metadata` reuses them. The dataclasses are frozen (a stage replaces a
table, it does not rebind a field), and every array field of one table has one entry per
owner or per slot, in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np


def _take(table, index: np.ndarray):
    """A copy of `table` with every array field indexed by `index` (a row selection)."""
    return replace(table, **{f.name: getattr(table, f.name)[index] for f in fields(table)})


@dataclass(frozen=True)
class Owners:
    """One entry per photographer: regular ones first, the sandals photographer (if any) last.

    count: photos each uploads; home: index of the home city; owner_id, name, license:
    as the records show them; is_sandals: the sandals photographer; n_regular: the number
    of slots that belong to regular photographers (they come first).
    """

    count: np.ndarray
    home: np.ndarray
    owner_id: np.ndarray
    name: np.ndarray
    license: np.ndarray
    is_sandals: np.ndarray
    n_regular: int


@dataclass(frozen=True)
class TagDraw:
    """Drawn tags per slot: `tag_codes` (slots x 8 codes into the TagTable's words, -1 =
    empty; slot 0 the city tag, 1 a second city, 2 the topic tag, 3-7 generic tags),
    `multi_city` (a second city tag) and `skyline_tagged` (carries the topic tag)."""

    tag_codes: np.ndarray
    multi_city: np.ndarray
    skyline_tagged: np.ndarray


@dataclass(frozen=True)
class SlotContent:
    """What one slot shows and says, one entry per slot.

    kind: content kind code (curate.demo.vocab); city: index of the city in the pixels;
    coord_kind: geotag kind code (curate.demo.geo); scene_seed, variant_seed: render seeds;
    offset_u, bearing: where the geotag lies from `placed_city`'s centre; taken_s: seconds
    after the epoch start; title_kind, title_number: which title and camera number;
    tag_codes, multi_city, skyline_tagged: as in `TagDraw`; tagged_city: the city the city
    tag names; mislabelled, taken_elsewhere: which wrong-city noise it carries;
    placed_city: the city whose centre the geotag is drawn around.
    """

    kind: np.ndarray
    city: np.ndarray
    coord_kind: np.ndarray
    scene_seed: np.ndarray
    variant_seed: np.ndarray
    offset_u: np.ndarray
    bearing: np.ndarray
    taken_s: np.ndarray
    title_kind: np.ndarray
    title_number: np.ndarray
    tag_codes: np.ndarray
    multi_city: np.ndarray
    skyline_tagged: np.ndarray
    tagged_city: np.ndarray
    mislabelled: np.ndarray
    taken_elsewhere: np.ndarray
    placed_city: np.ndarray

    def take(self, index: np.ndarray) -> SlotContent:
        """The content of slots `index` (slot i of the result shows slot index[i])."""
        return _take(self, index)


@dataclass(frozen=True)
class Slots:
    """Slots laid out owner by owner: `owner` (index into Owners), `sandals` (the sandals
    photographer's slot) and each slot's independently drawn `content`."""

    owner: np.ndarray
    sandals: np.ndarray
    content: SlotContent


@dataclass(frozen=True)
class Structure:
    """Bursts, exact duplicates and broken files, one entry per slot.

    src: the slot whose content this slot shows (itself for most); owner: the uploader
    (a copy may be uploaded by another owner than its original's); style_id: the owner
    whose look the image has; burst_id, dup_group: -1 when none; frame_index: position in
    its burst; is_copy: an exact copy of another slot; other_owner: a copy uploaded by
    someone else; broken: index into BROKEN_KINDS, -1 when the file is fine; sandals: the
    sandals photographer's slot; content: `Slots.content` taken at `src`.
    """

    src: np.ndarray
    owner: np.ndarray
    style_id: np.ndarray
    burst_id: np.ndarray
    frame_index: np.ndarray
    dup_group: np.ndarray
    is_copy: np.ndarray
    other_owner: np.ndarray
    broken: np.ndarray
    sandals: np.ndarray
    content: SlotContent
