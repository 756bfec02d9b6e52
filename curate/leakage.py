"""Leakage checks: is any photographer, near-duplicate cluster or image on two sides?

`find_leakage(catalog)` is cheap (a few group-bys over the split photos) so that
`classify train` can call it every time, and `assert_no_leakage(catalog)` lets users put
the same check in their own test suites::

    from curate.leakage import assert_no_leakage
    def test_my_split_is_clean():
        assert_no_leakage(read_catalog(resolve_workspace("workspace")))
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from curate import schema
from curate.catalog_batches import CatalogFile
from curate.groups import blank_as_missing

LEAK_KINDS = {"owner": "owner_id", "near_dup_cluster": "near_dup_cluster", "exact_hash": "sha256"}
COLUMNS = ["kind", "key", "splits", "photos", "photos_per_split"]
# Why a photo touches a held-out set of photos (the clean test set of `classify evaluate --uncurated`, the test or
# val split beside `curate export --labels all`'s unsplit photos), first reason wins: it is one of them, it shares
# a photographer with one, it is a copy of one (its bytes, exact-duplicate group or near-duplicate cluster)
CLEAN_TEST_REASONS = ("in_clean_test", "clean_test_owner", "clean_test_duplicate")
TOUCH_COLUMNS = {"in_clean_test": (schema.PHOTO_ID,), "clean_test_owner": ("owner_id",),
                 "clean_test_duplicate": ("sha256", "exact_dup_group", "near_dup_cluster")}


def _kinds(by: str | None) -> dict[str, str]:
    kinds = dict(LEAK_KINDS)
    if by and by not in ("owner", "none"):
        kinds[by] = by
    return kinds


def _split_rows(catalog: pd.DataFrame) -> pd.DataFrame:
    return catalog[(catalog["status"] == schema.KEPT) & catalog["split"].notna()]


def find_leakage(catalog: pd.DataFrame | CatalogFile, by: str | None = None) -> pd.DataFrame:
    """One row per owner / near-dup cluster / exact hash (and `by` value) found in 2+ splits.

    Columns: kind, key, splits ("test,train"), photos, photos_per_split ({"train": 3, ...}).
    Only kept photos with a split are looked at. `catalog` may be a CatalogFile: it is then
    read in batches (`find_leakage_in_batches`), with the same result.
    """
    if isinstance(catalog, CatalogFile):
        return find_leakage_in_batches(catalog, by)
    split = _split_rows(catalog)
    kinds = _kinds(by)
    found = []
    for kind, column in kinds.items():
        pairs = pd.DataFrame({column: _keys(split, kind, column), "split": split["split"]}).dropna()
        spread = pairs.groupby(column)["split"].nunique()
        leaky = spread[spread > 1].index
        if len(leaky) == 0:
            continue
        counts = pairs[pairs[column].isin(leaky)].groupby([column, "split"]).size()
        for key, per_split in counts.groupby(level=0):
            per_split = per_split.droplevel(0).to_dict()
            found.append({"kind": kind, "key": str(key), "splits": ",".join(sorted(per_split)),
                          "photos": int(sum(per_split.values())), "photos_per_split": per_split})
    return pd.DataFrame(found, columns=COLUMNS)


def find_leakage_in_batches(catalog: CatalogFile, by: str | None = None) -> pd.DataFrame:
    """`find_leakage` over a catalog read in batches, holding ~16 bytes a photo per kind.

    First pass: each key and split is hashed to 64 bits; a key hash seen with two split hashes is
    a candidate. Second pass: the rows of candidate keys (a hash collision only adds rows) are
    collected and `find_leakage` judges them exactly. The rows of a key that does not leak hold
    one split whichever of them are collected, so the result equals `find_leakage`'s.
    """
    kinds = _kinds(by)
    needs = ["status", "split", *dict.fromkeys(kinds.values())]
    pairs: dict[str, list[np.ndarray]] = {kind: [] for kind in kinds}
    for batch in catalog.batches(needs):
        rows = _split_rows(batch)
        for kind, column in kinds.items():
            pairs[kind].append(_key_split_hashes(_keys(rows, kind, column), rows["split"]))
    candidates = {kind: _spread_keys(np.concatenate(parts, axis=1)) for kind, parts in pairs.items()}
    del pairs
    if not any(len(keys) for keys in candidates.values()):
        return pd.DataFrame([], columns=COLUMNS)
    chosen = []
    for batch in catalog.batches(needs):
        rows = _split_rows(batch)
        hit = np.zeros(len(rows), dtype=bool)
        for kind, column in kinds.items():
            keys = _keys(rows, kind, column)
            hit |= keys.notna().to_numpy() & np.isin(_text_hashes(keys), candidates[kind])
        chosen.append(rows[hit])
    return find_leakage(pd.concat(chosen, ignore_index=True), by)


def _keys(rows: pd.DataFrame, kind: str, column: str) -> pd.Series:
    """The column a kind of leak is keyed on; a --by column's blank text as no value."""
    return rows[column] if kind in LEAK_KINDS else blank_as_missing(rows[column])


