"""Near-duplicate clusters: connected components of "pHash Hamming distance <= max_bits".

Two photos are near duplicates when their 64-bit pHashes differ in at most `max_bits`
bits (inclusive: distance == max_bits counts). Clusters are transitive: if A~B and
B~C then A, B and C share a cluster even when A and C are farther apart.

Finding the pairs without comparing all n^2 of them: multi-index hashing (Norouzi,
Punjani & Fleet, "Fast search in Hamming space with multi-index hashing", CVPR 2012).
Cut the 64 bits into m blocks. If two hashes are within k = max_bits bits, then by the
pigeonhole principle, writing k = m*r + a with 0 <= a < m, one of the first a+1 blocks
differs in at most r bits, or one of the other blocks in at most r-1 bits. So for each
block we bucket the hashes by that block's value (a sort), and pair each bucket with
the buckets whose value differs in at most that block's radius of bits (a table
look-up per bit pattern), then verify each candidate pair with a popcount of the full
64 bits. With m = k+1 every radius is 0: the classic "agree exactly on one of k+1
blocks" scheme. A small cost model picks m for the data size (few wide blocks with a
radius for a million hashes, many exact blocks for a few thousand). Identical hashes
are merged first, so a thousand copies of one photo are one node, not a million pairs.

Candidate pairs of random hashes grow like n^2 / 2^(block bits), which the cost model
keeps near n * (a few hundred) for n up to millions; data where most hashes fall in a
handful of buckets in every block still costs quadratic time (memory stays bounded).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from math import comb, log2

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from curate.errors import UsageError
from curate.filters.phash import (
    HASH_BITS,
    compute_phashes,
    hamming_distance,
    parse_phashes,
    phash_to_uint64,
    popcount64,
    uint64_to_phash,
)

__all__ = ["DEFAULT_NEAR_DUP_BITS", "HASH_BITS", "cluster_near_duplicates", "near_duplicate_pairs", "mirror_pairs",
           "compute_phashes", "hamming_distance", "parse_phashes", "phash_to_uint64", "popcount64",
           "uint64_to_phash"]

DEFAULT_NEAR_DUP_BITS = 8
"""Default `max_bits` for 64-bit pHash: photos whose hashes differ in <= 8 bits are near duplicates.

