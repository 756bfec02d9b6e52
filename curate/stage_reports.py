"""Stage outputs saved beside the catalog: `<workspace>/reports/<stage>.json`.

Each holds the resolved config, the input catalog's hash and the stage report, so any
result can be traced to the exact inputs that produced it. A stage of the pipeline
(`curate.freshness.PIPELINE`) also records what it read and wrote (key ``freshness``), so
that later commands can tell when an earlier stage re-ran after it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from curate import freshness, freshness_workspace
from curate.errors import DataContractError
from curate.fingerprints import INPUTS
from curate.workspace import Workspace, atomic_write_bytes, read_catalog


def save_stage_report(ws: Workspace, stage: str, input_catalog_sha256: str, report: dict,
                      started: float | None = None, batch_rows: int | None = None) -> None:
    """Write `reports/<stage>.json`; call it after the stage wrote the catalog. For a stage of
    the pipeline it reads the catalog back to record the stage's freshness fingerprints: whole, or in
    batches of `batch_rows` rows when given (the DuckDB engine: memory flat in the catalog's size).
    `started`: the stage's `time.monotonic()` at its start, recorded as its `seconds` (what `curate
    status` shows as took)."""
    payload = {"stage": stage, "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
               "input_catalog_sha256": input_catalog_sha256, **report, **took(started)}
    if stage in INPUTS and ws.catalog_path.exists():  # ingest is judged from the catalog itself
        if batch_rows:
            from curate.catalog_batches import CatalogFile

            catalog = CatalogFile(ws.catalog_path, batch_rows)
        else:
            catalog = read_catalog(ws)
        payload["freshness"] = freshness.record_run(stage, catalog, report, freshness_workspace.load_reports(ws))
    atomic_write_bytes(ws.reports_dir / f"{stage}.json",
                       json.dumps(payload, indent=2, default=str).encode("utf-8"))
    report_written(ws, stage)


# A stage's catalog and its report are two writes: a run killed between them (audit AR: `curate split --seed 7`
# killed there read as the old seed-0 split, "fresh"; a first filter killed there as "not run", its drops in the
# catalog) leaves results no report describes. The marker is written just before the catalog and removed once
# the report is written; while it is there the stage reads as stale (curate.freshness_workspace.load_reports).
PENDING_SUFFIX = ".pending"


def pending_marker(ws: Workspace, stage: str) -> Path:
    """`reports/<stage>.pending`: there while `stage` has written the catalog and not yet its report."""
    return ws.reports_dir / f"{stage}{PENDING_SUFFIX}"


def mark_writing(ws: Workspace, stage: str) -> None:
    """Before `stage` writes the catalog: its `pending_marker`, removed by its report (`report_written`)."""
    path = pending_marker(ws, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, datetime.now(UTC).isoformat(timespec="seconds").encode("utf-8"))


def report_written(ws: Workspace, stage: str) -> None:
    """Once `reports/<stage>.json` describes the catalog: the run's marker goes."""
    pending_marker(ws, stage).unlink(missing_ok=True)


def took(started: float | None) -> dict:
    """{"seconds": time since `started` (a `time.monotonic()`)}, or {} without a start."""
    return {} if started is None else {"seconds": round(time.monotonic() - started, 2)}


def load_stage_report(ws: Workspace, stage: str) -> dict | None:
    """The stage's saved report, or None when the stage has not run."""
    path = ws.reports_dir / f"{stage}.json"
    if not path.exists():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(report, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise DataContractError(f"stage report {path} is unreadable ({exc}); "
                                f"run `curate {stage}` again to rewrite it") from exc
    return report


def names_text(names, shown: int = 12) -> str:
    """Names for a message: all of them, or the first `shown` and how many more (one format for every stage).

    >>> names_text(["a", "b", "c"]), names_text(["a", "b", "c", "d"], shown=2)
    ('a, b, c', 'a, b, … and 2 more')
    """
    names = [str(name) for name in names]
    return ", ".join(names) if len(names) <= shown else f"{', '.join(names[:shown])}, … and {len(names) - shown} more"


def counts_text(counts: dict[str, int], nothing: str = "nothing") -> str:
    """A stage report's counts by reason as words, most first: what step summaries print.

    >>> counts_text({"exact_duplicate": 12, "geo_outlier": 223})
    '223 geo_outlier, 12 exact_duplicate'
    >>> counts_text({})
    'nothing'
    """
    ranked = sorted(((int(n), reason) for reason, n in counts.items() if n), key=lambda item: (-item[0], item[1]))
    return ", ".join(f"{n:,} {reason}" for n, reason in ranked) or nothing
