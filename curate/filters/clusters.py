"""Near-duplicate clusters of a catalog's distinct images: the evidence `verify.link_pairs` reads (pHashes,
thumbnails, embeddings, the window match's grey views, owners and times for the calibration), gathered by
the pandas engine (`image_clusters`) or the DuckDB engine (curate.outofcore.neardup), linked by one function
for both (`cluster_images`), with the notes that say what was linked and what is not looked for."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from curate.filters import calibration, patches, verify
from curate.filters.collages import Clusters, bridging_collages
from curate.filters.config import FilterConfig
from curate.filters.panels import parse_panel_phashes
from curate.filters.portraits import INNER_PREFIX, OWN_PREFIX, parse_strip_phashes
from curate.vision.features import HASH_COLUMNS

if TYPE_CHECKING:
    from curate.filters.pair_scores import PairScores

# the catalog columns `image_clusters` reads (sha256 and phash always; the others where the catalog has them)
IMAGE_COLUMNS = ("sha256", *HASH_COLUMNS, "owner_id", "taken_at", "lat", "lon")

NO_EMBEDDINGS_NOTE = ("near duplicates found by pHash alone (no efficientnet_lite0 embeddings): brightness, "
                      "crop, rotation and burst copies are mostly missed; run `curate embed` first, then "
                      "`curate filter` again")


def image_clusters(images: pd.DataFrame, config: FilterConfig, thumbnails: Mapping[str, bytes] | None,
                   embeddings: tuple[Sequence[str], np.ndarray] | None, notes: list[str],
                   read_grey: Callable[[str], np.ndarray | None] | None = None, workers: int = 1,
                   pair_scores: PairScores | None = None, kept: np.ndarray | None = None) -> Clusters:
    """Cluster distinct images (rows of `images`: sha256, phash, and phash_mirror, phash_trimmed, owner_id,
    taken_at where the catalog has them) on the evidence of verify.py: the pandas engine's side. `pair_scores`:
    the window match's scores of earlier runs (`verify.Evidence.pair_scores`; new ones are added to it); `kept`:
    the images a reviewer kept (`cluster_images`)."""
    from curate.filters import neardup

    shas = images["sha256"].tolist()
    hashes = neardup.phash_to_uint64(images["phash"])
    mirrors = mirror_hashes(hashes, *neardup.parse_phashes(images["phash_mirror"])) \
        if "phash_mirror" in images else None
    trimmed = mirror_hashes(hashes, *neardup.parse_phashes(images["phash_trimmed"])) \
        if "phash_trimmed" in images else None
    turned = mirror_hashes(hashes, *neardup.parse_phashes(images["phash_rot90"])) \
        if "phash_rot90" in images else None
    halfturned = mirror_hashes(hashes, *neardup.parse_phashes(images["phash_rot180"])) \
        if "phash_rot180" in images else None
    thumbs = has_thumb = vectors = embedded = None
    if thumbnails is not None:
        thumbs = np.zeros((len(shas), verify.THUMB_BYTES), dtype=np.uint8)
        has_thumb = np.zeros(len(shas), dtype=bool)
        for position, sha in enumerate(shas):
            data = thumbnails.get(sha)
            if data is not None and len(data) == verify.THUMB_BYTES:
                thumbs[position] = np.frombuffer(data, dtype=np.uint8)
                has_thumb[position] = True
    if embeddings is not None:
        vectors, embedded = vectors_by_position(shas, embeddings)
    by_position = None if read_grey is None else (lambda position: read_grey(shas[position]))
    owners, taken, lat, lon = sequence_keys(images)
    panels, has_panels = parse_panel_phashes(images["phash_panels"]) if "phash_panels" in images \
        else (None, None)
    strips = None if "phash_strips" not in images else parse_strip_phashes(
        images["phash_strips"] if images["phash_strips"].map(
            lambda value: isinstance(value, str) and value.startswith((OWN_PREFIX, INNER_PREFIX))).any() else [])
    # (no portrait among the images: nothing to look for, and the windows' hashes are not parsed)
    return cluster_images(verify.Evidence(hashes, mirrors, thumbs, has_thumb, vectors, trimmed, by_position,
                                          owners, taken, lat, lon, turned, halfturned, pair_scores,
                                          lambda positions: [shas[p] for p in positions.tolist()], panels,
                                          has_panels, strips),
                          config, notes, embedded, workers, kept)


def sequence_keys(images: pd.DataFrame) -> tuple[np.ndarray | None, ...]:
    """(owner code per image, -1 for none; taken_at in microseconds, verify.NO_TIME for none; latitude and
    longitude, NaN for none): what the calibration reads to set one photographer's sequences aside
    (`calibration.one_sequence`); Nones without the owner and time columns."""
    if "owner_id" not in images or "taken_at" not in images:
        return None, None, None, None
    owners = pd.factorize(images["owner_id"])[0].astype(np.int64)  # a missing owner is -1
    when = pd.to_datetime(images["taken_at"], errors="coerce")
    micros = when.to_numpy("datetime64[us]").astype(np.int64)
    located = "lat" in images and "lon" in images
    lat, lon = ((pd.to_numeric(images[name], errors="coerce").to_numpy(np.float64) for name in ("lat", "lon"))
                if located else (None, None))
    return owners, np.where(when.isna().to_numpy(), verify.NO_TIME, micros), lat, lon


def mirror_hashes(hashes: np.ndarray, mirrors: np.ndarray, has_mirror: np.ndarray) -> np.ndarray:
    """The mirror (or border-trimmed) pHashes, an image's own hash where it has none (cached before mirrors
    existed, or no border: no extra match)."""
    return np.where(has_mirror, mirrors, hashes)


def vectors_by_position(shas: Sequence[str], embeddings: tuple[Sequence[str], np.ndarray]) -> tuple[np.ndarray, int]:
    """(vectors aligned with `shas`, zero rows for images without one; how many have one)."""
    position = pd.Index(list(embeddings[0])).get_indexer(list(shas))
    vectors = np.zeros((len(shas), embeddings[1].shape[1]), dtype=np.float32)
    vectors[position >= 0] = embeddings[1][position[position >= 0]]
    return vectors, int((position >= 0).sum())


# What no link rule tried keeps apart from real look-alikes (docs/benchmarks.md, "Crops off one side and
# screenshot frames"): 0.44 of such copies are found held out; the note says so where the links are counted.
# (Screenshot frames are found by the border-trimmed pHash, phash_trimmed: 0.98 held out, with embeddings.)
NOT_CAUGHT = ("copies cropped by more than ~10 % off one side are often missed without the window match (44 % found "
              "on real photos held out, fewer as the crop grows; docs/cleaning-duplicates.md)")
# With the window match (curate.filters.windows): what it does not look for.
# Audit DF: a 9:16 crop of a landscape photo (6 of 30 found) and a collage of two photos side by side (1-2 of 30)
# were covered by no clause a user could check. Collages of two photos on a flat gutter are found by their panel
# pHashes (phash_panels, `pixel_links._add_panel_links`) where the evidence has them (both engines); COLLAGE_*
# names what is still not looked for, "{collage}" in the clauses below.
COLLAGE_PANELS = ("a photo in a collage of three or more, on a patterned or no gutter, or whose long side is under 1.5 "
                  "times its short side (two landscape photos stacked)")
COLLAGE_NONE = "a photo in a collage"
# A full-height portrait crop (9:16, 4:5, 2:3) of a landscape photo is found by the strip hashes (phash_strips,
# `pixel_links._add_portrait_links`) where the evidence has them; PORTRAIT_* is the example of a crop still missed,
# "{portrait}" below.
PORTRAIT_STRIPS = "a square crop of a 16:9 photo"
PORTRAIT_NONE = "a 9:16 crop of a landscape photo"
NOT_CAUGHT_WINDOWED = ("crops of over 40 % of a side ({portrait}), {collage}, and "
                       "crops also rotated or mirrored, are not looked for (docs/cleaning-duplicates.md)")
NOT_CAUGHT_OVERLAPS = ("zooms beyond 2.5x, two crops sharing under half of the smaller, crops of over 40 % of a side "
                       f"whose embeddings have cosine under {verify.DEFAULT_OVERLAP_COSINE:g} ({{portrait}}, "
                       "most zooms of 1.7x and more), {collage}, and crops also rotated "
                       "or mirrored, are not looked for (docs/cleaning-duplicates.md)")


def collage_note(clusters: int) -> str:
    """The note for the near-duplicate clusters `--dedupe-near` left whole because they hold a collage."""
    return (f"{clusters} near-duplicate cluster{'s hold' if clusters != 1 else ' holds'} a collage (two photos in "
            "one picture, each linked to it): kept whole by --dedupe-near, which would drop distinct photos; they "
            "stay on one side of the split")


def _window_kinds(counts: dict[str, int]) -> str:
    """What the window links were: crops inside their original, and two crops of one picture."""
    overlaps = counts.get("window_overlap", 0)
    if not overlaps:
        return "a crop inside its original"
    return f"{counts['window'] - overlaps} a crop inside its original, {overlaps} two crops of one picture"


def window_notes(counts: dict[str, int], rule: verify.LinkRule) -> list[str]:
    """What the window match left undone: candidate pairs beyond its limit, images it could not read."""
    out = []
    if counts["window_candidates"] > counts["window_matched"]:
        out.append(f"window match: the closest {counts['window_matched']:,} of {counts['window_candidates']:,} "
                   f"candidate pairs (cosine >= {rule.window_cosine:g}, left apart by the other links) were matched "
                   "on their pixels, the limit; crops among the others may be missed: --near-dup-window-pairs "
                   f"{counts['window_candidates']:,} matches them all (about 15 ms a pair on one core)")
    if counts.get("overlap_candidates", 0) > counts.get("overlap_matched", 0):
        out.append(f"overlap match: the closest {counts['overlap_matched']:,} of {counts['overlap_candidates']:,} "
                   f"other candidate pairs (cosine >= {rule.overlap_cosine:g}, not a window candidate) were matched "
                   "where they overlap, the limit; two crops of one picture among the others may be missed: "
                   f"--near-dup-overlap-pairs {counts['overlap_candidates']:,} matches them all (about 65 ms a pair "
                   "on one core)")
    if counts["window_unreadable"]:
        out.append(f"window match: {counts['window_unreadable']:,} stored images could not be read; their pairs were "
                   "not matched")
    return out


def cluster_images(evidence: verify.Evidence, config: FilterConfig, notes: list[str],
                   embedded: int | None = None, workers: int = 1, kept: np.ndarray | None = None) -> Clusters:
    """Near-duplicate clusters of the distinct images of `evidence` (components of the links
    `verify.link_pairs` makes under the collection's calibrated rule, numbered by first position), with and
    without the panel links of the collages that join different pictures (`collages.bridging_collages`; `kept`:
    the images a reviewer kept, which bridge nothing). `embedded`: how many images have a vector (None: no
    embeddings); `workers`: processes for the window match's scores; `Clusters.overlaid`: the images the overlay
    check found under the overlay (`overlay.overlay_copy`). Shared by the pandas and the DuckDB engine
    (curate.outofcore.neardup), so both link the same pairs and mark the same copies."""
    if evidence.thumbs is None:
        notes.append("no thumbnails given: near-duplicate pairs are not colour-verified")
    rule, crowding = calibration.calibrated_rule(
        evidence, config.near_dup_bits, colour_diff=config.near_dup_colour_diff, tone_diff=config.near_dup_tone_diff,
        cosine=config.near_dup_cosine, verify_cosine=config.near_dup_verify_cosine,
        link_colour_diff=config.near_dup_link_colour_diff, crowded_share=config.near_dup_crowded_share,
        window_score=config.near_dup_window_score, window_pairs=config.near_dup_window_pairs,
        overlap_score=config.near_dup_overlap_score, overlap_pairs=config.near_dup_overlap_pairs,
        patch_share=config.near_dup_patch_share)
    if crowding is not None:
        notes.extend(crowding.notes(config.near_dup_crowded_share, hash_limits=evidence.thumbs is not None))
    overlaid = np.zeros(len(evidence.hashes), bool)
    first, second, counts = verify.link_pairs(evidence, rule, workers, overlaid)
    if embedded is not None:
        windowed = evidence.read_grey is not None and rule.window_score is not None
        collage = COLLAGE_PANELS if windowed and evidence.panels is not None else COLLAGE_NONE
        portrait = PORTRAIT_STRIPS if windowed and evidence.strips is not None else PORTRAIT_NONE
        notes.append(f"near-duplicate links: {counts['hash_colour']} by pHash and colour, "
                     f"{counts['hash_tone']} by pHash and tone, {counts['hash_embedding']} "
                     f"by pHash and embedding, {counts['embedding']} by embedding alone"
                     + (f", {counts['window']} by window match ({_window_kinds(counts)})" if windowed else "")
                     + (f", {counts.get('panel', 0)} by collage panel (a photo set in a collage of two)"
                        if windowed and evidence.panels is not None else "")
                     + (f", {counts.get('portrait', 0)} by portrait crop (a full-height 9:16, 4:5 or 2:3 crop of "
                        "a landscape photo)"
                        if windowed and evidence.strips is not None else "")
                     + f" ({embedded} of {len(evidence.hashes)} images embedded); "
                     + (NOT_CAUGHT if not windowed else NOT_CAUGHT_WINDOWED.format(collage=collage, portrait=portrait)
                        if rule.overlap_score is None else NOT_CAUGHT_OVERLAPS.format(collage=collage,
                                                                                      portrait=portrait)))
        if windowed:
            notes.extend(window_notes(counts, rule))
        if embedded < len(evidence.hashes):
            notes.append(f"{len(evidence.hashes) - embedded:,} of {len(evidence.hashes):,} images have no "
                         f"{verify.EMBEDDING_BACKBONE} embedding (stored after `curate embed` ran, or unreadable to "
                         "it): their crop, rotation and burst copies are mostly missed; run `curate embed`, then "
                         "`curate filter` again")
    elif config.near_dup_cosine is not None or config.near_dup_verify_cosine is not None:
        notes.append(NO_EMBEDDINGS_NOTE)
    if counts.get("patch_candidates"):
        unreadable = f"; {counts['patch_unreadable']:,} could not be read" if counts["patch_unreadable"] else ""
        left = (f" (the closest {counts['patch_matched']:,} matched, the limit: --near-dup-window-pairs "
                f"{counts['patch_candidates']:,} matches them all)"
                if counts["patch_matched"] < counts["patch_candidates"] else "")
        notes.append(f"patch match: {counts['patch']:,} of {counts['patch_candidates']:,} pHash pairs the other "
                     f"evidence left apart{left} agree patch for patch on their pixels (at least "
                     f"{rule.patch_share:g} of them), linked: copies with a sticker, logo or caption over part of "
                     f"them, or recoloured{unreadable}")
    if counts.get("patch_crowded"):
        notes.append(f"patch match: {counts['patch_crowded']:,} more pairs agree but were not linked: they would join "
                     f"{counts['patch_crowded_images']:,} images into groups of more than {patches.MAX_GROUP}, more "
                     "than one photo and its copies (images sharing most of their pixels, such as screenshots of "
                     "different photos in one app)")
    if counts.get("hash_overlay"):
        unreadable = f"; {counts['overlay_unreadable']:,} could not be read" if counts["overlay_unreadable"] else ""
        left = (f" (the closest {counts['overlay_matched']:,} matched)"
                if counts["overlay_matched"] < counts["overlay_candidates"] else "")
        notes.append(f"overlaid copies: {counts['hash_overlay']:,} of {counts['overlay_candidates']:,} pHash pairs "
                     f"the thumbnails and embeddings left apart{left} differ on their pixels only one way (lighter or "
                     f"darker), linked: a copy under a watermark tiled over the picture, a logo or a sticker"
                     f"{unreadable}")
    if overlaid.any():
        marked = int(overlaid.sum())
        notes.append(f"watermarked copies: {marked:,} image{'s carry' if marked != 1 else ' carries'} "
                     "text tiled over the picture (a watermark) that the image linked to it lacks: the keep rule puts "
                     "such a copy after its photo")
    if counts.get("frame_candidates"):
        unreadable = f"; {counts['frame_unreadable']:,} could not be read" if counts["frame_unreadable"] else ""
        shown = min(counts["frame_candidates"], rule.window_pairs)
        left = f" (the closest {shown:,} matched)" if shown < counts["frame_candidates"] else ""
        notes.append(f"framed copies: {counts['frame']:,} of {counts['frame_candidates']:,} pairs whose pHashes meet "
                     f"only once a border is cut off{left} agree on their pixels without it, linked (a photo padded "
                     f"onto a square, a screenshot's frame){unreadable}")
    if counts.get("turn_candidates"):
        unreadable = f"; {counts['turn_unreadable']:,} could not be read" if counts["turn_unreadable"] else ""
        shown = min(counts["turn_candidates"], rule.window_pairs)
        left = f" (the closest {shown:,} matched)" if shown < counts["turn_candidates"] else ""
        notes.append(f"quarter turns: {counts['turn']:,} of {counts['turn_candidates']:,} pairs whose pHashes meet "
                     f"once one is turned{left} are one photo turned, linked on their pixels{unreadable}")
    if counts.get("half_turn_candidates"):
        unreadable = f"; {counts['half_turn_unreadable']:,} could not be read" if counts["half_turn_unreadable"] \
            else ""
        notes.append(f"half turns: {counts['half_turn']:,} of {counts['half_turn_candidates']:,} pairs whose pHashes "
                     f"meet once one is turned upside down are one photo, linked on their pixels{unreadable}")
    panel_first = counts.get("panel_first")  # with the portrait crops of one panel (`verify._sided_portrait_links`)
    found = bridging_collages(len(evidence.hashes), first, second, counts.get("panel_at"),
                              counts.get("panel", 0) + counts.get("portrait_panel", 0), kept,
                              None if panel_first is None else panel_first + counts.get("portrait_panel_first", 0))
    return replace(found, overlaid=overlaid) if overlaid.any() else found
