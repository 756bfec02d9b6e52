"""Decisions as data: `<workspace>/reviews.jsonl`, one JSON object per line, append-only.

Each line::

    {"id": "3f2a…", "who": "ana", "when": "2026-12-02T17:05:01+00:00", "photo_id": "demo:12",
     "action": "relabel", "label": "paris", "before": {"status": "kept", "label": "rome", …},
     "after": {…}, "undoes": null, "batch": null, "queue": "label_issues"}

`action` is keep, drop, relabel (with `label`) or undo (with `undoes`, the id of the decision it
takes back). Lines are appended with one `write` on a file opened with O_APPEND while holding an
exclusive `flock` on it, so two tabs or two processes deciding at once never interleave or lose
a line, and a reader sees whole lines only.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import unicodedata
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from curate import schema
from curate.errors import DataContractError, UsageError
from curate.records import recomputed_stages
from curate.review.apply import ACTIONS, apply_decisions, decided_state, float_id_twins
from curate.workspace import Workspace, atomic_write_bytes

REVIEWS_FILE = "reviews.jsonl"


def reviews_path(ws: Workspace) -> Path:
    """`<workspace>/reviews.jsonl`."""
    return ws.root / REVIEWS_FILE


def local_user() -> str:
    """The local user name recorded as `who` ("unknown" when the OS cannot tell)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        return os.environ.get("USER") or "unknown"


def new_decision(photo_id: str, action: str, *, label: str | None = None, undoes: str | None = None,
                 before: dict | None = None, after: dict | None = None, batch: str | None = None,
                 queue: str | None = None, who: str | None = None) -> dict:
    """A decision record with a fresh id, the local user and the current UTC time."""
    return {"id": uuid.uuid4().hex[:16], "who": who or local_user(),
            "when": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "photo_id": photo_id, "action": action, "label": label, "before": before, "after": after,
            "undoes": undoes, "batch": batch, "queue": queue}


def check_decision(decision: object, where: str) -> dict:
    """The decision if it has the fields its action needs, else DataContractError naming `where`."""
    if not isinstance(decision, dict):
        raise DataContractError(f"{where} is not a JSON object; fix or remove that line")
    for key in ("id", "photo_id", "action"):
        if not isinstance(decision.get(key), str) or not decision[key]:
            raise DataContractError(f"{where} has no {key!r} text; fix or remove that line")
    if decision["action"] not in ACTIONS:
        raise DataContractError(f"{where}: unknown action {decision['action']!r} (known: {', '.join(ACTIONS)})")
    if decision["action"] == "relabel" and not (isinstance(decision.get("label"), str) and decision["label"].strip()):
        raise DataContractError(f"{where}: a relabel needs a non-empty 'label'")
    if decision["action"] == "undo" and not isinstance(decision.get("undoes"), str):
        raise DataContractError(f"{where}: an undo needs 'undoes', the id of the decision it takes back")
    return decision


MAX_LABEL_CHARS = 100


def clean_label(label: str | None) -> str:
    """A reviewer's label as it is recorded: trimmed (" Forest " is Forest: audit AO) and in Unicode NFC, the form
    every source's labels take (audit CG: "São Paulo" typed or pasted in NFD, from a macOS file name, made a
    second label that looked the same, and a second export folder).

    >>> clean_label(" Sa\u0303o Paulo ") == "S\u00e3o Paulo"
    True
    """
    return unicodedata.normalize("NFC", (label or "").strip())


def label_problem(label: str) -> str | None:
    """Why a reviewer's label cannot be used (the review app's rule and `--import-decisions`'s: audit AN, an
    import took a NUL, a newline or 300 characters into the catalog, the CSV export and model.json), or None.

    >>> label_problem("coast"), label_problem("co\\nast") == label_problem("co\\u2028ast") is not None
    (None, True)
    """
    if not label or len(label) > MAX_LABEL_CHARS:
        return f"a relabel needs a label of 1-{MAX_LABEL_CHARS} characters"
    # a NUL or TAB would travel into every table; a line or paragraph separator (U+2028, U+2029, NEL) broke
    # reviews.jsonl for every reader that splits lines on them (audit AO)
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in label):
        return "a label may not hold control characters (tab, newline, NUL) or line separators"
    return None


