"""Elementwise work fused by ``torch.compile``, with the plain function as fallback and reference.

Attacks run a few element-wise formulas over every membrane potential at every step (ASSG's statistics,
the backward passes of BPTR, RGA and HART). In eager PyTorch each operation is a pass over memory; compiled, the whole
formula is one. :class:`Fused` compiles a plain function on first use, with the flattened element count
dynamic so that every layer shape shares one kernel; where compilation cannot work it warns once and runs
the plain function, which is also what the tests compare the compiled one with.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

# What every compiled kernel runs under. Each neuron configuration or constant is one cache entry, and a
# model zoo in one process needs more than dynamo's default 8. Constants are compiled in, one kernel per
# value: guards on unspecialised floats have let a kernel built for one neuron's leak run with another's
# (torch 2.14).
DYNAMO_CONFIG = {"recompile_limit": 64, "specialize_float": True}


LAYOUTS = ("elementwise", "over_time", "batch")


class Fused:
    """``fn(*tensors, *constants)``, compiled once for every size of the dynamic dimension.

    ``layout`` says how tensors reach the kernel (:class:`KernelLayout`):

    ``elementwise``
        same-shaped tensors flattened to one dynamic dimension, in the memory order of the first tensor;
        outputs come back in its shape and memory order.
    ``over_time``
        same-shaped ``[T, ...]`` tensors flattened to ``[T, N]``, ``N`` dynamic, so that ``fn`` may reduce
        over time; outputs come back like the first tensor.
    ``batch``
        tensors as they are, dimension 0 dynamic; outputs as ``fn`` shapes them (pooling changes shape).

    A 0-dim tensor passes as it is, in every layout: a value that changes from call to call (a random
    key) without a recompilation, which a Python number would cost.
    """

    def __init__(self, fn: Callable[..., object], layout: str = "elementwise") -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"Fused: layout must be one of {LAYOUTS}, got {layout!r}")
        self.fn = fn
        self.layout = layout
        self._compiled: Optional[Callable[..., object]] = None
        self.unavailable: Optional[str] = None

    def __call__(self, *args):
        if self.unavailable is None:
            import torch._dynamo  # here, not at the top: importing it costs seconds

            try:
                if self._compiled is None:
                    self._compiled = torch.compile(self.fn, fullgraph=True, options={"cpp.dynamic_threads": True})
                layout = KernelLayout.of(next(a for a in args if isinstance(a, Tensor)), self.layout)
                flat = [layout.view(a) if isinstance(a, Tensor) and a.dim() > 0 else a for a in args]
                with torch._dynamo.config.patch(**DYNAMO_CONFIG):
                    out = self._compiled(*flat)
                return tuple(layout.restore(o) for o in out) if isinstance(out, tuple) else layout.restore(out)
            except (torch._dynamo.exc.BackendCompilerFailed, torch._dynamo.exc.Unsupported,
                    torch._dynamo.exc.FailOnRecompileLimitHit, OSError) as err:
                self.unavailable = f"{type(err).__name__}: {err}".splitlines()[0]
                warnings.warn(f"snnbench: torch.compile is unavailable here ({self.unavailable}); "
                              f"{self.fn.__name__} runs eagerly", RuntimeWarning, stacklevel=2)
        return self.fn(*args)


@dataclass(frozen=True)
class KernelLayout:
    """How same-shaped tensors reach a kernel of one :data:`LAYOUTS` kind, and how its outputs come back.

    The dimensions are taken in the memory order of a reference tensor, so that a channels-last activation
    (:mod:`snnbench.memory_format`) flattens without a copy and every tensor of the call is read in the
    same element order; a tensor in another order is copied into this one. Outputs come back in the
    reference's shape and memory order.
    """

    kind: str
    shape: tuple[int, ...]
    order: tuple[int, ...]  # the dimensions, outermost in memory first; time stays first for over_time

    @classmethod
    def of(cls, reference: Tensor, kind: str) -> "KernelLayout":
        if kind not in LAYOUTS:
            raise ValueError(f"KernelLayout: kind must be one of {LAYOUTS}, got {kind!r}")
        dims = range(reference.dim())
        if kind == "batch":
            return cls(kind, tuple(reference.shape), tuple(dims))
        fixed = (0,) if kind == "over_time" and reference.dim() > 0 else ()
        free = sorted((d for d in dims if d not in fixed), key=lambda d: (-reference.stride(d), d))
        return cls(kind, tuple(reference.shape), fixed + tuple(free))

    def flatten(self, t: Tensor) -> Tensor:
        """``t`` as ``[T, N]`` (over_time), ``[N]`` (elementwise) or as it is (batch), in this memory order."""
        if self.kind == "batch":
            return t
        t = t.permute(self.order)
        return t.reshape(t.shape[0], -1) if self.kind == "over_time" else t.reshape(-1)

    def view(self, t: Tensor) -> Tensor:
        """``t`` detached and flattened for a compiled kernel, its dynamic dimension marked."""
        t = self.flatten(t.detach())
        dynamic = 1 if self.kind == "over_time" else 0
        if t.shape[dynamic] > 1:
            torch._dynamo.mark_dynamic(t, dynamic)
        return t

    def restore(self, out: Tensor) -> Tensor:
        """A kernel output in the reference's shape and memory order (``batch``: as the kernel shaped it)."""
        if self.kind == "batch":
            return out
        inverse = sorted(range(len(self.order)), key=self.order.__getitem__)
        return out.reshape([self.shape[d] for d in self.order]).permute(inverse)
