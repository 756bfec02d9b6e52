"""`curate ingest scrape FOLDER --topic TAG`: a noisy scrape with ground truth from real photos."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import typer

from curate.cli.common import WorkspaceOption, print_drop_reasons, user_errors, workspace
from curate.console import console
from curate.errors import UsageError
from curate.ingest.scrape import ingest_scrape
from curate.pipeline import build_config
from curate.scrape.config import ScrapeConfig

_DEFAULT = ScrapeConfig(folders=("x",), topic="x", offtopic=("x",))


@user_errors
def scrape(
    folders: Annotated[list[Path], typer.Argument(
        help="Clean labelled folder(s): one subfolder of photos per label.", metavar="FOLDER...",
        show_default=False)],
    topic: Annotated[str, typer.Option("--topic", metavar="TAG", help="The topic tag (e.g. urban, landmark).",
                                       show_default=False)],
    offtopic: Annotated[list[Path] | None, typer.Option(
        "--offtopic", metavar="DIR", help="Folder of off-topic photos (searched recursively). Repeatable.")] = None,
    labels: Annotated[str | None, typer.Option(
        "--labels", metavar="A,B,...", help="Label subfolders to use (default: all, or the recipe's labels).")] = None,
    photos: Annotated[int, typer.Option("--photos", help="How many photos the scrape has.")] = _DEFAULT.photos,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed and folders, same scrape.")] = 0,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", metavar="NAME=VALUE", help="Any other setting, e.g. --set near_dup_rate=0.2 or "
                                            "--set 'edit_kinds=[\"crop\",\"flip\"]'. Repeatable.")] = None,
    recipe: Annotated[str | None, typer.Option(
        "--recipe", metavar="NAME", help="Recipe whose labels (aliases, coordinates) the scrape uses.")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Image threads.")] = 2,
    workspace_path: WorkspaceOption = None,
) -> None:
    """Turn a clean labelled folder of real photos into a Flickr-like scrape with known mistakes.

    Off-topic photos, mislabels, mis-geotags, photos taken elsewhere, a sandals photographer,
    exact and edited near-duplicate copies, bursts and broken files are injected at known
    rates; the truth goes to <workspace>/demo_truth.parquet for `curate score`.
    """
    values = dict(parse_setting(text) for text in settings or [])
    if labels:
        values["labels"] = [name.strip() for name in labels.split(",") if name.strip()]
    config = build_config(ScrapeConfig, values, "--set", folders=tuple(str(f.resolve()) for f in folders), topic=topic,
                          offtopic=tuple(str(f.resolve()) for f in offtopic or []), photos=photos, seed=seed)
    ws = workspace(workspace_path)
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
