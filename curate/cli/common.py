"""Pieces every curate command shares: the --workspace option, error mapping, tables."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from curate.console import console, err_console
from curate.errors import CurateError
from curate.workspace import WORKSPACE_ENV, Workspace, resolve_workspace

WorkspaceOption = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", envvar=WORKSPACE_ENV, show_default="./workspace",
                 help="Workspace folder (catalog + image store). Env: CURATE_WORKSPACE."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]


def workspace(path: Path | None) -> Workspace:
    return resolve_workspace(path)


def user_errors(command):
    """Turn CurateError into one red line on stderr and the error's exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except CurateError as exc:
            # escaped: messages quote user text such as "[train]" that Rich would read as markup
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("interrupted: run the same command again to resume", highlight=False)
            raise typer.Exit(130) from None

    return wrapper


def frame_table(frame: pd.DataFrame, title: str | None = None) -> Table:
    """A rich table of a small DataFrame."""
    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*("" if pd.isna(v) else str(v) for v in row))
    return table


def print_table(frame: pd.DataFrame, title: str | None = None) -> None:
    console.print(frame_table(frame, title))


def print_drop_reasons(dropped_by_reason: dict[str, int]) -> None:
    """An ingest report's "dropped by reason" table, most rows first (nothing when none dropped)."""
    if dropped_by_reason:
        reasons = pd.DataFrame(sorted(dropped_by_reason.items(), key=lambda kv: (-kv[1], kv[0])),
                               columns=["drop_reason", "rows"])
        print_table(reasons, title="dropped by reason")