Evidence (`python bench/neardup.py threshold`, 100 real Flickr photos of one subject,
../shared/realdata/flickr-ferrari): an edited copy stays within 8 bits of its photo for
100% of photos after JPEG quality 30, 4x downscaling or +15% brightness; for 98% after
a 2% crop or a burst-like frame (shift <= 2%, gain, grain, re-encode); for 94% after a
2-degree rotation. A 5% crop (median 10 bits) is no longer a near duplicate. Different
photos are never within 12 bits (4,950 pairs: minimum 14, 0.1% quantile 18). pHash
sets exactly 32 of its 64 bits (each bit says "above the median"), so distances are
even and 9 acts like 8. The next step, 10, would catch the last 2% shifts, but on
random hashes it links 36x more unrelated pairs (P(d <= 10) = 1.0e-8 vs 2.8e-10) and
takes ~5x the time on a million hashes.
"""

_DENSE_TABLE_MAX_BITS = 24  # bucket look-up by a direct table up to 2^24 entries (64 MiB), else binary search
_PAIR_CHUNK = 1 << 21  # candidate pairs verified per NumPy batch: bounds memory (~100 MiB)
_THREADS_MIN_HASHES = 200_000  # measured: 2 threads help at 1e6 hashes, slow down 2e4-1e5
_MAX_PATTERNS = 10_000_000  # bit patterns one plan may enumerate (each is a pass over the hashes)
_DIRECT_RANKS = 4  # bucket members compared rank by rank before falling back to explicit products


@dataclass(frozen=True)
class Block:
    """Bits [shift, shift + width) of the hash, searched within `radius` differing bits."""

    shift: int
    width: int
    radius: int


def cluster_near_duplicates(hashes: np.ndarray, max_bits: int, *, blocks: int | None = None,
                            workers: int = 2) -> np.ndarray:
    """Near-duplicate cluster of each hash: its cluster's smallest input index.

    Connected components of the graph linking hashes whose Hamming distance is
    <= max_bits (inclusive). Runs in about n * (a few hundred) operations on random
    hashes, not n^2 (see the module docstring).

    Args:
        hashes: 1-D array of 64-bit hashes (uint64; int64 is read as the same bits).
        max_bits: largest Hamming distance that links two hashes, 0..64; 0 links
            identical hashes only.
        blocks: number of blocks to cut the hash into; None lets a cost model choose.
            Any value from 1 to 64 gives the same clusters (tests use this).
        workers: threads searching in parallel (NumPy releases the GIL); used from
            200,000 distinct hashes up, where they pay off.
    Returns:
        int64 array, one label per input: the smallest index of the input's cluster, so
        a photo alone in its cluster is labelled with its own index.

    Example:
        >>> chain = np.array([0b0000, 0xFFFF, 0b0011, 0b1111], dtype=np.uint64)
        >>> cluster_near_duplicates(chain, max_bits=2).tolist()  # 0~2 (2 bits), 2~3 (2 bits)
        [0, 1, 0, 0]
    """
    hashes = _as_uint64(hashes)
    max_bits = _check_max_bits(max_bits)
    if len(hashes) == 0:
        return np.empty(0, dtype=np.int64)
    unique, inverse = np.unique(hashes, return_inverse=True)
    inverse = inverse.ravel()  # NumPy 2.0.0 returned it in the input's shape
    if max_bits >= HASH_BITS:
        component = np.zeros(len(unique), dtype=np.int64)
    else:
        first, second = near_duplicate_pairs(unique, max_bits, blocks=blocks, workers=workers)
        graph = coo_matrix((np.ones(len(first), dtype=np.int8), (first, second)), shape=(len(unique), len(unique)))
        _, component = connected_components(graph, directed=False)
    return _smallest_index_labels(component[inverse])


def near_duplicate_pairs(hashes: np.ndarray, max_bits: int, *, blocks: int | None = None,
                         workers: int = 2, search_bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs (i < j) with Hamming distance <= max_bits, without an all-pairs scan.

    `search_bits` (at most max_bits; None: max_bits): cut the hash as a search for this distance would, and keep
    the pairs it meets up to max_bits. Cheaper (the cost of a search_bits search), and lossy beyond search_bits:
    a pair farther apart is found only when one of the blocks still lies within its radius (most of them: 0.84-0.89
    of pairs 9-12 bits apart with search_bits 8, docs/benchmarks.md "Patch match").

    Identical hashes form pairs too: a group of g equal hashes gives g*(g-1)/2 pairs,
    so deduplicate first (as `cluster_near_duplicates` does) when that can be large.

    Returns:
        (first, second): int64 arrays, sorted by (first, second), each pair once.

    Example:
        >>> first, second = near_duplicate_pairs(np.array([0, 1, 7, 0], dtype=np.uint64), max_bits=1)
        >>> list(zip(first.tolist(), second.tolist()))
        [(0, 1), (0, 3), (1, 3)]
    """
    hashes = _as_uint64(hashes)
    max_bits = _check_max_bits(max_bits)
    search_bits = max_bits if search_bits is None else min(_check_max_bits(search_bits), max_bits)
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise UsageError(f"workers must be a positive whole number, got {workers!r}")
    n = len(hashes)
    if n < 2:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    found = [np.empty(0, dtype=np.int64)]
    threads = workers if n >= _THREADS_MIN_HASHES else 1  # small inputs: thread hand-offs cost more than they save
    with ThreadPoolExecutor(max_workers=threads) if threads > 1 else nullcontext() as pool:
        for block in block_plan(n, search_bits, blocks):
            index = _BlockIndex(hashes, block)
            patterns, tops = _flip_patterns(block.width, block.radius)
            tasks = [(index.pairs_within_buckets, max_bits)]
            tasks += [(index.pairs_across_buckets, patterns[tops == top], int(top), max_bits)
                      for top in np.unique(tops)]
            results = pool.map(lambda task: task[0](*task[1:]), tasks) if pool else (t[0](*t[1:]) for t in tasks)
            sides = [side for result in results for side in result]
            if sides:
                first, second = (index.order[np.concatenate(side)] for side in zip(*sides))
                found.append(np.minimum(first, second) * n + np.maximum(first, second))
    # The same pair can surface in several blocks: encode (i, j) as i * n + j and deduplicate.
    codes = np.unique(np.concatenate(found))
    return codes // n, codes % n