def _key_split_hashes(keys: pd.Series, splits: pd.Series) -> np.ndarray:
    """2 x n uint64: hashes of the (key, split) pairs where the key is set."""
    present = keys.notna().to_numpy()
    return np.vstack([_text_hashes(keys[present]), _text_hashes(splits[present])]).astype(np.uint64)


def _text_hashes(values: pd.Series) -> np.ndarray:
    """A uint64 per value, of its text (equal values, equal hashes)."""
    return pd.util.hash_pandas_object(values.astype(object).astype(str), index=False).to_numpy()


def _spread_keys(pairs: np.ndarray) -> np.ndarray:
    """Key hashes that occur with two or more split hashes."""
    distinct = np.unique(pairs, axis=1)
    keys, counts = np.unique(distinct[0], return_counts=True)
    return keys[counts > 1]


class HeldOutKeys:
    """The values of `TOUCH_COLUMNS`' columns among a set of held-out photos, kept as the sorted 64-bit hashes of
    their text (8 bytes a value, so that a catalog read in batches can add each batch's held-out rows, `add`).
    Two different values with one hash would make a photo touch the set when it does not: a photo too many left
    out, never a leak (and at odds of about one in 10^9 for 10^5 values).

    >>> held_out = HeldOutKeys.of(pd.DataFrame({"owner_id": ["ann"], "sha256": ["s1"]}))
    >>> held_out.shares(pd.DataFrame({"owner_id": ["bob", "ann", None]}), "owner_id").tolist()
    [False, True, False]
    """

    def __init__(self):
        self._parts: dict[str, list[np.ndarray]] = {column: [] for names in TOUCH_COLUMNS.values() for column in names}
        self._hashes: dict[str, np.ndarray] = {}

    @classmethod
    def of(cls, photos: pd.DataFrame) -> HeldOutKeys:
        """The keys of `photos` (a column it lacks holds none)."""
        keys = cls()
        keys.add(photos)
        return keys

    def add(self, photos: pd.DataFrame) -> None:
        """Add the keys of `photos`."""
        for column, parts in self._parts.items():
            if column in photos.columns:
                values = photos[column].dropna()
                if len(values):
                    parts.append(np.unique(_text_hashes(values)))
                    self._hashes.pop(column, None)

    def hashes(self, column: str) -> np.ndarray:
        """The sorted distinct hashes of `column`'s values."""
        if column not in self._hashes:
            parts = self._parts[column]
            self._parts[column] = [np.unique(np.concatenate(parts))] if parts else []
            self._hashes[column] = self._parts[column][0] if parts else np.zeros(0, np.uint64)
        return self._hashes[column]

    def shares(self, rows: pd.DataFrame, column: str) -> np.ndarray:
        """Whether each row's `column` holds a value of the held-out photos (False where it is null)."""
        found = np.zeros(len(rows), dtype=bool)
        known = self.hashes(column)
        if column not in rows.columns or not len(known):
            return found
        present = rows[column].notna().to_numpy(dtype=bool)
        if present.any():
            hashes = _text_hashes(rows[column][present])
            at = np.minimum(np.searchsorted(known, hashes), len(known) - 1)
            found[present] = known[at] == hashes
        return found


