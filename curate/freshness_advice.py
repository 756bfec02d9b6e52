"""What stage freshness tells the user (curate.freshness judges; this says): the command that runs a stage again
with its last run's settings, the workspace flag for a pasted command, a stage report's warning lines, and the
lines of an interrupted ingest. Pure, but for `workspace_flag`, which resolves the default workspace."""

from __future__ import annotations


def workspace_flag(ws) -> str:
    """`-w <the workspace>` for a suggested command, or "" when the workspace is the one a command finds with
    no flag ($CURATE_WORKSPACE, else ./workspace): audit AN, a pasted `curate prefilter …` ran on ./workspace
    and left the workspace `curate status -w` had judged stale."""
    import shlex

    from curate.workspace import resolve_workspace

    try:
        if resolve_workspace(None).root.resolve() == ws.root.resolve():
            return ""
    except OSError:
        pass
    return f"-w {shlex.quote(str(ws.root))}"


def command_for(stage: str, report: dict | None, ws_flag: str = "") -> str:
    """The command that runs `stage` again with the settings of its last run (audit AF 7: the bare command
    would undo a recipe's or a flag's settings): the recipe it read, and a flag for each setting off its
    default; the prefilter's topic always (TOPIC when no run says which); `ws_flag` (`workspace_flag`) last."""
    import shlex

    from curate.settings_fields import changed_flags

    if stage == "ingest":
        return " ".join(["curate ingest ...", *([ws_flag] if ws_flag else [])])
    report = report or {}
    config = report.get("config") if isinstance(report.get("config"), dict) else {}
    classes = _config_classes()
    flags = changed_flags(classes[stage], config) if stage in classes else []
    if stage == "split":  # one run's placing afresh, not a setting to carry on (review BY: the advice after a
        flags = [flag for flag in flags if flag != "--reshuffle"]  # --reshuffle moved test photos on every re-run)
    recipe = report.get("recipe") or report.get(JOURNAL_RECIPE)  # (an older report's: `journal_recipe`)
    if recipe and isinstance(recipe, str):
        flags.insert(0, f"--recipe {shlex.quote(recipe)}")
    issues_only = "--label-issues-only" in flags  # fits no topic model: a --topic beside it is refused (audit AL)
    if stage == "prefilter" and not issues_only and not any(flag.startswith("--topic ") for flag in flags):
        topic = report.get("topic") or config.get("topic")  # (a label-issues-only run: its config's)
        flags.insert(0, f"--topic {shlex.quote(str(topic)) if topic else 'TOPIC'}")
    return " ".join(["curate", stage, *flags, *([ws_flag] if ws_flag else [])])


# Stages whose reports name the recipe their run read (`recipe_record` in curate.filters.run, since 2026-12-06):
# the prefilter's and the split's configs hold every setting a recipe gives them, spelt as flags.
RECIPE_STAGES = ("filter",)
# the key `curate.freshness_workspace.load_reports` gives `journal_recipe`'s answer
JOURNAL_RECIPE = "recipe_from_journal"


def journal_recipe(stage: str, report: object, journals: list[dict]) -> str | None:
    """The recipe of the `curate run` that wrote `stage`'s report, for a report written before reports named
    their recipe (audit DA 2: an upgraded workspace's advice left the recipe out, and following it undid the
    recipe's settings); None when the report names one, when a curate that records the recipe wrote it (its
    ``freshness`` names the columns it covered, which came after: no recipe then means none was read), or when no
    one run journal answers.

    The rule: the run journal (`journal`: {"recipe", "steps"} of `journal/run-<recipe>.json`) whose run wrote the
    report, i.e. holds a finished step named `stage` right after a step that left the catalog the report's run
    started from (`input_catalog_sha256`). A `curate filter` run by hand starts from another catalog (the one the
    run's last step left), so it gets none; two journals that match (the same catalog, two recipes) give none.

    >>> steps = [{"name": "embed", "catalog_sha256": "a"}, {"name": "filter", "catalog_sha256": "b"}]
    >>> journal_recipe("filter", {"input_catalog_sha256": "a"}, [{"recipe": "datasets/x.toml", "steps": steps}])
    'datasets/x.toml'
    >>> journal_recipe("filter", {"input_catalog_sha256": "b"}, [{"recipe": "datasets/x.toml", "steps": steps}])
    """
    if stage not in RECIPE_STAGES or not isinstance(report, dict) or report.get("recipe") is not None:
        return None
    record = report.get("freshness")
    if isinstance(record, dict) and "columns" in record:
        return None
    started_from = report.get("input_catalog_sha256")
    if not isinstance(started_from, str):
        return None
    found = {journal["recipe"] for journal in journals
             if isinstance(journal, dict) and isinstance(journal.get("recipe"), str)
             and _ran_from(journal.get("steps"), stage, started_from)}
    return found.pop() if len(found) == 1 else None


