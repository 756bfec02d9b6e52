"""One place for terminal output: the consoles, progress bars, and what library code reports.

Library modules never print (see `curate.progress`): they log through `logging` and report
progress through `curate.progress`'s hooks. `install_console_output()` (called by the command
line's shared module, curate.cli.common) shows both here: INFO records of the ``curate`` and
``classify`` loggers on stdout, warnings on stderr, progress as rich bars on a terminal and
as steady plain lines off one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

# markup off: what is printed quotes catalog text from strangers (labels, tags, owner ids), and rich read
# `[old] photos` as a tag (shown as " photos") and `[/x]` as a closing tag that raised MarkupError after the
# stage had written (audit AW1). A line that wants a style says markup=True and escapes what it quotes.
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)
if not console.is_terminal and "COLUMNS" not in __import__("os").environ:
    console = Console(width=200, markup=False)  # piped or captured output: don't squeeze tables to 80 columns

LINE_EVERY_S = 30.0  # off a terminal: a progress line at least this often ...
LINE_EVERY_SHARE = 0.10  # ... and at every tenth of the work


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator:
    """Yield an `advance(n=1)` callable: a rich bar on a terminal, steady plain lines off one.

    Off a terminal (CI, `make demo > log`) a bar would print nothing until the step ends, so
    a line goes to stderr at every tenth of the work or every 30 s, whichever comes first.
    """
    if not err_console.is_terminal:
        if not total:
            yield lambda n=1: None
            return
        import threading

        lines = ProgressLines(description, total,
                             lambda text: err_console.print(text, markup=False, highlight=False, soft_wrap=True),
                             every_s=LINE_EVERY_S)
        stop = threading.Event()

        def heartbeat() -> None:  # a line every 30 s even while no item finishes (slow downloads)
            while not stop.wait(lines.every_s):
                lines.tick()

        thread = threading.Thread(target=heartbeat, name="progress-lines", daemon=True)
        thread.start()
        try:
            yield lines.advance
        finally:
            stop.set()
            thread.join()
        lines.finish()
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False, disable=not total) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


class ProgressLines:
    """Plain progress lines at a steady interval: `label: 1,200/3,000 (40%), 1m05s, ~1m38s left`."""

    def __init__(self, description: str, total: int, write: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic, every_s: float = LINE_EVERY_S,
                 every_share: float = LINE_EVERY_SHARE):
        self.description, self.total, self.write, self.clock = description, total, write, clock
        self.every_s, self.step = every_s, max(1, int(total * every_share))
        self.done = 0
        self.started = self.last_time = clock()
        self.next_count = self.step

    def advance(self, n: int = 1) -> None:
        """Count `n` more items; print a line when a tenth is crossed or `every_s` has passed."""
        self.done += n
        now = self.clock()
        if self.done >= self.next_count or now - self.last_time >= self.every_s:
            if self.done < self.total:
                self._line(now)
            self.next_count = (self.done // self.step + 1) * self.step

    def tick(self) -> None:
        """A line when `every_s` has passed since the last one, though no item finished since (an audit's
        download log fell silent for 80 s while three slow URLs ran)."""
        now = self.clock()
        if now - self.last_time >= self.every_s and self.done < self.total:
            self._line(now)

    def finish(self) -> None:
        """The closing line (always printed, so a log shows the step's total and time)."""
        self._line(self.clock())

    def _line(self, now: float) -> None:
        self.last_time = now
        elapsed = now - self.started
        share = self.done / self.total if self.total else 1.0
        text = f"{self.description}: {self.done:,}/{self.total:,} ({share:.0%}), {_duration(elapsed)}"
        if 0 < self.done < self.total:
            text += f", ~{_duration(elapsed * (self.total - self.done) / self.done)} left"
        self.write(text)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


LIBRARY_LOGGERS = ("curate", "classify")


class _ConsoleHandler(logging.Handler):
    """A library log record as one plain line: INFO on stdout (or stderr, see `info_to_stderr`),
    WARNING and above on stderr. No level prefix: the messages say "warning:" themselves."""

    info_on_stderr = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            target = err_console if record.levelno >= logging.WARNING or self.info_on_stderr else console
            target.print(record.getMessage(), markup=False, highlight=False, soft_wrap=True)
        except Exception:  # noqa: BLE001 - logging's own contract: a display error never stops the work
            self.handleError(record)


_handler = _ConsoleHandler()


@contextmanager
def _status(description: str) -> Iterator[Callable[[str], None]]:
    """A spinner on a terminal; off one, `waiting_lines` (a rich status prints nothing there)."""
    if not err_console.is_terminal:
        with waiting_lines(description, lambda text: err_console.print(text, markup=False, highlight=False,
                                                                      soft_wrap=True)) as update:
            yield update
        return
    with err_console.status(description) as status:
        yield status.update


@contextmanager
def waiting_lines(description: str, write: Callable[[str], None], every_s: float | None = None,
                  clock: Callable[[], float] = time.monotonic) -> Iterator[Callable[[str], None]]:
    """Off a terminal, a wait with no count says it is still going: a line `description: still working,
    1m00s` every `every_s` while it lasts (nothing for a shorter wait, so quick steps stay quiet). Yields
    `update(text)`, whose latest text replaces the description in the lines. `every_s` None: LINE_EVERY_S."""
    import threading

    every_s = LINE_EVERY_S if every_s is None else every_s
    started, stop, shown = clock(), threading.Event(), [description]

    def lines() -> None:
        while not stop.wait(every_s):
            write(f"{shown[0]}: still working, {_duration(clock() - started)}")

    thread = threading.Thread(target=lines, name="waiting-lines", daemon=True)
    thread.start()
    try:
        yield lambda text: shown.__setitem__(0, text)
    finally:
        stop.set()
        thread.join()


def install_console_output() -> None:
    """Show what library code reports on this process's consoles (idempotent)."""
    from curate.progress import use_progress

    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _handler not in logger.handlers:
            logger.addHandler(_handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # one line per record, even when the root logger has a handler
    use_progress(progress_bar, _status)


@contextmanager
def info_to_stderr() -> Iterator[None]:
    """Send library INFO lines to stderr for a while, so that a command's stdout stays one JSON
    document (e.g. `classify evaluate --json` while comparison models train)."""
    before, _handler.info_on_stderr = _handler.info_on_stderr, True
    try:
        yield
    finally:
        _handler.info_on_stderr = before
