"""The classifier (a backbone from `curate.vision.backbones` + a new head) and its run artefacts.

A trained run directory holds::

    model.safetensors   the weights (safetensors: no pickle, loads across versions)
    model.json          classes, backbone, preprocessing, training config, catalog hash, metrics

`load_model(run_dir)` rebuilds the architecture from model.json (without downloading or
loading ImageNet weights) and loads the safetensors file strictly. `Predictor` wraps it for
inference on paths or PIL images.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from curate.errors import UsageError
from curate.vision.backbones import Preprocess
from curate.workspace import atomic_write_bytes

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"  # a run's resume state, written after every epoch (classify.train)

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
META = "model.json"


@dataclass
class RunMeta:
    classes: list[str]
    backbone: str
    preprocess: dict
    dropout: float = 0.2
    config: dict = field(default_factory=dict)
    catalog_sha256: str | None = None
    metrics: dict = field(default_factory=dict)
    gate: dict = field(default_factory=dict)  # the topic gate that belongs with the run (classify.gate), or why none
    off_topic_output: bool = False  # the head has a hidden off-topic output (`--off-topic-class`)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, default=str).encode("utf-8")

    @classmethod
    def from_file(cls, path: Path) -> RunMeta:
        """The run's model.json; UsageError (one line) when it is unreadable, incomplete or newer."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # ValueError: not JSON, not UTF-8
            raise UsageError(f"{path} cannot be read ({type(exc).__name__}: {exc}); restore it or train "
                             "the run again") from None
        if not isinstance(data, dict):
            raise UsageError(f"{path} is not a run description (a JSON object); restore it or train the run again")
        if data.get("format_version", 0) > FORMAT_VERSION:
            raise UsageError(f"{path} was written by a newer version (format {data['format_version']}); upgrade")
        known = set(cls.__dataclass_fields__)
        try:
            meta = cls(**{k: v for k, v in data.items() if k in known})
            meta.preprocessing()
        except (TypeError, KeyError, ValueError) as exc:  # a missing key, or preprocess without size/mean/std
            raise UsageError(f"{path} is incomplete ({type(exc).__name__}: {exc}); restore it or train the run "
                             "again") from None
        if not meta.classes or not all(isinstance(name, str) for name in meta.classes):
            raise UsageError(f"{path} lists no classes; restore it or train the run again")
        return meta

    @property
    def finished(self) -> bool:
        """Training ran to its end: only then does it record `replicas_in_sync` (a run killed
        between its first weights and its first checkpoint has a model.json without it)."""
        return "replicas_in_sync" in self.metrics

    def preprocessing(self) -> Preprocess:
        return Preprocess(size=int(self.preprocess["size"]), mean=tuple(self.preprocess["mean"]),
                          std=tuple(self.preprocess["std"]))


def build_classifier(backbone_name: str, num_classes: int, pretrained: bool = True, dropout: float = 0.2,
                     image_size: int | None = None, off_topic_output: bool = False):
    """(Classifier module, Preprocess): the backbone's features with a fresh linear head
    (`num_classes` outputs, plus one hidden off-topic output with `off_topic_output`)."""
    from curate.vision.backbones import load_backbone

    backbone = load_backbone(backbone_name, pretrained=pretrained)
    if image_size:
        backbone = backbone.resized(image_size)
    return (Classifier(backbone.features, backbone.dim, num_classes, backbone.preprocess, dropout,
                       off_topic_output=off_topic_output), backbone.preprocess)


class Classifier(nn.Module):
    """uint8 or float images (N, 3, H, W) -> logits. uint8 input is normalised inside.

    With `off_topic_output` the head has one more output, trained on the prefilter's off-topic
    photos (`classify train --off-topic-class`): the model learns what is not on topic. `forward`
    and `features_and_logits` give the labels' logits unless asked for all of them
    (`all_outputs=True`: training, and `label_probabilities`, whose label probabilities leave
    room for the hidden class).
    """

    def __init__(self, features, dim: int, num_classes: int, preprocess: Preprocess, dropout: float = 0.2,
                 off_topic_output: bool = False):
        super().__init__()
        self.backbone = features
        self.num_classes = num_classes
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, num_classes + int(off_topic_output)))
        mean, std = preprocess.pixel_scale()
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def normalise(self, images):
        if images.dtype == torch.uint8:
            return (images.float() - self.mean) / self.std
        return images

    def forward(self, images, all_outputs: bool = False):
        return self.features_and_logits(images, all_outputs)[1]

    def features_and_logits(self, images, all_outputs: bool = False):
        """(pooled features (N, dim), logits) from ONE pass: the topic gate reads the features."""
        pooled = self.backbone(self.normalise(images))
        logits = self.head(pooled)
        return pooled, logits if all_outputs else logits[:, :self.num_classes]

    def label_probabilities(self, logits):
        """(N, labels) probabilities from `all_outputs` logits: a softmax over every output, the
        hidden off-topic one included, so a photo the model takes for off topic gets low
        probabilities for every label (they sum to 1 - P(off topic)); without the hidden output,
        the plain softmax."""
        return torch.softmax(logits.float(), dim=1)[:, :self.num_classes]


