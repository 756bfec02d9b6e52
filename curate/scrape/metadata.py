"""A scrape's records and ground truth: the demo's metadata model over real photos.

`generate_scrape(config, sources, recipe)` runs the demo generator's functions
(`curate.demo.metadata`: photographers, slot content, tags, geotags, mislabels, photos
taken elsewhere, bursts, exact duplicates, broken files, the sandals photographer) with
the folder's labels in place of cities and the topic tag in place of `skyline`, then

1. turns some plain photos into edited copies of others (`near_dup_rate`, one edit kind
   per copy, up to `max_copies_per_photo` distinct kinds per original), and
2. gives every photo that shows a scene of its own a distinct real file: an on-topic photo
   one from its true label's folder, an off-topic photo one from the off-topic folders;
   bursts, copies and the sandals series share their first photo's file.

So a real file is the pixels of exactly one `near_dup_group` (or of one photo alone).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from curate import schema
from curate.demo import vocab
from curate.demo.labels import CityTable
from curate.demo.metadata import build_tables, draw_owners, draw_slot_content, impose_structure
from curate.demo.slots import Structure
from curate.demo.tags import TagTable
from curate.errors import UsageError
from curate.recipes import Recipe
from curate.scrape.config import BURST, EXACT_COPY, SANDALS, ScrapeConfig
from curate.scrape.sources import ScrapeSources

SOURCE = "scrape"  # photo ids are scrape:<source_id>
URL_PREFIX = "https://scrape.curate.invalid/photos/"
_STREAM = 20261202
# Edit strength drawn uniformly per copy: JPEG quality, kept scale, cropped share of each
# side, brightness/contrast change, degrees, watermark text height as a share of the side.
EDIT_STRENGTH = {"jpeg": (20.0, 50.0), "downscale": (0.30, 0.70), "crop": (0.02, 0.10),
                 "brightness_contrast": (0.05, 0.20), "rotation": (0.5, 3.0), "flip": (1.0, 1.0),
                 "watermark": (0.06, 0.12), "greyscale": (1.0, 1.0)}
_CONTENT_KIND = np.array(["on_topic", "off_topic", "off_topic", "off_topic", "off_topic", "sandals"], dtype=object)


@dataclass(frozen=True)
class Edits:
    """Edited copies, one entry per slot: `root` (the slot whose file the pixels come from),
    `edit_kind` (None for a photo shown as taken), `edit_strength` (NaN unless an edit kind
    has one) and `edit_seed`."""

    root: np.ndarray
    edit_kind: np.ndarray
    edit_strength: np.ndarray
    edit_seed: np.ndarray


def generate_scrape(config: ScrapeConfig, sources: ScrapeSources, recipe: Recipe | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records, truth) of the scrape, one row per photo in the same order; deterministic
    for the config (seed included) and the folders' contents.

    Raises UsageError when a label folder (or the off-topic folders) has fewer distinct
    photos than the collection needs, naming the --photos that would fit.
    """
    demo = config.as_demo_config()
    rng = np.random.default_rng([config.seed, _STREAM])
    labels = label_table(sources, recipe, config.topic)
    owners = draw_owners(rng, demo, labels, demo.photos - demo.sandals_count)
    slots = draw_slot_content(rng, demo, labels, owners, np.random.default_rng([config.seed, _STREAM, 1]))
    structure = impose_structure(rng, demo, slots, owners)
    structure, edits = draw_edit_copies(np.random.default_rng([config.seed, _STREAM, 3]), config, structure)
    files = assign_files(np.random.default_rng([config.seed, _STREAM, 4]), config, sources, labels, structure,
                         edits.root)
    order = rng.permutation(demo.photos)
    records, truth = build_tables(rng, demo, labels, owners, structure, order)
    records["url"] = records["url"].str.replace(vocab.URL_PREFIX, URL_PREFIX, regex=False)
    records["title"] = _retitle(records["title"], truth, labels, config.topic)
    return records, scrape_truth(truth, structure, edits, files, order)


