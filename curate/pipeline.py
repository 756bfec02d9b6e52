"""`curate run RECIPE`: every stage of a dataset recipe, in order, each one resumable.

Steps: ingest (one per [[sources]] table) → embed → filter → prefilter → split →
check-leakage → score (demo and scrape collections) → [train → evaluate] → report.
Embed runs before the filter, over every stored image, so that the filter's
near-duplicate links have embedding evidence for every pair (brightness edits, crops,
rotations and burst frames move a pHash too far to be found by it alone). The
pre-classifier runs before the split so the split's shares are computed over the photos
that stay (see the README).

Every step's settings are checked against its stage's config before anything runs,
so a bad recipe fails at once with one line naming its first invalid field.

Resuming: after each step, `<workspace>/journal/run-<recipe>.json` records the step's
name, a fingerprint of its settings and the catalog's sha256 afterwards. The next
`curate run` skips the longest run of leading steps that finished with unchanged
settings, and continues from there. That is safe because a stage recomputes its own
flags from scratch and reinstates later stages' drops. If the catalog on disk is not
the one the last recorded step left (someone ran a command by hand), every step runs
again; each is idempotent (ingest fetches nothing it already has). A stage step whose
stage reads as stale (curate.freshness: an earlier stage re-ran after it, e.g. a
`curate embed` by hand that left the catalog as it was) runs again with everything after
it. Inside a
step, resuming is the stage's own: ingest journals (and the sources' cursors), the
embedding cache, training checkpoints (`--resume`).
"""

from __future__ import annotations

import collections.abc
import hashlib
import json
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path

from curate.errors import DataContractError, UsageError
from curate.recipes import Recipe, check_name, load_recipe
from curate.workspace import Workspace, atomic_write_bytes, catalog_sha256, changes_workspace


@dataclass(frozen=True)
class Step:
    name: str
    settings: dict  # what decides the step's result: its fingerprint
    action: Callable[[Workspace], str]  # runs the step, returns a one-line summary


@dataclass(frozen=True)
class EvaluateSettings:
    """[evaluate] in a recipe: what `classify evaluate` adds after training."""

    split: str = "test"
    top_losses: int = 24
    uncurated: bool = False
    compare_random_split: bool = False
    device: str = "auto"


@dataclass(frozen=True)
class ReportSettings:
    """[report] in a recipe: checked exactly as `curate report`'s flags are."""

    max_gallery: int = 48
    max_rows: int = 200
    owner_alarm: float = 0.10

    def __post_init__(self):
        from curate.report.run import check_report_limits

        check_report_limits(self.max_gallery, self.max_rows, self.owner_alarm)


# ---------------------------------------------------------------- settings checks

def build_config(cls, section: dict, where: str, **fixed):
    """`cls(**section, **fixed)` after checking every key is a field of the right type.

    Lists become tuples for tuple fields. Raises UsageError naming the first bad key.
    """
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls) if f.name not in fixed]
    values = {}
    for key, value in section.items():
        if key not in known:
            raise UsageError(f"{where}: unknown setting {key!r}; known settings: {', '.join(known)}")
        values[key] = _check_type(value, hints[key], f"{where}: {key}")
    missing = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
               and f.name not in values and f.name not in fixed]
    if missing:
        raise UsageError(f"{where}: missing setting {missing[0]!r}")
    try:
        return cls(**values, **fixed)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _check_type(value, hint, where: str):
    """`value` converted to `hint` (int -> float, list -> tuple, str -> Path) or a UsageError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            if option is type(None):
                continue
            try:
                return _check_type(value, option, where)
            except UsageError:
                pass
        raise UsageError(f"{where} must be {_describe(hint)}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise UsageError(f"{where} must be a list, got {value!r}")
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) != len(value):
            raise UsageError(f"{where} must be a list of {len(items)} values, got {value!r}")
        return tuple(_check_type(v, t, where) for v, t in zip(value, items))
    if origin in (dict, collections.abc.Mapping) or hint is dict:
        if not isinstance(value, dict):
            raise UsageError(f"{where} must be a table, got {value!r}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is Path:
        if isinstance(value, str):
            return Path(value)
    elif hint is typing.Any:
        return value
    raise UsageError(f"{where} must be {_describe(hint)}, got {value!r}")


def _describe(hint) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", Path: "a path"}
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if typing.get_origin(hint) is tuple:
        return "a list"
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def fingerprint(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- ingest steps

def _split_keys(entry: dict, groups: dict[str, type], where: str) -> dict[str, dict]:
    """Share a [[sources]] table's keys out between dataclasses (first that has the field wins)."""
    parts: dict[str, dict] = {name: {} for name in groups}
    for key, value in entry.items():
        if key == "kind":
            continue
        owner = next((name for name, cls in groups.items() if key in {f.name for f in fields(cls)}), None)
        if owner is None:
            known = sorted({f.name for cls in groups.values() for f in fields(cls)} - {"query", "recipe", "download"})
            raise UsageError(f"{where}: unknown setting {key!r}; known settings: {', '.join(known)}")
        parts[owner][key] = value
    return parts


