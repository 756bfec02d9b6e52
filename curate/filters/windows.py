"""Window match: is one photo a window of the other (a crop of it, or held inside it as a screenshot
holds its photo)? Pixel evidence for pairs the hashes and the embedding link leave apart, over a whole
collection: which pairs are matched, each image read once, and what their scores link. The scores
themselves (`window_score`, `overlap_score`, the grey views) are curate.filters.pixel_scores.

Only candidate pairs are matched: pairs whose embeddings have at least the window cosine, that no
other link joined, and whose 16x12 thumbnails agree once one is placed as a window of the other
(`aligned_difference`, a pre-gate that decodes nothing), at most `max_pairs` of them, closest first
(`window_links`). An image is decoded once (its grey view is kept while pairs need it). The scores are kept
between filter runs by the two images' sha256 (curate.filters.pair_scores): a pair scored before is decided
again from its scores, at whatever thresholds, without decoding.
Thresholds and their evidence: docs/benchmarks.md ("Window match").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from curate.filters.pixel_scores import LOWEST_SHARE, VIEW_SIDE, grey_view, overlap_score, window_score
from curate.progress import progress_bar, working

if TYPE_CHECKING:
    from curate.filters.pair_scores import PairScores

# The thumbnail pre-gate (`aligned_difference`): a candidate is matched on its pixels only when one 16x12
# thumbnail agrees with a window of the other within PRE_GATE (mean absolute luma difference, 0-255).
PRE_SHARES = np.round(np.arange(LOWEST_SHARE, 1.0 + 1e-9, 0.05), 2)  # window side / thumbnail side, per axis
PRE_OFFSETS = (0.0, 0.5, 1.0)  # the window's place along the slack: an edge, the middle, the other edge
PRE_GATE = 14.0

GreyReader = Callable[[int], "np.ndarray | None"]  # image position -> grey view (None: unreadable)


def stored_grey_view(location) -> np.ndarray | None:
    """The grey view of a stored image (a local path or an object-store URL, `curate.objectstore.locate`),
    decoded at a reduced scale where the format allows; None when it cannot be read (the filter's note
    counts those). What both engines' readers give the window match."""
    from curate.store import open_rgb

    try:
        return grey_view(open_rgb(location, min_side=VIEW_SIDE))
    except Exception:  # an unreadable file is not matched
        return None


@lru_cache(maxsize=4)
def _axis_windows(pixels: int) -> np.ndarray:
    """(windows, pixels, pixels) bilinear resampling matrices: row i of window k samples the axis at pixel
    i of a window of PRE_SHARES x pixels placed at PRE_OFFSETS of the slack (each distinct window once)."""
    windows = sorted({(float(share), round(float(offset) * (1 - float(share)), 6))
                      for share in PRE_SHARES for offset in PRE_OFFSETS})
    out = np.zeros((len(windows), pixels, pixels), dtype=np.float32)
    for k, (share, start) in enumerate(windows):
        position = np.clip((start + share * (np.arange(pixels) + 0.5) / pixels) * pixels - 0.5, 0, pixels - 1)
        low = np.minimum(position.astype(int), pixels - 2)
        weight = position - low
        out[k, np.arange(pixels), low] = 1 - weight
        out[k, np.arange(pixels), low + 1] += weight
    return out


