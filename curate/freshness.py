"""Stage freshness: is each stage's result still the one its inputs would give?

The workspace's stages run in one order (`PIPELINE`): ingest → embed → filter → prefilter →
split. Embed comes before the filter because the filter's near-duplicate links read the
embeddings (of every stored image, the filter's own drops included). Each stage after ingest
saves, in its stage report (`reports/<stage>.json`, key ``freshness``), what it read and what it
wrote:

- ``inputs``: a fingerprint of the catalog columns it reads, over the rows the stages before
  it kept (its own and later stages' drops count as kept, since it reinstates them);
- ``output``: a fingerprint of the columns it writes and of its own drops (embed writes no
  column: its output is its cache key and inputs);
- ``upstream``: the run id and output fingerprint of every stage it depends on (`UPSTREAM`);
  ingest keeps no report, so its run id is the fingerprint of the columns it writes.

A stage is *stale* when, judged from today's catalog and reports, an upstream stage's output
differs from the one it read, its inputs differ, its own drops and columns are no longer in the
catalog (an earlier stage re-ran and reinstated its drops: filter and prefilter only; a split
column edited by hand is left to `curate check-leakage`), or an upstream stage is stale. Nothing
here looks at clocks: a stage re-run with the same result leaves the stages after it fresh.

The fingerprints are computed in `curate.fingerprints`. This module judges (pure, on a catalog and
reports given to it); `curate.freshness_workspace` reads a workspace's reports and judges it
(`workspace_states`), and refuses a stale split (`require_fresh_split`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from curate import schema, stage_rules
from curate.catalog_batches import CatalogFile
from curate.errors import DataContractError
from curate.fingerprints import (
    PIPELINE,
    _frames,
    input_columns,
    input_fingerprint,
    inputs_as_recorded,
    output_as_recorded,
    output_columns,
    output_fingerprint,
)
from curate.freshness_advice import (
    command_for,
    current_geo_lines,
    ingest_command,
    interrupted_ingests,
    interrupted_line,
    stage_warning_lines,
)
from curate.records import DROPPING_STAGES

# The filter depends on embed: `curate embed` run (or re-run with a new result) after the filter
# gives its near-duplicate links evidence they lacked, so the filter reads as stale until re-run.
# Embed reads only the stored images (its INPUTS), not ingest's metadata: a re-ingest that changed
# tags, owners or labels but no image leaves it fresh (an acceptance audit's tags-only re-ingest made
# every stage read stale and asked for a `curate embed` that computed nothing).
UPSTREAM = {"ingest": (), "embed": (), "filter": ("ingest", "embed"),
            "prefilter": ("ingest", "filter", "embed"), "split": ("ingest", "filter", "prefilter")}
FRESH, STALE, NOT_RUN, UNKNOWN = "fresh", "stale", "not run", "unknown"



@dataclass
class StageState:
    """How one stage stands: `state` is fresh, stale, not run or unknown (ran before freshness was
    recorded); `reasons` say what changed; `command` is what to run to make it fresh."""

    stage: str
    state: str
    command: str
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    run_id: str | None = None
    warnings: list[str] = field(default_factory=list)  # where its last run did less than asked, or held drops
    # stale only because this version's rules for it, or for a stage before it, changed since it ran
    # (`curate.stage_rules`): its results still agree with the catalog, so its split may be used as it is
    rules_only: bool = False

    @property
    def line(self) -> str:
        """e.g. "stale: filter re-ran after prefilter; run `curate prefilter --topic car`"."""
        if self.state in (FRESH, NOT_RUN):
            return self.state
        return f"{self.state}: {'; '.join(self.reasons)}; run `{self.command}`"

    def to_dict(self) -> dict:
        return {**asdict(self), "line": self.line}


def _extra_inputs(stage: str, report: dict) -> tuple[str, ...]:
    """Catalog columns a stage's config adds to its inputs (split --by COLUMN)."""
    by = (report.get("config") or {}).get("by") if stage == "split" else None
    return (by,) if isinstance(by, str) and by in schema.COLUMN_BY_NAME else ()


def _identity(stage: str, catalog: pd.DataFrame, reports: dict, reader: str | None = None) -> dict | None:
    """{"run_id", "output"} of the run of `stage` the workspace holds now, None if it has not run. For embed
    read by the filter (`reader`), the last run that wrote the embeddings the filter reads (`_embed_runs`)."""
    if stage == "ingest":
        if catalog.empty:
            return None
        output = output_fingerprint(catalog, "ingest")
        return {"run_id": output, "output": output, "columns": {"output": output_columns("ingest")}}
    if stage == "embed" and reader == "filter":
        from curate.filters.verify import EMBEDDING_BACKBONE

        return _embed_runs(reports.get("embed")).get(EMBEDDING_BACKBONE)
    record = (reports.get(stage) or {}).get("freshness")
    return {"run_id": record["run_id"], "output": record["output"]} if record else None