def _relative(recipe: Recipe, path: Path) -> Path:
    base = recipe.path.parent if recipe.path is not None else Path.cwd()
    return path if path.is_absolute() else base / path


def _ingest_summary(report) -> str:
    dropped = sum(report.dropped_by_reason.values())
    return f"{report.records:,} rows: {report.stored:,} images stored, {dropped:,} dropped"


def demo_step(recipe: Recipe, entry: dict, where: str) -> Step:
    from curate.demo.config import DemoConfig
    from curate.ingest.demo import RECIPE as DEMO_RECIPE
    from curate.ingest.demo import ingest_demo

    @dataclass(frozen=True)
    class DemoRun:
        workers: int = 2

    if recipe.label_names != load_recipe(DEMO_RECIPE).label_names:
        raise UsageError(f"{where}: the demo collection has the {DEMO_RECIPE} labels; "
                         f"use labels_from = \"{DEMO_RECIPE}\" in a recipe with a demo source")
    parts = _split_keys(entry, {"demo": DemoConfig, "run": DemoRun}, where)
    config = build_config(DemoConfig, parts["demo"], where)
    run = build_config(DemoRun, parts["run"], where)
    return Step("ingest demo", entry, lambda ws: _ingest_summary(ingest_demo(ws, config, workers=run.workers)))


def scrape_step(recipe: Recipe, entry: dict, where: str) -> Step:
    """A scrape of real labelled folders (curate.ingest.scrape); folder paths are relative to the recipe."""
    from curate.ingest.scrape import ingest_scrape
    from curate.scrape.config import ScrapeConfig

    @dataclass(frozen=True)
    class ScrapeRun:
        workers: int = 2

    if not recipe.topic:
        raise UsageError(f"{where}: a scrape needs the recipe's topic = \"<tag>\"")
    parts = _split_keys(entry, {"scrape": ScrapeConfig, "run": ScrapeRun}, where)
    section = parts["scrape"]
    for key in ("folders", "offtopic"):
        if isinstance(section.get(key), list):
            section[key] = [str(_relative(recipe, Path(str(item))).resolve()) for item in section[key]]
    config = build_config(ScrapeConfig, section, where, topic=recipe.topic)
    run = build_config(ScrapeRun, parts["run"], where)
    return Step("ingest scrape", entry,
                lambda ws: _ingest_summary(ingest_scrape(ws, config, recipe, workers=run.workers)))


def folder_step(recipe: Recipe, entry: dict, where: str) -> Step:
    from curate.ingest.folder import FolderOptions, ingest_folder

    options = build_config(FolderOptions, _split_keys(entry, {"folder": FolderOptions}, where)["folder"], where,
                           recipe=recipe)
    options = replace(options, folder=_relative(recipe, options.folder),
                       metadata=_relative(recipe, options.metadata) if options.metadata else None)
    return Step("ingest folder", entry, lambda ws: _ingest_summary(ingest_folder(ws, options)))