def _ran_from(steps: object, stage: str, catalog_sha256: str) -> bool:
    """Whether the journal's `steps` hold a finished `stage` step right after one that left `catalog_sha256`."""
    steps = [step for step in steps if isinstance(step, dict)] if isinstance(steps, list) else []
    return any(step.get("name") == stage and "catalog_sha256" in step
               and before.get("catalog_sha256") == catalog_sha256 for before, step in zip(steps, steps[1:]))


def _config_classes() -> dict:
    from curate.filters.config import FilterConfig
    from curate.prefilter.config import PrefilterConfig
    from curate.split import SplitConfig

    return {"filter": FilterConfig, "prefilter": PrefilterConfig, "split": SplitConfig}


def stage_warning_lines(stage: str, report: dict) -> list[str]:
    """A stage report's warnings (strings only), apart from its notes: `curate status` prints them as such, and
    `curate report` at the top of the page. The prefilter's held cut is one of them (audit AE: status showed the
    filter's held lines but not the prefilter's, kept in `held_reasons`)."""
    from curate.prefilter.config import HELD_CUT

    lines = [line for line in report.get("warnings") or [] if isinstance(line, str)]
    if stage == "prefilter" and report.get("held") and report.get("held_reasons"):
        lines.append(f"held: {HELD_CUT}: " + "; ".join(map(str, report["held_reasons"])))
    return lines


def interrupted_ingests(report: object) -> list[str]:
    """The ingest journals (`journal/ingest-<name>.jsonl`) an unfinished `curate ingest` left, from the ingest
    entry `load_reports` makes; [] when none is there."""
    names = report.get("interrupted") if isinstance(report, dict) else None
    return [str(name) for name in names] if isinstance(names, list) else []


def interrupted_line(names: list[str]) -> str:
    """Why ingest is stale while its journal is there (audit AR: a killed `ingest urls` left 117 of 402 photos
    in the catalog, status said "ingest fresh", and split and export ran on it, whole labels missing).

    >>> interrupted_line(["folder@trip"]).split(":")[0]
    'an interrupted `curate ingest folder` has not finished (journal/ingest-folder@trip.jsonl holds its progress)'
    """
    runs = ", ".join(dict.fromkeys(f"`curate ingest {source_of(name)}`" for name in names))
    journals = ", ".join(f"journal/ingest-{name}.jsonl" for name in names)
    return (f"an interrupted {runs} has not finished ({journals} holds its progress): the catalog holds only "
            "part of the collection; if it cannot be finished (its folder or list is gone), delete "
            f"{'that file' if len(names) == 1 else 'those files'} to keep the catalog as it is")


def source_of(journal_name: str) -> str:
    """The `curate ingest` subcommand of an ingest journal's name: a second folder's journal is named after
    its id prefix, `folder@<name>` (audit AU: status offered `curate ingest folder@src3`, no command)."""
    return journal_name.split("@", 1)[0]


def ingest_command(names: list[str], ws_flag: str = "") -> str:
    """What finishes an interrupted ingest: the same command again (its arguments are the user's)."""
    return " ".join([f"curate ingest {source_of(names[0])} ... (the same command again)",
                     *([ws_flag] if ws_flag else [])])


def current_geo_lines(lines: list[str], then: dict[str, int], now: dict[str, int],
                      rescued: dict[str, int]) -> list[str]:
    """The filter's lines as they stand now: one that speaks of geo outliers and names a label whose geo_outlier
    drops changed since the filter ran (`then`: its report's geo table; `now`: the catalog's; `rescued`: the photos
    `curate prefilter`'s geo rescue kept back, per label) says so, with the count now (a user audit: status
    repeated the filter's "44 still dropped" after the geo rescue had kept one back, 43 in the catalog).

    >>> print(current_geo_lines(["held: geo drops of metro kept; 3 photos still dropped as geo_outlier", "other"],
    ...                         {"metro": 3}, {"metro": 2}, {"metro": 1})[0])  # doctest: +NORMALIZE_WHITESPACE
    held: geo drops of metro kept; 3 photos still dropped as geo_outlier; since this filter run, `curate prefilter`'s
    geo rescue kept back 1 of metro's 3 geo outliers: 2 dropped as geo_outlier now
    """
    import re

    changed = {label: (count, int(now.get(label, 0))) for label, count in then.items() if count != now.get(label, 0)}
    out = []
    for line in lines:
        if not re.search(r"geo_outlier|geo outlier", line):
            out.append(line)
            continue
        named = [label for label in sorted(changed) if re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", line)]
        parts = []
        for label in named:
            before, after = changed[label]
            kept = int(rescued.get(label, 0))
            parts.append(f"`curate prefilter`'s geo rescue kept back {before - after:,} of {label}'s {before:,} geo "
                         f"outliers: {after:,} dropped as geo_outlier now" if kept and kept == before - after else
                         f"{label}'s geo outliers went from {before:,} to {after:,} dropped as geo_outlier now (later "
                         f"stages changed them{f'; the geo rescue kept back {kept:,}' if kept else ''})")
        out.append(line + (f"; since this filter run, {'; '.join(parts)}" if parts else ""))
    return out