def _embed_runs(report: dict | None) -> dict[str, dict]:
    """{cache key: {"run_id", "output"}} of the last embed run at each backbone and size, from the embed report
    (`record_run` carries the earlier keys' runs forward; a report written before it knows its own key only).
    The filter reads one key's embeddings whatever the last embed wrote: review BG, `curate embed` then
    `curate embed --image-size 160` left status calling a filter that never read the first one's fresh.

    >>> _embed_runs({"cache_key": "b-160px", "freshness": {"run_id": "r2", "output": "o2",
    ...              "by_key": {"b": {"run_id": "r1", "output": "o1"}}}})["b"]
    {'run_id': 'r1', 'output': 'o1'}
    >>> _embed_runs({"cache_key": "b", "freshness": {"run_id": "r1", "output": "o1"}}), _embed_runs(None)
    ({'b': {'run_id': 'r1', 'output': 'o1'}}, {})
    """
    record = (report or {}).get("freshness") if isinstance(report, dict) else None
    if not isinstance(record, dict):
        return {}
    runs = {key: run for key, run in (record.get("by_key") or {}).items() if isinstance(run, dict)}
    if isinstance(report.get("cache_key"), str):
        runs[report["cache_key"]] = {"run_id": record["run_id"], "output": record["output"]}
    return runs


def record_run(stage: str, catalog: pd.DataFrame, report: dict, reports: dict) -> dict:
    """The ``freshness`` entry of a stage report, computed from the catalog the stage just wrote.

    `report`: the stage's report (its config and, for embed, cache_key); `reports`: the other
    stages' saved reports ({stage: dict or None}).
    """
    readable = {name: rep for name, rep in reports.items() if isinstance(rep, dict)}
    upstream = {name: _identity(name, catalog, readable, stage) for name in UPSTREAM[stage]}
    unjudged = {"unjudged": sorted(review_dropped(catalog))} if stage in DROPPING_STAGES else {}
    # embed: the earlier runs at other keys, carried forward (`_embed_runs`); this run's own key is its own
    earlier = {key: run for key, run in _embed_runs(readable.get("embed")).items()
               if key != report.get("cache_key")} if stage == "embed" else {}
    return {"run_id": uuid.uuid4().hex[:12], "rules": stage_rules.version(stage),
            "inputs": input_fingerprint(catalog, stage, _extra_inputs(stage, report)),
            "output": output_fingerprint(catalog, stage, report.get("cache_key")),
            "columns": {"inputs": input_columns(stage, _extra_inputs(stage, report)),
                        **({"output": output_columns(stage)} if stage != "embed" else {})},
            "upstream": {name: identity for name, identity in upstream.items() if identity is not None},
            **({"by_key": earlier} if earlier else {}),
            **unjudged}


def _back_from_review(catalog: pd.DataFrame | CatalogFile, ids: set[str]) -> int:
    """How many of `ids` (photos a reviewer had dropped) the catalog holds with another drop stage or kept."""
    frames = _frames(catalog, [schema.PHOTO_ID, "drop_stage"])
    return sum(int((frame[schema.PHOTO_ID].astype(str).isin(ids) & ~frame["drop_stage"].isin(["review"])).sum())
               for frame in frames)


def review_dropped(catalog: pd.DataFrame | CatalogFile) -> set[str]:
    """The photo ids a reviewer's drop holds (drop stage `review`): a dropping stage that runs does not judge
    them (curate.review.apply), so its run records them as `unjudged`."""
    frames = _frames(catalog, [schema.PHOTO_ID, "drop_stage"])
    return {str(pid) for frame in frames for pid in frame.loc[frame["drop_stage"].isin(["review"]), schema.PHOTO_ID]}