def urls_step(recipe: Recipe, entry: dict, where: str) -> Step:
    from curate.ingest.http import DownloadConfig
    from curate.ingest.urls import UrlIngestOptions, ingest_urls

    parts = _split_keys(entry, {"urls": UrlIngestOptions, "download": DownloadConfig}, where)
    download = build_config(DownloadConfig, parts["download"], where)
    options = build_config(UrlIngestOptions, parts["urls"], where, recipe=_recipe_ref(recipe), download=download)
    options = replace(options, path=_relative(recipe, options.path))
    return Step("ingest urls", entry, lambda ws: _ingest_summary(ingest_urls(ws, options)))


def _api_source_step(recipe: Recipe, entry: dict, where: str, query_cls, options_cls, ingest,
                     name: Callable[[object], str]) -> Step:
    """A Flickr or Commons source: its query, options and download settings from one table."""
    from curate.ingest.http import DownloadConfig

    parts = _split_keys(entry, {"query": query_cls, "options": options_cls, "download": DownloadConfig}, where)
    query = build_config(query_cls, parts["query"], where)
    download = build_config(DownloadConfig, parts["download"], where)
    options = build_config(options_cls, parts["options"], where, query=query, recipe=_recipe_ref(recipe),
                           download=download)
    return Step(name(query), entry, lambda ws: _ingest_summary(ingest(ws, options)))


def flickr_step(recipe: Recipe, entry: dict, where: str) -> Step:
    from curate.ingest.flickr import FlickrOptions, FlickrQuery, ingest_flickr

    return _api_source_step(recipe, entry, where, FlickrQuery, FlickrOptions, ingest_flickr,
                            lambda query: f"ingest flickr {','.join(query.tags)}")


def commons_step(recipe: Recipe, entry: dict, where: str) -> Step:
    from curate.ingest.commons import CommonsOptions, CommonsQuery, ingest_commons

    return _api_source_step(recipe, entry, where, CommonsQuery, CommonsOptions, ingest_commons,
                            lambda query: f"ingest commons {query.category or f'near {query.near}'}")


SOURCE_STEPS = {"demo": demo_step, "scrape": scrape_step, "folder": folder_step, "urls": urls_step, "flickr": flickr_step,
                "commons": commons_step}


def _recipe_ref(recipe: Recipe) -> str:
    return str(recipe.path) if recipe.path is not None else recipe.name


# ---------------------------------------------------------------- stage steps

def stage_steps(recipe: Recipe, train: bool) -> list[Step]:
    """embed → filter → prefilter → split → check-leakage → score → [train → evaluate] → report."""
    from classify.train import TrainConfig
    from curate.embed import EmbedConfig
    from curate.filters.stage import FilterConfig
    from curate.prefilter.stage import PrefilterConfig
    from curate.split import SplitConfig

    where = f"recipe {_recipe_ref(recipe)}"
    section = recipe.stage_defaults
    filter_config = build_config(FilterConfig, section("filter"), f"{where} [filter]")
    embed_config = build_config(EmbedConfig, section("embed"), f"{where} [embed]")
    if not recipe.topic:
        raise UsageError(f"{where}: set topic = \"<tag>\" (the pre-classifier's weak label)")
    prefilter_config = build_config(PrefilterConfig, section("prefilter"), f"{where} [prefilter]", topic=recipe.topic)
    split_config = build_config(SplitConfig, section("split"), f"{where} [split]")
    train_config = build_config(TrainConfig, section("train"), f"{where} [train]")
    evaluate = build_config(EvaluateSettings, section("evaluate"), f"{where} [evaluate]")
    report = build_config(ReportSettings, section("report"), f"{where} [report]")
    finetune = train_config if prefilter_config.mode == "finetune" else None
    check_devices(where, {"[embed] device": embed_config.device,
                          **({"[train] device": train_config.device} if train or finetune else {}),
                          **({"[evaluate] device": evaluate.device} if train else {})})
    # The embeddings the prefilter reads are the ones this recipe computes.
    embeddings = embed_config.cache_key
    run_dir_name = check_name(recipe.name, where)

    steps = [
        # embed first: the filter links near duplicates on the embeddings of every stored image
        Step("embed", asdict_plain(embed_config), lambda ws: _embed(ws, embed_config)),
        Step("filter", asdict_plain(filter_config), lambda ws: _filter(ws, filter_config, recipe)),
        Step("prefilter", {**asdict_plain(prefilter_config), "embeddings": embeddings},
             lambda ws: _prefilter(ws, prefilter_config, embeddings, finetune)),
        Step("split", asdict_plain(split_config), lambda ws: _split(ws, split_config)),
        Step("check-leakage", {}, _check_leakage),
    ]
    if any(entry.get("kind") in ("demo", "scrape") for entry in recipe.sources):
        steps.append(Step("score", {}, _score))
    if train:
        steps.append(Step("train", {**asdict_plain(train_config), "run": run_dir_name},
                          lambda ws: _train(ws, ws.root / "runs" / run_dir_name, train_config)))
        steps.append(Step("evaluate", {**asdict_plain(evaluate), "run": run_dir_name},
                          lambda ws: _evaluate(ws, ws.root / "runs" / run_dir_name, evaluate)))
    steps.append(Step("report", {**asdict_plain(report), "train": train}, lambda ws: _report(ws, report)))
    if "export" in recipe.stages:  # optional: the curated set for other trainers (curate.export)
        steps.append(export_step(recipe, f"{where} [export]"))
    return steps


