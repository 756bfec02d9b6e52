"""The runner: steps in order, each one skipped when a previous run finished it unchanged.

After each step, `<workspace>/journal/run-<recipe>.json` records the step's name, a
fingerprint of its settings and the catalog's sha256 afterwards (see curate.pipeline).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from curate.errors import UsageError
from curate.pipeline.settings import fingerprint
from curate.recipes import Recipe, check_name
from curate.review.writes import reviewed_since
from curate.workspace import Workspace, atomic_write_bytes, catalog_sha256, changes_workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepSummary:
    """What a step answers: its one-line summary, and the warnings of its stage's report (the stage did
    less than asked, or held drops back), which the command line prints on lines of their own."""

    line: str
    warnings: tuple[str, ...] = ()

    @classmethod
    def of(cls, report) -> StepSummary:
        """A stage report's `summary()` line and its `warnings` (none when it has no such field)."""
        return cls(report.summary(), tuple(getattr(report, "warnings", ())))


@dataclass(frozen=True)
class Step:
    """One step of a recipe: `action(ws)` runs it and answers a one-line summary (a StepSummary when it
    has warnings to pass on)."""

    name: str
    settings: dict  # what decides the step's result: its fingerprint
    action: Callable[[Workspace], str | StepSummary]  # runs the step, returns its summary
    inputs: tuple[tuple[str, Path], ...] = ()  # (recipe key, local path) the step reads: `--dry-run` checks them
    needs: Callable[[], object] | None = None  # raises UsageError when the step cannot start (a Flickr API key)
    # a step whose work outlives the run (training): `Unchanged` when what it made is still what it would make
    # from today's workspace (read only); the runner then skips it even after a step before it ran again
    unchanged: Callable[[Workspace], Unchanged | None] | None = None


@dataclass(frozen=True)
class Unchanged:
    """A step's `unchanged` answer: why what it made last time still holds (one clause, e.g. "runs/demo was
    trained on the same 412 photos with the same settings"), and `keep(ws)`, which the runner calls when it skips
    the step for it (a dry run does not): it marks what the step made as made for today's catalog."""

    why: str
    keep: Callable[[Workspace], None] | None = None


FOLDER_INPUTS = frozenset({"folder", "folders", "offtopic"})  # recipe keys naming a folder (`against`: either)
FILE_INPUTS = frozenset({"metadata", "path"})  # ... naming a file


def missing_inputs(steps: list[Step]) -> list[str]:
    """One line per local path a step reads that is not there, or is a file where a folder is read or the other
    way round (what `curate run --dry-run` checks besides the settings), naming the step and the recipe key to
    fix; empty when all are there."""
    lines = []
    for number, step in enumerate(steps, 1):
        for key, path in step.inputs:
            path = Path(path)
            problem = "does not exist" if not path.exists() else \
                "is a file, not a folder" if key in FOLDER_INPUTS and not path.is_dir() else \
                "is a folder, not a file" if key in FILE_INPUTS and path.is_dir() else None
            if problem:
                lines.append(f"step {number} ({step.name}): {key} {path} {problem}; fix {key!r} in the recipe (a "
                             "relative path is read from the recipe's folder)")
    return lines


def unmet_needs(steps: list[Step]) -> list[str]:
    """One line per step whose `needs` fails (no Flickr API key in the environment), naming the step: what
    `curate run` and its `--dry-run` refuse before any step (audit AT: a dry run passed a Flickr recipe
    without a key, and the run then stopped at step 1)."""
    lines = []
    for number, step in enumerate(steps, 1):
        if step.needs is None:
            continue
        try:
            step.needs()
        except UsageError as exc:
            lines.append(f"step {number} ({step.name}): {exc}")
    return lines


@dataclass
class StepOutcome:
    name: str
    status: str  # ran | skipped
    seconds: float
    summary: str
    warnings: tuple[str, ...] = ()


PIPELINE_STAGES = ("embed", "filter", "prefilter", "split")  # steps named after a stage of curate.freshness


def step_fingerprint(step: Step) -> str:
    """What decides a step's result: its settings and, for each local path it reads (`inputs`), what is there
    now (a folder's photos and sidecars by name, size and time; a file's size and time), so that a step runs
    again when its folder or table was edited, not only when the recipe was."""
    return fingerprint({**step.settings, "inputs": [[key, str(path), input_state(Path(path))]
                                                    for key, path in step.inputs]} if step.inputs else step.settings)


def input_state(path: Path) -> str | None:
    """A folder's `curate.ingest.folder_scan.folder_fingerprint`, a file's size and modification time, None when
    the path is not there."""
    from curate.ingest.folder_scan import folder_fingerprint

    if path.is_dir():
        return folder_fingerprint(path)
    try:
        facts = path.stat()
    except OSError:
        return None
    return f"{facts.st_size}:{facts.st_mtime_ns}"


