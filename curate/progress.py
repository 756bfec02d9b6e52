"""How library code reports progress without printing: two hooks the command line fills.

Library modules (stages, ingest, training) never write to the terminal. They report:

* notes and warnings through `logging` (a logger per module, e.g. ``logging.getLogger(__name__)``;
  INFO for what a command shows as it goes, WARNING for what went wrong but did not stop it);
* long loops through `progress_bar(description, total)`, which yields an ``advance(n=1)``
  callable, and waits with no count through `working(description)`, which yields an
  ``update(text)`` callable.

Both hooks are silent until a front end installs its own (`use_progress`): the `curate` and
`classify` commands install rich bars on a terminal and steady plain lines off one
(`curate.console.install_console_output`); a notebook or a service can install anything else.

>>> with progress_bar("work", 3) as advance:
...     advance(3)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

Advance = Callable[..., None]  # advance(n=1)
Update = Callable[[str], None]  # update(text)
ProgressFactory = Callable[[str, "int | None"], AbstractContextManager[Advance]]
WorkingFactory = Callable[[str], AbstractContextManager[Update]]


@contextmanager
def _silent_bar(description: str, total: int | None) -> Iterator[Advance]:
    yield lambda n=1: None


@contextmanager
def _silent_working(description: str) -> Iterator[Update]:
    yield lambda text: None


_hooks: dict[str, Callable] = {"bar": _silent_bar, "working": _silent_working}


def use_progress(bar: ProgressFactory | None = None, working: WorkingFactory | None = None) -> None:
    """Install the front end's progress display (None: back to silent)."""
    _hooks["bar"] = bar or _silent_bar
    _hooks["working"] = working or _silent_working


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Advance]:
    """Yield ``advance(n=1)`` for a loop over `total` items, shown by the installed display."""
    with _hooks["bar"](description, total) as advance:
        yield advance


@contextmanager
def working(description: str) -> Iterator[Update]:
    """Yield ``update(text)`` for a wait with no count (a spinner on a terminal)."""
    with _hooks["working"](description) as update:
        yield update
