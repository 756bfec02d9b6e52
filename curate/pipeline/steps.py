"""Stage steps: embed → filter → prefilter → split → check-leakage → score → [train → evaluate]
→ report → [export], each with its settings checked from the recipe before anything runs.

A stage step's action runs the stage's I/O edge (e.g. curate.filters.run.run_filter) and
answers the stage report's `summary()`, the same line the stage's own command prints, with the
report's warnings beside it (`StepSummary.of`). Adding
a stage is one config in `stage_steps` and one action here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from curate.errors import DataContractError, UsageError
from curate.leakage_lookalikes import LOOKALIKE_COSINE
from curate.pipeline.runner import Step, StepSummary, recipe_ref
from curate.pipeline.settings import EvaluateSettings, LeakageSettings, ReportSettings, asdict_plain, build_config
from curate.pipeline.sources import SOURCE_STEPS, recipe_relative
from curate.pipeline.training import registered_training, training_steps
from curate.recipes import SOURCE_KINDS, Recipe, check_name
from curate.workspace import Workspace


def stage_steps(recipe: Recipe, train: bool) -> list[Step]:
    """embed → filter → prefilter → split → check-leakage → score → [train → evaluate] → report."""
    from curate.embed import EmbedConfig
    from curate.filters.stage import FilterConfig
    from curate.prefilter.stage import PrefilterConfig
    from curate.split import SplitConfig

    where = f"recipe {recipe_ref(recipe)}"
    section = recipe.stage_defaults
    filter_config = build_config(FilterConfig, section("filter"), f"{where} [filter]")
    if filter_config.center == "recipe" and not recipe.labels:  # no centre is guessed for a label not listed
        raise UsageError(f"{where} [filter]: center = \"recipe\" reads each label's lat and lon from [[labels]], and "
                         "this recipe lists none; add [[labels]] with lat and lon, or use center = \"median\"")
    embed_config = build_config(EmbedConfig, section("embed"), f"{where} [embed]")
    # label issues alone (no topic model) for photos without tags: the recipe's topic is not used
    label_issues_only = section("prefilter").get("label_issues_only") is True
    if not recipe.topic and not label_issues_only:
        raise UsageError(f"{where}: set topic = \"<tag>\" (the pre-classifier's weak label), or, for photos "
                         "without tags, label_issues_only = true in [prefilter] (label issues alone)")
    topic = None if label_issues_only else recipe.topic
    prefilter_config = build_config(PrefilterConfig, section("prefilter"), f"{where} [prefilter]", topic=topic)
    split_config = build_config(SplitConfig, section("split"), f"{where} [split]")
    if split_config.by == "none":  # audit S: the recipe could never finish, its own check-leakage step stopping
        raise UsageError(f"{where} [split]: by = \"none\" splits photo by photo, so photographers and copies cross "
                         "splits on purpose and this recipe's check-leakage step would stop on them; use "
                         "by = \"owner\" (the default), and `classify evaluate RUN --compare-random-split` to measure "
                         "what leakage inflates")
    leakage = build_config(LeakageSettings, section("leakage"), f"{where} [leakage]")
    against = recipe_relative(recipe, Path(leakage.against)) if leakage.against else None
    finetune_mode = prefilter_config.mode == "finetune"
    training, train_config = _training(recipe, f"{where} [train]", needed=train or finetune_mode)
    evaluate = build_config(EvaluateSettings, section("evaluate"), f"{where} [evaluate]")
    report = build_config(ReportSettings, section("report"), f"{where} [report]")
    scorer = training.topic_scorer(train_config) if finetune_mode else None
    check_devices(where, {"[embed] device": embed_config.device,
                          **({"[train] device": train_config.device} if train or finetune_mode else {}),
                          **({"[evaluate] device": evaluate.device} if train else {})})
    # The embeddings the prefilter reads are the ones this recipe computes.
    embeddings = embed_config.cache_key
    run_dir_name = check_name(recipe.name, where)

    steps = [
        # embed first: the filter links near duplicates on the embeddings of every stored image
        Step("embed", asdict_plain(embed_config), lambda ws: _embed(ws, embed_config, topic, where)),
        Step("filter", asdict_plain(filter_config), lambda ws: _filter(ws, filter_config, recipe)),
        Step("prefilter", {**asdict_plain(prefilter_config), "embeddings": embeddings},
             lambda ws: _prefilter(ws, prefilter_config, embeddings, scorer)),
        Step("split", asdict_plain(split_config), lambda ws: _split(ws, split_config)),
        Step("check-leakage", _against_settings(against, leakage.lookalike_cosine),
             lambda ws: _check_leakage(ws, against, leakage.lookalike_cosine),
             inputs=(("against", against),) if against else ()),
    ]
    if any(entry.get("kind") in ("demo", "scrape") for entry in recipe.sources):
        steps.append(Step("score", {}, _score))
    if train:
        steps += _train_and_evaluate(training, train_config, evaluate, run_dir_name)
    steps.append(Step("report", {**asdict_plain(report), "train": train}, lambda ws: _report(ws, report)))
    if "export" in recipe.stages:  # optional: the curated set for other trainers (curate.export)
        steps.append(export_step(recipe, f"{where} [export]"))
    return steps


def _training(recipe: Recipe, where: str, needed: bool):
    """(the registered TrainingSteps, the recipe's [train] config): both None when classify registered
    none and nothing needs it; [train] is checked whenever training is registered."""
    training = training_steps(where) if needed else registered_training()
    return training, build_config(training.config, recipe.stage_defaults("train"), where) if training else None


def _train_and_evaluate(training, train_config, evaluate: EvaluateSettings, run_name: str) -> list[Step]:
    """The train and evaluate steps (classify's, registered): one run folder, <workspace>/runs/<recipe>. Each
    is skipped, even after a step before it ran again, when its run folder holds what it would make from today's
    workspace (`Step.unchanged`)."""
    def run_dir(ws: Workspace) -> Path:
        return ws.runs_dir / run_name

    def unchanged(check, settings):  # (classify's check, if it lends one: see TrainingSteps)
        return (lambda ws: check(ws, run_dir(ws), settings)) if check is not None else None

    return [Step("train", {**asdict_plain(train_config), "run": run_name},
                 lambda ws: training.train(ws, run_dir(ws), train_config),
                 unchanged=unchanged(training.train_unchanged, train_config)),
            Step("evaluate", {**asdict_plain(evaluate), "run": run_name},
                 lambda ws: _evaluate(ws, run_dir(ws), evaluate),
                 unchanged=unchanged(training.evaluate_unchanged, evaluate))]


def export_step(recipe: Recipe, where: str) -> Step:
    """The [export] section as a step: `out` (default "export") is relative to the workspace, or an
    fsspec URL (s3://bucket/prefix: staged in the workspace, then uploaded); the other keys are
    ExportConfig's, checked like `curate export`'s flags."""
    from curate.export import ExportConfig

    section = recipe.stage_defaults("export")
    out = section.pop("out", "export")
    if not isinstance(out, str) or not out.strip():
        raise UsageError(f"{where}: out must be a folder path or a URL (a string), got {out!r}")
    from curate.objectstore import check_store_uri, is_url

    if is_url(out):  # a URL with credentials, or one no driver reads: refused before the first step, not the last
        check_store_uri(out, f"{where} out")  # (audit AN: a dry run passed it, the run refused it at step 8)
    config = build_config(ExportConfig, section, where)
    return Step("export", {**asdict_plain(config), "out": out}, lambda ws: _export(ws, out, config, recipe))


def check_devices(where: str, devices: dict[str, str]) -> None:
    """UsageError naming the first device setting this machine cannot use ("cuda:99", "cuda"
    without a GPU), before any step runs rather than when its stage starts."""
    from curate.settings_fields import SettingError
    from curate.vision.devices import pick_device

    for setting, device in devices.items():
        try:
            pick_device(device)
        except UsageError as exc:  # a SettingError: named by its key here
            reason = exc.render(lambda name: name) if isinstance(exc, SettingError) else exc
            raise UsageError(f"{where} {setting} = {device!r} cannot be used ({reason}); set it to \"auto\" "
                             "or \"cpu\"") from None


def plan(recipe: Recipe, train: bool = False) -> list[Step]:
    """Every step of `recipe`, with all settings checked (UsageError on the first bad one)."""
    if not recipe.sources:
        kinds = ", ".join(f'"{kind}"' for kind in SOURCE_KINDS[:-1])
        raise UsageError(f"recipe {recipe_ref(recipe)} has no [[sources]]; add one (kind = {kinds} or "
                         f'"{SOURCE_KINDS[-1]}")')
    steps = []
    for number, entry in enumerate(recipe.sources, 1):
        where = f"recipe {recipe_ref(recipe)} [[sources]] #{number} ({entry['kind']})"
        steps.append(SOURCE_STEPS[entry["kind"]](recipe, entry, where))
    names = [step.name for step in steps]
    steps = [replace(step, name=f"{step.name} #{number}") if names.count(step.name) > 1 else step
             for number, step in enumerate(steps, 1)]
    engine = engine_config(recipe)
    store = store_uri(recipe)
    # the engine decides where ingest and embed run, not what they produce: it stays out of the settings (so
    # does the image store: the same images under the same keys, wherever they are)
    steps = [_in_store(step, store) if step.name.startswith("ingest") and store else step for step in steps]
    return [_on_engine(step, engine) if step.name.startswith("ingest") or step.name == "embed" else step
            for step in steps + stage_steps(recipe, train)]


def store_uri(recipe: Recipe) -> str | None:
    """The recipe's [store] uri (curate.objectstore.StoreConfig), checked; None: the workspace's own."""
    from curate.objectstore import StoreConfig, check_store_uri

    where = f"recipe {recipe_ref(recipe)} [store]"
    config = build_config(StoreConfig, recipe.stage_defaults("store"), where)
    if config.uri is None:
        return None
    uri = config.uri
    if "://" not in uri and recipe.path is not None:  # a folder: relative to the recipe, like source paths
        uri = str(recipe.path.parent / Path(uri).expanduser())
    try:
        return check_store_uri(uri)
    except UsageError as exc:
        raise UsageError(f"{where} uri: {exc}") from None


def _in_store(step: Step, uri: str) -> Step:
    from curate.objectstore import record_store

    def action(ws: Workspace) -> str | StepSummary:
        record_store(ws, uri)
        return step.action(ws)

    return replace(step, action=action)


def engine_config(recipe: Recipe):
    """The recipe's [engine] section (curate.engines.EngineConfig); with engine = "ray", Ray must be
    installed and a ray_address (or $RAY_ADDRESS) must answer."""
    from curate.engines import EngineConfig

    config = build_config(EngineConfig, recipe.stage_defaults("engine"), f"recipe {recipe_ref(recipe)} [engine]")
    if config.engine == "ray":
        from curate.engines.ray import check_address, import_ray

        import_ray()
        if config.address:
            check_address(config.address)
    return config


def _on_engine(step: Step, engine) -> Step:
    from curate import engines

    def action(ws: Workspace) -> str | StepSummary:
        with engines.use(engine):
            return step.action(ws)

    return replace(step, action=action)


# ---------------------------------------------------------------- stage actions: run, then summarise

def _embed(ws: Workspace, config, topic: str | None = None, where: str = "recipe") -> str:
    from curate.embed import run_embed

    if topic:
        check_topic_tagged(ws, topic, where)
    return run_embed(ws, config).summary()


def check_topic_tagged(ws: Workspace, topic: str, where: str) -> None:
    """UsageError when no photo kept so far carries the recipe's topic tag: the prefilter step would
    stop for want of positives, and this says so before the embed, the long step, rather than after."""
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from curate import schema
    from curate.prefilter.topic import topic_tagged  # the prefilter's own rule for "carries the topic"

    table = ds.dataset(ws.catalog_path, format="parquet").to_table(
        columns=["tags"], filter=pc.field("status") == schema.KEPT)
    if topic_tagged(pd.Series(table.column("tags").to_pylist(), dtype=object), topic).any():
        return
    raise UsageError(f"{where}: no kept photo carries the tag {topic!r} (the recipe's topic, the pre-classifier's "
                     "weak label), so the prefilter step cannot run; set topic to a tag the photos carry (`curate "
                     "status` lists the most common tags), give the source tags (a metadata column), or, to look for "
                     "label errors alone, set label_issues_only = true in [prefilter]")


# Notes that change what the user believes of the collection, carried into a step's line (audit CD: `curate run`
# printed neither that copies under two labels were kept nor that the earlier split's photos stayed put)
SHOWN_NOTES = {"filter": ("near-duplicate clusters span different labels",
                          "near-duplicate cluster spans different labels"),
               "split": ("photos of the earlier split",)}


def _with_notes(step: str, report) -> StepSummary:
    """`StepSummary.of(report)` with the report's notes named in SHOWN_NOTES[step] after its line."""
    summary = StepSummary.of(report)
    shown = [note for note in getattr(report, "notes", ()) if any(mark in note for mark in SHOWN_NOTES[step])]
    return StepSummary("; ".join([summary.line, *shown]), summary.warnings)


def _filter(ws: Workspace, config, recipe: Recipe | None) -> StepSummary:
    from curate.filters.run import run_filter

    return _with_notes("filter", run_filter(ws, config, recipe))  # with warnings, e.g. labels the geo filter skipped


def _prefilter(ws: Workspace, config, embeddings: str, scorer) -> StepSummary:
    from curate.prefilter.run import run_prefilter

    return StepSummary.of(run_prefilter(ws, config, embeddings, scorer))  # with label-issue drops held


def _split(ws: Workspace, config) -> StepSummary:
    from curate.split import run_split

    return _with_notes("split", run_split(ws, config))


def _against_settings(against: Path | None, lookalike_cosine: float | None = LOOKALIKE_COSINE) -> dict:
    """The check's fingerprint: with [leakage] against, that workspace and its catalog's hash, so that the
    step runs again when the other collection changes; a look-alike cosine other than the default (the default
    leaves the fingerprint of a workspace made before the look-alike list as it was: no step runs again for it)."""
    from curate.contamination import against_fingerprint

    found = {} if lookalike_cosine == LOOKALIKE_COSINE else {"lookalike_cosine": lookalike_cosine}
    if against is None:
        return found
    return {"against": str(against), "against_catalog": against_fingerprint(against), **found}


def _check_leakage(ws: Workspace, against: Path | None = None,
                   lookalike_cosine: float | None = LOOKALIKE_COSINE) -> str | StepSummary:
    """`curate check-leakage`: stops the run on a leak; the copies of [leakage] against and the val/test photos
    that look like a train photo (curate.leakage_lookalikes, for review) are said on lines of their own."""
    from curate.leakage import workspace_leakage
    from curate.leakage_lookalikes import save_lookalikes, workspace_lookalikes

    leaks = workspace_leakage(ws)  # out of core on a large catalog, as `curate check-leakage` (audit AW3)
    if len(leaks):
        raise DataContractError(f"{len(leaks)} groups span two splits (first: {leaks.iloc[0]['kind']} "
                                f"{leaks.iloc[0]['key']}); run `curate check-leakage` for the list")
    line = "no owner, near-duplicate cluster or exact image spans two splits"
    alike = workspace_lookalikes(ws, lookalike_cosine)
    unsaved = save_lookalikes(ws, alike)  # `curate report` shows them
    said = (f"{alike.summary()}; `curate check-leakage` lists them",) if alike.pairs is not None and len(
        alike.pairs) else ()
    said += (unsaved,) if unsaved else ()
    if against is None:
        return StepSummary(line, said) if said else line
    from curate.contamination import against_workspace, copies_of, drop_copies_commands, save_copies_report

    other, _ = against_workspace(ws, against)  # a folder of photos is ingested (and embedded) first
    copies = copies_of(ws, other)
    save_copies_report(ws, copies, str(against))
    if copies.copies.empty:
        return StepSummary(f"{line}; {copies.summary(str(against))}", said) if said else \
            f"{line}; {copies.summary(str(against))}"
    fix = f"{drop_copies_commands(str(against))}; run the recipe again to split without them"
    return StepSummary(line, (f"{copies.summary(str(against))}: {fix}", *said))


def _score(ws: Workspace) -> str:
    from curate.score import workspace_scorecard

    if not ws.truth_path.exists():
        return "no demo ground truth here"
    rows, _ = workspace_scorecard(ws)
    judged = [row for row in rows if row.get("met") is not None]
    missed = [row["metric"] for row in judged if not row["met"]]
    return (f"{len(judged) - len(missed)} of {len(judged)} targets met against the ground truth"
            + (f" (missed: {', '.join(missed)})" if missed else "") + "; details: `curate score`")


def _evaluate(ws: Workspace, run_dir: Path, settings: EvaluateSettings) -> str:
    """The registered evaluation step (classify): accuracy, then what curation is worth, one per line."""
    return training_steps("curate run --train").evaluate(ws, run_dir, settings)


def _report(ws: Workspace, settings: ReportSettings) -> str:
    from curate.report.changes import line as changes_line
    from curate.report.run import write_report

    index, report = write_report(ws, None, max_gallery=settings.max_gallery, owner_alarm=settings.owner_alarm,
                                 max_rows=settings.max_rows)
    changed = changes_line(report.get("changes"))  # as `curate report` prints it (audit CD: `curate run` did not)
    return f"{index}; {changed}" if changed else str(index)


def _export(ws: Workspace, out: str, config, recipe: Recipe) -> StepSummary:
    from curate.export import export_workspace
    from curate.objectstore import is_url

    target = out if is_url(out) else Path(out) if Path(out).is_absolute() else ws.root / out
    result = export_workspace(ws, target, config, recipe=recipe.name)
    missing = f"; {len(result.plan.missing):,} without a stored image (export.json lists them)" \
        if len(result.plan.missing) else ""
    notes = "".join(f"; {note}" for note in result.notes)  # e.g. a link that became a copy (object store)
    up = result.upload  # an export to an object store: staged in the workspace, then uploaded
    uploaded = f"; uploaded {up.uploaded:,} files ({up.unchanged:,} already there, {up.removed:,} stale removed)" \
        if up is not None else ""
    return StepSummary(f"{result.plan.photos:,} photos as {config.format} in {result.out}: {result.written:,} files "
                       f"written, {result.reused:,} unchanged, {result.removed:,} removed{missing}{notes}{uploaded}",
                       tuple(result.warnings))
