"""`curate run RECIPE`: a dataset recipe end to end (ingest → … → report, `--train` to train too)."""

from __future__ import annotations

from typing import Annotated

import typer

import classify  # noqa: F401 - registers the train and evaluate steps with curate.pipeline (the CLI layer may)
from curate.cli.common import WorkspaceOption, user_errors, workspace
from curate.console import console


@user_errors
def run(
    recipe: Annotated[str, typer.Argument(help="Recipe: a .toml path or a name from datasets/ (e.g. demo).",
                                          show_default=False)],
    workspace_path: WorkspaceOption = None,
    train: Annotated[bool, typer.Option("--train", help="Also train (classify train) and evaluate a model.")] = False,
    restart_from: Annotated[str | None, typer.Option(
        "--from", help="Run this step (e.g. filter, split) and every later one again, even if done.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Check the recipe and the paths it reads, and list its steps; run nothing.")] = False,
) -> None:
    """Run every step of a dataset recipe; a re-run skips finished steps and resumes the interrupted one."""
    from curate.errors import UsageError
    from curate.pipeline import missing_inputs, plan, restart_index, run_pipeline
    from curate.pipeline.runner import unmet_needs
    from curate.recipes import load_recipe

    chosen = load_recipe(recipe)
    workspace(workspace_path).check_not_a_file()  # a dry run says so too (audit AN)
    steps = plan(chosen, train=train)
    first = restart_index(steps, restart_from)
    missing = missing_inputs(steps) + unmet_needs(steps)  # checked first: a run stops before any step
    if missing:
        more = f" (and {len(missing) - 1} more missing)" if len(missing) > 1 else ""
        raise UsageError(missing[0] + more)
    if dry_run:
        here = workspace(workspace_path)
        done, why = dry_run_skips(here, chosen, steps, first)
        said = [" (runs again: --from)" if first is not None and number > first else
                ": done in an earlier run, would be skipped" if number <= done else
                unchanged_text(here, step, number == done + 1) or ": would run"
                for number, step in enumerate(steps, 1)]
        for number, (step, again) in enumerate(zip(steps, said, strict=True), 1):
            console.print(f"[{number}/{len(steps)}] {step.name}{again}", highlight=False, soft_wrap=True,
                          markup=False)
        if why and first is None and said[done] == ": would run":  # (audit DA: "would run" said no why)
            console.print(f"why step {done + 1} would run: {why}", highlight=False, soft_wrap=True, markup=False)
        return
    ws = workspace(workspace_path)
    outcomes = run_pipeline(ws, chosen, steps, restart_from=restart_from, echo=echo_step_line, warn=echo_warning)
    ran = sum(outcome.status == "ran" for outcome in outcomes)
    console.print(f"recipe {chosen.name}: {steps_done_text(ran, len(outcomes) - ran)}; report:", highlight=False,
                  markup=False)
    console.print(str(ws.root / "report" / "index.html"), highlight=False, soft_wrap=True, markup=False)


def dry_run_skips(ws, recipe, steps, first: int | None) -> tuple[int, str | None]:
    """(how many leading steps a run now would skip as done, why the next one would run) (`finished_and_why`,
    read only: a dry run writes nothing); audit BV F-8: the dry run listed the same steps whether all were done or
    a deleted photo would make the filter run again."""
    from curate.pipeline.runner import finished_and_why

    if not ws.catalog_path.exists():
        return 0, "the workspace has no catalog yet"
    finished, why = finished_and_why(ws, recipe, steps)
    return (len(finished), why) if first is None else (min(len(finished), first), None)


def unchanged_text(ws, step, first: bool) -> str | None:
    """What a run now would do with a step that can tell its work is unchanged (training), when it is on
    today's workspace: skip it when no step before it runs, else skip it if those steps leave what it reads as
    it is; None otherwise (read only: a dry run writes nothing)."""
    from curate.pipeline.runner import unchanged_since

    if not ws.catalog_path.exists() or (same := unchanged_since(ws, step)) is None:
        return None
    if first:
        return f": would be skipped: {same.why}"
    return f": would run, or be skipped if the steps before it leave what it reads as it is now ({same.why})"


def echo_step_line(line: str) -> None:
    """A step's line as text, not rich markup (`[[labels]]` is a recipe table)."""
    console.print(line, highlight=False, soft_wrap=True, markup=False)


def echo_warning(warning: str) -> None:
    """A warning a step's summary carries, on a line of its own below the step's line."""
    console.print(f"    warning: {warning}", highlight=False, soft_wrap=True, markup=False)


def steps_done_text(ran: int, skipped: int) -> str:
    """'10 steps ran, 0 were already done'; singular for one.

    >>> steps_done_text(1, 1)
    '1 step ran, 1 was already done'
    """
    return (f"{ran} step{'' if ran == 1 else 's'} ran, "
            f"{skipped} {'was' if skipped == 1 else 'were'} already done")
