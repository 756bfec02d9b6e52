"""The window match's pair scores, remembered between filter runs (`cache/pair_scores.parquet`).

`curate.filters.windows.window_links` scores each candidate pair on its pixels (`window_score`, and
`overlap_score` where the window test fails and the pair is an overlap candidate): ~15-65 ms a pair, minutes
on a few thousand pairs, the same pairs each run. The scores (not the verdicts, so a changed threshold
decides again from them) are kept by the two images' sha256 (stored images are content-addressed: the sha
names the pixels), in the order the pair was scored (the scores are not exactly symmetric: the better way
round is chosen on a coarse score, ties to the first), with `pixel_scores.SCORE_VERSION`: a cache written by
other scoring code is ignored.

`PairScores` is what the stages see (pure: a dict in memory, `Evidence.pair_scores`); `read_pair_scores` and
`save_pair_scores` are the run layer's I/O. A cache that cannot be read is ignored (logged) and rewritten.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

log = logging.getLogger(__name__)

PAIR_SCORE_CACHE = "cache/pair_scores.parquet"
MAX_ENTRIES = 2_000_000  # pairs kept at most (~200 MB in memory): those this run used first, then the others

Key = tuple[str, str]
Scores = tuple[float, float]  # (window score, overlap score); NaN where not computed


class PairScores:
    """(first sha256, second sha256) -> (window score, overlap score), NaN where not computed. `fresh`: the
    keys scored (or completed) since it was read, which `save_pair_scores` writes; `used`: those looked up
    or scored this run (kept first when the cache is over MAX_ENTRIES); `replace`: the file it was read from
    was unreadable (rewritten even with nothing fresh)."""

    def __init__(self, entries: dict[Key, Scores] | None = None, replace: bool = False):
        self.entries: dict[Key, Scores] = dict(entries or {})
        self.fresh: set[Key] = set()
        self.used: set[Key] = set()
        self.replace = replace

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: Key) -> Scores | None:
        found = self.entries.get(key)
        if found is not None:
            self.used.add(key)
        return found

    def put(self, key: Key, window: float, overlap: float) -> None:
        """Remember a pair's scores; a score not computed now (NaN) keeps the one remembered."""
        old = self.entries.get(key)
        if old is not None:
            window = old[0] if math.isnan(window) else window
            overlap = old[1] if math.isnan(overlap) else overlap
            if _same(window, old[0]) and _same(overlap, old[1]):
                self.used.add(key)
                return
        self.entries[key] = (float(window), float(overlap))
        self.fresh.add(key)
        self.used.add(key)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def read_pair_scores(root: Path) -> PairScores:
    """The cache of workspace `root` (empty when absent, written by other scoring code, or unreadable: then
    logged, and rewritten by the next save)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from curate.filters.pixel_scores import SCORE_VERSION

    path = Path(root) / PAIR_SCORE_CACHE
    if not path.exists():
        return PairScores()
    try:
        table = pq.read_table(path, columns=["first", "second", "window", "overlap", "version"])
        table = table.filter(pc.equal(table.column("version"), SCORE_VERSION))
        columns = [table.column(name).to_pylist() for name in ("first", "second", "window", "overlap")]
        entries = {(str(a), str(b)): (_float(w), _float(o)) for a, b, w, o in zip(*columns)
                   if a is not None and b is not None}
    except (OSError, KeyError, TypeError, ValueError, pa.ArrowException) as exc:
        log.warning(f"note: pair score cache {path} is unreadable ({exc}); the window match scores its pairs again")
        return PairScores(replace=True)
    return PairScores(entries)


def _float(value) -> float:
    return math.nan if value is None else float(value)


def save_pair_scores(root: Path, scores: PairScores | None) -> int:
    """Write `scores` to the cache of workspace `root` (atomic) when it holds fresh pairs (or replaces an
    unreadable file); returns how many pairs were fresh."""
    if scores is None or not (scores.fresh or scores.replace):
        return 0
    import pyarrow as pa

    from curate.filters.pixel_scores import SCORE_VERSION
    from curate.workspace import write_table_atomic

    keys = list(scores.entries)
    if len(keys) > MAX_ENTRIES:
        keys = [key for key in keys if key in scores.used] + [key for key in keys if key not in scores.used]
        keys = keys[:MAX_ENTRIES]
    values = [scores.entries[key] for key in keys]
    table = pa.table({"first": pa.array([key[0] for key in keys], pa.string()),
                      "second": pa.array([key[1] for key in keys], pa.string()),
                      "window": pa.array([value[0] for value in values], pa.float64()),
                      "overlap": pa.array([value[1] for value in values], pa.float64()),
                      "version": pa.array([SCORE_VERSION] * len(keys), pa.string())})
    write_table_atomic(Path(root) / PAIR_SCORE_CACHE, table)
    fresh = len(scores.fresh)
    scores.fresh.clear()
    scores.replace = False
    return fresh
