"""``torch.distributed`` glue for the distillation: one process, or DDP under ``torchrun``.

``torchrun --nproc-per-node N -m cftrack_cli distill ...`` (or ``--nnodes`` for several
machines) sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; :func:`init_distributed` then joins
the process group (gloo on CPU, NCCL on CUDA). Without those variables everything here is a
no-op, so the training code has one path for both.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from cftrack_cli.errors import UsageError

__all__ = ["DistContext", "init_distributed", "resolve_device"]

# Long enough for rank 0 to sample the pairs and fit the teacher statistics while the others
# wait at a barrier (minutes on a full corpus).
_TIMEOUT = _dt.timedelta(hours=2)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` (CUDA when present), ``cpu`` or ``cuda``; a one-line error for the impossible."""
    if name not in ("auto", "cpu", "cuda"):
        raise UsageError(f"--device {name!r}: expected auto, cpu or cuda")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UsageError("--device cuda: this torch build or machine has no CUDA device")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


@dataclass
class DistContext:
    """Where this process stands: its rank among ``world_size`` and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False  # this context created the process group (and ends it)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes checkpoints, logs and the final weights."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all ranks (one small all-reduce)."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any (e.g. a Ctrl-C seen by one)."""
        return self.sum([float(flag)])[0] > 0

    @property
    def _comm_device(self) -> torch.device:
        # NCCL only moves CUDA tensors; gloo takes CPU ones.
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def init_distributed(device: str = "auto") -> DistContext:
    """A :class:`DistContext` for this process; joins the process group under ``torchrun``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(device=resolve_device(device))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    dev = resolve_device(device, local_rank)
    owns = False
    if not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=_TIMEOUT)
        owns = True
    return DistContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank,
        device=dev,
        owns_group=owns,
    )