def state_path(ws: Workspace, recipe: Recipe) -> Path:
    """The recipe's run journal: `<workspace>/journal/run-<recipe>.json`."""
    return ws.journal_dir / f"run-{check_name(recipe.name)}.json"


def recorded_steps(ws: Workspace, recipe: Recipe) -> list:
    """The steps the recipe's run journal records ([] without a readable one)."""
    try:
        done = json.loads(state_path(ws, recipe).read_text(encoding="utf-8"))["steps"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return done if isinstance(done, list) else []


def catalog_moved(ws: Workspace, done: list) -> bool:
    """Whether today's catalog is not the one the last recorded step left, nor one `curate review` made of it."""
    return catalog_change(ws, done) == "moved"


def catalog_change(ws: Workspace, done: list) -> str:
    """How today's catalog stands to the one the last recorded step left: "same", "reviewed" (`curate review`'s
    writes alone made it of that one: `curate.review.writes`) or "moved" (anything else). One hash of the catalog."""
    then, now = _last_catalog(done), catalog_sha256(ws) if ws.catalog_path.exists() else None
    return "same" if then == now else "reviewed" if reviewed_since(ws, then, now) else "moved"


def _last_catalog(done: list) -> str | None:
    last = done[-1] if done and isinstance(done[-1], dict) else {}
    return last.get("catalog_sha256")


def finished_steps(ws: Workspace, recipe: Recipe, steps: list[Step]) -> list[dict]:
    """The leading steps a previous run finished with the same settings, ending in today's catalog. After a
    review (`catalog_change`) the stages it leaves fresh stay done (their decisions are judged before review):
    the run goes on from the first stale stage, or from the first step after the stages (check-leakage, the
    report) that reads the reviewed catalog."""
    return finished_and_why(ws, recipe, steps)[0]


def finished_and_why(ws: Workspace, recipe: Recipe, steps: list[Step]) -> tuple[list[dict], str | None]:
    """(`finished_steps`, why the first step after them runs again: None when every step is done); what
    `curate run --dry-run` says (audit DA: it said "would run" without a reason)."""
    done = recorded_steps(ws, recipe)
    if not done:
        return [], "this recipe has not run in this workspace"
    change = catalog_change(ws, done)
    if change == "moved":  # the catalog changed outside `curate run`: every step again (each one is idempotent)
        return [], "the catalog changed after this recipe's last run (a command run by hand): every step runs again"
    states = _states(ws)
    stale = _stale_names(states)
    reviewed = change == "reviewed"
    for count, step in enumerate(steps):
        if count >= len(done):
            return done[:count], f"{step.name} did not finish in the last run"
        if done[count].get("name") != step.name or done[count].get("fingerprint") != step_fingerprint(step):
            return done[:count], f"the recipe's settings for {step.name} changed since the last run"
        if step.name in stale:
            why = "; ".join(states[step.name].reasons) if states is not None and states[step.name].reasons else \
                "its stage is stale or has not run"
            return done[:count], f"{step.name}: {why}"
        if reviewed and step.name.split()[0] not in ("ingest", *PIPELINE_STAGES):
            return done[:count], f"the catalog was reviewed since the last run: {step.name} and the steps after it " \
                "read the reviewed catalog"
    return done[:len(steps)], None


def _states(ws: Workspace) -> dict | None:
    """The workspace's stage states (`curate.freshness_workspace.workspace_states`), None when a catalog or report
    cannot be read (the steps that read it say so when they run)."""
    from curate.errors import CurateError
    from curate.freshness_workspace import workspace_states

    try:
        return workspace_states(ws)
    except CurateError:
        return None


def changed_by_hand(ws: Workspace, recipe: Recipe) -> bool:
    """Whether this recipe ran here before and the catalog has changed since its last step (a command run by
    hand): `finished_steps` then runs every step again, replacing what that command did."""
    done = recorded_steps(ws, recipe)
    return bool(done) and isinstance(done[-1], dict) and "catalog_sha256" in done[-1] and catalog_moved(ws, done)


def stale_stages(ws: Workspace) -> set[str]:
    """Stages that are stale or whose report is gone (curate.freshness): their steps run again even
    when the catalog is the one the last run left, e.g. after a `curate embed` by hand."""
    return _stale_names(_states(ws))


def _stale_names(states: dict | None) -> set[str]:
    """The stages of `states` that are stale or have not run (every stage when the states could not be read:
    the steps that read an unreadable catalog or report say so when they run)."""
    from curate.freshness import NOT_RUN, STALE

    if states is None:
        return set(PIPELINE_STAGES)
    return {name for name, state in states.items() if state.state in (STALE, NOT_RUN) and name != "ingest"}


def restart_index(steps: list[Step], restart_from: str | None) -> int | None:
    """Index of the step `--from` names (its name or first word, e.g. "ingest"); None without
    one; UsageError naming the steps when it names none of them."""
    if restart_from is None:
        return None
    first = next((i for i, step in enumerate(steps)
                  if step.name == restart_from or step.name.split()[0] == restart_from), None)
    if first is None:
        # (train and evaluate are steps only with --train: audit AN)
        hint = "; add --train to run the training steps" if restart_from in ("train", "evaluate") else ""
        raise UsageError(f"--from {restart_from!r} is not a step of this recipe; steps: "
                         f"{', '.join(step.name for step in steps)}{hint}")
    return first


@changes_workspace
def run_pipeline(ws: Workspace, recipe: Recipe, steps: list[Step], restart_from: str | None = None,
                 echo: Callable[[str], None] | None = None,
                 warn: Callable[[str], None] | None = None) -> list[StepOutcome]:
    """Run `steps` in order, skipping those a previous run finished (see curate.pipeline).

    restart_from: a step name (or its first word, e.g. "ingest"): run it and everything after it again.
    echo: called with one line as each step starts and ends (the command line prints them); None:
    the lines go to this module's logger at INFO.
    warn: called with each warning a finished step's summary carries, after its line; None: the
    logger at WARNING.
    """
    echo, warn = echo or log.info, warn or log.warning
    first = restart_index(steps, restart_from)
    ws.ensure()
    if first is None and changed_by_hand(ws, recipe):  # audit AF 8: a forced filter by hand went without a word
        warn("the catalog changed after this recipe's last run here (a command run by hand, or a step cut short "
             "after it wrote the catalog; `curate review` alone is not such a change): every step runs again with "
             "the recipe's settings (review decisions still win), replacing what such a command did; to keep a "
             "setting given by hand (a --force-… flag, other thresholds), put it in the recipe")
    finished = finished_steps(ws, recipe, steps)
    skip = len(finished) if first is None else min(len(finished), first)
    record = finished[:skip] + [{"name": s.name, "fingerprint": step_fingerprint(s)} for s in steps[skip:]]
    outcomes = []
    for number, step in enumerate(steps, 1):
        prefix = f"[{number}/{len(steps)}] {step.name}"
        if number <= skip:
            outcomes.append(StepOutcome(step.name, "skipped", 0.0, "done in an earlier run"))
            echo(f"{prefix}: done in an earlier run, skipped")
            continue
        same = unchanged_since(ws, step) if first is None or number <= first else None  # (--from: run anyway)
        if same is not None:
            if same.keep is not None:
                same.keep(ws)
            record[number - 1]["catalog_sha256"] = catalog_sha256(ws) if ws.catalog_path.exists() else None
            _save_state(ws, recipe, record[:number])
            line = f"skipped: {same.why}; `--from {step.name}` runs it again"
            outcomes.append(StepOutcome(step.name, "skipped", 0.0, line))
            echo(f"{prefix}: {line}")
            continue
        echo(f"{prefix} ...")
        started = time.perf_counter()
        answer = step.action(ws)
        summary = answer if isinstance(answer, StepSummary) else StepSummary(answer)
        record[number - 1]["catalog_sha256"] = catalog_sha256(ws) if ws.catalog_path.exists() else None
        _save_state(ws, recipe, record[:number])
        seconds = time.perf_counter() - started
        outcomes.append(StepOutcome(step.name, "ran", seconds, summary.line, summary.warnings))
        echo(f"{prefix}: {summary.line} ({seconds:.0f} s)")
        for warning in summary.warnings:
            warn(warning)
    return outcomes


def unchanged_since(ws: Workspace, step: Step) -> Unchanged | None:
    """The step's `unchanged` answer (None for a step without one). The steps after one that ran again run too;
    one with this answer is skipped when what it reads came out the same: an upgrade whose prefilter re-ran to
    the same decisions, or a review that left the split as it was, trained the same model again (minutes to
    hours)."""
    return step.unchanged(ws) if step.unchanged is not None else None


def _save_state(ws: Workspace, recipe: Recipe, finished: list[dict]) -> None:
    payload = {"recipe": recipe_ref(recipe), "steps": finished}
    atomic_write_bytes(state_path(ws, recipe), json.dumps(payload, indent=1).encode("utf-8"))


def recipe_ref(recipe: Recipe) -> str:
    """How messages name the recipe: its path, or its name when it has none."""
    return str(recipe.path) if recipe.path is not None else recipe.name
