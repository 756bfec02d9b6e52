"""One place for terminal output: a stderr console and progress bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console()
err_console = Console(stderr=True)
if not console.is_terminal and "COLUMNS" not in __import__("os").environ:
    console = Console(width=200)  # piped or captured output: don't squeeze tables to 80 columns


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator:
    """Yield an `advance(n=1)` callable that moves a rich progress bar on stderr."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False, disable=not total) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