def export_step(recipe: Recipe, where: str) -> Step:
    """The [export] section as a step: `out` (default "export") is relative to the workspace; the
    other keys are ExportConfig's, checked like `curate export`'s flags."""
    from curate.export import ExportConfig

    section = recipe.stage_defaults("export")
    out = section.pop("out", "export")
    if not isinstance(out, str) or not out.strip():
        raise UsageError(f"{where}: out must be a folder path (a string), got {out!r}")
    config = build_config(ExportConfig, section, where)
    return Step("export", {**asdict_plain(config), "out": out}, lambda ws: _export(ws, Path(out), config, recipe))


def check_devices(where: str, devices: dict[str, str]) -> None:
    """UsageError naming the first device setting this machine cannot use ("cuda:99", "cuda"
    without a GPU), before any step runs rather than when its stage starts."""
    from classify.devices import pick_device

    for setting, device in devices.items():
        try:
            pick_device(device)
        except UsageError as exc:
            raise UsageError(f"{where} {setting} = {device!r} cannot be used ({exc}); set it to \"auto\" "
                             "or \"cpu\"") from None


def plan(recipe: Recipe, train: bool = False) -> list[Step]:
    """Every step of `recipe`, with all settings checked (UsageError on the first bad one)."""
    if not recipe.sources:
        raise UsageError(f"recipe {_recipe_ref(recipe)} has no [[sources]]; add one (kind = \"demo\", "
                         "\"folder\", \"urls\", \"flickr\" or \"commons\")")
    steps = []
    for number, entry in enumerate(recipe.sources, 1):
        where = f"recipe {_recipe_ref(recipe)} [[sources]] #{number} ({entry['kind']})"
        steps.append(SOURCE_STEPS[entry["kind"]](recipe, entry, where))
    names = [step.name for step in steps]
    steps = [Step(f"{step.name} #{number}" if names.count(step.name) > 1 else step.name, step.settings, step.action)
             for number, step in enumerate(steps, 1)]
    return steps + stage_steps(recipe, train)


def asdict_plain(config) -> dict:
    return json.loads(json.dumps(asdict(config), default=str))


def _filter(ws: Workspace, config, recipe: Recipe) -> str:
    from curate.filters.run import run_filter

    report = run_filter(ws, config, recipe)
    return f"dropped {report.dropped_by_reason or 'nothing'}" + "".join(
        f"; warning: {warning}" for warning in report.warnings)  # e.g. labels the geo filter skipped


def _embed(ws: Workspace, config) -> str:
    from curate.embed import run_embed

    report = run_embed(ws, config)
    return f"{report.images:,} stored images: {report.cached:,} cached, {report.computed:,} computed"


