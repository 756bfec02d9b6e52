"""`TrainConfig`: every setting of a training run, checked once (one clear line per bad value)."""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, fields

from curate.errors import UsageError
from curate.settings_fields import SettingError, setting
from curate.vision.backbones import DEFAULT_BACKBONE, Preprocess, backbone_names

SCHEDULES = ("onecycle", "plateau")
PRECISIONS = ("auto", "bf16", "fp32")  # auto: bf16 autocast on CUDA, fp32 elsewhere
BALANCE = ("none", "sampler", "loss")


MAX_CACHE_SIDE = 2048  # twice the largest --image-size
# what a linear probe (--probe) never reads: it fits the head once, convexly, without augmentation
PROBE_UNUSED = ("head_epochs", "epochs", "lr", "backbone_lr_factor", "weight_decay", "schedule", "label_smoothing",
                "patience", "seed", "color_jitter", "crop_scale", "dropout", "compile", "channels_last")


@dataclass(frozen=True)
class TrainConfig:
    """`classify train`'s flags and a recipe's [train] keys, one field each (curate.settings_fields)."""

    backbone: str = setting(DEFAULT_BACKBONE, help="Pretrained backbone (offline ImageNet weights).")
    head_epochs: int = setting(1, help="Stage 1: epochs training the head on a frozen backbone.")
    epochs: int = setting(4, help="Stage 2: epochs fine-tuning everything.")
    lr: float = setting(1e-3, help="Peak learning rate of the head (see `classify lr-find`).")
    backbone_lr_factor: float = setting(0.1, help="Stage 2 backbone rate = lr x this.")
    weight_decay: float = setting(0.01, help="AdamW weight decay.")
    batch_size: int = setting(32, help="Photos per training step.")
    schedule: str = setting("onecycle", help="onecycle or plateau (ReduceLROnPlateau on val loss).")
    label_smoothing: float = setting(0.0, help="Label smoothing of the cross-entropy loss (0 = off).")
    patience: int = setting(3, help="Early stop after this many epochs without a better val loss.")
    seed: int = setting(0, help="Random seed (weights of the head, sampling, augmentation).")
    image_size: int = setting(224, help="Training crop side in pixels.")
    # FixRes (Touvron et al., 2019): random-resized crops zoom in, so a centre crop at the training size
    # shows objects smaller than training did; a larger test input evens that out, in the same forward pass
    eval_image_size: int | None = setting(None, help=(
        "Crop side in pixels for validation, evaluation, prediction, serving and the topic gate "
        "(default: the training crop side). Larger than --image-size evens out the zoom of random crops."))
    cache_side: int = setting(256, help="Short side of the pre-resized image cache.")
    color_jitter: float = setting(0.0, help="Brightness/contrast/saturation jitter (0 = off).")
    # RandomResizedCrop keeps at least this share of the image area
    crop_scale: float = setting(0.35, help="Smallest share of the image a random crop keeps.")
    balance: str = setting("none", help="Class imbalance: none, sampler (weighted sampling) or loss (class weights).")
    dropout: float = setting(0.2, help="Dropout before the classification head.")
    pretrained: bool = setting(True, help="Start from the backbone's ImageNet weights (off: random weights).")
    off_topic_class: bool = setting(False, help=(
        "Also train on the prefilter's off-topic photos of train/val photographers, as a hidden extra "
        "class (outlier exposure): predictions, accuracy and the gate still use the labels only."))
    probe: bool = setting(False, help=(
        "Fit the head alone on the pretrained backbone's features at the evaluation crop (a linear probe: "
        "no fine-tuning, no augmentation, the epochs and learning rate unused); seconds after one forward "
        "pass. At the backbone's own 224 px it can beat a CPU fine-tune at 96-128 px."))
    compile: bool = setting(False, flag="--compile", help="torch.compile the model (CUDA).")
    precision: str = setting("auto", help="auto (bf16 autocast on CUDA, fp32 elsewhere), bf16 or fp32.")
    channels_last: bool | None = setting(None, help="Memory layout (default: channels-last on CUDA).")  # None: CUDA
    device: str = setting("auto", help="auto (CUDA > MPS > CPU), cuda, mps or cpu.")
    workers: int | None = setting(None, help="DataLoader worker processes.")

    def __post_init__(self) -> None:
        if self.backbone not in backbone_names():
            raise UsageError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(backbone_names())}")
        if self.head_epochs < 0 or self.epochs < 0 or self.head_epochs + self.epochs < 1:
            raise SettingError("{head_epochs} and {epochs} must be 0 or more, and not both 0", "head_epochs", "epochs")
        finite = math.isfinite(self.lr) and math.isfinite(self.weight_decay)
        if not finite or not self.lr > 0 or not 0 < self.backbone_lr_factor <= 1 or not self.weight_decay >= 0:
            raise SettingError("{lr} must be positive, {backbone_lr_factor} in (0, 1], {weight_decay} >= 0 "
                               f"(all finite), got {self.lr:g}, {self.backbone_lr_factor:g}, {self.weight_decay:g}",
                               "lr", "backbone_lr_factor", "weight_decay")
        if self.batch_size < 1:
            raise SettingError(f"{{batch_size}} must be at least 1, got {self.batch_size}", "batch_size")
        for name, known in (("schedule", SCHEDULES), ("precision", PRECISIONS), ("balance", BALANCE)):
            if getattr(self, name) not in known:
                raise SettingError(f"{{{name}}} must be one of {', '.join(known)}, got {getattr(self, name)!r}", name)
        if not 0 <= self.label_smoothing < 1:
            raise SettingError(f"{{label_smoothing}} must be in [0, 1), got {self.label_smoothing}", "label_smoothing")
        if not 0 <= self.dropout < 1:  # 1 would zero every feature the head sees
            raise SettingError(f"{{dropout}} must be in [0, 1), got {self.dropout}", "dropout")
        if not 32 <= self.image_size <= 1024:
            raise SettingError(f"{{image_size}} must be between 32 and 1024, got {self.image_size}", "image_size")
        if self.eval_image_size is not None and not 32 <= self.eval_image_size <= 1024:
            raise SettingError(f"{{eval_image_size}} must be between 32 and 1024, got {self.eval_image_size}",
                               "eval_image_size")
        if self.cache_side > MAX_CACHE_SIDE:
            raise SettingError(f"{{cache_side}} must be at most {MAX_CACHE_SIDE} px (the cache exists to be smaller "
                               f"than the photos), got {self.cache_side}", "cache_side")
        if self.cache_side < self.image_size:
            raise SettingError(f"{{cache_side}} ({self.cache_side}) must be at least {{image_size}} "
                               f"({self.image_size}): the cache is what the crops are cut from", "cache_side",
                               "image_size")
        eval_resize = Preprocess(size=self.eval_image_size).resize if self.eval_image_size is not None else 0
        if self.cache_side < eval_resize:
            raise SettingError(f"{{cache_side}} ({self.cache_side}) must be at least {eval_resize} for "
                               f"{{eval_image_size}} {self.eval_image_size}: evaluation resizes the short side to "
                               f"{eval_resize} px before its centre crop, and validation reads the cache",
                               "cache_side", "eval_image_size")
        if not 0 <= self.color_jitter <= 1:
            raise SettingError(f"{{color_jitter}} must be between 0 and 1, got {self.color_jitter}", "color_jitter")
        if not 0 < self.crop_scale <= 1:
            raise SettingError(f"{{crop_scale}} must be in (0, 1] (the smallest share of the image a crop keeps), "
                               f"got {self.crop_scale}", "crop_scale")
        if self.patience < 1:
            raise SettingError(f"{{patience}} must be at least 1 epoch, got {self.patience}", "patience")
        if self.seed < 0:  # numpy's generators take non-negative seeds only
            raise SettingError(f"{{seed}} must be 0 or more, got {self.seed}", "seed")
        if self.probe and not self.pretrained:
            raise SettingError("{probe} fits a head on the pretrained features: it needs {pretrained}", "probe",
                               "pretrained")
        if self.workers is not None and self.workers < 0:
            raise SettingError(f"{{workers}} must be 0 (load in the main process) or more, got {self.workers}",
                               "workers")

    @property
    def eval_size(self) -> int:
        """The crop side evaluation, prediction and the gate use."""
        return self.eval_image_size if self.eval_image_size is not None else self.image_size

    @property
    def total_epochs(self) -> int:
        return self.head_epochs + self.epochs

    def stage(self, epoch: int) -> int:
        return 1 if epoch < self.head_epochs else 2

    def resolved_workers(self) -> int:
        import os

        return self.workers if self.workers is not None else min(8, max(0, (os.cpu_count() or 1) // 2))

    def comparable(self) -> dict:
        """The settings a resumed (or reused) run must share with the interrupted one; for a probe,
        only those its fit reads (the epochs, rates, schedule, augmentation and seed change nothing)."""
        ignored = ("device", "workers") + (PROBE_UNUSED if self.probe else ())
        return {k: v for k, v in asdict(self).items() if k not in ignored}

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


LR_MIN_STEPS, LR_MIN_WARMUP = 10, 3  # classify lr-find: the first LR_MIN_WARMUP points are a warm-up


@dataclass(frozen=True)
class LrRange:
    """`classify lr-find`'s range test: rates growing exponentially from start_lr to end_lr over
    `steps` mini-batches (classify.lrfind)."""

    start_lr: float = setting(1e-7, help="The rate of the first mini-batch.")
    end_lr: float = setting(1.0, help="The rate of the last mini-batch (the test stops once the loss diverges).")
    steps: int = setting(100, help=f"Mini-batches in the test (at least {LR_MIN_STEPS}).")

    def __post_init__(self):
        if not 0 < self.start_lr < self.end_lr < math.inf:
            raise SettingError(f"{{start_lr}} must be positive and below {{end_lr}} (finite), got {self.start_lr:g} "
                               f"and {self.end_lr:g}", "start_lr", "end_lr")
        if self.steps < LR_MIN_STEPS:
            raise SettingError(f"{{steps}} must be at least {LR_MIN_STEPS} (the first {LR_MIN_WARMUP} are a warm-up "
                               f"the suggestion skips), got {self.steps}", "steps")


URL_LIKE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+:/")  # a scheme of 2+ letters (not a Windows drive letter)


def check_out_folder(path, flag: str = "--out") -> None:
    """UsageError when the output folder `path` (a Path) cannot be a folder because it, or the
    nearest part of it that exists, is a file, or because that folder cannot be written (a
    read-only parent: found after training, the training would be lost): checked before any slow work. A URL
    (`s3://…`, which a Path collapses to `s3:/…`) is refused: a run is written on this machine (audit AN: `--out
    s3://u:SECRET@b/x` trained into a local folder named after the credential and printed it)."""
    if URL_LIKE.match(str(path)):
        from curate.redact import redact_text

        shown = redact_text(re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]+:)/(?!/)", r"\1//", str(path)))
        raise UsageError(f"{flag} {shown} is a URL; give a local folder (a run is written on this machine: copy it "
                         "to object storage afterwards)")
    existing = next((part for part in (path, *path.parents) if _exists(part)), None)
    if existing is not None and not existing.is_dir():
        raise UsageError(f"{flag} {path}: {existing} is a file, not a folder; choose another {flag}")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path} cannot be written ({existing} is not a writable folder); choose another "
                         f"{flag}")
    if existing is not None:
        _try_folder(path, existing, flag)


def _exists(path) -> bool:
    """Path.exists, False where the path cannot even be looked up (a name too long raises OSError)."""
    try:
        return path.exists()
    except OSError:
        return False


def _try_folder(path, existing, flag: str) -> None:
    """UsageError when a folder cannot in fact be made in `existing` (os.access passes as root in /sys and
    /proc, audit X) or a part of `path` below it is a name too long for the file system."""
    import tempfile

    try:
        longest = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    below = path.relative_to(existing).parts if path != existing else ()
    too_long = next((part for part in below if len(os.fsencode(part)) > longest), None)
    if too_long is not None:
        raise UsageError(f"{flag} {path}: the name {too_long[:40]}… is longer than the file system allows ({longest} "
                         f"bytes); choose a shorter {flag}")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".classify-check-", dir=existing))
    except OSError as exc:
        raise UsageError(f"{flag} {path} cannot be written (no folder can be made in {existing}: "
                         f"{exc.strerror or exc}); choose another {flag}") from None
