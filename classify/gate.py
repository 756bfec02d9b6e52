"""The topic gate at prediction time: a logistic topic head on the classifier's pooled features.

The talk's system is two models in a row: "is this photo on topic?" then "which label?". The
classifier fine-tunes its backbone, so the prefilter's frozen-backbone embedding is not the
classifier's; the gate is therefore refitted at the end of `classify train` on the trained
model's own pooled features (the same L2 normalisation and logistic regression as
`curate prefilter`), and one forward pass gives both the class probabilities and the topic
score (`Predictor.predict_with_features`).

A run directory with a gate holds::

    gate.safetensors   coef (dim,) float32, intercept (1,) float32
    gate.json          threshold, calibration, backbone, catalog hash, the prefilter topic model's
                       file hash it belongs with, counts

`load_gate(run_dir)` returns None when the run has no gate (trained without a prefilter).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from curate.errors import UsageError
from curate.workspace import atomic_write_bytes

log = logging.getLogger(__name__)

GATE_WEIGHTS = "gate.safetensors"
GATE_META = "gate.json"
GATE_FORMAT_VERSION = 1
OFF_TOPIC = "off_topic"  # the label a gated photo is answered with


@dataclass
class GateMeta:
    """gate.json: how the gate was fitted and which run, catalog and prefilter it belongs with."""

    threshold: float
    calibration: str  # how the threshold was chosen, e.g. "youden" or "youden, capped at 3% on-topic gated"
    backbone: str
    topic: str | None = None
    catalog_sha256: str | None = None
    prefilter_model_sha256: str | None = None  # sha256 of <ws>/models/topic/topic.safetensors
    counts: dict = field(default_factory=dict)
    format_version: int = GATE_FORMAT_VERSION


@dataclass
class Gate:
    """A logistic topic head: `scores(features)` is P(on topic) per row; below `threshold` is off topic."""

    coef: np.ndarray  # (dim,)
    intercept: float
    meta: GateMeta

    @property
    def threshold(self) -> float:
        return float(self.meta.threshold)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """P(on topic) per row of `features` (N, dim): rows are L2-normalised as in the prefilter.

        >>> gate = Gate(np.array([4.0, -4.0]), 0.0, GateMeta(0.5, "fixed", "x"))
        >>> gate.scores(np.array([[1.0, 0.0], [0.0, 2.0]])).round(3).tolist()
        [0.982, 0.018]
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.coef):
            raise UsageError(f"the gate expects features of width {len(self.coef)}, got shape {x.shape}; "
                             "the gate and the model come from different runs: train the run again")
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
        return 1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept)))

    def off_topic(self, scores: np.ndarray) -> np.ndarray:
        """True where a topic score is below the threshold."""
        return np.asarray(scores) < self.threshold


def save_gate(run_dir: Path, coef: np.ndarray, intercept: float, meta: GateMeta) -> None:
    """Write gate.safetensors then gate.json, each atomically."""
    from safetensors.numpy import save

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tensors = {"coef": np.asarray(coef, np.float32).ravel().copy(),
               "intercept": np.asarray([intercept], np.float32)}
    atomic_write_bytes(run_dir / GATE_WEIGHTS, save(tensors))
    atomic_write_bytes(run_dir / GATE_META, json.dumps(asdict(meta), indent=2).encode("utf-8"))