def kept_collages(catalog: pd.DataFrame | CatalogFile) -> int:
    """How many photos the filter dropped as collage a reviewer keeps (`review_overrode_reason`): the filter sets a
    collage apart from its pictures (curate.filters.collages) and joins it to them again only when it runs after the
    keep (one it runs on is not dropped, so overrides nothing); until then the kept collage is a cluster of its own,
    and the split can put it on another side than the pictures it holds."""
    frames = _frames(catalog, ["status", "review_overrode_stage", "review_overrode_reason"])
    return sum(int((frame["status"].eq(schema.KEPT) & frame["review_overrode_stage"].eq("filter")
                    & frame["review_overrode_reason"].eq("collage")).fillna(False).sum())
               for frame in frames if "review_overrode_reason" in frame)


def judge(catalog: pd.DataFrame | CatalogFile, reports: dict, ws_flag: str = "",
          stored: frozenset[str] | None = None) -> dict[str, StageState]:
    """{stage: StageState} for every stage of PIPELINE, in order (pure; a CatalogFile is read in
    batches and gives the same states).

    `reports`: {stage: saved stage report or None}; a report that could not be read is given as
    the DataContractError raised while reading it. `ws_flag`: `workspace_flag`, for the commands. `stored`: the
    columns the catalog file holds (`stored_columns`; a CatalogFile knows its own), for reports that do not name
    the columns their fingerprints covered (`_same_as_recorded`).
    """
    stored = catalog.stored_columns if isinstance(catalog, CatalogFile) else stored
    states: dict[str, StageState] = {}
    for stage in PIPELINE:
        report = reports.get(stage)
        command = command_for(stage, report if isinstance(report, dict) else None, ws_flag)
        if stage == "ingest":
            cut = interrupted_ingests(report)
            if cut and not catalog.empty:
                states[stage] = StageState(stage, STALE, ingest_command(cut, ws_flag), [interrupted_line(cut)])
            else:
                states[stage] = StageState(stage, NOT_RUN if catalog.empty else FRESH, command)
        elif isinstance(report, CutShort):
            states[stage] = StageState(stage, STALE, command, [str(report)])
        elif isinstance(report, DataContractError):
            states[stage] = StageState(stage, STALE, command, [f"its report is unreadable ({report})"])
        elif report is None:
            states[stage] = StageState(stage, NOT_RUN, command)
        elif not isinstance(report.get("freshness"), dict):
            states[stage] = StageState(stage, UNKNOWN, command, [f"{stage} ran before stages recorded their inputs"],
                                       _notes(report), warnings=stage_warning_lines(stage, report))
        else:
            states[stage] = _judge_one(stage, catalog, report, reports, states, command, stored)
    for state in states.values():
        state.notes = current_notes(state.notes, state.stage, reports, states)
    _current_geo_counts(states.get("filter"), reports.get("filter"), catalog)
    return states


def _current_geo_counts(state: StageState | None, report: object, catalog: pd.DataFrame | CatalogFile) -> None:
    """The filter's lines on geo outliers (`current_geo_lines`) with the counts the catalog holds now, where a
    later stage changed them (the prefilter's geo rescue keeps some back); the catalog is read only when a line
    speaks of geo outliers."""
    if state is None or not isinstance(report, dict) or not isinstance(report.get("geo"), list):
        return
    dropped = report.get("dropped_by_reason")
    if not isinstance(dropped, dict) or not dropped.get("geo_outlier"):  # no geo outlier to count
        return
    if not any("geo_outlier" in line or "geo outlier" in line for line in state.warnings + state.notes):
        return
    then = {str(row["label"]): int(row["geo_outliers"]) for row in report["geo"] if isinstance(row, dict)
            and row.get("label") is not None and isinstance(row.get("geo_outliers"), int)}
    now, rescued = geo_outliers_now(catalog)
    state.warnings = current_geo_lines(state.warnings, then, now, rescued)
    state.notes = current_geo_lines(state.notes, then, now, rescued)


def geo_outliers_now(catalog: pd.DataFrame | CatalogFile) -> tuple[dict[str, int], dict[str, int]]:
    """({label: the filter's geo_outlier drops in the catalog}, {label: photos kept back by the geo rescue})."""
    now: dict[str, int] = {}
    rescued: dict[str, int] = {}
    for frame in _frames(catalog, ["label", "status", "drop_reason", "drop_stage", "geo_rescued"]):
        dropped = frame["drop_reason"].eq("geo_outlier") & frame["drop_stage"].eq("filter")
        back = frame["geo_rescued"].astype("boolean").fillna(False) & frame["status"].eq(schema.KEPT)
        for counts, rows in ((now, dropped), (rescued, back)):
            labels = frame.loc[rows.astype("boolean").fillna(False).to_numpy(bool), "label"]
            for label, n in labels.value_counts().items():
                counts[str(label)] = counts.get(str(label), 0) + int(n)
    return now, rescued


