"""Vectorised generation of the demo collection's metadata and ground truth.

`generate_metadata(config)` returns two tables with one row per photo, in the same
order: the source records (canonical record fields, as a Flickr scrape would give
them) and the ground truth (what each photo really is, and which noise was injected).

How it is built, all with NumPy arrays over the whole collection:

1. photographers with a long-tailed photo count, a home city and a personal style;
2. photo "slots" laid out owner by owner; each slot draws its own content (skyline or
   off-topic kind, city, scene seed, geotag kind, tags, time), and a few skylines get
   a wrong city tag whose title and geotag agree with it (mislabelled), and a few more a
   wrong city tag and title with a geotag where they were really taken (taken elsewhere);
3. structure is imposed by copying content between slots through one index array
   `src`: burst frames copy their burst's first frame, exact duplicates copy their
   original; broken files are marked; the sandals photographer's slots are appended;
4. the slots are shuffled and turned into records and truth.

The steps hand each other the frozen dataclasses of arrays in `curate.demo.slots`
(`Owners`, `Slots`, `Structure`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from curate import schema
from curate.demo import geo, vocab
from curate.demo.config import BROKEN_KINDS, DemoConfig
from curate.demo.labels import CityTable
from curate.demo.slots import Owners, SlotContent, Slots, Structure
from curate.recipes import Recipe, load_recipe

_EPOCH_START = np.datetime64("2005-01-01T00:00:00", "s")
_EPOCH_SPAN_S = int((np.datetime64("2015-01-01T00:00:00", "s") - _EPOCH_START).astype(int))
_BURST_BLOCK = 6  # bursts have at most 6 frames


def generate_metadata(config: DemoConfig, recipe: Recipe | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo collection's records and ground truth, deterministic for `config.seed`.

    Args:
        config: size, seed and noise rates.
        recipe: the label list (defaults to datasets/skylines.toml): cities, coordinates.
    Returns:
        (records, truth): records have the canonical record fields (source_id, owner_id,
        owner_name, title, tags, lat, lon, taken_at, license, url); truth has one row per
        record, keyed by photo_id = 'demo:<source_id>'.

    >>> records, truth = generate_metadata(DemoConfig(photos=50, seed=1))
    >>> len(records) == len(truth) == 50
    True
    """
    recipe = recipe or load_recipe("skylines")
    rng = np.random.default_rng([config.seed, 20240611])
    cities = CityTable.from_recipe(recipe)
    n_sandals = config.sandals_count
    owners = draw_owners(rng, config, cities, config.photos - n_sandals)
    slots = draw_slot_content(rng, config, cities, owners, np.random.default_rng([config.seed, 20240611, 1]))
    structure = impose_structure(rng, config, slots, owners)
    order = rng.permutation(config.photos)
    return build_tables(rng, config, cities, owners, structure, order)


def owner_photo_counts(rng: np.random.Generator, config: DemoConfig, n_photos: int) -> np.ndarray:
    """Photos per owner: rounded lognormal draws (median `owner_median_photos`), capped,
    summing exactly to `n_photos`. sigma 1.65 gives the top 1% of owners ~25% of photos."""
    if n_photos <= 0:
        return np.zeros(0, dtype=np.int64)
    cap = max(int(config.owner_max_share * config.photos), int(2 * config.owner_median_photos), 1)
    mean = config.owner_median_photos * math.exp(config.owner_sigma ** 2 / 2)
    batches, total = [], 0
    while total < n_photos:
        size = int((n_photos - total) / mean * 1.3) + 16
        draw = np.rint(np.exp(rng.normal(math.log(config.owner_median_photos), config.owner_sigma, size)))
        draw = draw.clip(1, cap).astype(np.int64)
        batches.append(draw)
        total += int(draw.sum())
    counts = np.concatenate(batches)
    last = int(np.searchsorted(np.cumsum(counts), n_photos))
    counts = counts[: last + 1]
    counts[-1] -= int(counts.sum()) - n_photos
    return counts


