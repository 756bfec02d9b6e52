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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from curate.errors import UsageError
from curate.workspace import atomic_write_bytes

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