def _prefilter(ws: Workspace, config, embeddings: str, finetune) -> str:
    from curate.prefilter.run import run_prefilter

    report = run_prefilter(ws, config, embeddings, finetune)
    return (f"topic {report.topic!r}: tagged kept {report.tagged_kept:,}, tagged dropped {report.tagged_dropped:,}, "
            f"untagged recovered {report.untagged_recovered:,}, untagged dropped {report.untagged_dropped:,}; "
            f"label issues {report.label_issues if report.label_issues is not None else 'not checked'}"
            + (f", {report.relabel['relabelled']:,} relabelled" if report.relabel else "")
            + (f"; geo outliers rescued {report.geo_rescue['rescued']:,} of {report.geo_rescue['geo_outliers']:,}"
               if report.geo_rescue else "")
            + (f"; {report.sanity_line()}" if report.sanity_line() else ""))  # why nothing was dropped


def _split(ws: Workspace, config) -> str:
    from curate.split import run_split

    report = run_split(ws, config)
    table = report.per_label
    return (f"{report.groups:,} groups; train/val/test photos {int(table['train_photos'].sum()):,}/"
            f"{int(table['val_photos'].sum()):,}/{int(table['test_photos'].sum()):,}")


def _check_leakage(ws: Workspace) -> str:
    from curate.freshness import require_fresh_split
    from curate.leakage import find_leakage
    from curate.workspace import read_catalog

    catalog = read_catalog(ws)
    require_fresh_split(ws, catalog)
    leaks = find_leakage(catalog)
    if len(leaks):
        raise DataContractError(f"{len(leaks)} groups span two splits (first: {leaks.iloc[0]['kind']} "
                                f"{leaks.iloc[0]['key']}); run `curate check-leakage` for the list")
    return "no owner, near-duplicate cluster or exact image spans two splits"


def _score(ws: Workspace) -> str:
    from curate.score import workspace_scorecard

    if not ws.truth_path.exists():
        return "no demo ground truth here"
    rows, _ = workspace_scorecard(ws)
    judged = [row for row in rows if row.get("met") is not None]
    missed = [row["metric"] for row in judged if not row["met"]]
    return (f"{len(judged) - len(missed)} of {len(judged)} targets met against the ground truth"
            + (f" (missed: {', '.join(missed)})" if missed else "") + "; details: `curate score`")


def _train(ws: Workspace, run_dir: Path, config) -> str:
    from classify.train import CHECKPOINT, train

    resume = (run_dir / CHECKPOINT).exists()
    trainer = train(ws, run_dir, config, resume=resume)
    accuracy = trainer.meta().metrics.get("val_accuracy")
    shown = "n/a" if accuracy is None else f"{accuracy:.1%}"
    return f"{run_dir} ({'resumed, ' if resume else ''}val accuracy {shown})"


def _evaluate(ws: Workspace, run_dir: Path, settings: EvaluateSettings) -> str:
    from classify.evaluate_run import evaluate_and_write

    evaluation, files = evaluate_and_write(run_dir, ws, settings.split, settings.top_losses, settings.device,
                                           compare_random_split=settings.compare_random_split,
                                           uncurated=settings.uncurated)
    # the curate run summary's last lines: accuracy, then what curation is worth with its standard
    # error and the sandals test (classify.compare.curation_headline), one statement per line
    lines = [f"{settings.split} accuracy {evaluation.report.accuracy:.1%} on {evaluation.report.photos:,} photos"]
    if evaluation.comparisons:
        from classify.compare import comparison_lines

        lines += comparison_lines(evaluation.comparisons)
    if evaluation.sandals_test and "uncurated" not in evaluation.comparisons:
        from classify.evaluate import sandals_summary

        lines.append(sandals_summary(evaluation.sandals_test))
    return "\n    ".join(lines)


def _report(ws: Workspace, settings: ReportSettings) -> str:
    from curate.report.run import write_report

    index, _ = write_report(ws, None, max_gallery=settings.max_gallery, owner_alarm=settings.owner_alarm,
                            max_rows=settings.max_rows)
    return str(index)