def draw_owners(rng: np.random.Generator, config: DemoConfig, cities: CityTable, n_regular: int) -> Owners:
    """Owner table: regular photographers, then the sandals photographer (if any) last."""
    counts = owner_photo_counts(rng, config, n_regular)
    home = _home_cities(rng, counts, cities.weights)
    n_sandals = config.sandals_count
    if n_sandals:
        counts = np.append(counts, n_sandals)
        home = np.append(home, cities.index(cities.sandals_name))
    n_owners = len(counts)
    numbers = rng.choice(90_000_000, size=n_owners, replace=False) + 10_000_000
    suffix = rng.integers(0, 3, n_owners)
    owner_id = pd.Series(numbers).astype(str) + "@N0" + pd.Series(suffix).astype(str)
    first = np.array(vocab.FIRST_NAMES, dtype=object)[rng.integers(0, len(vocab.FIRST_NAMES), n_owners)]
    last = np.array(vocab.LAST_NAMES, dtype=object)[rng.integers(0, len(vocab.LAST_NAMES), n_owners)]
    names = first + " " + last
    licence_names = np.array([name for name, _ in vocab.LICENSES], dtype=object)
    licence_p = np.array([share for _, share in vocab.LICENSES])
    licence = licence_names[rng.choice(len(licence_names), size=n_owners, p=licence_p / licence_p.sum())]
    is_sandals = np.zeros(n_owners, dtype=bool)
    if n_sandals:
        names[-1] = vocab.SANDALS_OWNER_NAME
        is_sandals[-1] = True
    return Owners(count=counts, home=home, owner_id=owner_id.to_numpy(dtype=object), name=names,
                  license=licence, is_sandals=is_sandals, n_regular=int(counts.sum()) - n_sandals)


