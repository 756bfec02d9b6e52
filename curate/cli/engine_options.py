"""`--engine` and `--ray-address`: where a command's per-image work runs (see curate.engines)."""

from __future__ import annotations

from typing import Annotated

import typer

from curate.engines import ENGINES, EngineConfig
from curate.errors import UsageError

EngineOption = Annotated[str, typer.Option(
    "--engine", metavar="LOCAL|RAY",
    help="Where per-image work runs: local (this process) or ray (Ray tasks; see docs/scale.md).")]
RayAddressOption = Annotated[str | None, typer.Option(
    "--ray-address", metavar="ADDR",
    help="Ray cluster to join with --engine ray (default: $RAY_ADDRESS, else a local Ray on this machine's CPUs).")]


def engine_config(engine: str, ray_address: str | None) -> EngineConfig:
    """The EngineConfig the flags ask for; Ray missing or a stray --ray-address is one line, exit 2."""
    if engine not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "local" and ray_address is not None:
        raise UsageError("--ray-address needs --engine ray")
    config = EngineConfig(engine=engine, ray_address=ray_address)
    if engine == "ray":
        from curate.engines.ray import check_address, import_ray

        import_ray()
        if config.address:  # a cluster that does not answer: one line before any work starts
            check_address(config.address)
    return config
