"""Device choice shared by embedding, training and inference: `auto`, `cuda`, `mps` or `cpu`."""

from __future__ import annotations

from curate.settings_fields import SettingError

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def pick_device(preference: str = "auto"):
    """`auto` picks CUDA, then Apple MPS, then CPU; asking for a missing one is an error.

    Returns a ``torch.device``; raises UsageError (a SettingError naming the `device` setting:
    --device on the command line, `device` in a recipe) for an unknown or unavailable device.
    """
    import torch

    if preference not in DEVICE_CHOICES:
        raise SettingError(f"{{device}} must be one of {', '.join(DEVICE_CHOICES)}, got {preference!r}", "device")
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if preference == "auto":
        preference = next(name for name in ("cuda", "mps", "cpu") if available[name])
    if not available[preference]:
        raise SettingError(f"{{device}} {preference} is not available on this machine; use {{device}} auto or cpu",
                           "device")
    return torch.device(preference)
