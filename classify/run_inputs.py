"""What `curate run --train` trained and evaluated on, kept in the run folder so that a later run can skip both when
it is unchanged.

`curate run` runs every step after one that ran again (curate.pipeline.runner), so an upgrade whose prefilter
re-ran to the same decisions, or a review that left the split as it was, trained the same model again: minutes to
hours. After the train step (and the evaluate step) finishes, `record_training` (`record_evaluation`) writes
RUN/pipeline-inputs.json: a fingerprint of what the step read and the sha256 of the files it made. The steps'
`unchanged` checks (curate.pipeline.runner.Step.unchanged) compare both with today's: the same inputs and the same
files, and the runner skips the step. A run folder without the file (trained by hand, or before it was written)
is trained again, as before.

What training reads: the kept, labelled photos of the three splits (`classify.data.labelled_rows`: ids, image
sha256s, labels, split), the prefilter's off-topic drops the topic gate is fitted on (and `--off-topic-class`
trains on: `classify.gate.gate_rows`), the prefilter topic model's topic and C (the gate's), the settings that
decide the model (`TrainConfig.comparable`: device and workers aside) and `RULES`. What evaluation reads: the
model's files, the [evaluate] settings (device aside), `RULES`, and the catalog's columns in `EVALUATION_COLUMNS`
(the test photos, the sandals test's off-topic photos, the uncurated and random-split comparisons' pools).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from curate import schema
from curate.errors import CurateError
from curate.pipeline.runner import Unchanged
from curate.pipeline.settings import fingerprint
from curate.workspace import Workspace, atomic_write_bytes, catalog_sha256, read_catalog

INPUTS_FILE = "pipeline-inputs.json"  # in the run folder; moved aside with it (classify.steps.set_aside)
# Bump when a change to classify makes the same photos and settings train (or score) another model (other figures):
# a run folder recorded under another version is trained and evaluated again.
RULES = 1
TRAIN_COLUMNS = (schema.PHOTO_ID, "sha256", "label", "split")
GATE_COLUMNS = (schema.PHOTO_ID, "sha256")
# what `classify evaluate` and its comparisons read of the catalog, and "open_label_issue": a label issue no
# reviewer settled (the evaluation's flagged photos)
EVALUATION_COLUMNS = (schema.PHOTO_ID, "sha256", "image_path", "owner_id", "label", "original_label",
                      "label_before_review", "status", "drop_reason", "drop_stage", "split", "near_dup_cluster",
                      "exact_dup_group", "open_label_issue")


def training_inputs(ws: Workspace, config) -> dict:
    """The fingerprint of what training `config` on the workspace's catalog reads (see the module docstring).
    Raises CurateError when the catalog has no split (training says what is wrong)."""
    from classify.data import labelled_rows
    from classify.gate import gate_rows, prefilter_topic_model

    catalog = read_catalog(ws)
    rows = labelled_rows(catalog)
    _, off_topic = gate_rows(catalog)
    topic = prefilter_topic_model(ws)
    return {"rules": RULES, "settings": fingerprint(config.comparable()), "photos": len(rows),
            "rows": rows_sha256(rows, TRAIN_COLUMNS), "off_topic_rows": rows_sha256(off_topic, GATE_COLUMNS),
            "topic_model": [topic.get("topic"), topic.get("regularisation")]}


def evaluation_inputs(ws: Workspace, run_dir: Path, settings) -> dict:
    """The fingerprint of what evaluating the run in `run_dir` with `settings` (EvaluateSettings) reads."""
    catalog = read_catalog(ws)
    if "is_label_issue" in catalog.columns:
        settled = catalog["review_status"].notna() if "review_status" in catalog.columns else False
        catalog = catalog.assign(open_label_issue=catalog["is_label_issue"].eq(True) & ~settled)
    return {"rules": RULES, "settings": fingerprint({k: v for k, v in asdict(settings).items() if k != "device"}),
            "rows": rows_sha256(catalog, EVALUATION_COLUMNS), "model": model_files(run_dir)}


def rows_sha256(rows: pd.DataFrame, columns: tuple[str, ...]) -> str:
    """A content hash of `rows`' `columns` (those it has), whatever the row order.

    >>> a = pd.DataFrame({"photo_id": ["x", "y"], "label": ["a", "b"]})
    >>> rows_sha256(a, ("photo_id", "label")) == rows_sha256(a[::-1], ("photo_id", "label"))
    True
    >>> rows_sha256(a, ("photo_id", "label")) == rows_sha256(a.assign(label="a"), ("photo_id", "label"))
    False
    """
    present = [name for name in columns if name in rows.columns]
    frame = rows[present].astype(str).sort_values(present, kind="mergesort")
    digest = hashlib.sha256(json.dumps(present).encode("utf-8"))
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def model_files(run_dir: Path) -> dict[str, str | None]:
    """The sha256 of each file of the trained model in `run_dir` (None for one not there): the weights, model.json,
    the topic gate."""
    from classify.gate import GATE_META, GATE_WEIGHTS
    from classify.model import META, WEIGHTS

    return {name: file_sha256(Path(run_dir) / name) for name in (WEIGHTS, META, GATE_WEIGHTS, GATE_META)}


def file_sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def evaluation_file(run_dir: Path, settings) -> Path:
    from classify.evaluation_files import evaluation_folder

    return evaluation_folder(run_dir, settings.split) / "evaluation.json"


# ---------------------------------------------------------------- recording, after a step finished

def record_training(ws: Workspace, run_dir: Path, config) -> None:
    """After the train step trained `run_dir` to its end: record what it read and the model it made (an earlier
    evaluation's record goes: it scored another model). Nothing is recorded for a run that did not finish."""
    from classify.run_files import holds_trained_model

    if not holds_trained_model(run_dir):
        return
    try:
        inputs = training_inputs(ws, config)
    except CurateError:
        return
    _write(run_dir, {"train": {"inputs": inputs, "model": model_files(run_dir)}})


def record_evaluation(ws: Workspace, run_dir: Path, settings) -> None:
    """After the evaluate step wrote its evaluation of `run_dir`: record what it read and the file it wrote
    (nothing when there is no such file)."""
    written = file_sha256(evaluation_file(run_dir, settings))
    if written is None:
        return
    try:
        inputs = evaluation_inputs(ws, run_dir, settings)
    except CurateError:
        return
    entry = {"inputs": inputs, "evaluation": written}
    _write(run_dir, {**recorded(run_dir), "evaluate": entry})


def recorded_training(run_dir: Path) -> bool:
    """Whether `run_dir` holds a finished model whose training the train step recorded. That step runs on it only
    when what training reads changed since, or when `--from` asks for it: it trains anew rather than resuming
    the finished run (which would keep a model of other labels: the resume check compares the split alone)."""
    from classify.run_files import holds_trained_model

    return isinstance(recorded(run_dir).get("train"), dict) and holds_trained_model(run_dir)


def recorded(run_dir: Path) -> dict:
    """The run folder's record ({} without a readable one)."""
    try:
        data = json.loads((Path(run_dir) / INPUTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(run_dir: Path, record: dict) -> None:
    atomic_write_bytes(Path(run_dir) / INPUTS_FILE, json.dumps(record, indent=1).encode("utf-8"))


# ---------------------------------------------------------------- the steps' `unchanged` checks (read only)

def training_unchanged(ws: Workspace, run_dir: Path, config) -> Unchanged | None:
    """Unchanged when `run_dir` holds the model the train step made, from what training `config` would read
    today; None otherwise (the step runs, setting that run aside: classify.steps.train_step)."""
    saved = recorded(run_dir).get("train")
    if not isinstance(saved, dict) or saved.get("model") != model_files(run_dir):
        return None
    try:
        inputs = training_inputs(ws, config)
    except (CurateError, OSError):
        return None
    if inputs != saved.get("inputs"):
        return None
    return Unchanged(f"{run_dir} was trained on the same {inputs['photos']:,} photos (ids, images, labels and "
                     "split) with the same settings")


def evaluation_unchanged(ws: Workspace, run_dir: Path, settings) -> Unchanged | None:
    """Unchanged when `run_dir`'s evaluation is the one the evaluate step wrote, of this model, from what it would
    read today with `settings`; None otherwise. Skipping it, the evaluation is marked as made for today's catalog
    (`_vouch`): every column it reads is as it was, and the report would otherwise call it stale."""
    saved = recorded(run_dir).get("evaluate")
    path = evaluation_file(run_dir, settings)
    if not isinstance(saved, dict) or saved.get("evaluation") != file_sha256(path):
        return None
    try:
        inputs = evaluation_inputs(ws, run_dir, settings)
    except (CurateError, OSError):
        return None
    if inputs != saved.get("inputs"):
        return None
    return Unchanged(f"{path.parent} scores the same model on the same photos with the same settings",
                     keep=lambda ws: _vouch(ws, run_dir, settings))


def _vouch(ws: Workspace, run_dir: Path, settings) -> None:
    """Set the evaluation's catalog_sha256 to today's catalog (the one it was computed on is kept as
    `scored_catalog_sha256`) and record the file as the evaluate step's."""
    path = evaluation_file(run_dir, settings)
    try:
        evaluation = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    today = catalog_sha256(ws)
    if not isinstance(evaluation, dict) or evaluation.get("catalog_sha256") == today:
        return
    evaluation.setdefault("scored_catalog_sha256", evaluation.get("catalog_sha256"))
    evaluation["catalog_sha256"] = today
    atomic_write_bytes(path, json.dumps(evaluation, indent=2).encode("utf-8"))
    record = recorded(run_dir)
    if isinstance(record.get("evaluate"), dict):
        record["evaluate"]["evaluation"] = file_sha256(path)
        _write(run_dir, record)
