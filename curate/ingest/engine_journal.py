"""Append-only JSON lines: the ingest journal of finished outcomes (`Journal`) and the Flickr and
Commons listing logs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TextIO

from curate import schema
from curate.workspace import Workspace

# -- append-only JSON lines: the ingest journal and the Flickr and Commons listing logs ---------

def json_line(value: dict) -> str:
    return json.dumps(value, default=str) + "\n"


def open_json_lines(path: Path) -> TextIO:
    """`path` opened to append JSON lines (made with its folder if missing). A torn last
    line left by a killed run gets its newline first, so it cannot glue onto our first line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a", encoding="utf-8")
    if path.stat().st_size:
        with path.open("rb") as tail:
            tail.seek(-1, os.SEEK_END)
            if tail.read(1) != b"\n":
                handle.write("\n")
    return handle


def append_json_lines(path: Path, values: list[dict]) -> int:
    """Append one JSON line per value, durably (fsync); returns the file's size afterwards."""
    with open_json_lines(path) as handle:
        handle.write("".join(json_line(value) for value in values))
        handle.flush()
        os.fsync(handle.fileno())
        return handle.tell()


def read_json_lines(path: Path) -> list[dict]:
    """The JSON objects of `path`, one a line, in order; a line that is not one (the torn
    last line of a killed run) is skipped, and a missing file has none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    values = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            values.append(value)
    return values


class Journal:
    """Append-only JSON lines of finished outcomes; a torn last line is ignored."""

    def __init__(self, ws: Workspace, source: str):
        self.path: Path = ws.journal_dir / f"ingest-{source}.jsonl"

    def load(self) -> dict[str, dict]:
        """Outcomes by photo id (the last line of a photo wins)."""
        return {outcome[schema.PHOTO_ID]: outcome for outcome in read_json_lines(self.path)
                if schema.PHOTO_ID in outcome}

    def open(self) -> TextIO:
        return open_json_lines(self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
