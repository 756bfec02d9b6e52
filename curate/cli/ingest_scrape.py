"""`curate ingest scrape FOLDER --topic TAG`: a noisy scrape with ground truth from real photos."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import typer

from curate.cli.common import WorkspaceOption, print_drop_reasons, recipe_given, user_errors
from curate.cli.options import config_options
from curate.cli.store_option import store_options, store_workspace
from curate.console import console
from curate.errors import UsageError
from curate.ingest.scrape import ingest_scrape
from curate.pipeline import build_config
from curate.scrape.config import ScrapeConfig
from curate.scrape.sources import require_folders


@user_errors
@store_options
@config_options(ScrapeConfig, skip=("folders", "offtopic"), required=("topic",), show_defaults=True)
def scrape(
    folders: Annotated[list[Path], typer.Argument(
        help="Clean labelled folder(s): one subfolder of photos per label.", metavar="FOLDER...",
        show_default=False)],
    offtopic: Annotated[list[Path] | None, typer.Option(
        "--offtopic", metavar="DIR", help="Folder of off-topic photos (searched recursively). Repeatable.")] = None,
    settings: dict | None = None,  # one flag per ScrapeConfig field (curate/cli/options.py)
    set_values: Annotated[list[str] | None, typer.Option(
        "--set", metavar="NAME=VALUE", help="Any other setting, e.g. --set near_dup_rate=0.2 or "
                                            "--set 'edit_kinds=[\"crop\",\"flip\"]'. Repeatable.")] = None,
    recipe: Annotated[str | None, typer.Option(
        "--recipe", metavar="NAME", parser=recipe_given,
        help="Recipe whose labels (aliases, coordinates) the scrape uses.")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Image threads.")] = 2,
    workspace_path: WorkspaceOption = None,
    store_settings: dict | None = None,  # --store (curate/cli/store_option.py)
) -> None:
    """Turn a clean labelled folder of real photos into a Flickr-like scrape with known mistakes.

    Off-topic photos, mislabels, mis-geotags, photos taken elsewhere, a sandals photographer,
    exact and edited near-duplicate copies, bursts and broken files are injected at known
    rates; the truth goes to <workspace>/demo_truth.parquet for `curate score`.
    """
    require_folders(folders, offtopic or [])  # a missing folder is the first thing to hear of
    values = dict(parse_setting(text) for text in set_values or [])  # --set NAME=VALUE: named by its key
    flags = {**settings, "folders": tuple(str(f.resolve()) for f in folders),
             "offtopic": tuple(str(f.resolve()) for f in offtopic or [])}
    config = build_config(ScrapeConfig, values, "--set", flags=flags, command="curate ingest scrape")
    ws = store_workspace(workspace_path, store_settings)
    report = ingest_scrape(ws, config, recipe, workers=workers)
    console.print(f"ingest scrape: {report.summary()} · already in the catalog {report.already_done}; "
                  f"truth: {ws.truth_path}", highlight=False, markup=False, soft_wrap=True)
    print_drop_reasons(report.dropped_by_reason)


def parse_setting(text: str) -> tuple[str, object]:
    """'near_dup_rate=0.2' -> ('near_dup_rate', 0.2): the value is read as TOML, else as text."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise UsageError(f"--set wants NAME=VALUE, got {text!r}")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return name.strip(), parsed
