"""The local engine: per-image work in this process, as curate always ran it.

Ingest fetches with its bounded thread pool (`curate.ingest.engine`), embed runs its
DataLoader loop (`curate.embed`); both are the default and need nothing installed.
`map_shards` is the same contract as `curate.engines.ray.map_shards`, run in order here,
for code and benchmarks that want one interface over both engines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any


def map_shards(fn: Callable[..., Any], shards: Sequence, shared: Sequence = ()) -> Iterator[tuple[int, Any]]:
    """(index, fn(*shared, shard)) for every shard, in order, in this process.

    >>> list(map_shards(lambda base, shard: [base + x for x in shard], [[1, 2], [3]], shared=(10,)))
    [(0, [11, 12]), (1, [13])]
    """
    for index, shard in enumerate(shards):
        yield index, fn(*shared, shard)
