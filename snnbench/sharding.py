"""Spreading one evaluation over processes: which batches a rank runs, and how the ranks' work is merged.

Batch ``b`` of every run belongs to rank ``b mod W`` of ``W``. A run's samples, and so its batches, are the
same on every rank (they follow from the merged outcome of the runs before it), and each batch keeps its own
seed ``(seed, run name, b)``, so the split changes no random draw: after each run the ranks exchange what
their batches found (``torch.distributed.all_gather_object``) and every rank holds the merged state that one
process would have. Each rank keeps only its own batches' progress in its own state file, so a rank that is
restarted continues its share, and every rank takes part in every exchange in the same order.

The process group is the caller's: ``torchrun`` sets ``RANK``/``WORLD_SIZE``, the CLI enters
:func:`process_group_from_environment`, and the library only reads the group it finds (:meth:`Shard.current`).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

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


@contextmanager
def process_group_from_environment(device: str, init_method: str | None = None) -> Iterator[Shard]:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1) for the
    duration of the block: ``nccl`` for CUDA devices, ``gloo`` otherwise; without ``WORLD_SIZE``, one process.

    On leaving, every rank meets at a barrier and the group is destroyed. A process that exits with a live
    gloo group aborts at interpreter shutdown about one time in three (``terminate called without an active
    exception``; ``python benchmarks/gloo_exit.py``: 10 of 30 two-rank runs, 0 of 30 with the group destroyed,
    torch 2.14), which ``torchrun`` reports as a failed run after the result was written. ``init_method`` is torch's (None: ``env://``, torchrun's ``MASTER_ADDR``/``MASTER_PORT``).
    Meant for entry points: the default process group is process-wide state.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    joined = world > 1 and not dist.is_initialized()
    if joined and "RANK" not in os.environ:
        raise ValueError(f"WORLD_SIZE is {world} but RANK is not set: start the processes with torchrun")
    if joined:
        dist.init_process_group("nccl" if str(device).startswith("cuda") else "gloo", init_method=init_method,
                                rank=int(os.environ["RANK"]), world_size=world)
    try:
        yield Shard.current()
        if joined:
            dist.barrier()  # no rank tears its connections down while another still talks over them
    finally:
        if joined:
            dist.destroy_process_group()