def load_gate(run_dir: Path) -> Gate | None:
    """The run's gate, or None when it has none; UsageError (one line) when its files are unreadable."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    run_dir = Path(run_dir)
    weights, meta_path = run_dir / GATE_WEIGHTS, run_dir / GATE_META
    if not weights.is_file() and not meta_path.is_file():
        return None
    if not weights.is_file() or not meta_path.is_file():
        missing = weights if not weights.is_file() else meta_path
        raise UsageError(f"{missing} is missing (the gate needs both {GATE_WEIGHTS} and {GATE_META}); "
                         "train the run again, or pass --no-gate")
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
        tensors = load_file(weights)
        meta = GateMeta(**{k: v for k, v in data.items() if k in GateMeta.__dataclass_fields__})
        coef, intercept = tensors["coef"].astype(np.float64), float(tensors["intercept"][0])
        threshold = float(meta.threshold)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, SafetensorError) as exc:
        raise UsageError(f"the gate in {run_dir} cannot be read ({type(exc).__name__}: {exc}); train the run "
                         "again, or pass --no-gate") from None
    if meta.format_version > GATE_FORMAT_VERSION:
        raise UsageError(f"{meta_path} was written by a newer version (format {meta.format_version}); upgrade")
    if not 0.0 < threshold < 1.0 or coef.ndim != 1:
        raise UsageError(f"{meta_path} holds no usable gate (threshold {threshold}); train the run again, "
                         "or pass --no-gate")
    return Gate(coef, intercept, meta)


# ------------------------------------------------------------------ fitting (end of `classify train`)

MAX_GATED_ON_TOPIC = 0.03  # at most this share of on-topic validation photos may be gated
GATE_FOLDS = 5


def no_gate_reason(catalog, prefilter_report: dict | None = None) -> str:
    """Why `gate_rows` found no off-topic photo to fit a gate on: the prefilter held its drops, every such
    photo is a test photographer's, the topic was on every photo (`prefilter_report`, the prefilter's
    stage report: audit O's run was told to run the prefilter it had run), or no prefilter with a topic ran."""
    from curate import schema

    off_topic = int(((catalog["status"] == schema.DROPPED) & (catalog["drop_reason"] == OFF_TOPIC)).sum())
    doubted = int(catalog["topic_doubted"].eq(True).sum()) if "topic_doubted" in catalog else 0
    if off_topic:
        return (f"the {off_topic:,} photo{'s' if off_topic != 1 else ''} dropped as off_topic "
                f"{'are all' if off_topic != 1 else 'is'} by test photographers (kept apart for the sandals test), "
                "so none is left to fit a gate on")
    if doubted:
        return (f"no photo was dropped as off_topic: `curate prefilter` held its drops ({doubted:,} "
                f"photo{'s' if doubted != 1 else ''} doubted; "
                "its warning says why); `curate prefilter --topic TAG --force` drops them, then split and train again")
    if (prefilter_report or {}).get("held") and (prefilter_report or {}).get("unforceable"):
        return ("no photo was dropped as off_topic: `curate prefilter` held its drops, and even --force cannot drop "
                "any here (the photos it could score are all of one kind, with or without the tag: its warning says "
                "why); a gate needs photographers with photos on both sides of the topic")
    asked = ((prefilter_report or {}).get("config") or {}).get("topic")
    if asked and (prefilter_report or {}).get("topic") is None:  # no negatives: label issues ran alone
        return (f"the topic {asked!r} was on every photo `curate prefilter` judged, so it fitted no topic model and "
                "dropped nothing as off_topic; a gate needs photos without the tag (a broader collection)")
    widest = _widest_tag(catalog, prefilter_report)
    if widest is not None:  # audit EG F9: the advice below would hold its drops too, and give no gate either
        tag, share, limit = widest
        return (f"no photos dropped as off_topic, and `curate prefilter --topic {tag}` would drop none either: the "
                f"tag is on {share:.0%} of the kept photos, too many to tell off-topic ones apart (max_topic_share "
                f"{limit:.0%}); a gate needs photos without the tag (a broader collection)")
    return ("no photos dropped as off_topic (run `curate prefilter --topic TAG`, not --label-issues-only, before "
            "`curate split` to get a gate)")


def _widest_tag(catalog, prefilter_report: dict | None) -> tuple[str, float, float] | None:
    """(tag, share, max_topic_share) for the tag on the most kept photos when it is on more of them than the
    prefilter's max_topic_share (its last run's, else the default): a topic the prefilter would hold; else None."""
    from dataclasses import fields

    from curate import schema
    from curate.prefilter.config import PrefilterConfig

    if "tags" not in catalog:
        return None
    default = next(field.default for field in fields(PrefilterConfig) if field.name == "max_topic_share")
    limit = float(((prefilter_report or {}).get("config") or {}).get("max_topic_share") or default)
    tags = catalog.loc[catalog["status"] == schema.KEPT, "tags"]
    if tags.empty:
        return None
    counts = tags.map(lambda cell: sorted(set(cell)) if cell is not None and not isinstance(cell, float) else [])
    counts = counts.explode().dropna().value_counts()
    if counts.empty or counts.iloc[0] / len(tags) <= limit:
        return None
    return str(counts.index[0]), float(counts.iloc[0] / len(tags)), limit


def gate_rows(catalog) -> tuple:
    """(positives, negatives) catalog rows the gate is fitted on.

    Positives: kept, labelled photos of the train and val splits. Negatives: photos the prefilter
    dropped as off topic whose owners have NO photo in the test split (nor the same image file as
    one of theirs): the sandals test (`classify evaluate`) scores test owners' off-topic photos,
    so the gate never sees them.
    """
    from curate import schema

    has_image = catalog["image_path"].notna()
    # (kept photos only: a photo a stage dropped after the split keeps its split until the next: review CE)
    test_owners = catalog.loc[(catalog["status"] == schema.KEPT) & (catalog["split"] == "test"),
                              "owner_id"].dropna().unique()
    positives = catalog[(catalog["status"] == schema.KEPT) & catalog["label"].notna()
                        & catalog["split"].isin(["train", "val"]) & has_image]
    test_images = catalog.loc[catalog["owner_id"].isin(test_owners), "sha256"].dropna().unique()
    negatives = catalog[(catalog["status"] == schema.DROPPED) & (catalog["drop_reason"] == OFF_TOPIC) & has_image
                        & ~catalog["owner_id"].isin(test_owners) & ~catalog["sha256"].isin(test_images)]
    return positives.reset_index(drop=True), negatives.reset_index(drop=True)


