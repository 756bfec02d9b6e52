"""The engine flags (--engine, --ray-address, --shard-size, --max-retries): where a command's
per-image work runs (see curate.engines), built from EngineConfig's fields like a stage's flags."""

from __future__ import annotations

from curate.cli.options import config_options
from curate.engines import EngineConfig
from curate.errors import UsageError
from curate.pipeline.settings import build_config

# on a command with an `engine_settings: dict | None = None` parameter: one flag per EngineConfig field
engine_options = config_options(EngineConfig, layered=False, param="engine_settings")


def engine_config(settings: dict | None, command: str) -> EngineConfig:
    """The EngineConfig the flags ask for; a bad value, Ray missing or a stray --ray-address is one
    line, exit 2."""
    settings = dict(settings or {})
    if settings.get("engine", "local") == "local" and settings.get("ray_address") is not None:
        raise UsageError(f"{command}: --ray-address needs --engine ray")
    config = build_config(EngineConfig, {}, "", flags=settings, command=command)
    if config.engine == "ray":
        from curate.engines.ray import check_address, import_ray

        import_ray()
        if config.address:  # a cluster that does not answer: one line before any work starts
            check_address(config.address)
    return config
