"""`TrainConfig`: every setting of a training run, checked once (one clear line per bad value)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from curate.errors import UsageError
from curate.vision.backbones import DEFAULT_BACKBONE, backbone_names

SCHEDULES = ("onecycle", "plateau")
PRECISIONS = ("auto", "bf16", "fp32")  # auto: bf16 autocast on CUDA, fp32 elsewhere
BALANCE = ("none", "sampler", "loss")


MAX_CACHE_SIDE = 2048  # twice the largest --image-size


@dataclass(frozen=True)
class TrainConfig:
    backbone: str = DEFAULT_BACKBONE
    head_epochs: int = 1  # stage 1: frozen backbone
    epochs: int = 4  # stage 2: everything trains
    lr: float = 1e-3
    backbone_lr_factor: float = 0.1
    weight_decay: float = 0.01
    batch_size: int = 32
    schedule: str = "onecycle"
    label_smoothing: float = 0.0
    patience: int = 3
    seed: int = 0
    image_size: int = 224
    cache_side: int = 256
    color_jitter: float = 0.0
    crop_scale: float = 0.35  # RandomResizedCrop keeps at least this share of the image area
    balance: str = "none"
    dropout: float = 0.2
    pretrained: bool = True
    compile: bool = False
    precision: str = "auto"
    channels_last: bool | None = None  # None: on CUDA
    device: str = "auto"
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.backbone not in backbone_names():
            raise UsageError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(backbone_names())}")
        if self.head_epochs < 0 or self.epochs < 0 or self.head_epochs + self.epochs < 1:
            raise UsageError("--head-epochs and --epochs must be 0 or more, and not both 0")
        finite = math.isfinite(self.lr) and math.isfinite(self.weight_decay)
        if not finite or not self.lr > 0 or not 0 < self.backbone_lr_factor <= 1 or not self.weight_decay >= 0:
            raise UsageError("--lr must be positive, --backbone-lr-factor in (0, 1], --weight-decay >= 0 "
                             f"(all finite), got {self.lr:g}, {self.backbone_lr_factor:g}, {self.weight_decay:g}")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.schedule not in SCHEDULES:
            raise UsageError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.balance not in BALANCE:
            raise UsageError(f"--balance must be one of {', '.join(BALANCE)}, got {self.balance!r}")
        if not 0 <= self.label_smoothing < 1:
            raise UsageError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 32 <= self.image_size <= 1024:
            raise UsageError(f"--image-size must be between 32 and 1024, got {self.image_size}")
        if self.cache_side > MAX_CACHE_SIDE:
            raise UsageError(f"--cache-side must be at most {MAX_CACHE_SIDE} px (the cache exists to be smaller than "
                             f"the photos), got {self.cache_side}")
        if self.cache_side < self.image_size:
            raise UsageError(f"--cache-side ({self.cache_side}) must be at least --image-size ({self.image_size}): "
                             "the cache is what the crops are cut from")
        if not 0 <= self.color_jitter <= 1:
            raise UsageError(f"--color-jitter must be between 0 and 1, got {self.color_jitter}")
        if not 0 < self.crop_scale <= 1:
            raise UsageError(f"--crop-scale must be in (0, 1] (the smallest share of the image a crop keeps), "
                             f"got {self.crop_scale}")
        if self.patience < 1:
            raise UsageError(f"--patience must be at least 1 epoch, got {self.patience}")
        if self.seed < 0:  # numpy's generators take non-negative seeds only
            raise UsageError(f"--seed must be 0 or more, got {self.seed}")
        if self.workers is not None and self.workers < 0:
            raise UsageError(f"--workers must be 0 (load in the main process) or more, got {self.workers}")

    @property
    def total_epochs(self) -> int:
        return self.head_epochs + self.epochs

    def stage(self, epoch: int) -> int:
        return 1 if epoch < self.head_epochs else 2

    def resolved_workers(self) -> int:
        import os

        return self.workers if self.workers is not None else min(8, max(0, (os.cpu_count() or 1) // 2))

    def comparable(self) -> dict:
        """The settings a resumed run must share with the interrupted one."""
        return {k: v for k, v in asdict(self).items() if k not in ("device", "workers")}

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def check_out_folder(path, flag: str = "--out") -> None:
    """UsageError when the output folder `path` (a Path) cannot be a folder because it, or the
    nearest part of it that exists, is a file: checked before any slow work."""
    existing = next((part for part in (path, *path.parents) if part.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UsageError(f"{flag} {path}: {existing} is a file, not a folder; choose another {flag}")
