"""Pairs of images whose backbone embeddings are close: cosine similarity >= a threshold.

Without comparing every full vector with every other:

1. Project the unit vectors onto their top `dims` principal axes (fitted on a sample).
   An orthogonal projection never lengthens a difference, so for unit vectors a and b
   ``|P a - P b|^2 <= |a - b|^2 = 2 - 2 cos(a, b)``: every pair with cosine >= c has
   projected squared distance <= 2 - 2c. Filtering on that bound loses no pair; the few
   candidates it lets through are checked with the exact cosine of the full vectors.
2. Up to `exact_limit` vectors, the projected search is exhaustive (blocked matrix
   products, memory bounded): exact results, n^2 * dims work (20,000 vectors: ~1 s).
3. Beyond that, an inverted-file index (IVF, as in faiss): sqrt(n) k-means cells on the
   projected vectors; each vector lives in its nearest cell and looks into its `probes`
   nearest cells. Close pairs nearly always share a cell, so recall is high but not guaranteed;
   `bench/neardup.py ann` measures it against the exact search.

Pure NumPy (no index library): the work is a few large matrix products.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix

from curate.errors import UsageError

DEFAULT_DIMS = 128
EXACT_LIMIT = 60_000  # above: IVF (exact projected search would be ~n^2 * 128 flops: 3.6e11 at 60k)
_BLOCK_ELEMENTS = 1 << 23  # projected distances per matrix block (32 MiB of float32)


def normalised(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float32 unit vectors, usable mask): rows of zeros or non-finite values are not usable."""
    norms = row_norms(vectors)
    usable = np.isfinite(norms) & (norms > 0)
    unit = np.zeros(np.shape(vectors), dtype=np.float32)
    unit[usable] = np.asarray(vectors)[usable] / norms[usable, None]
    return unit, usable


def row_norms(vectors: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row (float32), computed in chunks (float16 input stays float16 in memory)."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise UsageError(f"embeddings must be a 2-D array (images x dimensions), got shape {vectors.shape}")
    out = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), 65536):
        chunk = vectors[start:start + 65536].astype(np.float32)
        out[start:start + 65536] = np.sqrt(np.einsum("ij,ij->i", chunk, chunk))
    return out