def mirror_pairs(hashes: np.ndarray, mirrors: np.ndarray, max_bits: int, *, blocks: int | None = None,
                 workers: int = 2, trimmed: np.ndarray | None = None, search_bits: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flip-invariant pairs: images whose hashes are within max_bits as they are or with one mirrored.

    Image i has `hashes[i]` (its pHash) and `mirrors[i]` (the pHash of its left-right mirror).
    A pair (i, j) qualifies when min(d(h_i, h_j), d(h_i, m_j)) <= max_bits (d(m_i, h_j) is
    the same comparison seen from the other image, and d(m_i, m_j) ~ d(h_i, h_j)). Both sets
    go into one multi-index search over 2n hashes, so the cost stays sub-quadratic: about
    twice that of `near_duplicate_pairs` on the plain hashes.

    `trimmed` (optional): each image's border-trimmed pHash (`phash.trimmed_phash`), its own hash
    where it has no border. It is one more view of the image: a pair also qualifies when
    d(t_i, h_j), d(h_i, t_j) or d(t_i, t_j) <= max_bits (a screenshot of a photo, two screenshots
    of it). Only images with a trimmed hash add entries to the search. Two images that both have a trimmed hash
    are compared by d(t_i, t_j) alone unless d(h_i, h_j), d(h_i, m_j) or d(m_i, h_j) <= FRAMED_WHOLE_BITS.
    `search_bits`: as `near_duplicate_pairs`'s (a cheaper search, lossy beyond it).

    Returns:
        (first, second, distance, mirrored): int64 index pairs i < j sorted by (i, j), each
        once; the smaller of the two distances; True where the mirrored comparison was closer.

    Example:
        >>> h = np.array([0b0000_1111, 0b1111_0000, 0xFFFF_0000], dtype=np.uint64)
        >>> m = np.array([0b1111_0000, 0b0000_1111, 0x0000_FFFF], dtype=np.uint64)
        >>> first, second, distance, mirrored = mirror_pairs(h, m, max_bits=1)
        >>> first.tolist(), second.tolist(), distance.tolist(), mirrored.tolist()
        ([0], [1], [0], [True])
    """
    hashes, mirrors = _as_uint64(hashes), _as_uint64(mirrors)
    if len(hashes) != len(mirrors):
        raise UsageError(f"hashes and mirrors must have one entry per image, got {len(hashes)} and {len(mirrors)}")
    n = len(hashes)
    trimmed = hashes if trimmed is None else _as_uint64(trimmed)
    if len(trimmed) != n:
        raise UsageError(f"hashes and trimmed must have one entry per image, got {n} and {len(trimmed)}")
    framed = np.flatnonzero(trimmed != hashes)
    owner = np.concatenate([np.arange(n), np.arange(n), framed])  # search entry -> image index
    first, second = near_duplicate_pairs(np.concatenate([hashes, mirrors, trimmed[framed]]), max_bits,
                                         blocks=blocks, workers=workers, search_bits=search_bits)
    first, second = owner[first], owner[second]
    keep = first != second  # an image against its own mirror (a symmetric photo) or trimmed view
    low, high = np.minimum(first[keep], second[keep]), np.maximum(first[keep], second[keep])
    codes = np.unique(low * n + high)
    low, high = codes // n, codes % n
    whole = hamming_distance(hashes[low], hashes[high])
    plain = np.minimum(whole, trimmed_distance(hashes, trimmed, low, high))
    flipped = np.minimum(hamming_distance(hashes[low], mirrors[high]), hamming_distance(mirrors[low], hashes[high]))
    distance = np.minimum(plain, flipped)
    # two framed images (two screenshots) are compared on their pictures: one app's frame makes the whole hashes of
    # two different photos meet (audit DF 5: 8-12 bits apart in one phone frame, 20-32 trimmed), unless the whole
    # images are all but the same, as they are or one mirrored (a screenshot and its re-encoded or mirrored copy:
    # the trimmed hashes have no mirror view, so a mirrored framed copy is found by its whole mirror alone)
    two_frames = ((trimmed[low] != hashes[low]) & (trimmed[high] != hashes[high])
                  & (np.minimum(whole, flipped) > FRAMED_WHOLE_BITS))
    distance = np.where(two_frames, hamming_distance(trimmed[low], trimmed[high]), distance)
    mirrored = (flipped < plain) & ~two_frames
    close = distance <= max_bits  # drops pairs found only through d(m_i, m_j) or d(t_i, m_j): not the rule's views
    return low[close], high[close], distance[close], mirrored[close]


FRAMED_WHOLE_BITS = 4  # two framed images this close as they are are copies whatever their boxes (see mirror_pairs)


def trimmed_distance(hashes: np.ndarray, trimmed: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """min(d(t_i, h_j), d(h_i, t_j), d(t_i, t_j)) of index pairs (t: trimmed views, the own hash without one)."""
    return np.minimum(np.minimum(hamming_distance(trimmed[low], hashes[high]),
                                 hamming_distance(hashes[low], trimmed[high])),
                      hamming_distance(trimmed[low], trimmed[high]))


def block_plan(n: int, max_bits: int, blocks: int | None = None) -> list[Block]:
    """How `near_duplicate_pairs` cuts the hash: the searched blocks, with radii.

    With `blocks` None, the block count with the lowest modelled cost for n uniformly
    random hashes is chosen among 1..max_bits+1.

    Example:
        >>> [(b.width, b.radius) for b in block_plan(1000, max_bits=3, blocks=4)]
        [(16, 0), (16, 0), (16, 0), (16, 0)]
        >>> [(b.width, b.radius) for b in block_plan(1000, max_bits=4, blocks=3)]
        [(22, 1), (21, 1), (21, 0)]
    """
    max_bits = _check_max_bits(max_bits)
    if blocks is None:
        candidates = range(1, min(max_bits, HASH_BITS - 1) + 2)
        blocks = min(candidates, key=lambda m: _plan_cost(_split(m, max_bits), n))
    if isinstance(blocks, bool) or not isinstance(blocks, (int, np.integer)) or not 1 <= blocks <= HASH_BITS:
        raise UsageError(f"blocks must be a whole number from 1 to {HASH_BITS}, got {blocks!r}")
    plan = _split(int(blocks), max_bits)
    patterns = sum(comb(b.width, bits) for b in plan for bits in range(1, b.radius + 1))
    if patterns > _MAX_PATTERNS:
        raise UsageError(f"{blocks} blocks for max_bits={max_bits} would enumerate {patterns:.2g} bit patterns; "
                         "use more blocks (or blocks=None)")
    return plan


def _split(m: int, max_bits: int) -> list[Block]:
    base, extra = divmod(HASH_BITS, m)
    widths = [base + 1] * extra + [base] * (m - extra)
    radius, spare = divmod(max_bits, m)
    radii = [radius] * (spare + 1) + [radius - 1] * (m - spare - 1)
    shifts = np.concatenate([[0], np.cumsum(widths)[:-1]]).tolist()
    # A block with radius -1 never needs searching (the pigeonhole bound is met elsewhere).
    return [Block(int(s), w, r) for s, w, r in zip(shifts, widths, radii) if r >= 0]


def _plan_cost(plan: list[Block], n: int) -> float:
    """Modelled work for n uniform random hashes: sorts, table look-ups, candidate pairs.

    Weights fitted to CPU times of this implementation (n = 2e4 and 1e6, max_bits 4 and 8,
    every block count); only their ratios matter.
    """
    cost = 0.0
    for block in plan:
        space = 2.0 ** block.width
        flips = sum(comb(block.width, bits) for bits in range(1, block.radius + 1))
        pairs_per_pattern = n * (n / space) / 2  # pairs whose block values differ by one given pattern
        lookup = 0.7 if block.width <= _DENSE_TABLE_MAX_BITS else 0.7 * log2(min(n, space) + 2)
        table = 0.1 * space if flips and block.width <= _DENSE_TABLE_MAX_BITS else 0.0
        cost += 12 * n + table + flips * n / 2 * lookup + (2.6 + flips) * pairs_per_pattern
    return cost


class _BlockIndex:
    """The hashes sorted by one block's value, with a bucket look-up table.

    Work happens in sorted positions: a bucket's members are contiguous and hashes are
    read without indirection; `order` maps positions back to input indices.
    """

    def __init__(self, hashes: np.ndarray, block: Block):
        self.block = block
        key_type = np.int32 if block.width <= 31 else np.int64  # narrower keys: less memory traffic
        keys = ((hashes >> np.uint64(block.shift)) & np.uint64((1 << block.width) - 1)).astype(key_type)
        self.order = np.argsort(keys, kind="stable")
        self.keys, self.hashes = keys[self.order], hashes[self.order]
        self.bucket_keys, self.starts, self.counts = np.unique(self.keys, return_index=True, return_counts=True)
        self.table = None
        if block.radius and block.width <= _DENSE_TABLE_MAX_BITS:
            # One gather gives a bucket's first position and size: start << 32 | count (0 = empty).
            self.table = np.zeros(1 << block.width, dtype=np.int64)
            self.table[self.bucket_keys] = (self.starts.astype(np.int64) << 32) | self.counts

    def find(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(which queries hit a bucket, its first position, its size)."""
        if self.table is not None:
            packed = self.table[queries]
            hit = np.flatnonzero(packed)
            packed = packed[hit]
            return hit, packed >> 32, packed & 0xFFFFFFFF
        position = np.minimum(np.searchsorted(self.bucket_keys, queries), len(self.bucket_keys) - 1)
        hit = np.flatnonzero(self.bucket_keys[position] == queries)
        return hit, self.starts[position[hit]], self.counts[position[hit]]

    def pairs_within_buckets(self, max_bits: int) -> list[tuple]:
        shared = self.counts > 1
        starts, counts = self.starts[shared], self.counts[shared]
        found = []
        for position_a, position_b in _pair_positions(starts, counts, starts, counts):
            keep = position_a < position_b  # a bucket with itself: each unordered pair once, no self-pairs
            found.append(_close(self.hashes, position_a[keep], position_b[keep], max_bits))
        return found

    def pairs_across_buckets(self, flips: np.ndarray, top: int, max_bits: int) -> list[tuple]:
        """Pairs whose block values differ by one of `flips`, all with highest set bit `top`."""
        # Each pair is looked up once: from the member whose key has bit `top` clear.
        source = np.flatnonzero((self.keys >> top) & 1 == 0)
        source_keys = self.keys[source]
        step = max(1, _PAIR_CHUNK // max(1, len(source)))  # several patterns per NumPy call
        found = []
        for lo in range(0, len(flips), step):
            chunk = flips[lo:lo + step].astype(self.keys.dtype)
            hit, first, count = self.find((source_keys[:, None] ^ chunk[None, :]).ravel())
            found += _members_close(self.hashes, source[hit // len(chunk)], first, count, max_bits)
        return found


def _flip_patterns(width: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """All width-bit patterns with 1..radius bits set (XORs to a bucket's neighbours), with top bits."""
    bits = np.arange(width, dtype=np.int64)
    pattern, top = np.zeros(1, dtype=np.int64), np.full(1, -1, dtype=np.int64)
    patterns, tops = [], []
    for _ in range(radius):
        # Grow each pattern by one bit above its top bit, so every set of bits is built once.
        rows, columns = np.nonzero(bits[None, :] > top[:, None])
        pattern, top = pattern[rows] | (np.int64(1) << bits[columns]), bits[columns]
        patterns.append(pattern)
        tops.append(top)
    if not patterns:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(patterns), np.concatenate(tops)


def _members_close(sorted_hashes, items, first, count, max_bits: int) -> list[tuple]:
    """Pairs (item, member of the bucket starting at `first` with `count` members) within max_bits.

    Most buckets hold one or two hashes, so members are visited rank by rank (first
    members of all buckets, then second members...) without materialising products;
    what is left after a few ranks (big buckets) is expanded in bounded chunks.
    """
    found = []
    for rank in range(_DIRECT_RANKS):
        if not len(items):
            return found
        found.append(_close(sorted_hashes, items, first + rank, max_bits))
        more = count > rank + 1
        items, first, count = items[more], first[more], count[more]
    left = count - _DIRECT_RANKS
    for position_a, position_b in _pair_positions(items, np.ones_like(left), first + _DIRECT_RANKS, left):
        found.append(_close(sorted_hashes, position_a, position_b, max_bits))
    return found


def _close(sorted_hashes: np.ndarray, position_a: np.ndarray, position_b: np.ndarray, max_bits: int) -> tuple:
    close = popcount64(sorted_hashes[position_a] ^ sorted_hashes[position_b]) <= max_bits
    return position_a[close], position_b[close]


def _pair_positions(start_a, count_a, start_b, count_b):
    """Yield (positions in a, positions in b) for all member pairs, about _PAIR_CHUNK at a time."""
    sizes = count_a.astype(np.int64) * count_b
    big = sizes > _PAIR_CHUNK
    small = np.flatnonzero(~big)
    if len(small):
        ends = np.cumsum(sizes[small])
        cuts = np.searchsorted(ends, np.arange(_PAIR_CHUNK, ends[-1], _PAIR_CHUNK))
        for part in np.split(small, np.unique(cuts)):
            if len(part):
                yield _expand(start_a[part], count_a[part], start_b[part], count_b[part])
    for index in np.flatnonzero(big):  # one huge bucket pair: a few rows of a at a time
        rows = max(1, _PAIR_CHUNK // int(count_b[index]))
        members_b = start_b[index] + np.arange(count_b[index])
        for row in range(0, int(count_a[index]), rows):
            members_a = start_a[index] + np.arange(row, min(row + rows, int(count_a[index])))
            yield np.repeat(members_a, len(members_b)), np.tile(members_b, len(members_a))


def _expand(start_a, count_a, start_b, count_b) -> tuple[np.ndarray, np.ndarray]:
    sizes = count_a.astype(np.int64) * count_b
    pair = np.repeat(np.arange(len(sizes)), sizes)
    offset = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    width_b = count_b[pair]
    return start_a[pair] + offset // width_b, start_b[pair] + offset % width_b


def _smallest_index_labels(component: np.ndarray) -> np.ndarray:
    """Relabel components by the smallest input index they contain."""
    _, first_index, position = np.unique(component, return_index=True, return_inverse=True)
    return first_index[position.ravel()].astype(np.int64)


def _as_uint64(hashes) -> np.ndarray:
    """uint64 view of `hashes`: an integer array (int64 read as the same 64 bits) or a list of ints."""
    if hasattr(hashes, "dtype"):
        values = np.asarray(hashes)
    else:  # a Python sequence: NumPy would turn ints beyond 2**63 into floats
        values = np.array(list(hashes), dtype=object)
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v <= 2**64 - 1
                   for v in values):
            raise UsageError("hashes must be whole numbers from 0 to 2**64 - 1")
        values = values.astype(np.uint64)
    if values.ndim != 1:
        raise UsageError(f"hashes must be a 1-D array, got shape {values.shape}")
    if values.dtype == np.uint64 or values.size == 0:
        return values.astype(np.uint64, copy=False)
    if values.dtype == np.int64:
        return values.view(np.uint64)  # the same 64 bits
    if values.dtype.kind in "ui" and (values.dtype.kind == "u" or (values >= 0).all()):
        return values.astype(np.uint64)
    raise UsageError(f"hashes must be 64-bit unsigned integers (dtype uint64), got dtype {values.dtype}")


def _check_max_bits(max_bits) -> int:
    if isinstance(max_bits, bool) or not isinstance(max_bits, (int, np.integer)) or not 0 <= max_bits <= HASH_BITS:
        raise UsageError(f"the near-duplicate threshold must be a whole number of bits from 0 to {HASH_BITS}, "
                         f"got {max_bits!r}")
    return int(max_bits)