_RUN_AGAIN = re.compile(r"run `curate (\w+)`( again)?")


def current_notes(notes: list[str], stage: str, reports: dict, states: dict[str, StageState]) -> list[str]:
    """A stage report's notes as they stand now: one that says to run another stage ("run `curate prefilter`
    again") is left out once that stage has run since, and otherwise names that stage's whole command (its
    settings, -w): audit AP followed status's "run `curate prefilter` again" after the prefilter had run, and the
    bare command was refused for want of a --topic."""
    mine = reports.get(stage)
    finished = mine.get("finished_at") if isinstance(mine, dict) else None
    kept = []
    for note in notes:
        match = _RUN_AGAIN.search(note)
        other = match.group(1) if match else None
        if other not in states or other == stage:
            kept.append(note)
            continue
        later = reports.get(other)
        # done since: it ran on this stage's result (audit DA 6: `curate run` ran it in the same second), or finished
        # after it (a tie, to the second, keeps the note otherwise: it may still hold, audit AQ)
        if isinstance(later, dict) and (_ran_on(later, stage, mine) or (
                finished and str(later.get("finished_at") or "") > str(finished))):
            continue
        kept.append(note[:match.start()] + f"run `{states[other].command}`{match.group(2) or ''}" + note[match.end():])
    return kept


def _ran_on(later: dict, stage: str, mine: object) -> bool:
    """Whether the run `later` reports read the very run of `stage` that `mine` reports (its recorded upstream).

    >>> _ran_on({"freshness": {"upstream": {"prefilter": {"run_id": "r1"}}}}, "prefilter",
    ...         {"freshness": {"run_id": "r1"}}), _ran_on({}, "prefilter", {"freshness": {"run_id": "r1"}})
    (True, False)
    """
    def field(report: object, *keys: str) -> object:
        for key in keys:
            report = report.get(key) if isinstance(report, dict) else None
        return report

    run_id = field(mine, "freshness", "run_id")
    return isinstance(run_id, str) and field(later, "freshness", "upstream", stage, "run_id") == run_id


def _judge_one(stage: str, catalog: pd.DataFrame, report: dict, reports: dict, states: dict,
               command: str, stored: frozenset[str] | None = None) -> StageState:
    record = report["freshness"]
    readable = {name: rep for name, rep in reports.items() if isinstance(rep, dict)}
    then = record.get("upstream") or {}
    now = {name: _identity(name, catalog, readable, stage) for name in UPSTREAM[stage]}
    same = {name: (now[name] or {}).get("output") == (then.get(name) or {}).get("output") for name in UPSTREAM[stage]}
    if "ingest" in same and not same["ingest"] and then.get("ingest") and now["ingest"]:  # (its run id is its output)
        # over the columns the recorded output covered: a column the schema gained since is no re-ingest
        same["ingest"] = output_as_recorded(then["ingest"], catalog, "ingest", stored)
    reran = [name for name in UPSTREAM[stage] if not (name == "ingest" and same[name])
             and (now[name] or {}).get("run_id") != (then.get(name) or {}).get("run_id")]
    upstream_changed = not all(same.values())
    extra = _extra_inputs(stage, report)
    inputs_changed = not inputs_as_recorded(record, catalog, stage, extra, stored)
    # Only a dropping stage's results can be reset by another stage (an earlier one reinstates its
    # drops); a split edited by hand is the user's own, for `curate check-leakage` to judge.
    output_changed = stage in DROPPING_STAGES and not output_as_recorded(record, catalog, stage, stored)
    after = f"{' and '.join(reran)} {'re-ran' if all(then.get(n) for n in reran) else 'ran'} after {stage}"
    reasons = []
    if upstream_changed or inputs_changed:
        reasons.append(after if reran else "ingest stored or dropped images after embed ran (embed computes only new "
                       "ones)" if stage == "embed" else f"the catalog changed after {stage} ran")
    if output_changed:
        reasons.append(f"{after} and reset its results" if reran and not reasons else
                       f"{stage}'s results in the catalog were changed or reset since it ran")
    unjudged = record.get("unjudged")
    if stage in DROPPING_STAGES and isinstance(unjudged, list) and unjudged:
        # a reviewer's drop undone since: the photo is back as the stage last judged it, but the stage never
        # judged it (audit AL: dropped by a reviewer, the filter re-run with --drop-quality dark, the drop
        # undone: kept and exported, the filter "fresh"; a filter run then dropped it as quality:dark)
        back = _back_from_review(catalog, set(map(str, unjudged)))
        if back:
            # (back kept, or back under a drop an earlier run of the stage gave: either way this run has not judged
            # it; audit AO asked that the line not call a photo still dropped "back")
            reasons.append(f"a reviewer's drop undone since {stage} ran: {stage} has not judged {back:,} "
                           f"photo{'s' if back != 1 else ''} the drop{'s' if back != 1 else ''} held")
    if stage == "filter" and (collages := kept_collages(catalog)):  # its links changed (review of audit DQ 1)
        reasons.append(f"a reviewer kept {collages:,} photo{'s' if collages != 1 else ''} filter dropped as collage: "
                       "filter joins a kept collage to its pictures (one side of the split) only when it runs again")
    firm = len(reasons)  # the reasons its results no longer agree with the catalog
    if rules := stage_rules.stale_reason(stage, record):
        reasons.insert(0, rules)
    stale_before = [name for name in UPSTREAM[stage] if states[name].state == STALE]
    firm += sum(not states[name].rules_only for name in stale_before)
    reasons += [f"{name} is stale" for name in stale_before]
    if stage == "split" and not firm:  # (also under a rules-only staleness: review DB, it hid missing photos)
        # a stage that dropped photos and reinstated them since leaves them kept without a split, its own
        # results as before (audit AF: a forced prefilter, then one held: status said fresh, check-leakage refused)
        _, kept, missing = split_coverage(catalog)
        if missing:
            reasons.append(f"{missing:,} of {kept:,} kept photos have no split (a stage dropped them after the split "
                           "and has since kept them again)")
            firm += 1
    more = stage_rules.new_warnings_note(stage, record)  # (rules that only warn more: a note, not stale)
    return StageState(stage, STALE if reasons else FRESH, command, reasons, _notes(report) + ([more] if more else []),
                      record.get("run_id"), stage_warning_lines(stage, report), rules_only=bool(reasons) and not firm)


