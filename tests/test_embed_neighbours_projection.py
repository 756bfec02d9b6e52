"""The candidate projection of the embedding search (curate.filters.embed_neighbours.project): the same distances
as a PCA by the d x d covariance whatever the sample's shape, and never a longer difference than the full vectors'."""

import numpy as np
import pytest


def covariance_projection(vectors, dims):
    """The reference: unit rows, centred, on the top `dims` eigenvectors of the d x d covariance (all rows fitted)."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    centred = unit - unit.mean(axis=0)
    _, axes = np.linalg.eigh(np.cov(centred, rowvar=False))
    return centred @ axes[:, ::-1][:, :min(dims, vectors.shape[1])]


def squared_distances(points):
    points = np.asarray(points, dtype=np.float64)
    gram = points @ points.T
    return np.diagonal(gram)[:, None] + np.diagonal(gram)[None, :] - 2 * gram


def clustered(rng, n, d):
    """Embedding-like rows: non-negative, around 20 centres, with a decaying spectrum."""
    centres = rng.normal(size=(20, d)) * np.linspace(2, 0.2, d)
    return np.abs(centres[rng.integers(0, 20, n)] + 0.5 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.mark.parametrize(("n", "d", "dims"), [(40, 300, 128), (150, 400, 32), (120, 64, 16), (500, 96, 96)])
def test_projection_keeps_the_covariance_pca_distances(n, d, dims):
    """n < d (the Gram route) and n >= d (the covariance route): the same pairwise distances; a sample of m rows
    spans m - 1 directions, so with m - 1 < dims the projection has m - 1 columns (the search does that much less
    work) and still every centred distance."""
    from curate.filters.embed_neighbours import project, row_norms

    vectors = clustered(np.random.default_rng(n), n, d)
    projected = project(vectors, row_norms(vectors), np.arange(n), dims)
    assert projected.shape == (n, min(dims, d, n - 1))
    reference = squared_distances(covariance_projection(vectors.astype(np.float64), dims))
    np.testing.assert_allclose(squared_distances(projected), reference, atol=2e-5)


def test_projection_of_rows_outside_the_sample_never_lengthens_a_difference():
    """Fitted on 60 of 400 rows (60 < d): the axes are orthonormal, so no projected distance exceeds the unit
    vectors' (the bound the exact search relies on), and the fitted rows' top directions are kept."""
    from curate.filters.embed_neighbours import project, row_norms

    rng = np.random.default_rng(5)
    vectors = clustered(rng, 400, 256)
    norms = row_norms(vectors)
    projected = project(vectors, norms, np.arange(400), 32, sample=60)
    unit = vectors / norms[:, None]
    assert projected.shape == (400, 32)
    assert (squared_distances(projected) <= squared_distances(unit) + 1e-5).all()


def test_identical_rows_still_pair():
    from curate.filters.embed_neighbours import cosine_pairs

    vectors = np.tile(np.arange(1, 301, dtype=np.float32), (5, 1))  # a sample with no direction but rounding
    first, second, _ = cosine_pairs(vectors, 0.99)
    assert len(first) == 10


@pytest.mark.parametrize("dims", [8, 128])
def test_cosine_pairs_with_fewer_vectors_than_dimensions_equal_brute_force(dims):
    from curate.filters.embed_neighbours import cosine_pairs

    rng = np.random.default_rng(dims)
    vectors = clustered(rng, 240, 640)
    vectors[120:] = vectors[:120] + rng.uniform(0.1, 1.2, (120, 1)) * rng.normal(size=(120, 640))  # around 0.9
    vectors[3] = 0  # an image that failed: pairs with nothing
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-30)
    cosine = unit.astype(np.float64) @ unit.T.astype(np.float64)
    first, second, found = cosine_pairs(vectors, 0.9, dims=dims)
    expected = {(i, j) for i in range(240) for j in range(i + 1, 240) if i != 3 and j != 3 and cosine[i, j] >= 0.9}
    assert 50 < len(expected) < 5000
    assert set(zip(first.tolist(), second.tolist())) == expected
    assert (found >= 0.9).all()


@pytest.mark.parametrize("count", [2, 5, 7])
def test_the_inverted_file_search_of_a_few_vectors_finds_the_exact_pairs(count):
    """IVF (above exact_limit) over fewer than 8 vectors had no cell (n // 8 = 0: ZeroDivisionError in kmeans);
    one cell holds them all, so the pairs are the exhaustive search's."""
    from curate.filters.embed_neighbours import cosine_pairs

    rng = np.random.default_rng(count)
    vectors = np.repeat(rng.normal(size=(1, 64)), count, axis=0) + 0.05 * rng.normal(size=(count, 64))
    vectors[-1] = rng.normal(size=64)  # one vector apart from the others
    exact = cosine_pairs(vectors, 0.9)
    approximate = cosine_pairs(vectors, 0.9, exact_limit=1)
    assert len(exact[0]) == (count - 1) * (count - 2) // 2
    assert [part.tolist() for part in approximate] == [part.tolist() for part in exact]
