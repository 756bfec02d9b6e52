"""classify's steps for `curate run --train`, registered with the pipeline when classify is imported.

curate never imports classify (the dependency runs one way); instead `classify/__init__.py`
calls `register_training(STEPS)` (curate.pipeline.training). Each step imports torch only
when it runs, so registering costs nothing.
"""

from __future__ import annotations

from pathlib import Path

from classify.config import TrainConfig
from classify.run_inputs import (
    evaluation_unchanged,
    record_evaluation,
    record_training,
    recorded_training,
    training_unchanged,
)
from curate.pipeline.training import TrainingSteps, register_training
from curate.workspace import Workspace


def train_step(ws: Workspace, run_dir: Path, config: TrainConfig) -> str:
    """Train into `run_dir` (resuming an interrupted run there); one line: the run and its val accuracy.

    The step runs again when something before it ran again and what training reads changed since the run in
    `run_dir` was trained (its photos, labels, split or settings: classify.run_inputs), or with `--from`: a run
    already in `run_dir` that cannot be resumed on what is there now (a finished one this step recorded, or one
    whose checkpoint holds another split or settings) is moved aside, never deleted (`set_aside`), and a new one
    trained. (A finished run it did not record, e.g. one of an earlier version, is resumed only on the catalog it
    was trained on: it ends at once, and is recorded; on any other, its labels unknown, it is trained anew.)"""
    from classify.train import CHECKPOINT, train

    resume = (run_dir / CHECKPOINT).exists()
    moved = None
    if resume and (recorded_training(run_dir) or not _resumable(ws, run_dir, config)):
        moved, resume = set_aside(run_dir), False
    elif not resume and run_dir.is_dir() and any(run_dir.iterdir()):
        if never_trained(run_dir):
            for path in run_dir.iterdir():  # a start cut short before its first epoch: nothing to keep
                path.unlink()
        else:
            moved = set_aside(run_dir)
    trainer = train(ws, run_dir, config, resume=resume)
    record_training(ws, run_dir, config)  # what it trained on: the next `curate run --train` may skip it
    accuracy = trainer.meta().metrics.get("val_accuracy")
    shown = "n/a" if accuracy is None else f"{accuracy:.1%}"
    aside = f"; the earlier run there moved to {moved}" if moved else ""
    return f"{run_dir} ({'resumed, ' if resume else ''}val accuracy {shown}{aside})"


def _resumable(ws: Workspace, run_dir: Path, config: TrainConfig) -> bool:
    """Whether the checkpoint in `run_dir` holds this split and these settings (classify.train's own checks
    would refuse it otherwise) and was started on today's labels: resumed after a relabel, its first epochs
    would have learned the old labels, and the run would then be recorded as trained on today's (review DJ 3; a
    checkpoint saved before 2026-12-07 does not say, and is resumed as before). For a finished run the step did
    not record (one of an earlier curate), the catalog it trained on must be today's: its labels are known
    nowhere else, and resumed it would end at once with a model of older labels (review DG 3)."""
    from classify.data import labelled_rows
    from classify.run_files import holds_trained_model, labels_sha256, load_checkpoint_state, split_sha256
    from curate.errors import CurateError
    from curate.workspace import catalog_sha256, read_catalog

    try:
        state = load_checkpoint_state(run_dir)
        rows = labelled_rows(read_catalog(ws))
        split = split_sha256(rows)
    except CurateError:  # a damaged checkpoint or no split: training says what is wrong
        return True
    if holds_trained_model(run_dir) and state.get("catalog_sha256") != catalog_sha256(ws):
        return False
    if state.get("labels_sha256") not in (None, labels_sha256(rows)):
        return False
    same_split = state.get("split_sha256") in (None, split)
    return same_split and TrainConfig.from_dict(state["config"]).comparable() == config.comparable()


def never_trained(run_dir: Path) -> bool:
    """Whether `run_dir` holds only what a training writes before its first epoch (the photos it was to
    train on, its lock): a run interrupted that early, which audit AR saw `curate run --train` keep as an
    "earlier run", one more folder each time. Anything else (a model, a checkpoint, a user's file) is kept.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()); _ = (folder / "trained_on.parquet").write_bytes(b"")
    >>> never_trained(folder), (folder / "model.json").write_text("{}") and never_trained(folder)
    (True, False)
    """
    from classify.run_files import TRAINED_ON
    from classify.train import RUN_LOCK

    entries = list(run_dir.iterdir())
    return all(entry.is_file() and entry.name in (TRAINED_ON, RUN_LOCK) for entry in entries)


def set_aside(run_dir: Path) -> Path:
    """Move the run in `run_dir` to a sibling named after it and when it was last written
    (`demo.earlier-20261205-141502`, a number added if that exists); returns the new path."""
    import time

    written = max((path.stat().st_mtime for path in run_dir.iterdir()), default=run_dir.stat().st_mtime)
    base = run_dir.with_name(f"{run_dir.name}.earlier-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(written))}")
    target, number = base, 1
    while target.exists():
        number += 1
        target = base.with_name(f"{base.name}-{number}")
    run_dir.rename(target)
    return target


def evaluate_step(ws: Workspace, run_dir: Path, settings) -> str:
    """`classify evaluate` for the recipe's [evaluate] settings (curate.pipeline.EvaluateSettings).

    The curate run summary's last lines: accuracy, then what curation is worth with its standard
    error and the sandals test (classify.compare.curation_headline), one statement per line.
    """
    from classify import evaluate_run
    from classify.compare_scores import comparison_lines
    from classify.evaluate import interval_text, sandals_summary

    evaluation, _ = evaluate_run.evaluate_and_write(run_dir, ws, settings.split, settings.top_losses, settings.device,
                                                    compare_random_split=settings.compare_random_split,
                                                    uncurated=settings.uncurated)
    record_evaluation(ws, run_dir, settings)
    report = evaluation.report
    lines = [f"{settings.split} accuracy {report.accuracy:.1%} on {report.photos:,} photos "
             f"({interval_text(*report.accuracy_interval)})",
             *evaluation.warnings]  # e.g. the labels with no test photo, which the accuracy leaves out
    if evaluation.comparisons:
        lines += comparison_lines(evaluation.comparisons)
    if evaluation.sandals_test and "uncurated" not in evaluation.comparisons:
        lines.append(sandals_summary(evaluation.sandals_test))
    return "\n    ".join(lines)


def topic_scorer(config: TrainConfig | None = None):
    """`curate prefilter --mode finetune`'s scorer (curate.prefilter.run.TopicScorer): one binary CNN per
    owner-grouped fold, trained with `config` (default TrainConfig())."""
    config = config or TrainConfig()

    def score(ws, catalog, rows, tagged, fold, out_dir):
        from classify.finetune import topic_scores

        return topic_scores(ws, catalog, rows, tagged, fold, config, out_dir)

    return score


STEPS = TrainingSteps(config=TrainConfig, train=train_step, evaluate=evaluate_step, topic_scorer=topic_scorer,
                      train_unchanged=training_unchanged, evaluate_unchanged=evaluation_unchanged)
register_training(STEPS)