def reset_before(catalog: pd.DataFrame | CatalogFile, reports: dict, stage: str, ws_flag: str = "") -> list[str]:
    """Warnings for the I/O edge of `stage` (filter, prefilter, split) about to run on top of a dropping
    stage before it whose own results are no longer in the catalog: an earlier stage re-ran and reset
    them (an acceptance audit: split → filter, which reinstated the prefilter's 43 off-topic drops → split
    again, exit 0 and no word, the 43 photos split in). Cheap: each such stage's own columns and drops
    only (`output_fingerprint`), not the whole judgement (`judge`); the stale split is still refused
    where it is used (`curate.freshness_workspace.require_fresh_split`)."""
    cut = interrupted_ingests(reports.get("ingest"))
    lines = [f"{interrupted_line(cut)}, so this {stage} works on those photos only; run "
             f"`{ingest_command(cut, ws_flag)}` first, then this command again"] if cut else []
    for before in PIPELINE[1:PIPELINE.index(stage)]:
        report = reports.get(before)
        if before not in DROPPING_STAGES or not isinstance(report, dict) or \
                not isinstance(report.get("freshness"), dict):
            continue
        if not output_as_recorded(report["freshness"], catalog, before,
                                  catalog.stored_columns if isinstance(catalog, CatalogFile) else None):
            lines.append(f"{before}'s results no longer match the catalog (photos were added since it ran, or a "
                         f"stage before it re-ran and reset them: the filter reinstates the prefilter's drops), so "
                         f"this {stage} works on photos {before} has not judged; run "
                         f"`{command_for(before, report, ws_flag)}` first, then this command again")
    return lines


def _notes(report: dict) -> list[str]:
    """A stage report's notes (strings only: a report is user-editable JSON)."""
    return [note for note in report.get("notes") or [] if isinstance(note, str)]


class CutShort(DataContractError):
    """A stage's last run was killed between its catalog write and its report (`stage_reports.mark_writing`)."""


def split_coverage(catalog: pd.DataFrame | CatalogFile) -> tuple[int, int, int]:
    """(photos with a split, kept photos, kept photos without a split)."""
    frames = _frames(catalog, ["status", "split"])
    counts = np.zeros(3, dtype=np.int64)
    for frame in frames:
        kept, unsplit = (frame["status"] == schema.KEPT).to_numpy(), frame["split"].isna().to_numpy()
        counts += [int((~unsplit).sum()), int(kept.sum()), int((kept & unsplit).sum())]
    return int(counts[0]), int(counts[1]), int(counts[2])
