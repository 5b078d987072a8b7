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

RECOMPILE_LIMIT = 64


class Fused:
    """``fn(*tensors, *constants)`` over same-shaped tensors, compiled; returns tensors of that shape.

    With ``over_time`` the tensors are ``[T, ...]`` and ``fn`` may reduce over time (dimension 0): they are
    flattened to ``[T, N]`` instead of to one dimension, with ``N`` dynamic.
    """

    def __init__(self, fn: Callable[..., object], over_time: bool = False) -> None:
        self.fn = fn
        self.over_time = over_time
        self._compiled: Optional[Callable[..., object]] = None
        self.unavailable: Optional[str] = None

    def __call__(self, *args):
        if self.unavailable is None:
            import torch._dynamo  # here, not at the top: importing it costs seconds

            try:
                if self._compiled is None:
                    self._compiled = torch.compile(self.fn, fullgraph=True, options={"cpp.dynamic_threads": True})
                flat = [_flat(a, self.over_time) if isinstance(a, Tensor) else a for a in args]
                with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
                    out = self._compiled(*flat)
                shape = next(a.shape for a in args if isinstance(a, Tensor))
                return tuple(o.reshape(shape) for o in out) if isinstance(out, tuple) else out.reshape(shape)
            except (torch._dynamo.exc.BackendCompilerFailed, torch._dynamo.exc.Unsupported,
                    torch._dynamo.exc.FailOnRecompileLimitHit, OSError) as err:
                self.unavailable = f"{type(err).__name__}: {err}".splitlines()[0]
                warnings.warn(f"snnbench: torch.compile is unavailable here ({self.unavailable}); "
                              f"{self.fn.__name__} runs eagerly", RuntimeWarning, stacklevel=2)
        return self.fn(*args)


def _flat(t: Tensor, over_time: bool) -> Tensor:
    flat = t.detach().reshape(t.shape[0], -1) if over_time else t.detach().reshape(-1)
    if flat.shape[-1] > 1:
        torch._dynamo.mark_dynamic(flat, flat.dim() - 1)
    return flat
