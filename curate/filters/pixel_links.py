"""The near-duplicate links confirmed on the stored images' pixels (curate.filters.verify.link_pairs calls
them, with `Evidence.read_grey`): pHash candidates met only through a border-trimmed view (`_add_frame_links`),
quarter and half turns (`_add_turn_links`), a photo set in a collage (`_add_panel_links`), a full-height portrait
crop (9:16, 4:5, 2:3) of a landscape photo (`_add_portrait_links`), copies whose patches
agree (`_add_patch_links`) and the window
and overlap matches between clusters (`_add_window_links`), each reading a pair's grey views through one
small cache (`_matched_on_pixels`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from curate.filters.thumbnails import THUMB_HEIGHT, THUMB_WIDTH

if TYPE_CHECKING:
    from curate.filters.verify import Evidence, LinkRule


GREY_CACHE = 512  # grey views (128 px, ~64 KB each) kept while one rule matches its pairs: ~32 MB


def _matched_on_pixels(evidence: Evidence, a: np.ndarray, b: np.ndarray,
                       matches: Callable[[np.ndarray, np.ndarray, int], bool]) -> tuple[np.ndarray, int]:
    """(which pairs (a[k], b[k]) `matches(grey_a, grey_b, k)` on their grey views, how many pairs had an image
    that could not be read). The pairs come closest first, so an image often recurs: the last GREY_CACHE views
    read are kept, each image decoded once while it is among them."""
    from collections import OrderedDict

    cache: OrderedDict[int, np.ndarray | None] = OrderedDict()

    def grey(position: int) -> np.ndarray | None:
        if position in cache:
            cache.move_to_end(position)
        else:
            cache[position] = evidence.read_grey(position)
            if len(cache) > GREY_CACHE:
                cache.popitem(last=False)
        return cache[position]

    linked, unreadable = np.zeros(len(a), bool), 0
    for k, (i, j) in enumerate(zip(a.tolist(), b.tolist())):
        one, other = grey(i), grey(j)
        if one is None or other is None:
            unreadable += 1
            continue
        linked[k] = matches(one, other, k)
    return linked, unreadable


def _add_frame_links(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray,
                     wide: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                     counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The links plus pHash candidates that meet only through a border-trimmed view (`Evidence.trimmed`: a photo
    padded onto a square, a screenshot's frame), not linked yet, whose grey views with their borders cut off
    (`phash.content_box`) agree: 16x12 grey thumbnails within `rule.colour_diff` (the colour check, on what the
    pHash compared), or one a window of the other at `rule.window_score`. The thumbnails and the embedding
    compare the whole padded picture, which the border spoils (audit L: white-bordered squares 0.00 without
    embeddings, 0.47 with them). The closest `rule.window_pairs` are matched. counts gains frame (links),
    frame_candidates and frame_unreadable."""
    from curate.filters import neardup, pixel_scores
    from curate.filters.phash import content_box
    from curate.groups import components_from_pairs

    def trimmed_view(grey: np.ndarray) -> np.ndarray:
        box = content_box(grey)
        return grey if box is None else np.ascontiguousarray(grey[box[0]:box[1], box[2]:box[3]])

    def thumbnail(grey: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(grey).resize((THUMB_WIDTH, THUMB_HEIGHT), Image.BOX), np.float32)

    a, b, bits, _ = wide
    near = bits <= rule.max_bits
    a, b, bits = a[near], b[near], bits[near]
    hashes, (mirrors, trimmed) = evidence.hashes, evidence.views()
    plain = np.minimum(neardup.hamming_distance(hashes[a], hashes[b]),
                       np.minimum(neardup.hamming_distance(hashes[a], mirrors[b]),
                                  neardup.hamming_distance(mirrors[a], hashes[b])))
    framed = neardup.trimmed_distance(hashes, trimmed, a, b) < plain  # met through a trimmed view only
    labels = components_from_pairs(len(hashes), first, second)
    keep = framed & (labels[a] != labels[b])
    order = np.argsort(bits[keep], kind="stable")[:rule.window_pairs]
    a, b = a[keep][order], b[keep][order]

    def agree(one: np.ndarray, other: np.ndarray, _: int) -> bool:
        one, other = trimmed_view(one), trimmed_view(other)
        return (float(np.abs(thumbnail(one) - thumbnail(other)).mean()) <= rule.colour_diff
                or pixel_scores.window_score(one, other) >= rule.window_score)

    linked, unreadable = _matched_on_pixels(evidence, a, b, agree)
    counts.update(frame=int(linked.sum()), frame_candidates=int(keep.sum()), frame_unreadable=unreadable)
    return np.concatenate([first, a[linked]]), np.concatenate([second, b[linked]])


