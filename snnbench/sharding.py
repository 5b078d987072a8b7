"""Spreading one evaluation over processes: which batches a rank runs, and how the ranks' work is merged.

Batch ``b`` of every run belongs to rank ``b mod W`` of ``W``. A run's samples, and so its batches, are the
same on every rank (they follow from the merged outcome of the runs before it), and each batch keeps its own
seed ``(seed, run name, b)``, so the split changes no random draw: after each run the ranks exchange what
their batches found (``torch.distributed.all_gather_object``) and every rank holds the merged state that one
process would have. Each rank keeps only its own batches' progress in its own state file, so a rank that is
restarted continues its share, and every rank takes part in every exchange in the same order.

The process group is the caller's: ``torchrun`` sets ``RANK``/``WORLD_SIZE``, the CLI calls
:func:`init_from_environment`, and the library only reads the group it finds (:meth:`Shard.current`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch.distributed as dist


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if self.world < 1 or not 0 <= self.rank < self.world:
            raise ValueError(f"Shard: rank {self.rank} is not in [0, {self.world})")

    @classmethod
    def current(cls) -> "Shard":
        """This process's place in the initialised ``torch.distributed`` group (one process without one)."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    def owns(self, batch: int) -> bool:
        return batch % self.world == self.rank

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (just ``[obj]`` in one process)."""
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    @property
    def label(self) -> str:
        return "" if self.world == 1 else f"rank{self.rank}of{self.world}"


def init_from_environment(device: str) -> Shard:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1): ``nccl`` for
    CUDA devices, ``gloo`` otherwise. Without ``WORLD_SIZE``, one process. Meant for entry points: it changes
    process-wide state (the default process group)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if str(device).startswith("cuda") else "gloo")
    return Shard.current()
