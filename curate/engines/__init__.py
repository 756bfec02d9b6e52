"""Where per-image work runs: this process (`local`, the default) or a Ray cluster (`ray`).

Per-image work (ingest's fetch + store + single decode pass, `curate embed`) is split into
shards of records or images. The driver (the `curate` process) plans the shards, hands them
to the engine and merges every shard's results into the catalog or the embedding cache
exactly as the local path does, so both engines give the same catalog rows and the same
embeddings (up to float tolerance). Catalog-level stages always run on the driver.

On the local engine each caller runs its own loop (ingest's bounded thread pool in
`curate.ingest.engine_fetch`, embed's DataLoader in `curate.embed`); on Ray it hands the shards to
`curate.engines.ray` (`map_shards`, `map_actors`).

The engine is chosen per command (`--engine`, `--ray-address`) or per recipe (`[engine]`)
and held for the duration of a call by `use()`; library code asks `active()`:

>>> active().engine
'local'
>>> with use(EngineConfig(engine="ray", ray_address="ray://head:10001")):
...     active().ray_address
'ray://head:10001'
>>> active().engine
'local'
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from curate.settings_fields import SettingError, setting

ENGINES = ("local", "ray")
DEFAULT_SHARD_SIZE = 500


@dataclass(frozen=True)
class EngineConfig:
    """Which engine runs per-image work, and how it cuts the work up: the `[engine]` section of a
    recipe, and the --engine, --ray-address, --shard-size and --max-retries flags of the commands
    that do per-image work (curate/cli/engine_options.py)."""

    engine: str = setting("local", metavar="LOCAL|RAY", help=(
        "Where per-image work runs: local (this process) or ray (Ray tasks; see docs/scale.md)."))
    ray_address: str | None = setting(None, metavar="ADDR", help=(
        "Ray cluster to join with engine ray (default: $RAY_ADDRESS, else a local Ray on this machine's CPUs)."))
    shard_size: int = setting(DEFAULT_SHARD_SIZE, help=(
        "Records (ingest) or images (embed) per Ray task, at most (a small run is cut finer, 4 shards "
        "per CPU); each finished shard is journaled."))
    max_retries: int = setting(3, help="How many times Ray runs a failed or killed shard again before stopping.")

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise SettingError(f"{{engine}} must be one of {', '.join(ENGINES)}, got {self.engine!r}", "engine")
        if self.shard_size < 1:
            raise SettingError(f"{{shard_size}} must be at least 1, got {self.shard_size}", "shard_size")
        if self.max_retries < 0:
            raise SettingError(f"{{max_retries}} must be 0 or more, got {self.max_retries}", "max_retries")
        if self.ray_address is not None and not str(self.ray_address).strip():
            raise SettingError("{ray_address} is empty; give the cluster's address (e.g. ray://head:10001) or "
                               "leave it out to start a local Ray", "ray_address")

    @property
    def address(self) -> str | None:
        """The cluster to join: ray_address, else $RAY_ADDRESS, else None (start a local Ray)."""
        return self.ray_address or os.environ.get("RAY_ADDRESS") or None


_LOCAL = EngineConfig()
_ACTIVE: ContextVar[EngineConfig | None] = ContextVar("curate_engine", default=None)


def active() -> EngineConfig:
    """The engine per-image work runs on in this call (see `use`); local unless told otherwise."""
    return _ACTIVE.get() or _LOCAL


@contextmanager
def use(config: EngineConfig | None) -> Iterator[EngineConfig]:
    """Run the body with `config` as the active engine (None: leave it as it is)."""
    if config is None:
        yield active()
        return
    token = _ACTIVE.set(config)
    try:
        yield config
    finally:
        _ACTIVE.reset(token)


def shards(items: Sequence, size: int) -> list[Sequence]:
    """`items` cut into consecutive shards of at most `size`, in order.

    >>> [list(s) for s in shards(range(7), 3)]
    [[0, 1, 2], [3, 4, 5], [6]]
    >>> shards([], 3)
    []
    """
    return [items[start:start + size] for start in range(0, len(items), size)]
