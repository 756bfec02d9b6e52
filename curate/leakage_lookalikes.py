"""Look-alikes across the split: val/test photos whose nearest train photo looks like the same picture, though no
owner, near-duplicate cluster or exact-duplicate group joins them (`curate check-leakage`'s safety net).

`find_leakage` (curate.leakage) sees only the groups the filter made. A copy the filter misses (audit DF,
2026-12-07: a watermark tiled over the whole photo, 10 of 30 linked; a 9:16 portrait crop of a landscape photo,
6 of 30) crosses the split unseen. Here each kept val/test photo is compared with the kept train photos by the
cosine of `curate embed`'s cached EfficientNet-Lite0 vectors (no image is decoded), and a pair at or above
`LOOKALIKE_COSINE` that shares no group is listed for review. It is not counted as a leak: two different photos
of one landmark or of one car model look alike too (docs/splits.md, "Look-alikes across the split").

The search is the filter's (curate.filters.embed_neighbours.cosine_pairs: exact up to EXACT_LIMIT photos, an
inverted-file index above; 47,712 real-photo vectors took 20 s on 2 busy cores), and above MAX_PHOTOS kept photos
with a split the check is skipped with a note. `save_lookalikes` keeps the result in reports/check-leakage.json,
which `curate report` shows after the splits (curate.report.lookalikes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from curate import schema

# bench/lookalikes.py (2026-12-07, docs/splits.md): at 0.90, 1.4 % of 15-Scene test photos have a train photo this
# close, nearly all of them one picture (crops, shifted frames; by eye ~0.1-0.2 % are different photos), 0 % of the
# ImageNet sample's and of the Ferraris of another owner (highest 0.84); the audit's tiled watermarks reach it 3 %,
# its 9:16 crops 0 % (at 0.85: 6 % of 15-Scene, most of them different photos).
LOOKALIKE_COSINE = 0.90
EXACT_LIMIT = 10_000  # kept photos with a split up to which the search is exact; above, the filter's IVF (approximate)
MAX_PHOTOS = 100_000  # above: skipped with a note (the search would take a minute or more)
SHOWN = 10  # pairs the human output lists
REPORT = "check-leakage"  # reports/check-leakage.json: the last check's look-alikes, for `curate report`
SAVED_PAIRS = 1000  # pairs kept in that report (all are counted)
# where no pair reaches the cut, the search looks again this far under it for the nearest pair, so "none" can say how
# near it came (audit DY F8: "no look-alikes" hid a pair of one kitchen at 0.886 under 0.90); at 0.85 6 % of 15-Scene
# test photos have one
NEAREST_BAND = 0.05
KEYS = ("owner_id", "near_dup_cluster", "exact_dup_group", "sha256")  # what already joins two photos
COLUMNS = ["photo_id", "split", "label", "train_photo_id", "train_label", "cosine"]
NEEDS = [schema.PHOTO_ID, "status", "split", "label", *KEYS]
NO_EMBEDDINGS_NOTE = ("look-alikes across the split not checked: this workspace has no embeddings of the "
                      "near-duplicate rule's backbone; `curate embed` (its default backbone) enables the check "
                      "(val/test photos whose nearest train photo looks like the same picture)")


def parse_lookalike_cosine(value: object) -> float | None:
    """A cosine in (0, 1], or None for "off" (a flag or a recipe may give text): the filter's cosine settings' rule."""
    from curate.filters.config import parse_cosine

    return parse_cosine(value, "lookalike_cosine")


@dataclass
class Lookalikes:
    """What the look-alike check found: `pairs` (COLUMNS, highest cosine first) or None when it did not run,
    and the notes that say why not or what it left out."""

    min_cosine: float | None
    pairs: pd.DataFrame | None = None
    checked: int = 0  # val/test photos compared (kept, with a vector)
    notes: list[str] = field(default_factory=list)
    # the highest cosine of a val/test photo with a train photo outside its groups, when at or above `nearest_from`
    # (NEAREST_BAND under the cut); None: none that near (or not checked)
    nearest: float | None = None
    nearest_from: float | None = None

    def summary(self) -> str | None:
        """One line for the human output (None when the check did not run)."""
        if self.pairs is None:
            return None
        found = len(self.pairs)
        if not found:
            return (f"no look-alikes: none of the {self.checked:,} val/test photos has a train photo at cosine >= "
                    f"{self.min_cosine:g} outside its groups; {self.nearest_line()}")
        return (f"{found:,} val/test photo{'s' if found != 1 else ''} look{'s' if found == 1 else ''} like a train "
                f"photo (cosine >= {self.min_cosine:g}) without being in one cluster: review them (a copy the filter "
                "missed leaks; two photos of one landmark or model do not); not counted as leaks")

    def nearest_line(self) -> str:
        """How near the closest val/test-train pair came to the cut, when none reached it.

        >>> Lookalikes(0.9, nearest=0.886, nearest_from=0.85).nearest_line()
        'the nearest is 0.886 (`--lookalike-cosine 0.88` lists it)'
        >>> Lookalikes(0.9, nearest_from=0.85).nearest_line()
        'none even at >= 0.85'
        >>> Lookalikes(0.9, nearest=0.88, nearest_from=0.85).nearest_line()  # 0.8795 shows as 0.880: 0.88 misses it
        'the nearest is 0.880 (`--lookalike-cosine 0.87` lists it)'
        """
        if self.nearest is None:  # none even NEAREST_BAND under the cut
            return f"none even at >= {self.nearest_from:g}" if self.nearest_from else "the nearest was not measured"
        # a cut that lists it: `nearest` is rounded to 3 places, so the cosine itself may be up to 0.0005 under it
        # (review EE: 0.8797 read "0.880 (`--lookalike-cosine 0.88` lists it)", and 0.88 listed nothing)
        under = np.floor(round((self.nearest - 0.0005) * 100, 6)) / 100
        return f"the nearest is {self.nearest:.3f} (`--lookalike-cosine {under:g}` lists it)"

    def records(self) -> list[dict]:
        return [] if self.pairs is None else self.pairs.to_dict("records")

    def to_dict(self) -> dict:
        """The saved form (`save_lookalikes`): the cosine (None: the list was off), how many pairs (None: not
        checked, the notes say why), photos compared, the summary line, notes and the first SAVED_PAIRS pairs."""
        return {"min_cosine": self.min_cosine, "count": None if self.pairs is None else int(len(self.pairs)),
                "checked": int(self.checked), "summary": self.summary(), "notes": list(self.notes),
                "nearest_cosine": self.nearest, "nearest_from": self.nearest_from,
                "pairs": self.records()[:SAVED_PAIRS]}


def save_lookalikes(ws, result: Lookalikes) -> str | None:
    """Keep the check's result in reports/check-leakage.json (key ``look_alikes``, with the hash of the catalog it
    read) for `curate report`. Returns None, or a note when the workspace cannot be written (the check itself
    only reads: a read-only workspace is still checked)."""
    from curate.stage_reports import save_stage_report
    from curate.workspace import catalog_sha256

    try:
        save_stage_report(ws, REPORT, catalog_sha256(ws), {"look_alikes": result.to_dict()})
    except OSError as exc:
        return (f"the look-alikes were not saved to {ws.reports_dir / (REPORT + '.json')} ({exc.strerror or exc}), "
                "so `curate report` will not show them")
    return None


def find_lookalikes(photos: pd.DataFrame, vectors: np.ndarray, min_cosine: float) -> pd.DataFrame:
    """For each kept val/test photo of `photos`, its closest kept train photo at cosine >= `min_cosine` that shares
    no owner, near-duplicate cluster, exact-duplicate group or sha256 with it (those are `find_leakage`'s).

    `photos` holds NEEDS' columns, one row per photo, `vectors` one row per photo (zeros: no vector).
    Returns COLUMNS, one row per val/test photo found, highest cosine first.

    >>> photos = pd.DataFrame({"photo_id": ["a", "b", "c"], "status": "kept", "split": ["train", "test", "test"],
    ...                        "label": ["x", "x", "y"], "owner_id": ["o1", "o2", "o1"], "near_dup_cluster": None,
    ...                        "exact_dup_group": None, "sha256": ["s1", "s2", "s3"]})
    >>> find_lookalikes(photos, np.array([[1, 0], [0.99, 0.1], [1, 0]], np.float32), 0.9)[["photo_id", "cosine"]]
      photo_id  cosine
    0        b   0.995
    """
    found = closest_train_photos(photos, vectors, min_cosine)
    return found[found["exact"] >= min_cosine].drop(columns="exact").reset_index(drop=True)


def closest_train_photos(photos: pd.DataFrame, vectors: np.ndarray, min_cosine: float) -> pd.DataFrame:
    """`find_lookalikes`' rows (its cosine rounded to 3 places) with column `exact`, the unrounded cosine: what the
    check takes its look-alikes (at or above its cut) from, and the nearest pair under the cut where none reaches it
    (a second search, NEAREST_BAND under the cut)."""
    from curate.filters.embed_neighbours import cosine_pairs

    split = photos["split"].to_numpy(dtype=object)
    rows = np.flatnonzero((photos["status"] == schema.KEPT).to_numpy() & pd.notna(split))
    if len(rows) < 2:
        return pd.DataFrame([], columns=[*COLUMNS, "exact"])
    first, second, cosine = cosine_pairs(vectors[rows], min_cosine, exact_limit=EXACT_LIMIT)
    first, second = rows[first], rows[second]
    held_out = split != "train"
    crosses = (split[first] == "train") & held_out[second] | held_out[first] & (split[second] == "train")
    first, second, cosine = first[crosses], second[crosses], cosine[crosses]
    query = np.where(held_out[first], first, second)
    train = np.where(held_out[first], second, first)
    joined = np.zeros(len(query), dtype=bool)
    for key in KEYS:
        values = photos[key].to_numpy(dtype=object)
        joined |= pd.notna(values[query]) & (values[query] == values[train])
    query, train, cosine = query[~joined], train[~joined], cosine[~joined]
    order = np.lexsort((-cosine, query))  # per val/test photo, its closest train photo first
    query, train, cosine = query[order], train[order], cosine[order]
    first_of = np.r_[True, query[1:] != query[:-1]] if len(query) else np.zeros(0, bool)
    query, train, cosine = query[first_of], train[first_of], cosine[first_of]
    found = pd.DataFrame({
        "photo_id": photos[schema.PHOTO_ID].to_numpy(dtype=object)[query], "split": split[query],
        "label": photos["label"].to_numpy(dtype=object)[query],
        "train_photo_id": photos[schema.PHOTO_ID].to_numpy(dtype=object)[train],
        "train_label": photos["label"].to_numpy(dtype=object)[train], "cosine": np.round(cosine.astype(float), 3),
        "exact": cosine.astype(float)}, columns=[*COLUMNS, "exact"])
    return found.sort_values(["cosine", "photo_id"], ascending=[False, True], ignore_index=True)


def split_photos(catalog_path, max_photos: int | None = None) -> tuple[pd.DataFrame | None, int]:
    """(the kept photos with a split (NEEDS' columns), how many), read in batches; the photos are None once there
    are more than `max_photos` of them: the rest is only counted, so a catalog far too large for the check is not
    held in memory to be skipped (check-leakage reads a large catalog out of core, audit AW3)."""
    from curate.catalog_batches import CatalogFile

    parts, count = [], 0
    for batch in CatalogFile(catalog_path).batches(NEEDS):
        part = batch[(batch["status"] == schema.KEPT) & batch["split"].notna()]
        count += len(part)
        if max_photos is not None and count > max_photos:
            parts = None
        elif parts is not None:
            parts.append(part)
    if parts is None:
        return None, count
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=NEEDS)), count


def workspace_lookalikes(ws, min_cosine: float | None, max_photos: int = MAX_PHOTOS) -> Lookalikes:
    """The I/O edge: the workspace's kept split photos and `curate embed`'s cached vectors (only the backbone and
    input size the near-duplicate rule reads: verify.EMBEDDING_BACKBONE; other backbones' cosines are on another
    scale), then `find_lookalikes`. Never raises for missing embeddings: a note says what enables the check."""
    from curate.embed_cache import EmbeddingCache
    from curate.filters import verify

    result = Lookalikes(min_cosine)
    if min_cosine is None or not ws.catalog_path.exists():
        return result
    cache = EmbeddingCache(ws, verify.EMBEDDING_BACKBONE)
    if not cache.dir.is_dir() or not cache.known():
        result.notes.append(NO_EMBEDDINGS_NOTE)
        return result
    photos, count = split_photos(ws.catalog_path, max_photos)
    if photos is None:
        result.notes.append(f"look-alikes across the split not checked: {count:,} kept photos with a split, "
                            f"over {max_photos:,} (the search would take minutes); `find_lookalikes` "
                            "(curate.leakage_lookalikes) runs it on a catalog you load yourself")
        return result
    held_out = photos["split"] != "train"
    if not held_out.any() or held_out.all():  # nothing to compare: said, not "none of the 0 val/test photos"
        result.notes.append("look-alikes across the split not checked: the split has no "
                            f"{'val or test' if not held_out.any() else 'train'} photos")
        return result
    vectors, found, ok = cache.lookup(photos["sha256"])
    vectors[~(found & ok)] = 0  # a zero vector pairs with nothing
    without = int((held_out & ~(found & ok)).sum())
    if without:
        plural = without != 1
        result.notes.append(f"{without:,} val/test photo{'s have' if plural else ' has'} no embedding (not embedded "
                            f"yet, or unreadable) and {'were' if plural else 'was'} not compared for look-alikes; "
                            "run `curate embed`")
    result.checked = int((held_out & found & ok).sum())
    result.nearest_from = round(max(min_cosine - NEAREST_BAND, 0.01), 3)
    # the nearest is shown only where no pair reaches the cut, so the search looks under it only then (review EE: a
    # search NEAREST_BAND lower compares many more candidates on a large collection, which mostly has pairs)
    closest = closest_train_photos(photos, vectors, min_cosine)
    if closest.empty:
        closest = closest_train_photos(photos, vectors, result.nearest_from)
    result.pairs = closest[closest["exact"] >= min_cosine].drop(columns="exact").reset_index(drop=True)
    if len(closest):  # as the pairs show it, but a pair under the cut never reads as at it (0.8999 as 0.899)
        highest = float(closest["exact"].max())
        result.nearest = round(highest, 3) if len(result.pairs) or round(highest, 3) < min_cosine else \
            float(np.floor(highest * 1000) / 1000)
    return result