def _export(ws: Workspace, out: Path, config, recipe: Recipe) -> str:
    from curate.export import export_workspace

    result = export_workspace(ws, out if out.is_absolute() else ws.root / out, config, recipe=recipe.name)
    missing = f"; {len(result.plan.missing):,} without a stored image (export.json lists them)" \
        if len(result.plan.missing) else ""
    return (f"{len(result.plan.rows):,} photos as {config.format} in {result.out}: {result.written:,} files written, "
            f"{result.reused:,} unchanged, {result.removed:,} removed{missing}")


# ---------------------------------------------------------------- running

@dataclass
class StepOutcome:
    name: str
    status: str  # ran | skipped
    seconds: float
    summary: str


PIPELINE_STAGES = ("embed", "filter", "prefilter", "split")  # steps named after a stage of curate.freshness


def state_path(ws: Workspace, recipe: Recipe) -> Path:
    return ws.journal_dir / f"run-{check_name(recipe.name)}.json"


def finished_steps(ws: Workspace, recipe: Recipe, steps: list[Step]) -> list[dict]:
    """The leading steps a previous run finished with the same settings, ending in today's catalog."""
    path = state_path(ws, recipe)
    try:
        done = json.loads(path.read_text(encoding="utf-8"))["steps"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    current = catalog_sha256(ws) if ws.catalog_path.exists() else None
    if not done or done[-1].get("catalog_sha256") != current:
        return []  # the catalog changed outside `curate run`: every step again (each one is idempotent)
    stale = stale_stages(ws)
    count = 0
    while (count < min(len(done), len(steps)) and done[count].get("name") == steps[count].name
           and done[count].get("fingerprint") == fingerprint(steps[count].settings)
           and steps[count].name not in stale):
        count += 1
    return done[:count]


def stale_stages(ws: Workspace) -> set[str]:
    """Stages that are stale or whose report is gone (curate.freshness): their steps run again even
    when the catalog is the one the last run left, e.g. after a `curate embed` by hand."""
    from curate.errors import CurateError
    from curate.freshness import NOT_RUN, STALE, workspace_states

    try:
        states = workspace_states(ws)
    except CurateError:  # an unreadable catalog or report: the steps that read it say so when they run
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
        raise UsageError(f"--from {restart_from!r} is not a step of this recipe; steps: "
                         f"{', '.join(step.name for step in steps)}")
    return first


@changes_workspace
def run_pipeline(ws: Workspace, recipe: Recipe, steps: list[Step], restart_from: str | None = None,
                 echo: Callable[[str], None] = print) -> list[StepOutcome]:
    """Run `steps` in order, skipping those a previous run finished (see the module docstring).

    restart_from: a step name (or its first word, e.g. "ingest"): run it and everything after it again.
    """
    import time

    first = restart_index(steps, restart_from)
    ws.ensure()
    finished = finished_steps(ws, recipe, steps)
    skip = len(finished) if first is None else min(len(finished), first)
    record = finished[:skip] + [{"name": s.name, "fingerprint": fingerprint(s.settings)} for s in steps[skip:]]
    outcomes = []
    for number, step in enumerate(steps, 1):
        prefix = f"[{number}/{len(steps)}] {step.name}"
        if number <= skip:
            outcomes.append(StepOutcome(step.name, "skipped", 0.0, "done in an earlier run"))
            echo(f"{prefix}: done in an earlier run, skipped")
            continue
        echo(f"{prefix} ...")
        started = time.perf_counter()
        summary = step.action(ws)
        record[number - 1]["catalog_sha256"] = catalog_sha256(ws) if ws.catalog_path.exists() else None
        _save_state(ws, recipe, record[:number])
        seconds = time.perf_counter() - started
        outcomes.append(StepOutcome(step.name, "ran", seconds, summary))
        echo(f"{prefix}: {summary} ({seconds:.0f} s)")
    return outcomes


def _save_state(ws: Workspace, recipe: Recipe, finished: list[dict]) -> None:
    payload = {"recipe": _recipe_ref(recipe), "steps": finished}
    atomic_write_bytes(state_path(ws, recipe), json.dumps(payload, indent=1).encode("utf-8"))
