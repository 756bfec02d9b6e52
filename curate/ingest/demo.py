"""`curate ingest demo`: generate the demo collection into a workspace.

The metadata and the ground truth come from `curate.demo.generate_metadata`; images
are rendered on demand by the ingest engine's thread pool (fetch = render), so the
demo goes through exactly the same validation, storage, journaling and resume path as
a real scrape.

The ground truth is written to `<workspace>/demo_truth.parquet` before any image, with
the generating config stored in the file's metadata. Re-running with the same config
resumes an interrupted run, or does nothing new. A workspace holds one demo
collection: asking for a different one (other seed, size, rates or image size) is
refused with a UsageError rather than mixing two collections under one truth file.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curate import schema
from curate.demo.config import DemoConfig
from curate.demo.metadata import generate_metadata
from curate.demo.render import PhotoRenderer
from curate.errors import UsageError
from curate.ingest.engine import run_ingest
from curate.ingest.engine_job import IngestJob, IngestReport
from curate.recipes import load_recipe
from curate.workspace import Workspace, changes_workspace, write_table_atomic

SOURCE = "demo"
RECIPE = "skylines"
CONFIG_KEY = b"curate.demo.config"
SCRAPE_CONFIG_KEY = b"curate.scrape.config"  # a scrape's truth (curate.ingest.scrape) shares the file
IMAGES_KEY = b"curate.demo.images"


@changes_workspace
def ingest_demo(ws: Workspace, config: DemoConfig | None = None, images: bool = True,
                workers: int = 2) -> IngestReport:
    """Generate (or resume) the demo collection in `ws` and ingest it.

    Args:
        ws: the workspace; created if needed.
        config: the collection to build (default: DemoConfig()).
        images: render and store images; False gives metadata-only rows (benchmarks).
        workers: render threads.
    Returns:
        The engine's IngestReport (rows, stored, dropped by reason).
    Raises:
        UsageError: the workspace already holds a different demo collection.

    >>> from pathlib import Path; import tempfile
    >>> ws = Workspace(Path(tempfile.mkdtemp()))
    >>> ingest_demo(ws, DemoConfig(photos=40), images=False).records
    40
    """
    config = config or DemoConfig()
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    ws.ensure()
    check_same_collection(ws, config, images)
    recipe = load_recipe(RECIPE)
    records, truth = generate_metadata(config, recipe)
    if not ws.truth_path.exists():
        _check_catalog_matches(ws, truth)
        write_truth(ws, truth, config, images)
    fetch = PhotoRenderer(truth, config) if images else None
    return run_ingest(ws, IngestJob(SOURCE, records, fetch, recipe, workers=workers))


def write_truth(ws: Workspace, truth: pd.DataFrame, config, images: bool) -> None:
    """Write the ground truth atomically, with the generating config (a DemoConfig or a
    scrape's ScrapeConfig) in its metadata."""
    table = pa.Table.from_pandas(truth, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[SCRAPE_CONFIG_KEY if type(config).__name__ == "ScrapeConfig" else CONFIG_KEY] = config.to_json().encode()
    metadata[IMAGES_KEY] = json.dumps(images).encode()
    write_table_atomic(ws.truth_path, table.replace_schema_metadata(metadata))


def read_truth(ws: Workspace) -> tuple[pd.DataFrame, DemoConfig]:
    """The ground truth of `ws` (a demo's or a scrape's) and the config that generated it."""
    if not ws.truth_path.exists():
        raise UsageError(f"no ground truth at {ws.truth_path}; run `curate ingest demo` or `curate ingest scrape` "
                         "first")
    config, _ = truth_settings(ws)
    try:
        return pq.read_table(ws.truth_path).to_pandas(), config
    except (OSError, pa.ArrowException) as exc:
        raise _not_a_truth_file(ws, exc) from exc


def truth_settings(ws: Workspace) -> tuple[DemoConfig, bool]:
    """(config, images) recorded in the workspace's truth file: a DemoConfig, or the
    ScrapeConfig of a scrape."""
    try:
        metadata = pq.read_schema(ws.truth_path).metadata or {}
        if SCRAPE_CONFIG_KEY in metadata:
            from curate.scrape.config import ScrapeConfig

            return ScrapeConfig.from_json(metadata[SCRAPE_CONFIG_KEY].decode()), json.loads(metadata[IMAGES_KEY])
        return DemoConfig.from_json(metadata[CONFIG_KEY].decode()), json.loads(metadata[IMAGES_KEY])
    except (OSError, KeyError, ValueError, TypeError, UsageError, pa.ArrowException) as exc:
        raise _not_a_truth_file(ws, exc) from exc


def _not_a_truth_file(ws: Workspace, exc: Exception) -> UsageError:
    return UsageError(f"{ws.truth_path} is not a truth file written by `curate ingest demo` or `curate ingest "
                      f"scrape` ({exc}); "
                      "delete it or use a fresh --workspace")


def check_same_collection(ws: Workspace, config, images: bool) -> None:
    """Refuse to mix two generated collections (demo or scrape) in one workspace."""
    if not ws.truth_path.exists():
        return
    previous, had_images = truth_settings(ws)
    if type(previous) is not type(config):
        held = "scrape" if type(previous).__name__ == "ScrapeConfig" else "demo"
        raise UsageError(f"workspace {ws.root} already holds a {held} collection; pass a fresh --workspace")
    if previous != config:
        before, now = json.loads(previous.to_json()), json.loads(config.to_json())
        changed = ", ".join(f"{key} {before[key]} (asked {now[key]})" for key in sorted(now) if before[key] != now[key])
        kind = "demo" if isinstance(config, DemoConfig) else "scrape"
        raise UsageError(f"workspace {ws.root} already holds the {kind} collection made with {changed}; "
                         "re-run with the same options, or pass a fresh --workspace")
    if images and not had_images:
        raise UsageError(f"workspace {ws.root} holds a metadata-only demo (--no-images); "
                         "use a fresh --workspace to render images")


def _check_catalog_matches(ws: Workspace, truth: pd.DataFrame) -> None:
    """Without a truth file, demo rows already in the catalog must belong to this collection."""
    if not ws.catalog_path.exists():
        return
    try:
        existing = pq.read_table(ws.catalog_path, columns=[schema.PHOTO_ID, "source"]).to_pandas()
    except (OSError, pa.ArrowException):
        return  # the engine reports an unreadable catalog properly
    demo_ids = existing.loc[existing["source"] == SOURCE, schema.PHOTO_ID]
    foreign = int((~demo_ids.isin(truth[schema.PHOTO_ID])).sum())
    if foreign:
        raise UsageError(f"workspace {ws.root} holds {foreign} demo photos from another demo collection "
                         f"and no {ws.truth_path.name}; pass a fresh --workspace")