def aligned_difference(first: np.ndarray, second: np.ndarray, batch: int = 128) -> np.ndarray:
    """Mean absolute luma difference (0-255) of paired 16x12 RGB thumbnail rows (verify.THUMB_BYTES each)
    once one is placed as a window of the other: every window of PRE_SHARES of each side at PRE_OFFSETS,
    resampled bilinearly, both ways round; the smallest. Cheap (no decode): the pre-gate of `window_links`.

    >>> rng = np.random.default_rng(0)
    >>> photo = rng.integers(0, 256, (1, 12, 16, 3)).astype(np.uint8)
    >>> other = rng.integers(0, 256, photo.shape).astype(np.uint8)
    >>> flat = lambda t: t.reshape(1, -1)
    >>> same, apart = (float(aligned_difference(flat(photo), flat(t))[0]) for t in (photo, other))
    >>> round(same), apart > 30
    (0, True)
    """
    from curate.filters import verify

    height, width = verify.THUMB_HEIGHT, verify.THUMB_WIDTH
    rows, cols = _axis_windows(height), _axis_windows(width)
    luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    out = np.full(len(first), np.inf, dtype=np.float64)
    for start in range(0, len(first), batch):
        part = slice(start, start + batch)
        a = first[part].reshape(-1, height, width, 3).astype(np.float32) @ luma
        b = second[part].reshape(-1, height, width, 3).astype(np.float32) @ luma
        for inner, outer in ((a, b), (b, a)):
            n = len(outer)  # two large matrix products: every vertical window, then every horizontal one of it
            tall = (rows.reshape(-1, height) @ outer.transpose(1, 0, 2).reshape(height, -1))
            tall = tall.reshape(len(rows), height, n, width).transpose(2, 0, 1, 3).reshape(-1, width)
            windows = (tall @ cols.reshape(-1, width).T).reshape(n, len(rows), height, len(cols), width)
            difference = np.abs(windows - inner[:, None, :, None, :]).mean(axis=(2, 4))
            out[part] = np.minimum(out[part], difference.reshape(n, -1).min(axis=1))
    return out


@dataclass(frozen=True)
class WindowResult:
    """The window links (index pairs); how many window candidate pairs there were and how many were matched
    (at most the limit); how many images were unreadable; how many links the overlap match made (the rest:
    one photo a window of the other); how many overlap-only candidates there were and were matched."""

    first: np.ndarray
    second: np.ndarray
    candidates: int
    matched: int
    unreadable: int
    overlaps: int = 0
    overlap_candidates: int = 0
    overlap_matched: int = 0


PARALLEL_MIN_PAIRS = 256  # fewer pairs are matched in this process (a worker process takes ~0.5 s to start)
_CHUNK = 32  # pairs sent to a worker process at a time
_WINDOW, _OVERLAP = 1, 2  # what linked a pair (`_verdicts`)

ImageKeys = Callable[[np.ndarray], "Sequence[str | None]"]  # image positions -> their sha256 (None: none)


