"""`curate embed`."""

from __future__ import annotations

import json

from curate import engines
from curate.cli.common import JsonOption, WorkspaceOption, user_errors, workspace
from curate.cli.engine_options import engine_config, engine_options
from curate.cli.options import config_options
from curate.console import console
from curate.embed import EmbedConfig
from curate.pipeline.settings import build_config


@user_errors
@engine_options
@config_options(EmbedConfig, layered=False)
def embed(
    workspace_path: WorkspaceOption = None,
    settings: dict | None = None,  # one flag per EmbedConfig field (curate/cli/options.py)
    engine_settings: dict | None = None,  # --engine, --ray-address, ... (curate/cli/engine_options.py)
    as_json: JsonOption = False,
) -> None:
    """Compute backbone embeddings of every stored image (cached by sha256; only new ones are computed)."""
    from curate.embed import run_embed

    config = build_config(EmbedConfig, {}, "", flags=settings, command="curate embed")
    with engines.use(engine_config(engine_settings, "curate embed")):
        report = run_embed(workspace(workspace_path), config)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return
    console.print(report.summary(), highlight=False, soft_wrap=True, markup=False)