def choose_threshold(scores: np.ndarray, on_topic: np.ndarray, is_val: np.ndarray) -> tuple[float, str]:
    """(threshold, how): the prefilter's calibrated rule (Youden's J, `curate.prefilter.threshold`) on
    out-of-fold scores, lowered where needed so that at most `MAX_GATED_ON_TOPIC` of the on-topic
    validation photos fall below it.

    >>> choose_threshold(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1], bool), np.array([0, 0, 1, 1], bool))
    (0.8, 'youden')
    """
    from curate.prefilter.threshold import youden_threshold

    threshold = youden_threshold(scores, on_topic)
    val_scores = scores[on_topic & is_val]
    if len(val_scores) and np.mean(val_scores < threshold) > MAX_GATED_ON_TOPIC:
        capped = float(np.quantile(val_scores, MAX_GATED_ON_TOPIC, method="lower"))
        return capped, f"youden {threshold:.4f}, lowered to gate <= {MAX_GATED_ON_TOPIC:.0%} of on-topic val photos"
    return float(threshold), "youden"


def fit_gate(features: np.ndarray, on_topic: np.ndarray, groups: np.ndarray, is_val: np.ndarray,
             c: float = 1.0, seed: int = 0) -> tuple[np.ndarray, float, float, str, dict]:
    """(coef, intercept, threshold, calibration, counts) of a topic head on pooled features.

    The same path as the prefilter: L2-normalised rows, logistic regression with C = `c`;
    owner-grouped out-of-fold scores (`curate.prefilter.folds`) choose the threshold
    (`choose_threshold`), then one model on every row is the gate.
    """
    from curate.prefilter.folds import fit_logistic, grouped_folds, normalise_rows, out_of_fold_proba

    y = np.asarray(on_topic, dtype=int)
    folds = min(GATE_FOLDS, len(np.unique(groups[y == 0])), len(np.unique(groups[y == 1])))
    if folds < 2:
        raise UsageError("the gate needs off-topic and on-topic photos of at least two photographers each")
    fold = grouped_folds(y, groups, folds, seed)
    oof = out_of_fold_proba(normalise_rows(features), y, fold, 2, c, seed)[:, 1]
    scored = ~np.isnan(oof)  # a fold whose model saw one class scores none of its rows
    if not (scored & (y == 0)).any() or not (scored & (y == 1)).any():
        raise UsageError("the gate needs off-topic and on-topic photos of at least two photographers each, spread "
                         "so that every fold's model sees both")
    is_val = np.asarray(is_val, bool)
    threshold, how = choose_threshold(oof[scored], y[scored].astype(bool), is_val[scored])
    coef, intercept = fit_logistic(features, y, c, seed)
    gated = oof < threshold
    on_val = scored & is_val & (y == 1)
    counts = {"on_topic": int(y.sum()), "off_topic": int((1 - y).sum()), "folds": folds,
              "off_topic_gated_oof": round(float(gated[scored & (y == 0)].mean()), 4),
              "on_topic_val_gated_oof": round(float(gated[on_val].mean()), 4) if on_val.any() else None}
    return coef, intercept, float(threshold), how, counts


def pooled_features(model, paths: list, preprocess, device, batch_size: int = 64, workers: int = 0,
                    label: str | None = None) -> np.ndarray:
    """(N, dim) pooled features of the stored images at `paths` (`curate.objectstore.locate` locations
    of the originals), decoded and resized as every model input is (`curate.vision.images.load_uint8`:
    what `classify evaluate`, `predict`, `serve` and `curate embed` compute), by `workers` loader
    processes; model in eval mode; a progress bar named `label` when one is given. An image that
    no longer decodes gets zeros and a warning (it decoded when the run's data was built)."""
    import torch
    from torch.utils.data import DataLoader

    from curate.progress import progress_bar
    from curate.vision.images import ImageFiles, ignore_sigterm

    loader = DataLoader(ImageFiles(list(paths), preprocess), batch_size=batch_size, shuffle=False,
                        num_workers=workers, worker_init_fn=ignore_sigterm)
    chunks, unreadable = [], 0
    model.eval()
    with torch.inference_mode(), progress_bar(label or "features", len(loader) if label else None) as advance:
        for _, images, ok in loader:
            pooled, _ = model.features_and_logits(images.to(device))
            pooled = pooled.float().cpu().numpy()
            pooled[~ok.numpy()] = 0.0
            unreadable += int((~ok).sum())
            chunks.append(pooled)
            advance()
    if unreadable:
        log.warning(f"warning: {unreadable:,} images did not decode for their features (zeros used)")
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)


