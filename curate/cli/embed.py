"""`curate embed`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from curate import engines
from curate.cli.common import JsonOption, WorkspaceOption, user_errors, workspace
from curate.cli.engine_options import EngineOption, RayAddressOption, engine_config
from curate.console import console
from curate.vision.backbones import DEFAULT_BACKBONE

BackboneOption = Annotated[str, typer.Option(
    "--backbone", help="Feature extractor (default: EfficientNet-Lite0, ImageNet weights, offline).")]


@user_errors
def embed(
    workspace_path: WorkspaceOption = None,
    backbone: BackboneOption = DEFAULT_BACKBONE,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.")] = 64,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA > MPS > CPU), cuda, mps or cpu.")] = "auto",
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Image-decoding worker processes (default: half the CPU cores, max 8).")] = None,
    image_size: Annotated[int | None, typer.Option(
        "--image-size", help="Input crop side in pixels (default 224; smaller is faster on CPU).")] = None,
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compute backbone embeddings of every stored image (cached by sha256; only new ones are computed)."""
    from curate.embed import EmbedConfig, run_embed

    config = EmbedConfig(backbone=backbone, batch_size=batch_size, device=device, workers=workers,
                         image_size=image_size)
    with engines.use(engine_config(engine, ray_address)):
        report = run_embed(workspace(workspace_path), config)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return
    console.print(report.summary(), highlight=False, soft_wrap=True, markup=False)