def cosine_pairs(vectors: np.ndarray, min_cosine: float, *, dims: int = DEFAULT_DIMS, exact_limit: int = EXACT_LIMIT,
                 probes: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs i < j with cosine(vectors[i], vectors[j]) >= min_cosine (see the module docstring).

    Args:
        vectors: (n, d) embeddings, any scale (float16 is read in chunks, never copied whole);
            rows of zeros (images that failed) pair with nothing.
        min_cosine: threshold in (0, 1].
        dims: principal axes used for the candidate search (<= d).
        exact_limit: up to this many usable vectors the result is exact; above, IVF (approximate).
        probes: cells each vector looks into with IVF.
    Returns:
        (first, second, cosine): int64 index pairs sorted by (first, second), float32 cosines.

    Example:
        >>> v = np.array([[1, 0, 0], [0.99, 0.1, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32)
        >>> first, second, cosine = cosine_pairs(v, 0.9)
        >>> first.tolist(), second.tolist(), [round(float(c), 3) for c in cosine]
        ([0], [1], [0.995])
    """
    if isinstance(min_cosine, bool) or not isinstance(min_cosine, (int, float)) or not 0 < min_cosine <= 1:
        raise UsageError(f"the near-duplicate cosine threshold must be in (0, 1], got {min_cosine!r}")
    vectors = np.asarray(vectors)
    norms = row_norms(vectors)
    rows = np.flatnonzero(np.isfinite(norms) & (norms > 0))
    empty = np.empty(0, dtype=np.int64)
    if len(rows) < 2:
        return empty, empty, np.empty(0, dtype=np.float32)
    projected = project(vectors, norms, rows, dims, seed)
    bound = np.float32(2 - 2 * min_cosine + 1e-5)  # + float32 rounding slack: candidates are verified anyway

    def verified(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates (positions in rows) -> those whose full-vector cosine is >= min_cosine."""
        first, second = rows[first], rows[second]
        cosine = np.empty(len(first), dtype=np.float32)
        for start in range(0, len(first), 65536):
            a, b = first[start:start + 65536], second[start:start + 65536]
            dot = np.einsum("ij,ij->i", vectors[a].astype(np.float32), vectors[b].astype(np.float32))
            cosine[start:start + 65536] = dot / (norms[a] * norms[b])
        keep = cosine >= min_cosine
        return first[keep], second[keep], cosine[keep]

    search = _exhaustive_search if len(rows) <= exact_limit else \
        (lambda points, limit, check: _ivf_search(points, limit, check, probes, seed))
    found = search(projected, bound, verified)  # verified block by block: memory holds results, not candidates
    first, second, cosine = (np.concatenate([part[k] for part in found]) for k in range(3))
    codes = first * len(vectors) + second
    codes, unique = np.unique(codes, return_index=True)  # IVF can meet a pair in two cells
    first, second, cosine = first[unique], second[unique], cosine[unique]
    order = np.lexsort((second, first))
    return first[order], second[order], cosine[order]


def project(vectors: np.ndarray, norms: np.ndarray, rows: np.ndarray, dims: int, seed: int = 0,
            sample: int = 20_000) -> np.ndarray:
    """vectors[rows] / norms, centred and projected on their top `dims` principal axes (PCA on a sample).

    Columns: min(dims, d), or fewer when the sample spans fewer directions (a sample of m rows, centred, spans at
    most m - 1: the axes beyond those would carry nothing of the fitted rows). Any orthonormal axes keep the
    search's bound (module docstring), so which of them are taken (a sign, a rotation among equal eigenvalues,
    rounding) can change the candidates but not the exact search's links; IVF's cells (above exact_limit, where
    the sample is 20,000 rows: the covariance route) depend on them."""
    dims = min(dims, vectors.shape[1])
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.permutation(rows)[:sample]) if len(rows) > sample else rows
    fit = vectors[fit_rows].astype(np.float32) / norms[fit_rows, None]
    mean = fit.mean(axis=0)
    axes = _principal_axes(fit - mean, dims)
    out = np.empty((len(rows), axes.shape[1]), dtype=np.float32)
    for start in range(0, len(rows), 65536):
        chunk = rows[start:start + 65536]
        out[start:start + 65536] = (vectors[chunk].astype(np.float32) / norms[chunk, None] - mean) @ axes
    return out


def _principal_axes(centred: np.ndarray, dims: int) -> np.ndarray:
    """(d, <= dims) float32 orthonormal columns: the top principal axes of the centred (m, d) sample, largest first.

    m >= d: eigh of the d x d covariance (m d^2 + d^3 work). m < d: eigh of the m x m Gram matrix (m^2 d + m^3:
    342 rows of 1280-d vectors, ~0.01 s instead of ~0.3 s on an idle machine), whose eigenvectors v give the axes
    centred.T @ v (eigenvalue > 0); a QR step makes them orthonormal to float64 precision, which the bound needs
    (a column longer than 1 would lengthen a difference). The same axes either way, up to sign and rounding."""
    m, d = centred.shape
    if m >= d:
        _, axes = np.linalg.eigh(np.cov(centred, rowvar=False).astype(np.float64))
        return np.ascontiguousarray(axes[:, ::-1][:, :dims], dtype=np.float32)
    centred = centred.astype(np.float64)
    values, vectors = np.linalg.eigh(centred @ centred.T)
    values, vectors = values[::-1], vectors[:, ::-1]
    # directions below float32 resolution are the null space and the centring's rounding: dropped (a dropped axis
    # only lets more candidates through)
    spanned = values > values[0] * np.finfo(np.float32).eps
    if not spanned[0]:  # every sampled row the same: no axis (every pair is a candidate, then verified)
        return np.zeros((d, 0), dtype=np.float32)
    axes = centred.T @ vectors[:, spanned][:, :dims]
    axes, triangle = np.linalg.qr(axes)
    axes *= np.sign(np.diagonal(triangle))  # QR may flip a column: the same axes as centred.T @ v, normalised
    return np.ascontiguousarray(axes, dtype=np.float32)


def _close_in_block(a: np.ndarray, b: np.ndarray, bound: np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (in a, in b) whose squared Euclidean distance is <= bound."""
    squared = a @ b.T
    squared *= -2
    squared += np.einsum("ij,ij->i", a, a)[:, None]
    squared += np.einsum("ij,ij->i", b, b)[None, :]
    return np.nonzero(squared <= bound)


def _exhaustive_search(projected: np.ndarray, bound: np.float32, check) -> list[tuple]:
    n = len(projected)
    step = max(1, _BLOCK_ELEMENTS // n)
    found = [(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))]
    for start in range(0, n, step):
        rows, columns = _close_in_block(projected[start:start + step], projected[start:], bound)
        rows, columns = rows + start, columns + start
        keep = rows < columns  # upper triangle: each pair once, no self pairs
        found.append(check(rows[keep].astype(np.int64), columns[keep].astype(np.int64)))
    return found


def _ivf_search(projected: np.ndarray, bound: np.float32, check, probes: int, seed: int) -> list[tuple]:
    n = len(projected)
    # ~1,000 vectors a cell at 1M: big blocks keep BLAS busy; at least one cell (under 8 vectors: one cell, exhaustive)
    cells = int(min(max(16, np.sqrt(n)), max(1, n // 8)))
    centroids = kmeans(projected, cells, seed=seed)
    nearest = nearest_cells(projected, centroids, min(probes, cells))
    home = nearest[:, 0]
    members = np.argsort(home, kind="stable")
    starts = np.searchsorted(home[members], np.arange(cells + 1))
    looks = np.repeat(np.arange(n), nearest.shape[1])
    cell_of_look = nearest.ravel()
    look_order = np.argsort(cell_of_look, kind="stable")
    look_starts = np.searchsorted(cell_of_look[look_order], np.arange(cells + 1))
    found = [(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))]
    for cell in range(cells):
        inside = members[starts[cell]:starts[cell + 1]]
        queries = looks[look_order[look_starts[cell]:look_starts[cell + 1]]]
        if len(inside) == 0 or len(queries) == 0:
            continue
        rows, columns = _close_in_block(projected[queries], projected[inside], bound)
        a, b = queries[rows].astype(np.int64), inside[columns].astype(np.int64)
        keep = a != b
        found.append(check(np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])))
    return found


def kmeans(points: np.ndarray, k: int, *, iterations: int = 6, sample: int = 65_536, seed: int = 0) -> np.ndarray:
    """k centroids by Lloyd's algorithm on a sample (float32); empty cells are re-seeded."""
    rng = np.random.default_rng(seed)
    fit = points[rng.permutation(len(points))[:sample]] if len(points) > sample else points
    centroids = fit[rng.choice(len(fit), k, replace=False)].copy()
    for _ in range(iterations):
        assigned = nearest_cells(fit, centroids, 1)[:, 0]
        counts = np.bincount(assigned, minlength=k)
        membership = coo_matrix((np.ones(len(fit), np.float32), (assigned, np.arange(len(fit)))), shape=(k, len(fit)))
        sums = membership.tocsr() @ fit
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
        centroids[~filled] = fit[rng.choice(len(fit), int((~filled).sum()), replace=False)]
    return centroids


def nearest_cells(points: np.ndarray, centroids: np.ndarray, count: int) -> np.ndarray:
    """Indices of each point's `count` nearest centroids, nearest first (chunked)."""
    out = np.empty((len(points), count), dtype=np.int64)
    centre_norms = (centroids * centroids).sum(axis=1)
    step = max(1, _BLOCK_ELEMENTS // len(centroids))
    for start in range(0, len(points), step):
        chunk = points[start:start + step]
        distance = centre_norms[None, :] - 2 * (chunk @ centroids.T)  # + |p|^2, the same for every centroid
        if count == 1:
            out[start:start + step, 0] = distance.argmin(axis=1)
            continue
        top = np.argpartition(distance, count - 1, axis=1)[:, :count] if count < len(centroids) else \
            np.tile(np.arange(len(centroids)), (len(chunk), 1))
        order = np.argsort(np.take_along_axis(distance, top, axis=1), axis=1)
        out[start:start + step] = np.take_along_axis(top, order, axis=1)
    return out