def label_table(sources: ScrapeSources, recipe: Recipe | None, topic: str) -> CityTable:
    """The labels as the demo's city table: recipe coordinates where given, else a synthetic
    centre; photographers' home labels weighted by how many photos each label folder has;
    tags spelled as the label name, its spaced and lower-case forms and the recipe aliases."""
    declared = {label.name: label for label in (recipe.labels if recipe else ())}
    names = list(sources.labels)
    centres = [_centre(name, declared.get(name)) for name in names]
    sizes = np.array([len(sources.label_files[name]) for name in names], dtype=float)
    spellings = {name: _spellings(name, declared.get(name)) for name in names}
    return CityTable.build(names, [declared[n].display if n in declared else n for n in names],
                           [c[0] for c in centres], [c[1] for c in centres], weights=sizes,
                           tags=TagTable(tuple(names), spellings=spellings, topic_tag=topic),
                           sandals_name=names[int(np.argmax(sizes))])


def _centre(name: str, label) -> tuple[float, float]:
    """Recipe coordinates, else a point drawn from the name's hash (same name, same point)."""
    if label is not None and label.lat is not None and label.lon is not None:
        return float(label.lat), float(label.lon)
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    u, v = int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:16], "big") / 2**64
    return -50.0 + 110.0 * u, -180.0 + 360.0 * v


def _spellings(name: str, label) -> tuple[tuple[str, int], ...]:
    spaced = "".join(f" {ch}" if ch.isupper() and i else ch for i, ch in enumerate(name)).replace("_", " ")
    options = {name.lower(): 6, spaced.lower(): 3, name: 1}
    for alias in (label.aliases if label is not None else ()):
        options.setdefault(alias, 2)
    return tuple(options.items())