def window_links(vectors: np.ndarray, labels: np.ndarray, read: GreyReader, *, cosine: float, min_score: float,
                 max_pairs: int, thumbs: np.ndarray | None = None, has_thumb: np.ndarray | None = None,
                 workers: int = 1, overlap_cosine: float | None = None, overlap_min: float | None = None,
                 overlap_pairs: int | None = None, scores: PairScores | None = None,
                 keys: ImageKeys | None = None) -> WindowResult:
    """Pairs of images in different clusters (`labels`) whose pixels show one picture: either their
    embeddings have at least `cosine`, their 16x12 thumbnails pass the pre-gate (`aligned_difference` <=
    PRE_GATE; pairs lacking one skip it) and one is a window of the other (`window_score` >= min_score); or
    (with `overlap_min`) their embeddings have at least `overlap_cosine` and they overlap as two crops of one
    picture (`overlap_score` >= overlap_min; no pre-gate: a thumbnail cannot show a partial overlap). The
    closest `max_pairs` window candidates (by cosine; those at `overlap_cosine` are also overlap-matched when
    not a window) and the closest `overlap_pairs` of the others (overlap only, about 4x the cost a pair;
    None: all of them) are matched. `read(position)` gives an image's grey view or None; each image is read
    once, in this process, and kept only until its last pair. With `workers` > 1 and at
    least PARALLEL_MIN_PAIRS pairs, the scores are computed by that many worker processes (the work holds the
    GIL, so threads would not help); the result is the same.

    `scores` (with `keys`, image positions -> sha256): the pair scores of earlier runs
    (curate.filters.pair_scores). A pair whose scores the verdict needs are there is decided from them, its
    images not read; the others are scored as above and their scores added to `scores`. The links are the
    same with or without it."""
    from curate.filters import embed_neighbours

    overlapping = overlap_min is not None and overlap_cosine is not None
    lowest = min(cosine, overlap_cosine) if overlapping else cosine
    search = ("every pair compared: the time grows with the square of the images"
              if len(vectors) <= embed_neighbours.EXACT_LIMIT else "an approximate index")
    with working(f"near-duplicate candidates for the pixel match among {len(vectors):,} images (embedding cosine "
                 f">= {lowest:g}; {search})"):
        first, second, cosines = embed_neighbours.cosine_pairs(vectors, lowest)
        apart = labels[first] != labels[second]
        window = apart & (cosines >= cosine)
        if thumbs is not None and window.any():
            real = np.ones(len(labels), bool) if has_thumb is None else has_thumb
            both = window & real[first] & real[second]
            gated = np.flatnonzero(both)
            for start in range(0, len(gated), 65536):  # thumbs may be memory-mapped: a batch in memory at a time
                part = gated[start:start + 65536]
                window[part] = aligned_difference(thumbs[first[part]], thumbs[second[part]]) <= PRE_GATE
    overlap = apart & (cosines >= overlap_cosine) if overlapping else np.zeros(len(first), bool)
    only = overlap & ~window
    closest = [np.flatnonzero(mask)[np.argsort(-cosines[mask], kind="stable")][:limit]
               for mask, limit in ((window, max_pairs), (only, overlap_pairs))]
    counts = int(window.sum()), int(only.sum())
    order = np.concatenate(closest)
    order = order[np.argsort(-cosines[order], kind="stable")]  # closest first, as the images are read
    first, second, window, overlap = first[order], second[order], window[order], overlap[order]
    tests = (min_score, overlap_min if overlapping else None)
    known = np.full((len(first), 2), np.nan)  # (window, overlap) scores of earlier runs
    pair_keys = _pair_keys(first, second, keys) if scores is not None and keys is not None else None
    if pair_keys is not None:
        for k, key in enumerate(pair_keys):
            cached = None if key is None else scores.get(key)
            if cached is not None:
                known[k] = cached
    found = _verdicts(known[:, 0], known[:, 1], window, overlap, tests)
    todo = np.flatnonzero(~_decided(known[:, 0], known[:, 1], window, overlap, tests))
    found[todo] = 0  # decided below, on their pixels (a pair with an unreadable image: not linked)
    unreadable: set[int] = set()
    chunks = _view_chunks(first[todo].tolist(), second[todo].tolist(), read, unreadable)
    jobs = ((todo[pairs], [(a, b, bool(window[k]), bool(overlap[k]), float(known[k, 0]))
                           for k, (a, b) in zip(todo[pairs].tolist(), views)]) for pairs, views in chunks)
    if workers > 1 and len(todo) >= PARALLEL_MIN_PAIRS:
        scored = _scores_in_processes(jobs, workers, tests)
    else:
        scored = ((pairs, _scores(views, tests)) for pairs, views in jobs)
    with progress_bar("near-duplicate pairs matched on their pixels", len(first)) as advance:
        advance(len(first) - len(todo))  # decided from the scores of earlier runs
        for start, (pairs, raw) in zip(range(0, len(todo), _CHUNK), scored):  # a chunk each _CHUNK pairs
            if len(pairs):
                got = np.array(raw, dtype=np.float64).reshape(-1, 2)
                found[pairs] = _verdicts(got[:, 0], got[:, 1], window[pairs], overlap[pairs], tests)
                if pair_keys is not None:
                    for k, (w, o) in zip(pairs.tolist(), raw):
                        if pair_keys[k] is not None:
                            scores.put(pair_keys[k], w, o)
            advance(min(_CHUNK, len(todo) - start))
    linked = found > 0
    return WindowResult(first[linked], second[linked], counts[0], len(closest[0]), len(unreadable),
                        int((found == _OVERLAP).sum()), counts[1], len(closest[1]))


def _pair_keys(first: np.ndarray, second: np.ndarray, keys: ImageKeys) -> list[tuple[str, str] | None]:
    """(sha256, sha256) of each pair, in its order (None where an image has none)."""
    if not len(first):
        return []
    positions = np.unique(np.concatenate([first, second]))
    sha = dict(zip(positions.tolist(), keys(positions)))
    return [(sha[a], sha[b]) if sha[a] is not None and sha[b] is not None else None
            for a, b in zip(first.tolist(), second.tolist())]