def _home_cities(rng: np.random.Generator, counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """A home city per owner. The biggest owners are spread greedily over the cities
    (each goes to the city furthest below its share so far), so that at demo size a
    couple of heavy uploaders cannot starve a city; the long tail is drawn at random."""
    home = rng.choice(len(weights), size=len(counts), p=weights)
    biggest = np.argsort(-counts, kind="stable")[: 4 * len(weights)]
    photos = np.zeros(len(weights))
    for owner in biggest:  # at most 40 owners: a short loop, not a per-photo one
        city = int(np.argmin((photos + counts[owner]) / weights))
        home[owner] = city
        photos[city] += counts[owner]
    return home


def draw_slot_content(rng: np.random.Generator, config: DemoConfig, cities: CityTable, owners: Owners,
                      mislabel_rng: np.random.Generator) -> Slots:
    """Independent content for every slot; slots are laid out owner by owner."""
    owner = np.repeat(np.arange(len(owners.count)), owners.count)
    n = len(owner)
    sandals = owners.is_sandals[owner]
    offtopic = rng.random(n) < config.offtopic_rate
    kind = np.where(offtopic, rng.choice(vocab.OFFTOPIC_KINDS, size=n), vocab.SKYLINE)
    kind[sandals] = vocab.SANDALS
    at_home = rng.random(n) < config.home_city_rate
    city = np.where(at_home, owners.home[owner], rng.choice(len(cities), size=n, p=cities.weights))
    city[sandals] = cities.index(cities.sandals_name)
    coord_kind = _draw_coord_kinds(rng, config, n)
    coord_kind[sandals] = geo.OK
    scene_seed = rng.integers(0, 2**31 - 1, n, dtype=np.int64)
    variant_seed = rng.integers(0, 2**31 - 1, n, dtype=np.int64)
    offset_u, bearing = rng.random(n), rng.random(n) * 2 * math.pi
    taken_s = rng.integers(0, _EPOCH_SPAN_S, n, dtype=np.int64)
    title_kind, title_number = rng.choice(3, size=n, p=[0.5, 0.3, 0.2]), rng.integers(1, 10_000, n)
    if sandals.any():  # near-identical uploads: the sandals photographer reuses one scene
        scene_seed[sandals] = scene_seed[np.flatnonzero(sandals)[0]]
    tags = cities.tags.draw(rng, config, kind, city, sandals)
    # before the wrong-city draws, every city tag names the city in the pixels
    content = SlotContent(kind=kind, city=city, coord_kind=coord_kind, scene_seed=scene_seed,
                          variant_seed=variant_seed, offset_u=offset_u, bearing=bearing, taken_s=taken_s,
                          title_kind=title_kind, title_number=title_number, tag_codes=tags.tag_codes,
                          multi_city=tags.multi_city, skyline_tagged=tags.skyline_tagged, tagged_city=city,
                          mislabelled=np.zeros(n, dtype=bool), taken_elsewhere=np.zeros(n, dtype=bool),
                          placed_city=city)
    content = draw_mislabels(mislabel_rng, config, cities, content, sandals)
    content = draw_taken_elsewhere(np.random.default_rng([config.seed, 20240611, 2]), config, cities, content,
                                   sandals)
    return Slots(owner=owner, sandals=sandals, content=content)


def draw_mislabels(rng: np.random.Generator, config: DemoConfig, cities: CityTable, content: SlotContent,
                   sandals: np.ndarray) -> SlotContent:
    """Mislabelled skylines: the single city tag names another city than the pixels show.

    Drawn per slot, before bursts and duplicates copy content, so a burst or a re-upload
    carries the same (wrong) tag as its source. Only regular skylines with one city tag
    and no mis-geotag qualify (`DemoConfig.mislabel_eligible_share`); the chance among
    them is scaled so that `mislabel_rate` of all regular skylines end up mislabelled.
    The wrong city is uniform over the other cities. Returns the content with `mislabelled`,
    `tagged_city` (the city the tags, title and geotag name) and tag slot 0 set.
    Uses its own random stream so every other draw is the same whatever the rate.
    """
    eligible = ((content.kind == vocab.SKYLINE) & ~sandals & ~content.multi_city
                & ~np.isin(content.coord_kind, (geo.FAR, geo.NEAR)))
    mislabelled, tagged_city, tag_codes = _wrong_city_tags(rng, cities, content, content.city, eligible,
                                                           config.mislabel_rate, config.mislabel_eligible_share)
    return replace(content, mislabelled=mislabelled, tagged_city=tagged_city, tag_codes=tag_codes)


def draw_taken_elsewhere(rng: np.random.Generator, config: DemoConfig, cities: CityTable,
                         content: SlotContent, sandals: np.ndarray) -> SlotContent:
    """Skylines taken elsewhere: the single city tag names another city than the pixels show,
    while the geotag is where the photo was really taken ("tagged Amsterdam, taken in Korea").

    Drawn like `draw_mislabels` (per slot, own random stream) among regular skylines with
    one city tag, a correct geotag and no mislabel, scaled so that `taken_elsewhere_rate` of
    all regular skylines end up taken elsewhere. Returns the content with `taken_elsewhere`,
    the new `tagged_city`, tag slot 0 and `placed_city` (the city whose centre the geotag is
    drawn around: the city tagged before, i.e. the true one for these photos) set.
    """
    eligible = ((content.kind == vocab.SKYLINE) & ~sandals & ~content.multi_city
                & (content.coord_kind == geo.OK) & ~content.mislabelled)
    elsewhere, tagged_city, tag_codes = _wrong_city_tags(rng, cities, content, content.tagged_city, eligible,
                                                         config.taken_elsewhere_rate,
                                                         config.taken_elsewhere_eligible_share)
    return replace(content, taken_elsewhere=elsewhere, tagged_city=tagged_city, tag_codes=tag_codes,
                   placed_city=content.tagged_city)


def _wrong_city_tags(rng: np.random.Generator, cities: CityTable, content: SlotContent, tagged_city: np.ndarray,
                     eligible: np.ndarray, rate: float, share: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chosen, new tagged city, new tag codes): each `eligible` slot is chosen with chance
    rate / share, so that `rate` of all regular skylines are when `share` of them are
    eligible; a chosen slot's city becomes another one, uniform over the others, and its city
    tag (slot 0 of a copy of `content.tag_codes`) is spelled for that city."""
    n_cities = len(cities)
    chance = rate / share if share > 0 else 0.0
    chosen = eligible & (rng.random(len(eligible)) < chance)
    tagged_city = tagged_city.copy()
    tagged_city[chosen] = (tagged_city[chosen] + 1 + rng.integers(0, n_cities - 1, int(chosen.sum()))) % n_cities
    tag_codes = content.tag_codes.copy()
    tag_codes[chosen, 0] = cities.tags.spell(rng, tagged_city[chosen])
    return chosen, tagged_city, tag_codes


def _draw_coord_kinds(rng: np.random.Generator, config: DemoConfig, n: int) -> np.ndarray:
    """A geotag kind code (curate.demo.geo) per photo, one uniform draw each."""
    far = config.misgeotag_rate * config.misgeotag_far_share
    # Probabilities in code order FAR, NEAR, MISSING, NAN_TEXT, OUT_OF_RANGE; the rest is OK.
    shares = [far, config.misgeotag_rate - far, config.missing_coords_rate,
              config.invalid_coords_rate / 2, config.invalid_coords_rate / 2]
    kind = np.searchsorted(np.cumsum(shares), rng.random(n), side="right") + geo.FAR
    kind[kind > geo.OUT_OF_RANGE] = geo.OK
    return kind


def impose_structure(rng: np.random.Generator, config: DemoConfig, slots: Slots, owners: Owners) -> Structure:
    """Bursts, exact duplicates and broken files, expressed as per-slot arrays.

    `src[i]` is the slot whose content slot i shows (itself for most slots).
    """
    n = len(slots.owner)
    n_regular = owners.n_regular
    src = np.arange(n)
    owner = slots.owner.copy()
    burst_id, frame_index = _bursts(rng, config, slots.owner[:n_regular], n)
    src = _burst_sources(src, burst_id, frame_index)
    plain = np.flatnonzero(burst_id[:n_regular] < 0)
    dup_group, is_copy, other_owner = _exact_duplicates(rng, config, plain, src, owner)
    grouped = dup_group >= 0
    style_id = slots.owner[src]  # the look travels with the image, not with the uploader
    broken = _broken(rng, config, np.flatnonzero(~grouped[:n_regular]), n)
    return Structure(src=src, owner=owner, style_id=style_id, burst_id=burst_id, frame_index=frame_index,
                     dup_group=dup_group, is_copy=is_copy, other_owner=other_owner, broken=broken,
                     sandals=slots.sandals, content=slots.content.take(src))


def _bursts(rng: np.random.Generator, config: DemoConfig, regular_owner: np.ndarray, n: int):
    """Pick burst blocks of 6 slots that lie inside one owner; a burst uses its first 3-6."""
    burst_id = np.full(n, -1, dtype=np.int64)
    frame_index = np.zeros(n, dtype=np.int64)
    target = int(round(config.burst_rate * n))
    starts = np.arange(0, len(regular_owner) - _BURST_BLOCK + 1, _BURST_BLOCK)
    starts = starts[regular_owner[starts] == regular_owner[starts + _BURST_BLOCK - 1]]
    if target < 3 or not len(starts):
        return burst_id, frame_index
    lengths = rng.integers(3, _BURST_BLOCK + 1, size=target // 3 + 1)
    n_bursts = min(int(np.searchsorted(np.cumsum(lengths), target)) + 1, len(starts), len(lengths))
    lengths = lengths[:n_bursts]
    chosen = np.sort(rng.choice(starts, size=n_bursts, replace=False))
    group = np.repeat(np.arange(n_bursts), lengths)
    frame = np.arange(len(group)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    members = np.repeat(chosen, lengths) + frame
    burst_id[members] = group
    frame_index[members] = frame
    return burst_id, frame_index


def _burst_sources(src: np.ndarray, burst_id: np.ndarray, frame_index: np.ndarray) -> np.ndarray:
    members = np.flatnonzero(burst_id >= 0)
    src = src.copy()
    src[members] = members - frame_index[members]  # every frame shows its burst's first frame
    return src


def _exact_duplicates(rng, config, plain, src, owner):
    """Turn some plain slots into byte-identical copies of other plain slots (in place on
    src/owner). A copy keeps its own uploader with probability dup_other_owner_share."""
    n = len(src)
    dup_group = np.full(n, -1, dtype=np.int64)
    is_copy = np.zeros(n, dtype=bool)
    other_owner = np.zeros(n, dtype=bool)
    n_copies = min(int(round(config.exact_dup_rate * n)), len(plain) // 2)
    if n_copies < 1:
        return dup_group, is_copy, other_owner
    shuffled = rng.permutation(plain)
    copies, pool = shuffled[:n_copies], shuffled[n_copies:]
    # Originals come from a pool only ~1.5x the number of copies, so some photos get
    # copied twice or more (popular images are reposted more than once).
    originals = pool[rng.integers(0, max(1, min(len(pool), n_copies * 3 // 2 + 1)), n_copies)]
    src[copies] = originals
    keep_uploader = rng.random(n_copies) < config.dup_other_owner_share
    owner[copies] = np.where(keep_uploader, owner[copies], owner[originals])
    other_owner[copies] = owner[copies] != owner[originals]
    group_of_original = np.unique(originals, return_inverse=True)[1]
    dup_group[copies] = group_of_original
    dup_group[originals] = group_of_original
    is_copy[copies] = True
    return dup_group, is_copy, other_owner


def _broken(rng: np.random.Generator, config: DemoConfig, eligible: np.ndarray, n: int) -> np.ndarray:
    """Broken-file kind per slot (-1 = fine), split evenly over BROKEN_KINDS."""
    broken = np.full(n, -1, dtype=np.int64)
    n_broken = min(int(round(config.broken_rate * n)), len(eligible))
    chosen = rng.choice(eligible, size=n_broken, replace=False)
    broken[chosen] = rng.permutation(np.arange(n_broken) % len(BROKEN_KINDS))
    return broken


def build_tables(rng, config: DemoConfig, cities: CityTable, owners: Owners, structure: Structure,
                 order: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shuffle the slots into upload order and write records + truth."""
    content = structure.content.take(order)
    owner = structure.owner[order]
    n = len(order)
    source_id = pd.Series(3_000_000_000 + np.cumsum(rng.integers(1, 40, n))).astype(str).to_numpy(dtype=object)
    lat, lon, distance_km = geo.recorded_coordinates(config, cities, content)
    taken = _EPOCH_START + content.taken_s + 2 * structure.frame_index[order]
    records = pd.DataFrame({
        "source_id": source_id,
        "owner_id": owners.owner_id[owner],
        "owner_name": owners.name[owner],
        "title": _titles(cities, content),
        "tags": cities.tags.to_lists(content.tag_codes),
        "lat": lat,
        "lon": lon,
        "taken_at": taken.astype("datetime64[s]"),
        "license": owners.license[owner],
        "url": vocab.URL_PREFIX + owners.owner_id[owner] + "/" + source_id,
    })
    truth = _truth(cities, owners, structure, content, order, source_id, distance_km)
    return records, truth


def _truth(cities: CityTable, owners: Owners, structure: Structure, content: SlotContent, order: np.ndarray,
           source_id: np.ndarray, distance_km: np.ndarray) -> pd.DataFrame:
    """The ground truth table. Columns about cities and places:

    - true_city: the city in the pixels (for off-topic photos, where they were taken);
      true_label: the same for skylines, None for everything else.
    - tagged_city: the city the city tag names (with two city tags, the first one); it
      differs from true_city exactly where is_mislabelled (the geotag agrees with the wrong
      tag) or is_taken_elsewhere (the geotag is right, the tag wrong).
    - true_distance_km: how far the recorded position is from tagged_city's centre, i.e.
      how wrong the geotag is for the city the photo claims (what a geo filter can see).
    """
    kind = content.kind
    is_skyline = kind == vocab.SKYLINE
    city = cities.names[content.city]
    coord_kind = np.array(geo.COORD_KINDS, dtype=object)[content.coord_kind]
    broken = structure.broken[order]
    return pd.DataFrame({
        schema.PHOTO_ID: "demo:" + source_id,
        "owner_id": owners.owner_id[structure.owner[order]],
        "style_id": structure.style_id[order],
        "content_kind": np.array(vocab.CONTENT_KINDS, dtype=object)[kind],
        "is_skyline": is_skyline,
        "is_sandals": structure.sandals[order],
        "true_label": np.where(is_skyline, city, None),
        "true_city": city,
        "tagged_city": cities.names[content.tagged_city],
        "is_mislabelled": content.mislabelled,
        "is_taken_elsewhere": content.taken_elsewhere,
        "coord_kind": coord_kind,
        "is_misgeotagged": np.isin(content.coord_kind, (geo.FAR, geo.NEAR)),
        "true_distance_km": distance_km,
        "has_multi_city_tags": content.multi_city,
        "skyline_tagged": content.skyline_tagged,
        "burst_id": _nullable(structure.burst_id[order]),
        "frame_index": structure.frame_index[order],
        "exact_dup_group": _nullable(structure.dup_group[order]),
        "is_exact_dup_copy": structure.is_copy[order],
        "dup_other_owner": structure.other_owner[order],
        "broken_kind": np.where(broken >= 0, np.array(BROKEN_KINDS, dtype=object)[broken.clip(0)], None),
        "scene_seed": content.scene_seed,
        "variant_seed": content.variant_seed,
        # columns shared with a scrape's truth (curate.scrape), so one `curate score` serves both
        "is_on_topic": is_skyline,
        **_near_duplicate_truth(structure, order, "demo:" + source_id),
        "source_file": None,
    })


def _near_duplicate_truth(structure: Structure, order: np.ndarray, photo_id: np.ndarray) -> dict:
    """near_dup_group (a burst's frames, an exact copy and its original), edit_kind (burst for
    frames after the first, exact_copy for copies) and edit_of (the photo it copies)."""
    src = structure.src[order]
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    group = position[src]
    sizes = np.bincount(group, minlength=len(order))
    edit_kind = np.full(len(order), None, dtype=object)
    edit_kind[(structure.burst_id[order] >= 0) & (structure.frame_index[order] > 0)] = "burst"
    edit_kind[structure.is_copy[order]] = "exact_copy"
    return {"near_dup_group": pd.Series(group, dtype="Int64").mask(sizes[group] < 2),
            "edit_kind": edit_kind,
            "edit_of": np.where(pd.notna(edit_kind), np.asarray(photo_id, dtype=object)[group], None)}


def _nullable(ids: np.ndarray) -> pd.Series:
    return pd.Series(ids, dtype="Int64").mask(ids < 0)


def _titles(cities: CityTable, content: SlotContent) -> np.ndarray:
    """Camera file names, '<City> <words>', or no title."""
    n = len(content.kind)
    prefixes = np.array(vocab.CAMERA_PREFIXES, dtype=object)
    number = pd.Series(content.title_number).astype(str).str.zfill(4).to_numpy(dtype=object)
    camera = prefixes[content.title_number % len(prefixes)] + number
    words = np.array(vocab.KIND_TITLE_WORDS, dtype=object)[content.kind]
    described = cities.displays[content.tagged_city] + " " + words  # as the uploader believes
    titles = np.full(n, None, dtype=object)
    titles[content.title_kind == 0] = camera[content.title_kind == 0]
    titles[content.title_kind == 1] = described[content.title_kind == 1]
    return titles