def fit_run_gate(ws, run_dir: Path, catalog, device, cache_side: int = 256, seed: int = 0) -> dict:
    """Fit and save the gate of the trained run in `run_dir`; returns what model.json records.

    Reads the run's best weights (model.safetensors), the prefilter's saved topic model
    (<workspace>/models/topic/topic.json: its C, topic and file hash) and the images of
    `gate_rows(catalog)`. No off-topic photos (no prefilter ran): no gate, and an older
    gate in `run_dir` is removed; the returned dict says why.
    """
    from classify.data import ensure_resized
    from classify.model import load_model
    from curate import objectstore
    from curate.split import split_groups

    positives, negatives = gate_rows(catalog)
    if negatives.empty:
        from curate.errors import DataContractError
        from curate.stage_reports import load_stage_report

        try:
            report = load_stage_report(ws, "prefilter")
        except DataContractError:  # unreadable: the reason from the catalog alone
            report = None
        return _no_gate(run_dir, no_gate_reason(catalog, report))
    rows = _labelled_for_gate(positives, negatives).reset_index(drop=True)
    model, meta = load_model(run_dir, device)
    probe = bool(meta.config.get("probe"))  # the backbone is the pretrained one: its features are cached by image
    if probe:
        from classify.probe import FeatureCache

        cache = FeatureCache(ws, meta.backbone, meta.preprocessing().size)
        vouched = cache.cached(rows["sha256"].astype(str).tolist(), int(model.head[-1].in_features))[1]
    else:
        vouched = np.zeros(len(rows), bool)
    # rows whose image may not decode are checked by resizing them (the training cache: a decode
    # each); a row with a usable cached vector decoded when it was cached, and a probe reads only that
    checked = ensure_resized(ws, rows[~vouched], cache_side)
    readable = vouched.copy()
    readable[np.flatnonzero(~vouched)] = checked.notna().to_numpy()
    rows = rows[readable].reset_index(drop=True)
    on_topic = (rows["_gate_on_topic"]).to_numpy(bool)
    paths = [objectstore.locate(ws, path) for path in rows["image_path"]]  # the originals, decoded as predict does
    if probe:
        features = cache.features(rows["sha256"].astype(str).tolist(), lambda positions: pooled_features(
            model, [paths[i] for i in positions], meta.preprocessing(), device))
    else:
        features = pooled_features(model, paths, meta.preprocessing(), device)
    topic = prefilter_topic_model(ws)
    try:
        coef, intercept, threshold, how, counts = fit_gate(
            features, on_topic, split_groups(rows, "owner"), (rows["split"] == "val").to_numpy(),
            c=float(topic.get("regularisation") or 1.0), seed=seed)
    except UsageError as exc:  # too few photographers: the trained run stays usable, without a gate
        return _no_gate(run_dir, str(exc))
    gate_meta = GateMeta(threshold=threshold, calibration=how, backbone=meta.backbone, topic=topic.get("topic"),
                         catalog_sha256=meta.catalog_sha256, prefilter_model_sha256=topic.get("weights_sha256"),
                         counts=counts)
    save_gate(run_dir, coef, intercept, gate_meta)
    return {"fitted": True, "files": [GATE_WEIGHTS, GATE_META], "threshold": round(threshold, 4),
            "calibration": how, "topic": gate_meta.topic, "prefilter_model_sha256": gate_meta.prefilter_model_sha256,
            **counts}


def _no_gate(run_dir: Path, reason: str) -> dict:
    """Remove an older gate from `run_dir` (it belongs with other weights); say why there is none."""
    for name in (GATE_META, GATE_WEIGHTS):
        (Path(run_dir) / name).unlink(missing_ok=True)
    return {"fitted": False, "reason": reason}


def _labelled_for_gate(positives, negatives):
    """Positives then negatives, with an `_gate_on_topic` column."""
    import pandas as pd

    return pd.concat([positives.assign(_gate_on_topic=True), negatives.assign(_gate_on_topic=False)],
                     ignore_index=True)


def prefilter_topic_model(ws) -> dict:
    """The prefilter's saved topic.json (topic, C, weights hash), or {} when there is none or it is unreadable."""
    from curate.prefilter.run import TOPIC_META, topic_model_dir

    try:
        data = json.loads((topic_model_dir(ws) / TOPIC_META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
