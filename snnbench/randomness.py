"""Seeded random streams for stochastic layers (noisy neurons, Poisson encoding).

Each stochastic module owns a :class:`SeededStream`: a ``torch.Generator`` per device, created from the
module's seed on first use. Nothing touches PyTorch's global generator, so a run is reproducible no matter
what else draws random numbers, and :meth:`reseed` restarts a stream exactly.
"""
from __future__ import annotations

import hashlib

import torch


class SeededStream:
    """Lazily created per-device generators sharing one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._generators: dict[torch.device, torch.Generator] = {}

    def reseed(self, seed: int) -> None:
        self.seed = int(seed)
        self._generators.clear()

    def generator(self, device: torch.device) -> torch.Generator:
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[device]

    def __getstate__(self) -> dict:
        # Generators cannot be deep-copied or pickled; a copy restarts from the seed.
        return {"seed": self.seed}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["seed"])


def layer_seed(seed: int, index: int) -> int:
    """Distinct, reproducible seeds for the ``index``-th stochastic layer of a model seeded with ``seed``."""
    return (int(seed) * 1_000_003 + index * 7919) % (2**63)


def derive_seed(seed: int, *purpose: object) -> int:
    """A seed for one purpose of a seeded run (``derive_seed(seed, "order", epoch)``), stable across runs,
    processes and Python versions, so any step of a run can be replayed without replaying the ones before."""
    text = "/".join(str(p) for p in (int(seed), *purpose))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1