def save_model(run_dir: Path, model, meta: RunMeta) -> None:
    """Write model.safetensors then model.json, each atomically."""
    from safetensors.torch import save

    run_dir.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in _unwrap(model).state_dict().items()}
    atomic_write_bytes(run_dir / WEIGHTS, save(state))
    save_meta(run_dir, meta)


def save_meta(run_dir: Path, meta: RunMeta) -> None:
    """Write model.json atomically (e.g. final metrics, without touching the weights)."""
    atomic_write_bytes(run_dir / META, meta.to_json())


def load_model(run_dir: Path, device=None):
    """(Classifier in eval mode on `device`, RunMeta) from a run directory."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    if not (run_dir / META).is_file() or not (run_dir / WEIGHTS).is_file():
        raise UsageError(f"{run_dir} is not a trained run (no {META} / {WEIGHTS}); train one with `classify train`")
    meta = RunMeta.from_file(run_dir / META)
    model, _ = build_classifier(meta.backbone, len(meta.classes), pretrained=False, dropout=meta.dropout,
                                image_size=meta.preprocessing().size, off_topic_output=bool(meta.off_topic_output))
    try:
        weights = load_file(run_dir / WEIGHTS)
    except (SafetensorError, OSError) as exc:  # truncated, empty or not a safetensors file
        raise UsageError(f"{run_dir / WEIGHTS} cannot be read ({type(exc).__name__}: {exc}); restore it or "
                         "train the run again") from None
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:  # missing/unexpected keys or shapes: the two files are from different runs
        first = next((line.strip() for line in str(exc).splitlines()[1:]), str(exc)).rstrip(".")  # the first one
        raise UsageError(f"{run_dir / WEIGHTS} does not fit {META} ({meta.backbone}, {len(meta.classes)} "
                         f"classes): {first}; both files must come from the same run") from None
    if not meta.finished and (run_dir / CHECKPOINT).is_file():  # interrupted: its last finished epoch's weights
        log.warning(f"note: the run {run_dir} stopped before its training ended ({meta.metrics.get('epochs_run', 0)} "
                    f"epochs run): these are its last finished epoch's weights; finish it with `classify train "
                    f"--out {run_dir} --resume`")
    model.eval()
    if device is not None:
        model.to(device)
    return model, meta


def _unwrap(model):
    """The plain module inside DistributedDataParallel / torch.compile wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


class Predictor:
    """Batched inference from a run directory: PIL images or paths -> class probabilities."""

    def __init__(self, run_dir: Path, device: str = "auto"):
        from classify.devices import pick_device

        self.device = pick_device(device)
        self.run_dir = Path(run_dir)
        self.model, self.meta = load_model(run_dir, self.device)
        self.classes = list(self.meta.classes)
        self.preprocess = self.meta.preprocessing()

    def probabilities(self, images: list) -> np.ndarray:
        """(N, classes) probabilities for RGB PIL images (`Classifier.label_probabilities`)."""
        from curate.vision.images import prepare

        if not images:
            return np.zeros((0, len(self.classes)), np.float32)
        batch = torch.from_numpy(np.stack([prepare(image, self.preprocess) for image in images])).to(self.device)
        with torch.inference_mode():
            return _unwrap(self.model).label_probabilities(self.model(batch, all_outputs=True)).cpu().numpy()

    def predict_with_features(self, images: list) -> tuple[np.ndarray, np.ndarray]:
        """((N, classes) probabilities as `probabilities` gives them, (N, dim) pooled features) from one
        forward pass.

        The features are what `classify.gate.Gate.scores` reads, so the gate costs one dot product.
        """
        from curate.vision.images import prepare

        if not images:
            return np.zeros((0, len(self.classes)), np.float32), np.zeros((0, self.feature_dim), np.float32)
        batch = torch.from_numpy(np.stack([prepare(image, self.preprocess) for image in images])).to(self.device)
        with torch.inference_mode():
            model = _unwrap(self.model)
            pooled, logits = model.features_and_logits(batch, all_outputs=True)
            return model.label_probabilities(logits).cpu().numpy(), pooled.float().cpu().numpy()

    def probabilities_from_features(self, features: np.ndarray) -> np.ndarray:
        """(N, classes) probabilities from pooled features (N, dim), the head alone: what
        `predict_with_features` gives for the images those features were pooled from."""
        if not len(features):
            return np.zeros((0, len(self.classes)), np.float32)
        with torch.inference_mode():
            model = _unwrap(self.model)
            logits = model.head(torch.from_numpy(np.ascontiguousarray(features, np.float32)).to(self.device))
            return model.label_probabilities(logits).cpu().numpy()

    @property
    def feature_dim(self) -> int:
        """Width of the pooled features (the head's input)."""
        return int(_unwrap(self.model).head[-1].in_features)

    def top_k(self, probabilities: np.ndarray, k: int = 3) -> list[list[tuple[str, float]]]:
        k = max(1, min(k, len(self.classes)))
        order = np.argsort(-probabilities, axis=1)[:, :k]
        return [[(self.classes[j], float(row[j])) for j in idx] for row, idx in zip(probabilities, order)]