def parse_decisions(text: str, source: str) -> list[dict]:
    """Decisions from JSON Lines text; blank lines are skipped; a bad line is a DataContractError."""
    decisions = []
    # lines end at "\n" only: json.dumps writes U+2028 and the like raw, which str.splitlines() would split on
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            decision = json.loads(line)
        except ValueError:
            raise DataContractError(f"{source} line {number} is not JSON; fix or remove that line") from None
        decisions.append(check_decision(decision, f"{source} line {number}"))
    return decisions


def read_decisions_file(path: Path) -> list[dict]:
    """Every decision in a JSON Lines file, in order ([] when the file does not exist)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise DataContractError(f"cannot read {path} ({exc}); restore it or move it away") from None
    return parse_decisions(text, str(path))


def read_decisions(ws: Workspace) -> list[dict]:
    """Every decision of the workspace, in the order they were made."""
    return read_decisions_file(reviews_path(ws))


def append_decisions(ws: Workspace, decisions: list[dict]) -> None:
    """Append decisions to reviews.jsonl atomically: all lines in one write, under an exclusive flock."""
    if not decisions:
        return
    data = "".join(json.dumps(check_decision(d, "decision"), ensure_ascii=False, default=str) + "\n"
                   for d in decisions).encode("utf-8")
    path = reviews_path(ws)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the flock


def apply_workspace_decisions(ws: Workspace, catalog: pd.DataFrame, stage: str | None = None) -> pd.DataFrame:
    """The catalog with the workspace's review decisions applied: the one call a stage's I/O edge
    makes before writing the catalog, so that human decisions win on every re-run (`stage`: the stage that
    has just recomputed the catalog; its drops and the later stages' it reset are judged anew)."""
    return apply_decisions(catalog, read_decisions(ws), recomputed_stages(stage))


def reviewed_kept(ws: Workspace) -> list[str]:
    """The photo ids the workspace's active review decisions keep (what the filter's collage rule reads:
    curate.filters.collages)."""
    state = decided_state(read_decisions(ws))
    return state.index[state["status"] == schema.KEPT].tolist()


def export_decisions(ws: Workspace, out: Path) -> int:
    """Write every decision of the workspace (undos included) to `out` as JSON Lines; returns how many."""
    decisions = read_decisions(ws)
    if out.is_dir():
        raise UsageError(f"--export-decisions {out} is a folder; give a file path such as {out / REVIEWS_FILE}")
    try:
        atomic_write_bytes(out, "".join(json.dumps(d, ensure_ascii=False, default=str) + "\n"
                                        for d in decisions).encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write {out} ({exc.strerror or exc}); give a path you can write to") from None
    return len(decisions)


def import_decisions(ws: Workspace, source: Path,
                     held_ids: Collection[str]) -> tuple[int, int, list[tuple[str, str]]]:
    """Append the decisions of `source` that the workspace lacks (by id), in their order. One naming a photo the
    workspace does not hold (`held_ids`: its catalog's photo ids) by an id that differs from a held one only by a
    trailing '.0' (`float_id_twins`) is appended naming the held one, so it applies to that photo.

    Returns (appended, already present, (id as given, id held) of each appended decision so moved). A missing or
    malformed file is one error line.
    """
    if not source.is_file():
        what = "is a folder" if source.is_dir() else "no such file"
        raise UsageError(f"--import-decisions {source}: {what}; give a file written by --export-decisions")
    incoming = read_decisions_file(source)
    for decision in incoming:
        if decision["action"] == "relabel":  # as the app takes it: " Forest " is Forest (audit AO), NFC (CG)
            decision["label"] = clean_label(decision["label"])
        problem = label_problem(decision["label"]) if decision["action"] == "relabel" else None
        if problem:
            raise DataContractError(f"--import-decisions {source}: decision {decision['id']!r} ({decision['photo_id']}"
                                    f"): {problem}; fix that line, then import again (nothing was imported)")
    known = {d["id"] for d in read_decisions(ws)}
    fresh = []
    for decision in incoming:
        if decision["id"] not in known:
            known.add(decision["id"])
            fresh.append(decision)
    # the decision keeps its id, so importing the same file again still finds it present
    twins = float_id_twins((d["photo_id"] for d in fresh), held_ids)
    moved = [(d["photo_id"], twins[d["photo_id"]]) for d in fresh if d["photo_id"] in twins]
    fresh = [{**d, "photo_id": twins.get(d["photo_id"], d["photo_id"])} for d in fresh]
    append_decisions(ws, fresh)
    return len(fresh), len(incoming) - len(fresh), moved
