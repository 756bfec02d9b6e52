"""`curate ingest demo`: the generated ten-city skyline collection with ground truth."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer

from curate import engines
from curate.cli.common import WorkspaceOption, print_table, user_errors
from curate.cli.engine_options import engine_config, engine_options
from curate.cli.options import config_options
from curate.cli.store_option import store_options, store_workspace
from curate.console import console
from curate.demo.config import DemoConfig, parse_image_size
from curate.ingest.demo import ingest_demo
from curate.pipeline.settings import build_config

_DEFAULT = DemoConfig()
_DEFAULT_SIZE = f"{_DEFAULT.image_width}x{_DEFAULT.image_height}"


@user_errors
@store_options
@engine_options
@config_options(DemoConfig, layered=False, skip=("image_width", "image_height"))  # both: --image-size
def demo(
    settings: dict | None = None,  # one flag per DemoConfig field (curate/cli/options.py)
    no_images: Annotated[bool, typer.Option("--no-images", help="Metadata only (fast; for benchmarks).")] = False,
    image_size: Annotated[str, typer.Option(
        "--image-size", help="Image size WIDTHxHEIGHT (a recipe's image_width and image_height).")] = _DEFAULT_SIZE,
    workers: Annotated[int, typer.Option("--workers", help="Render threads.")] = 2,
    engine_settings: dict | None = None,  # --engine, --ray-address, ... (curate/cli/engine_options.py)
    workspace_path: WorkspaceOption = None,
    store_settings: dict | None = None,  # --store (curate/cli/store_option.py)
) -> None:
    """Generate the demo collection (ten city skylines + realistic noise) and ingest it.

    The ground truth goes to <workspace>/demo_truth.parquet. Running it again with the
    same options resumes or does nothing; other options need a fresh --workspace.
    """
    width, height = parse_image_size(image_size)
    config = build_config(DemoConfig, {}, "", flags={**settings, "image_width": width, "image_height": height},
                          command="curate ingest demo")
    ws = store_workspace(workspace_path, store_settings)
    with engines.use(engine_config(engine_settings, "curate ingest demo")):
        report = ingest_demo(ws, config, images=not no_images, workers=workers)
    console.print(f"demo collection: {report.records} photos (seed {config.seed}, "
                  f"{'no images' if no_images else image_size}) in {ws.root}; truth: {ws.truth_path}")
    rows = [("rows", report.records), ("already in catalog", report.already_done),
            ("rendered now", report.fetched), ("images stored", report.stored)]
    rows += [(f"dropped: {reason}", count) for reason, count in sorted(report.dropped_by_reason.items())]
    print_table(pd.DataFrame(rows, columns=["", "photos"]), title="curate ingest demo")
