"""Seeded random streams for stochastic layers (noisy neurons, Poisson encoding).

Each stochastic module owns its stream, seeded from the module's seed. Nothing touches PyTorch's global
generator, so a run is reproducible no matter what else draws random numbers, and ``reseed`` restarts a
stream exactly. Two kinds:

* :class:`SeededStream`: a ``torch.Generator`` per device, created on first use (Poisson encoding).
* :class:`CounterStream`: Gaussian noise from a counter-based generator (noisy neurons). PyTorch's CPU
  generator is a serial Mersenne Twister: drawing a noisy LIF's noise with it took about 60% of a forward pass
  (``benchmarks/noisy_forward.py``). Here every number is a pure function of (key, position), so the whole
  tensor is computed at once, in parallel, by one compiled kernel.

The counter-based generator is SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014) used as a hash: position ``i`` of a draw with key ``k`` gets the 64 bits
``mix(k + (i + 1)·γ)``; 24 of them make ``u₁ ∈ (0, 1]`` and 24 others ``u₂ ∈ [0, 1)``, and Box–Muller turns
them into ``√(−2 ln u₁) · cos(2π u₂)``, a standard normal truncated at ``√(48 ln 2) ≈ 5.77`` (a
probability of 8·10⁻⁹ lost beyond it).
"""
from __future__ import annotations

import hashlib
import math

import torch
from torch import Tensor

from .compilation import Fused

_U64 = 1 << 64
# SplitMix64's increment (the golden ratio in 64 bits) and its finaliser's multipliers.
GAMMA = 0x9E3779B97F4A7C15
MIX_MULTIPLIERS = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)
MIX_SHIFTS = (30, 27, 31)


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


def _signed(value: int) -> int:
    """An unsigned 64-bit value as the int64 with the same bits (tensors hold no uint64 arithmetic)."""
    value %= _U64
    return value - _U64 if value >= 1 << 63 else value


def mix64(z: int) -> int:
    """SplitMix64's finaliser on a Python integer (unsigned 64-bit)."""
    a, b = MIX_MULTIPLIERS
    z %= _U64
    z = ((z ^ (z >> MIX_SHIFTS[0])) * a) % _U64
    z = ((z ^ (z >> MIX_SHIFTS[1])) * b) % _U64
    return z ^ (z >> MIX_SHIFTS[2])


def _shift_right(z: Tensor, bits: int) -> Tensor:
    # int64 tensors shift arithmetically; masking off the copied sign bits makes it a logical shift.
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def _mix64_tensor(z: Tensor) -> Tensor:
    """:func:`mix64` on int64 tensors: their multiplication wraps modulo 2⁶⁴ as unsigned arithmetic does."""
    a, b = (_signed(m) for m in MIX_MULTIPLIERS)
    z = (z ^ _shift_right(z, MIX_SHIFTS[0])) * a
    z = (z ^ _shift_right(z, MIX_SHIFTS[1])) * b
    return z ^ _shift_right(z, MIX_SHIFTS[2])


def counter_normal(flat: Tensor, key: Tensor, std: float = 1.0) -> Tensor:
    """Normal float32 numbers of mean 0 and deviation ``std``, one per element of the 1-D ``flat`` (its
    values are not read): element ``i`` is a function of the int64 ``key`` (0-dim) and ``i`` alone. The
    plain definition; compiled by :data:`COUNTER_NORMAL`."""
    index = torch.arange(1, flat.shape[0] + 1, device=flat.device, dtype=torch.int64)
    bits = _mix64_tensor(index * _signed(GAMMA) + key)
    u1 = (_shift_right(bits, 40) + 1).to(torch.float32) * 2.0**-24
    u2 = (_shift_right(bits, 16) & 0xFFFFFF).to(torch.float32) * 2.0**-24
    return (std * torch.sqrt(-2.0 * torch.log(u1))) * torch.cos((2.0 * math.pi) * u2)


COUNTER_NORMAL = Fused(counter_normal)


class CounterStream:
    """Gaussian noise, one draw per call: draw ``n`` of a stream seeded ``s`` is a pure function of
    ``(s, n)`` and each element's position, so any draw can be recomputed without the ones before it.

    Positions are counted in row-major order of the shape and the noise comes back contiguous, so a draw
    does not depend on the memory format of the tensor it is shaped like (a channels-last input gets the
    same numbers; the neuron kernels read them in the input's order). The compiled kernel and its plain
    fallback agree to a few float32 ulps (their ``log`` and ``cos`` round differently).
    """

    def __init__(self, seed: int) -> None:
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.seed = int(seed)
        self.draws = 0

    def key(self, draw: int) -> int:
        """The int64 key of draw number ``draw``."""
        return _signed(mix64(mix64(self.seed) + (draw + 1) * GAMMA))

    def normal_like(self, x: Tensor, std: float = 1.0) -> Tensor:
        """The next draw: ``N(0, std²)`` noise with the shape, dtype and device of ``x`` (contiguous)."""
        key = torch.tensor(self.key(self.draws), dtype=torch.int64, device=x.device)
        self.draws += 1
        positions = torch.empty(1, device=x.device).expand(x.numel())  # only its length is read
        return COUNTER_NORMAL(positions, key, float(std)).view(x.shape).to(x.dtype)