def draw_edit_copies(rng: np.random.Generator, config: ScrapeConfig, structure: Structure
                     ) -> tuple[Structure, Edits]:
    """Turn `near_dup_rate` of the photos into edited copies of plain photos.

    Returns the structure with each copy showing its original's content (and, like the demo's
    exact duplicates, uploaded by the original's owner unless it keeps its own) and the
    per-slot `Edits`.
    """
    n = len(structure.src)
    sandals, owner, shows = structure.sandals, structure.owner.copy(), np.arange(n)
    edit_kind = np.full(n, None, dtype=object)
    edit_kind[(structure.burst_id >= 0) & (structure.frame_index > 0)] = BURST
    edit_kind[structure.is_copy] = EXACT_COPY
    root = structure.src.copy()
    eligible = np.flatnonzero((structure.burst_id < 0) & (structure.dup_group < 0)
                              & (structure.broken < 0) & ~sandals)
    n_copies = min(int(round(config.near_dup_rate * n)), len(eligible) // 2) if config.edit_kinds else 0
    strength = np.full(n, np.nan)
    if n_copies:
        shuffled = rng.permutation(eligible)
        copies, pool = shuffled[:n_copies], shuffled[n_copies:]
        counts = _copies_per_original(rng, n_copies, min(config.max_copies_per_photo, len(config.edit_kinds)))
        original = np.repeat(pool[: len(counts)], counts)
        kinds = np.concatenate([rng.choice(np.array(config.edit_kinds, dtype=object), c, replace=False)
                                for c in counts])
        shows[copies] = original  # copies and originals are disjoint: one step copies the content
        keep_uploader = rng.random(n_copies) < config.dup_other_owner_share
        owner[copies] = np.where(keep_uploader, owner[copies], owner[original])
        edit_kind[copies], root[copies] = kinds, root[original]
        low = np.array([EDIT_STRENGTH[k][0] for k in kinds])
        high = np.array([EDIT_STRENGTH[k][1] for k in kinds])
        strength[copies] = low + (high - low) * rng.random(n_copies)
    series = np.flatnonzero(sandals)
    if len(series):
        root[series] = series[0]
        edit_kind[series[1:]] = SANDALS
    edits = Edits(root=root, edit_kind=edit_kind, edit_strength=strength,
                  edit_seed=rng.integers(0, 2**31 - 1, n, dtype=np.int64))
    return replace(structure, owner=owner, content=structure.content.take(shows)), edits


def _copies_per_original(rng: np.random.Generator, total: int, most: int) -> np.ndarray:
    """Copies per original, 1..most each, summing to `total`."""
    counts = rng.integers(1, most + 1, total)
    cut = int(np.searchsorted(np.cumsum(counts), total))
    counts = counts[: cut + 1]
    counts[-1] -= int(counts.sum()) - total
    return counts


def assign_files(rng: np.random.Generator, config: ScrapeConfig, sources: ScrapeSources, labels: CityTable,
                 structure: Structure, root: np.ndarray) -> np.ndarray:
    """A SourceFile per slot: a distinct file per root slot, shared by the slots that copy it."""
    kind, city = structure.content.kind, structure.content.city
    roots = np.unique(root)
    chosen = np.full(len(root), None, dtype=object)
    on_topic = roots[kind[roots] == vocab.SKYLINE]
    for index, name in enumerate(labels.names):
        wanted = on_topic[city[on_topic] == index]
        chosen[wanted] = _draw(rng, sources.label_files[name], len(wanted), f"label folder {name!r}", config)
    off = roots[kind[roots] != vocab.SKYLINE]
    chosen[off] = _draw(rng, sources.offtopic_files, len(off), "the --offtopic folders", config)
    return chosen[root]


def _draw(rng: np.random.Generator, files: tuple, count: int, where: str, config: ScrapeConfig) -> list:
    if count > len(files):
        fits = int(config.photos * len(files) / count)
        raise UsageError(f"{where} has {len(files)} distinct photos but --photos {config.photos} needs {count} "
                         f"of them; use --photos {fits} or fewer, or add photos")
    picked = rng.permutation(len(files))[:count]
    return [files[i] for i in picked]


def scrape_truth(truth: pd.DataFrame, structure: Structure, edits: Edits, files: np.ndarray,
                 order: np.ndarray) -> pd.DataFrame:
    """The demo's truth in the scrape's words, plus near-duplicate groups, edits and source files."""
    root = edits.root[order]
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    group = position[root]  # the row of the photo whose file it shows
    sizes = np.bincount(group, minlength=len(order))
    out = truth.drop(columns=["style_id", "scene_seed", "is_skyline"]).rename(
        columns={"skyline_tagged": "topic_tagged", "has_multi_city_tags": "has_multi_label_tags"})
    kind = structure.content.kind[order]
    out[schema.PHOTO_ID] = SOURCE + ":" + out[schema.PHOTO_ID].str.split(":", n=1).str[1]
    out["content_kind"] = _CONTENT_KIND[kind]
    out["is_on_topic"] = kind == vocab.SKYLINE
    out["near_dup_group"] = pd.Series(group, dtype="Int64").mask(sizes[group] < 2)
    out["edit_kind"] = edits.edit_kind[order]
    out["edit_of"] = np.where(out["edit_kind"].notna() & (group != np.arange(len(order))),
                              out[schema.PHOTO_ID].to_numpy()[group], None)
    out["edit_strength"] = edits.edit_strength[order]
    out["edit_seed"] = edits.edit_seed[order]
    chosen = files[order]
    out["source_root"] = [f.root for f in chosen]
    out["source_file"] = [f.relative for f in chosen]
    return out


def _retitle(titles: pd.Series, truth: pd.DataFrame, labels: CityTable, topic: str) -> pd.Series:
    """Titles the demo wrote as '<City> skyline' name the topic instead."""
    described = truth["tagged_city"].map(dict(zip(labels.names, labels.displays))) + " skyline"
    return titles.where(titles != described, described.str[: -len("skyline")] + topic)