def _add_turn_links(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray,
                    counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The links plus pairs that are one photo turned a quarter turn: one's pHash within `rule.max_bits` of the
    other's quarter-turn pHash (`Evidence.turned`), not linked yet, whose grey views, one turned either way,
    match as a window at `rule.window_score` (`pixel_scores.window_score`; the same bar as a crop's). A quarter turn
    moves a pHash a median 26 bits and the embedding to a cosine of about 0.55 (audit I): no other rule sees it.
    The same for a half turn (`Evidence.halfturned`, one view turned upside down: audit AS). counts gains turn
    (links), turn_candidates and turn_unreadable, and half_turn, half_turn_candidates and half_turn_unreadable."""
    from curate.filters import neardup, pixel_scores

    n = len(evidence.hashes)
    for kind, turned, turns in (("turn", evidence.turned, (1, -1)), ("half_turn", evidence.halfturned, (2,))):
        if turned is None:
            continue
        a, b, bits, by_turn = neardup.mirror_pairs(evidence.hashes, turned, rule.max_bits)
        a, b, bits = a[by_turn], b[by_turn], bits[by_turn]
        new = ~np.isin(a * n + b, np.concatenate([first * n + second, second * n + first]))
        order = np.argsort(bits[new], kind="stable")[:rule.window_pairs]  # the closest, as many as the window's
        a, b = a[new][order], b[new][order]
        linked, unreadable = _matched_on_pixels(
            evidence, a, b, lambda one, other, _, turns=turns: max(
                pixel_scores.window_score(np.ascontiguousarray(np.rot90(one, k=turn)), other) for turn in turns)
            >= rule.window_score)
        counts.update({kind: int(linked.sum()), f"{kind}_candidates": int(new.sum()), f"{kind}_unreadable": unreadable})
        first, second = np.concatenate([first, a[linked]]), np.concatenate([second, b[linked]])
    return first, second


# A collage panel and a photo are one picture when the panel's grey values correlate with the photo's resized to it
# at least this well (`panels.panel_agreement`; bench/collage.py's choosing set, 50 real Ferrari photos collaged in
# pairs on a 20 px white gutter: the collage pairs 0.91-1.00, 4,800 panels against different photos <= 0.84).
PANEL_MIN_AGREEMENT = 0.88


def _add_panel_links(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray,
                     counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The links plus pairs of a collage and a photo set in it: one of the collage's panel pHashes
    (`Evidence.panels`, `panels.panel_phashes`) within `rule.max_bits` of the photo's pHash, in different clusters
    of the links so far, whose panel, cut from the collage's grey view (`panels.view_panels`), agrees with the photo's
    grey view resized to it (`panels.panel_agreement` at least PANEL_MIN_AGREEMENT). The whole collage's pHash and
    embedding are far from either photo (audit DF 2: cosine median 0.61) and each photo spans under half of it,
    below the window match's share. The closest `rule.window_pairs` are matched, closest first; once a collage is
    linked to a cluster, its other members (the photo's other copies) are not matched with it. The links are
    returned the first panel's first. counts gains panel (links), panel_first (those of the first panel),
    panel_candidates and panel_unreadable."""
    from curate.filters.panels import panel_agreement, view_panels
    from curate.groups import components_from_pairs

    n = len(evidence.hashes)
    photo, collage, panel, bits = panel_candidates(evidence.hashes, evidence.panels, evidence.has_panels,
                                                   rule.max_bits)
    labels = components_from_pairs(n, first, second)
    apart = labels[photo] != labels[collage]
    order = np.argsort(bits[apart], kind="stable")[:rule.window_pairs]
    photo, collage, panel = photo[apart][order], collage[apart][order], panel[apart][order]

    joined: set[tuple[int, int]] = set()  # (collage, cluster of a photo) linked: its other copies need no match

    def agree(collage_view: np.ndarray, photo_view: np.ndarray, k: int) -> bool:
        key = (int(collage[k]), int(labels[photo[k]]))
        if key in joined:
            return False
        panels = view_panels(collage_view)
        if panels is None or panel_agreement(panels[panel[k]], photo_view) < PANEL_MIN_AGREEMENT:
            return False
        joined.add(key)
        return True

    linked, unreadable = _matched_on_pixels(evidence, collage, photo, agree)
    side = np.argsort(panel[linked], kind="stable")  # the first panel's links first (collages.bridging_collages)
    counts.update(panel=int(linked.sum()), panel_candidates=int(apart.sum()), panel_unreadable=unreadable,
                  panel_first=int((panel[linked] == 0).sum()))
    return np.concatenate([first, collage[linked][side]]), np.concatenate([second, photo[linked][side]])


def _add_portrait_links(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray,
                        counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The links plus pairs of a portrait crop and the landscape photo it was cut from: the portrait's strip
    hash (a 9:16 one's own, or one of another portrait's own 9:16 windows: a 4:5 or 2:3 crop) within
    `portraits.STRIP_MAX_BITS` of one of the photo's window strip hashes (`Evidence.strips`,
    `portraits.portrait_candidates`), in different clusters of the links so far, whose grey views match as a window
    at `rule.window_score` (`pixel_scores.window_score`, the crop's bar). A 9:16 crop keeps 32-56 % of the width, a
    4:5 or 2:3 one 37-60 % (of a 16:9 to a 4:3 photo), mostly under the window match's 60 % share, and its embedding
    is often below the overlap match's cosine (audit DF 4: 6 of 30 9:16 crops linked). The closest
    `rule.window_pairs` are matched, a collage's windows after the others (a portrait crop of one of its panels
    matches it too: linked to the collage first, the crop was never matched with its own photo, and went with the
    collage when the collage was set apart, `curate.filters.collages`); once a portrait is linked to a
    cluster, its other members are not matched with it. A portrait linked to a collage (`Evidence.has_panels`) is a
    crop of the panel its window falls in, the one of the collage's two panels (`panels.view_panels`) it matches
    best as a window at `rule.window_score` (review DU 4: a 9:16 crop of a portrait photo, which has no windows of
    its own, is near the collage's window only): its side (0, 1) is returned, for `verify.link_pairs` to count the
    link as that panel's (else -1: a crop over both panels, or of no collage, is a link as any other). Returns
    (first, second, sides: one per link added). counts gains portrait (links), portrait_candidates and
    portrait_unreadable (`verify._sided_portrait_links` counts those on a panel's side)."""
    from curate.filters import pixel_scores
    from curate.filters.panels import view_panels
    from curate.filters.portraits import portrait_candidates
    from curate.groups import components_from_pairs

    portrait, landscape, _ = portrait_candidates(evidence.strips)
    labels = components_from_pairs(len(evidence.hashes), first, second)
    apart = labels[portrait] != labels[landscape]
    portrait, landscape = portrait[apart], landscape[apart]
    if evidence.has_panels is not None:  # a collage last: its window showing one panel is no crop of it (audit DQ)
        order = np.argsort(evidence.has_panels[landscape], kind="stable")
        portrait, landscape = portrait[order], landscape[order]
    portrait, landscape = portrait[:rule.window_pairs], landscape[:rule.window_pairs]
    joined: set[tuple[int, int]] = set()  # (portrait, cluster of a photo) linked: its other copies need no match
    sides = np.full(len(portrait), -1)

    def agree(portrait_view: np.ndarray, photo_view: np.ndarray, k: int) -> bool:
        key = (int(portrait[k]), int(labels[landscape[k]]))
        if key in joined or pixel_scores.window_score(portrait_view, photo_view) < rule.window_score:
            return False
        joined.add(key)
        if evidence.has_panels is not None and evidence.has_panels[landscape[k]]:
            panels = view_panels(photo_view)
            scores = [pixel_scores.window_score(portrait_view, panel) for panel in panels or ()]
            if scores and max(scores) >= rule.window_score:
                sides[k] = int(np.argmax(scores))
        return True

    linked, unreadable = _matched_on_pixels(evidence, portrait, landscape, agree)
    counts.update(portrait=int(linked.sum()), portrait_candidates=int(apart.sum()), portrait_unreadable=unreadable)
    return np.concatenate([first, portrait[linked]]), np.concatenate([second, landscape[linked]]), sides[linked]


def panel_candidates(hashes: np.ndarray, panels: np.ndarray, has_panels: np.ndarray, max_bits: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(photo, collage, panel side, bits): each (collage, other image) pair whose closer panel pHash (`panels`, (n, 2),
    where `has_panels`) is within `max_bits` of the image's pHash (`hashes`), once, at that panel (the first on a
    tie), sorted by collage, then image. The panels are looked up among the pHashes (`hash_query.query_pairs`), not
    searched together with them: that found every pHash pair once more, ~8 s at a million images."""
    from curate.filters import neardup
    from curate.filters.hash_query import query_pairs

    hashes, n = np.asarray(hashes, dtype=np.uint64), len(hashes)
    collages = np.flatnonzero(has_panels)
    entries = np.concatenate([panels[collages, 0], panels[collages, 1]]).astype(np.uint64)
    owner = np.concatenate([collages, collages])
    side = np.concatenate([np.zeros(len(collages), int), np.ones(len(collages), int)])
    query, photo = query_pairs(entries, hashes, max_bits)
    keep = owner[query] != photo  # a panel against another image's pHash
    query, photo = query[keep], photo[keep]
    collage, panel = owner[query], side[query]
    bits = neardup.hamming_distance(hashes[photo], entries[query])
    key = collage * n + photo
    order = np.lexsort((panel, bits, key))  # each (collage, photo) once, by its closer panel
    photo, collage, panel, bits, key = photo[order], collage[order], panel[order], bits[order], key[order]
    once = np.ones(len(key), bool)
    once[1:] = key[1:] != key[:-1]
    return photo[once], collage[once], panel[once], bits[once]


def _add_patch_links(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray,
                     wide: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                     counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The links plus pHash pairs within `rule.max_bits` + PATCH_MARGIN_BITS (any view: plain, mirrored,
    border-trimmed; `wide`, `neardup.mirror_pairs`' search for them) between images with a thumbnail, in
    different clusters of the links so far, whose patches agree (`patches.patch_share` at least `rule.patch_share`, the
    second view mirrored where the mirrored hashes matched): a copy with a sticker, a logo or caption bands over part of
    it, or recoloured as a whole (sepia), which the thumbnails and the embeddings leave apart. The closest
    `rule.window_pairs` pairs are matched (`_matched_on_pixels`). Patch links that alone would join more than
    `patches.MAX_GROUP` images are not made. counts gains patch (links), patch_candidates, patch_matched,
    patch_unreadable, patch_crowded (links not made) and patch_crowded_images."""
    from curate.filters import patches
    from curate.groups import components_from_pairs

    a, b, bits, mirrored = wide
    labels = components_from_pairs(len(evidence.hashes), first, second)
    stored = np.ones(len(evidence.hashes), bool) if evidence.has_thumb is None else evidence.has_thumb
    apart = (labels[a] != labels[b]) & stored[a] & stored[b]  # no thumbnail: not stored, or unreadable
    order = np.argsort(bits[apart], kind="stable")[:rule.window_pairs]  # the closest, as many as the window match's
    a, b, mirrored = a[apart][order], b[apart][order], mirrored[apart][order]
    linked, unreadable = _matched_on_pixels(
        evidence, a, b, lambda one, other, k: patches.patch_share(
            patches.patch_view(one), patches.patch_view(other, bool(mirrored[k]))) >= rule.patch_share)
    counts.update(patch_candidates=int(apart.sum()), patch_matched=len(a), patch_unreadable=unreadable)
    groups = components_from_pairs(len(evidence.hashes), a[linked], b[linked])
    sizes = np.bincount(groups)
    crowded = linked & (sizes[groups[a]] > patches.MAX_GROUP)  # not one photo's copies: see MAX_GROUP
    counts.update(patch=int((linked & ~crowded).sum()), patch_crowded=int(crowded.sum()),
                  patch_crowded_images=int((sizes > patches.MAX_GROUP).astype(np.int64) @ sizes))
    linked &= ~crowded
    return np.concatenate([first, a[linked]]), np.concatenate([second, b[linked]])


def _add_window_links(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray,
                      counts: dict[str, int], workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The links plus the window matches (`windows.window_links`) between the clusters they make; counts
    gains window (links), window_overlap, window_candidates, window_matched, window_unreadable,
    overlap_candidates and overlap_matched."""
    from curate.filters import windows
    from curate.groups import components_from_pairs

    labels = components_from_pairs(len(evidence.hashes), first, second)
    found = windows.window_links(evidence.vectors, labels, evidence.read_grey, cosine=rule.window_cosine,
                                 min_score=rule.window_score, max_pairs=rule.window_pairs, thumbs=evidence.thumbs,
                                 has_thumb=evidence.has_thumb, workers=workers, overlap_cosine=rule.overlap_cosine,
                                 overlap_min=rule.overlap_score, overlap_pairs=rule.overlap_pairs,
                                 scores=evidence.pair_scores, keys=evidence.image_keys)
    counts.update(window=len(found.first), window_overlap=found.overlaps, window_candidates=found.candidates,
                  window_matched=found.matched, window_unreadable=found.unreadable,
                  overlap_candidates=found.overlap_candidates, overlap_matched=found.overlap_matched)
    return np.concatenate([first, found.first]), np.concatenate([second, found.second])
