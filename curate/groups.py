"""Connected components over several grouping keys (union-find by sparse graph).

Two rows belong together when they share a non-null value of ANY key; chains join
(A~B by owner, B~C by duplicate cluster puts A, B, C in one component). Used by the
split stage (owner ∪ near-duplicate cluster ∪ exact group) and by scoring. Also what makes one
photographer's sequence (a walk, a burst), shared by the split and the near-duplicate calibration.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# One photographer's sequence: photos taken within SESSION_GAP_S seconds of each other (by one owner; or,
# without owners, also within SESSION_KM km: a walk). The split groups owner-less walks (an audit's 29 real
# Lund frames, no owner, split 22/2/5 while check-leakage said no leakage); the near-duplicate calibration
# sets sequences aside (curate.filters.calibration.one_sequence). Both engines.
SESSION_GAP_S = 600
SESSION_KM = 1.0
KM_PER_DEGREE = 111.195  # the mean Earth radius's km per degree of arc


def walk_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Distance in km between nearby points, on a local flat map (good to a fraction of a percent
    within a few km; SQL writes the same formula: `outofcore.split`)."""
    dx = (lon2 - lon1) * np.cos(np.radians((lat1 + lat2) / 2)) * KM_PER_DEGREE
    return np.sqrt(dx * dx + ((lat2 - lat1) * KM_PER_DEGREE) ** 2)


BLANK = r"^[\t\n\f\r ]*$"  # a text of nothing but spaces: no value (the DuckDB engine matches the same pattern)


def blank_as_missing(values: pd.Series) -> pd.Series:
    """A `--by` column's values with blank text as missing: a title left empty on most photos is no group
    and no leak (audit S: one group of 160 photos, split 160/0/0, and no note that the column is empty).

    >>> blank_as_missing(pd.Series(["a", "", " ", None, "b "])).tolist()
    ['a', None, None, None, 'b ']
    """
    values = values.astype(object)
    blank = values.map(lambda value: isinstance(value, str) and re.match(BLANK, value) is not None).astype(bool)
    return values.where(values.notna() & ~blank, None)


def components(*keys: pd.Series) -> np.ndarray:
    """Component id per row (0..k-1, numbered by first appearance); rows with no key are alone.

    >>> components(pd.Series(["a", "a", None, "b"]), pd.Series([None, 1, 1, None])).tolist()
    [0, 0, 0, 1]
    """
    n = len(keys[0]) if keys else 0
    rows, cols = [np.arange(n)], [np.arange(n)]
    for key in keys:
        codes, _ = pd.factorize(pd.Series(key).reset_index(drop=True), use_na_sentinel=True)
        has = codes >= 0
        positions = np.flatnonzero(has)
        # connect each row to the first row holding the same key value
        first_of_code = pd.Series(positions).groupby(codes[has]).transform("first").to_numpy()
        rows.append(positions)
        cols.append(first_of_code)
    return components_from_pairs(n, np.concatenate(rows), np.concatenate(cols))


def components_from_pairs(n: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Component id (0..k-1, by first appearance) of n nodes linked by index pairs.

    >>> components_from_pairs(4, np.array([2]), np.array([3])).tolist()
    [0, 1, 2, 2]
    """
    graph = coo_matrix((np.ones(len(first), dtype=np.int8), (np.asarray(first), np.asarray(second))), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    _, first_seen = np.unique(labels, return_index=True)
    renumber = np.empty(len(first_seen), dtype=np.int64)
    renumber[np.argsort(np.argsort(first_seen))] = np.arange(len(first_seen))
    return renumber[labels]
