"""Where a training process sits in a `torchrun` job, and joining its process group."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from classify.devices import pick_device


@dataclass(frozen=True)
class Distributed:
    """Where this process sits in a `torchrun` job (world size 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls) -> Distributed:
        import os

        world = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def init_distributed(device_preference: str) -> tuple[Distributed, torch.device]:
    """Join the process group when launched by torchrun (NCCL on CUDA, gloo on CPU)."""
    import torch.distributed as dist

    context = Distributed.from_environment()
    device = pick_device(device_preference)
    if context.active:
        if device.type == "cuda":
            device = torch.device("cuda", context.local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return context, device


def leave_distributed(context: Distributed) -> None:
    """Wait for every rank, then leave the process group. A process that exits with the group
    still open can abort while the interpreter shuts down (gloo's threads still hold tensors;
    pytorch/pytorch#179291): torchrun then fails the run although every rank finished."""
    import torch.distributed as dist

    if context.active and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