def _verdicts(window_scores: np.ndarray, overlap_scores: np.ndarray, window: np.ndarray, overlap: np.ndarray,
              tests: tuple[float, float | None]) -> np.ndarray:
    """What links each pair, from its scores (NaN: not computed) and what it is a candidate for: _WINDOW when
    one is a window of the other (a window candidate, window score >= tests[0]), else _OVERLAP when they overlap
    as two crops of one picture (an overlap candidate, overlap score >= tests[1]), else 0."""
    min_score, overlap_min = tests
    out = np.zeros(len(window), np.int8)
    by_window = window & (window_scores >= min_score)
    out[by_window] = _WINDOW
    if overlap_min is not None:
        out[~by_window & overlap & (overlap_scores >= overlap_min)] = _OVERLAP
    return out


def _decided(window_scores: np.ndarray, overlap_scores: np.ndarray, window: np.ndarray, overlap: np.ndarray,
             tests: tuple[float, float | None]) -> np.ndarray:
    """Which pairs have every score `_verdicts` needs (those `_scores` would compute)."""
    min_score, overlap_min = tests
    needs_window = window & np.isnan(window_scores)
    by_window = window & (window_scores >= min_score)
    needs_overlap = (overlap & ~by_window & np.isnan(overlap_scores) if overlap_min is not None
                     else np.zeros(len(window), bool))
    return ~needs_window & ~needs_overlap


def _view_chunks(first: list[int], second: list[int], read: GreyReader, unreadable: set[int]):
    """(pair numbers, their view pairs) _CHUNK pairs at a time, for the pairs whose images both read: each
    image read once and let go after its last pair (bounded memory); unreadable positions are added to
    `unreadable`."""
    last_use = {}
    for k, (a, b) in enumerate(zip(first, second)):
        last_use[a] = last_use[b] = k
    views: dict[int, np.ndarray | None] = {}
    for start in range(0, len(first), _CHUNK):
        pairs, pair_views = [], []
        for k in range(start, min(start + _CHUNK, len(first))):
            a, b = first[k], second[k]
            for i in (a, b):
                if i not in views:
                    views[i] = read(i)
                    if views[i] is None:
                        unreadable.add(i)
            if views[a] is not None and views[b] is not None:
                pairs.append(k)
                pair_views.append((views[a], views[b]))
            for i in (a, b):
                if last_use[i] == k:
                    del views[i]
        yield pairs, pair_views


def _scores(jobs: list[tuple[np.ndarray, np.ndarray, bool, bool, float]],
            tests: tuple[float, float | None]) -> list[tuple[float, float]]:
    """The raw scores of each (view, view, window candidate, overlap candidate, window score of an earlier run
    or NaN): (window score, overlap score), NaN where not computed. The window score of a window candidate
    (unless known); the overlap score of an overlap candidate (with tests[1] set) that is not linked as a window
    (window score < tests[0]): what `_verdicts` needs, no more."""
    min_score, overlap_min = tests
    out = []
    for a, b, window, overlap, known in jobs:
        score = known if not np.isnan(known) else window_score(a, b) if window else np.nan
        if overlap and overlap_min is not None and not (window and score >= min_score):
            out.append((score, overlap_score(a, b)))
        else:
            out.append((score, np.nan))
    return out


def _scores_in_processes(chunks, workers: int, tests: tuple[float, float | None]):
    """(pair numbers, `_scores`) of each chunk, in order, scored by `workers` processes (forkserver where the
    platform has it: no copy of this process's threads or locks), at most two chunks a worker in flight."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        flight: deque = deque()
        for pairs, views in chunks:
            flight.append((pairs, pool.submit(_scores, views, tests)))
            if len(flight) >= 2 * workers:
                done_pairs, future = flight.popleft()
                yield done_pairs, future.result()
        while flight:
            done_pairs, future = flight.popleft()
            yield done_pairs, future.result()
