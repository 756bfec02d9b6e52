"""Stage freshness read from a workspace: its stage reports and run journals (`load_reports`,
`run_journals`), the states of its stages (`workspace_states`, judged by `curate.freshness.judge`), and
the refusal of a stale split where one is used (`require_fresh_split`, `stale_split_line`).

The judging is pure and lives in `curate.freshness`; this module is its I/O edge (it reads the
workspace's catalog, reports and journals, and writes nothing).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.catalog_batches import CatalogFile
from curate.errors import DataContractError
from curate.fingerprints import PIPELINE
from curate.freshness import STALE, CutShort, StageState, judge, split_coverage
from curate.freshness_advice import JOURNAL_RECIPE, RECIPE_STAGES, journal_recipe, workspace_flag


def load_reports(ws) -> dict:
    """{stage: saved report, None, or the DataContractError of an unreadable one} for PIPELINE; for ingest,
    which keeps no report, {"interrupted": [names]} when unfinished ingests left their journals
    (`interrupted_ingests`), else nothing. A filter report written before reports named their recipe gets the
    recipe of the `curate run` that wrote it under `JOURNAL_RECIPE` (`journal_recipe`), for its command."""
    from curate.stage_reports import PENDING_SUFFIX, load_stage_report, pending_marker

    reports: dict = {}
    ingest_journals = sorted(Path(ws.journal_dir).glob("ingest-*.jsonl")) if Path(ws.journal_dir).is_dir() else []
    if ingest_journals:
        reports["ingest"] = {"interrupted": [path.name.removeprefix("ingest-").removesuffix(".jsonl")
                                             for path in ingest_journals]}
    for stage in PIPELINE[1:]:
        if pending_marker(ws, stage).exists():
            reports[stage] = CutShort(f"`curate {stage}` was cut short after it wrote the catalog and before its "
                                      f"report (reports/{stage}{PENDING_SUFFIX} is there): the catalog holds results "
                                      "no report describes")
            continue
        try:
            reports[stage] = load_stage_report(ws, stage)
        except DataContractError as exc:
            reports[stage] = exc
            continue
        older = stage in RECIPE_STAGES and isinstance(reports[stage], dict) and reports[stage].get("recipe") is None
        if older and (recipe := journal_recipe(stage, reports[stage], run_journals(ws))):
            reports[stage] = {**reports[stage], JOURNAL_RECIPE: recipe}  # (an older report: see journal_recipe)
    return reports


def run_journals(ws) -> list[dict]:
    """The readable run journals of `curate run` (`journal/run-<recipe>.json`: {"recipe", "steps"}), by name."""
    import json

    found = []
    for path in sorted(Path(ws.journal_dir).glob("run-*.json")) if Path(ws.journal_dir).is_dir() else []:
        try:
            journal = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(journal, dict):
            found.append(journal)
    return found


def workspace_states(ws, catalog: pd.DataFrame | CatalogFile | None = None) -> dict[str, StageState]:
    """`judge` over the workspace's catalog (read unless given; a CatalogFile is read in batches)
    and stage reports."""
    from curate.workspace import read_catalog

    stored = stored_columns(ws)  # (a catalog given is the workspace's, read by the caller)
    return judge(read_catalog(ws) if catalog is None else catalog, load_reports(ws), workspace_flag(ws), stored)


def stored_columns(ws) -> frozenset[str] | None:
    """The columns the workspace's catalog file holds (None when it cannot be read: the reader says why)."""
    try:
        return CatalogFile(ws.catalog_path).stored_columns
    except DataContractError:
        return None


def require_fresh_split(ws, catalog: pd.DataFrame | CatalogFile | None = None) -> None:
    """Refuse to use a split that is stale, or that kept photos are missing from (a stage re-ran
    after it and reinstated them): DataContractError (exit 3) naming `curate split`. A catalog
    never split is a UsageError (exit 2), as before. `catalog`: the workspace's catalog (read
    unless given), or a CatalogFile of it to judge in batches (memory flat in its size)."""
    from curate.errors import UsageError
    from curate.workspace import read_catalog

    catalog = read_catalog(ws) if catalog is None else catalog
    split_photos, kept, missing = split_coverage(catalog)
    split = " ".join(["curate split", *([flag] if (flag := workspace_flag(ws)) else [])])  # audit AO: with -w
    if not split_photos:
        raise UsageError(f"the catalog has no split yet; run `{split}` first")
    stale = stale_split_line(ws, catalog)
    if stale:
        raise DataContractError(stale)
    if missing:
        raise DataContractError(f"{missing} of {kept} kept photos have no split (a stage re-ran after "
                                f"`curate split`); run `{split}` again")


def stale_split_line(ws, catalog: pd.DataFrame | CatalogFile) -> str | None:
    """"the split is stale (why); run `…`, then `curate split …`" (the stale stages in order, the split last),
    or None when the split is not stale: what `require_fresh_split` refuses with, and what `classify evaluate`
    warns with (an old run scored on a stale split's test photos: audit AK)."""
    states = workspace_states(ws, catalog)
    split = states["split"]
    if split.state != STALE or split.rules_only:  # (an upgrade's new rules: its photos and split still agree)
        return None
    todo = [state.command for state in states.values() if state.state == STALE]
    return f"the split is stale ({'; '.join(split.reasons)}); run " + ", then ".join(f"`{command}`" for command in todo)
