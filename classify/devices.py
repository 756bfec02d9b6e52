"""What torch sees on this machine; the device choice itself is curate.vision.devices's."""

from __future__ import annotations

from curate.vision.devices import DEVICE_CHOICES, pick_device

__all__ = ["DEVICE_CHOICES", "describe_devices", "pick_device"]


def describe_devices() -> dict:
    """What torch sees: version, CUDA devices, MPS, and what `auto` would pick."""
    import torch

    cuda = ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if torch.cuda.is_available() else [])
    return {
        "torch": torch.__version__,
        "cuda_devices": cuda,
        "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        "cpu_threads": torch.get_num_threads(),
        "auto": str(pick_device("auto")),
    }