def touching_reasons(rows: pd.DataFrame, held_out: HeldOutKeys) -> pd.Series:
    """Why each row touches the held-out photos whose keys `held_out` holds (CLEAN_TEST_REASONS, first wins:
    the photo itself, its photographer, a copy by bytes, exact-duplicate group or near-duplicate cluster),
    else None. The rule `curate split` keeps together (owner, near-duplicate cluster, exact image), so that
    what trains beside a split never sees its held-out photos (classify.compare, curate.export).

    >>> held_out = HeldOutKeys.of(pd.DataFrame({"photo_id": ["t1"], "owner_id": ["ann"], "sha256": ["s1"],
    ...                                         "near_dup_cluster": ["t1"]}))
    >>> rows = pd.DataFrame({"photo_id": ["t1", "a", "b", "c"], "owner_id": ["ann", "ann", "bob", "bob"],
    ...                      "sha256": ["s1", "s2", "s1", "s3"], "near_dup_cluster": [None, None, None, "t1"]})
    >>> touching_reasons(rows, held_out).tolist()
    ['in_clean_test', 'clean_test_owner', 'clean_test_duplicate', 'clean_test_duplicate']
    """
    conditions = [np.logical_or.reduce([held_out.shares(rows, column) for column in columns])
                  for columns in TOUCH_COLUMNS.values()]
    reason = np.select(conditions, list(CLEAN_TEST_REASONS), default=None) if len(rows) else np.zeros(0, object)
    return pd.Series(reason, index=rows.index, dtype=object)


def clean_test_reasons(catalog: pd.DataFrame, clean_test: pd.DataFrame) -> pd.Series:
    """Why each row of `catalog` touches the photos of `clean_test` (`touching_reasons`), else None.

    A row touches them when it IS one of them, shares an owner with one, or shares its bytes
    (sha256 / exact_dup_group) or near-duplicate cluster.
    """
    return touching_reasons(catalog, HeldOutKeys.of(clean_test))


def workspace_leakage(ws, by: str | None = None, engine: str | None = None) -> pd.DataFrame:
    """The I/O edge of `curate check-leakage`: refuse a stale split (curate.freshness_workspace), then
    `find_leakage` over the workspace's catalog. `engine`: "pandas", "duckdb" (out of core,
    the same rows: curate.outofcore) or "auto" (DuckDB above curate.outofcore.AUTO_ROWS rows);
    None: $CURATE_CATALOG_ENGINE, else auto."""
    from curate.freshness_workspace import require_fresh_split
    from curate.outofcore import choose_engine
    from curate.workspace import read_catalog

    if choose_engine(engine, ws.catalog_path if ws.catalog_path.exists() else None) == "duckdb":
        from curate.outofcore.db import BATCH_ROWS
        from curate.outofcore.run import leakage_duckdb

        require_fresh_split(ws, CatalogFile(ws.catalog_path, BATCH_ROWS))
        return leakage_duckdb(ws, by)
    catalog = read_catalog(ws)
    require_fresh_split(ws, catalog)
    return find_leakage(catalog, by)


def empty_column_note(ws, by: str | None) -> str | None:
    """For `check-leakage --by COLUMN`: a note when the column is empty for most kept photos, whose
    check then checks little (audit P: `--by owner_name`, empty for every photo, read as no leakage)."""
    if by in (None, "owner", "none") or not ws.catalog_path.exists():
        return None
    empty = kept = 0
    for batch in CatalogFile(ws.catalog_path).batches([by, "status"]):
        mask = batch["status"] == schema.KEPT
        kept += int(mask.sum())
        empty += int(blank_as_missing(batch.loc[mask, by]).isna().sum())
    if not kept or empty * 2 <= kept:
        return None
    return f"--by {by} is empty for {empty:,} of {kept:,} kept photos: the check of that column covers the rest only"


def assert_no_leakage(catalog: pd.DataFrame, by: str | None = None) -> None:
    """Raise AssertionError listing the leaks, if any (pytest-friendly)."""
    leaks = find_leakage(catalog, by)
    if len(leaks):
        summary = leaks.groupby("kind").size().to_dict()
        examples = "; ".join(f"{r.kind} {r.key} in {r.splits}" for r in leaks.head(5).itertuples())
        raise AssertionError(f"split leaks across train/val/test: {summary} (e.g. {examples})")
