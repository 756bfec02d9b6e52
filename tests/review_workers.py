"""Process targets for test_review, apart from it: a spawned child imports the module that holds
its target, and test_review imports the whole command line (~2.5 s of CPU per child) where an
append needs only the journal (~0.8 s)."""

from __future__ import annotations

from pathlib import Path

from curate.review.journal import append_decisions, new_decision
from curate.workspace import Workspace


def append_many(root: str, worker: int, count: int) -> None:
    """`count` long decisions appended one call at a time, as a second review session would."""
    ws = Workspace(Path(root))
    for i in range(count):
        append_decisions(ws, [new_decision(f"t:{worker}-{i}", "keep", who="tester", queue="q" * 500)])  # long lines
