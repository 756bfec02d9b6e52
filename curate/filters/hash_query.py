"""Few hashes looked up among many: the pairs within a Hamming distance between a small set of query hashes and a large
indexed set, without the pairs inside the indexed set (`neardup.near_duplicate_pairs` finds every pair of one set).

Used where only a few images ask (curate.filters.portraits: a 9:16 portrait's strip hash among the landscape photos'
window hashes; curate.filters.pixel_links: a collage's panel pHashes among every image's pHash). A search over both
sets together would also find, and throw away, the pairs of the indexed set: millions at a million images
(docs/benchmarks.md, "Portrait-crop search at a million images").
"""

from __future__ import annotations

import numpy as np


def query_pairs(queries: np.ndarray, windows: np.ndarray, max_bits: int, blocks: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(query, window) index pairs within max_bits of 64-bit `queries` against `windows` (the indexed hashes):
    multi-index hashing (`curate.filters.neardup`) with only the windows indexed, each query's block value looked
    up with each of its bit flips within the block's radius (the pigeonhole plan of `neardup._split`); a pair met
    in several blocks is returned once a block. One block at a time: two threads, one a block, took as long on the
    2-core VM at a million images (and twice the memory).

    >>> first, second = query_pairs(np.array([0b1011], np.uint64), np.array([0, 0b1010, 0b1011, 7], np.uint64), 1)
    >>> sorted(set(zip(first.tolist(), second.tolist())))
    [(0, 1), (0, 2)]
    """
    from curate.filters import neardup

    if not len(queries) or not len(windows):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    found_queries, found_windows = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for block in _query_plan(len(queries), len(windows), max_bits, blocks):
        index = neardup._BlockIndex(windows, block)
        keys = ((queries >> np.uint64(block.shift)) & np.uint64((1 << block.width) - 1)).astype(index.keys.dtype)
        flips = np.concatenate([[0], neardup._flip_patterns(block.width, block.radius)[0]]).astype(keys.dtype)
        step = max(1, neardup._PAIR_CHUNK // len(keys))  # several bit flips per NumPy call
        for lo in range(0, len(flips), step):
            chunk = flips[lo:lo + step]
            hit, first, count = index.find((keys[:, None] ^ chunk[None, :]).ravel())
            for query, position in neardup._pair_positions(hit // len(chunk), np.ones_like(count), first, count):
                close = neardup.popcount64(queries[query] ^ index.hashes[position]) <= max_bits
                found_queries.append(query[close])
                found_windows.append(index.order[position[close]])
    return np.concatenate(found_queries), np.concatenate(found_windows)


def _query_plan(n_queries: int, n_windows: int, max_bits: int, blocks: int | None) -> list:
    """The blocks `query_pairs` searches: `blocks` of them, or the count with the lowest modelled cost
    for uniformly random hashes (`neardup._plan_cost`'s weights: index sorts, look-ups, candidate pairs)."""
    from math import comb, log2

    from curate.filters import neardup

    def flips(block) -> int:
        return sum(comb(block.width, bits) for bits in range(block.radius + 1))

    def cost(plan) -> float:
        total = 0.0
        for block in plan:
            space = 2.0 ** block.width
            dense = block.width <= neardup._DENSE_TABLE_MAX_BITS
            lookup = 0.7 if dense else 0.7 * log2(min(n_windows, space) + 2)
            total += (12 * n_windows + (0.1 * space if block.radius and dense else 0.0)
                      + flips(block) * n_queries * lookup + 3.6 * flips(block) * n_queries * n_windows / space)
        return total

    if blocks is None:
        plans = [neardup._split(m, max_bits) for m in range(1, min(max_bits, neardup.HASH_BITS - 1) + 2)]
        plans = [plan for plan in plans if sum(flips(block) for block in plan) <= neardup._MAX_PATTERNS]
        return min(plans, key=cost)
    return neardup.block_plan(n_windows, max_bits, blocks)
