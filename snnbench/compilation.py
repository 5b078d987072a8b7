"""Elementwise work fused by ``torch.compile``, with the plain function as fallback and reference.

Attacks run a few element-wise formulas over every membrane potential at every step (ASSG's statistics,
the backward passes of BPTR, RGA and HART). In eager PyTorch each operation is a pass over memory; compiled, the whole
formula is one. :class:`Fused` compiles a plain function on first use, with the flattened element count
dynamic so that every layer shape shares one kernel; where compilation cannot work it warns once and runs
the plain function, which is also what the tests compare the compiled one with.
"""
from __future__ import annotations

import warnings
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

    ``layout`` says how tensors reach the kernel:

    ``elementwise``
        same-shaped tensors flattened to one dynamic dimension; outputs come back in that shape.
    ``over_time``
        same-shaped ``[T, ...]`` tensors flattened to ``[T, N]``, ``N`` dynamic, so that ``fn`` may reduce
        over time; outputs come back in the input shape.
    ``batch``
        tensors as they are, dimension 0 dynamic; outputs as ``fn`` shapes them (pooling changes shape).
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
                flat = [kernel_view(a, self.layout) if isinstance(a, Tensor) else a for a in args]
                with torch._dynamo.config.patch(**DYNAMO_CONFIG):
                    out = self._compiled(*flat)
                if self.layout == "batch":
                    return out
                shape = next(a.shape for a in args if isinstance(a, Tensor))
                return tuple(o.reshape(shape) for o in out) if isinstance(out, tuple) else out.reshape(shape)
            except (torch._dynamo.exc.BackendCompilerFailed, torch._dynamo.exc.Unsupported,
                    torch._dynamo.exc.FailOnRecompileLimitHit, OSError) as err:
                self.unavailable = f"{type(err).__name__}: {err}".splitlines()[0]
                warnings.warn(f"snnbench: torch.compile is unavailable here ({self.unavailable}); "
                              f"{self.fn.__name__} runs eagerly", RuntimeWarning, stacklevel=2)
        return self.fn(*args)


def kernel_view(t: Tensor, layout: str) -> Tensor:
    """``t`` detached and shaped for a kernel of ``layout``, its dynamic dimension marked."""
    if layout == "batch":
        t, dynamic = t.detach(), 0
    elif layout == "over_time":
        t, dynamic = t.detach().reshape(t.shape[0], -1), 1
    else:
        t, dynamic = t.detach().reshape(-1), 0
    if t.shape[dynamic] > 1:
        torch._dynamo.mark_dynamic(t, dynamic)
    return t
