"""Neurons that run one time step per call, for models written as a per-step Python loop (snnTorch's habit).

A multi-step layer (:mod:`snnbench.neurons`) sees the whole series ``[T, B, ...]`` in one call; a step-wise
layer sees ``[B, ...]`` once per step, carries its state between calls, and leaves the loop over time to
the model's own code. Gradients across steps flow through autograd along the state; through each spike
they flow through the layer's backward path, swapped by :func:`snnbench.gradient_mode` like any other.
Only modes that are defined step by step apply (``surrogate``, ``assg``); those that need a layer's whole
series in one call (BPTR, RGA, HART, PDSG) report themselves not applicable.

:class:`SteppedLeaky` is snnTorch's ``Leaky`` (1.0), reproduced operation for operation so that spikes agree
bit for bit. In snnTorch's terms, with ``H`` the state it keeps (the potential before any reset), ``β``
clamped to ``[0, 1]`` and the reset decided from the previous state with a *strict* threshold,
``R_t = 1[H_{t−1} − θ > 0]`` (detached)::

    subtract:  H_t = β·H_{t−1} + X_t − R_t·θ
    zero:      H_t = β·((1 − R_t)·H_{t−1}) + X_t
    none:      H_t = β·H_{t−1} + X_t
    S_t = g·1[H_t − θ > 0]           (g the graded-spike factor, 1 by default)
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .neurons import SpikingNeuron
from .surrogates import Surrogate

RESETS = {"subtract": 0, "zero": 1, "none": 2}  # snnTorch's reset_mechanism_val


class StepSpike(torch.autograd.Function):
    """``S = 1[x > 0]`` (strict, as snnTorch fires) whose backward is the layer's step-local path at step ``t``."""

    @staticmethod
    def forward(ctx, shifted: Tensor, path, t: int) -> Tensor:
        shifted = shifted.detach()
        path.on_step(shifted, t)
        ctx.save_for_backward(shifted)
        ctx.path, ctx.t = path, t
        return (shifted > 0).float()  # float32, as snnTorch's spike functions return

    @staticmethod
    def backward(ctx, grad_spikes: Tensor):
        (shifted,) = ctx.saved_tensors
        return ctx.path.step_backward(grad_spikes, shifted, ctx.t), None, None


class TrainingSurrogateStep:
    """The default step path: the layer's own surrogate derivative at ``H − θ``."""

    def __init__(self, surrogate: Surrogate) -> None:
        self.surrogate = surrogate

    def on_step(self, shifted: Tensor, t: int) -> None:
        pass

    def step_backward(self, grad_spikes: Tensor, shifted: Tensor, t: int) -> Tensor:
        return grad_spikes * self.surrogate.derivative(shifted)


class SteppedNeuron(SpikingNeuron):
    """Base of the step-wise layers: counts the steps of the current sequence (``t``, from 0)."""

    whole_sequence = False

    def __init__(self, surrogate: Optional[Surrogate]) -> None:
        super().__init__(surrogate, "eager")
        self.step_index = 0

    @property
    def backend(self) -> str:
        """Always ``eager``: a step-wise layer runs one PyTorch step per call, with no kernel to choose."""
        return "eager"

    @backend.setter
    def backend(self, value: str) -> None:
        if value != "eager":  # refused, not ignored (snnbench.set_backend, layer.backend = ...)
            raise ValueError(f"{type(self).__name__} runs step by step in eager PyTorch (snnbench.stepwise); "
                             f"backend {value!r} does not apply to it")

    def start_sequence(self) -> None:
        """A new sequence begins: the next call is step 0."""
        self.step_index = 0

    def spike(self, shifted: Tensor) -> Tensor:
        path = self.backward_path if self.backward_path is not None else TrainingSurrogateStep(self.surrogate)
        t, self.step_index = self.step_index, self.step_index + 1
        return StepSpike.apply(shifted, path, t)


class SteppedLeaky(SteppedNeuron):
    """snnTorch's ``Leaky`` one step per call: ``(input, mem) → (spk, mem)`` (or ``spk`` with ``init_hidden``).

    ``beta``, ``threshold`` and ``graded_spikes_factor`` are tensors as in snnTorch (a buffer or a parameter
    each); ``reset_delay=True`` (snnTorch's default) only.

    A sequence begins (the step count, which indexes ASSG's per-step statistics, restarts at 0) at
    ``reset_mem``/``init_leaky``, at a change of shape, and whenever the potential a call starts from is not the
    one this layer's last call produced: ``snntorch.utils.reset(net)`` (which assigns zeros to ``mem``
    without calling ``reset_mem``) or a fresh tensor passed as ``mem``. Passing back the ``mem`` a call returned
    continues the sequence; so does snnTorch's ``detach_hidden`` (in place).
    """

    def __init__(self, beta: float = 0.9, threshold: float = 1.0, reset_mechanism: str = "subtract",
                 graded_spikes_factor: float = 1.0, init_hidden: bool = False, output: bool = False,
                 surrogate: Optional[Surrogate] = None) -> None:
        super().__init__(surrogate)
        if reset_mechanism not in RESETS:
            raise ValueError(f"reset_mechanism must be one of {', '.join(RESETS)}, got {reset_mechanism!r}")
        self.register_buffer("beta", torch.as_tensor(beta, dtype=torch.float32))
        self.register_buffer("threshold", torch.as_tensor(threshold, dtype=torch.float32))
        self.register_buffer("graded_spikes_factor", torch.as_tensor(graded_spikes_factor, dtype=torch.float32))
        self.reset_mechanism_val = RESETS[reset_mechanism]
        self.init_hidden, self.output = init_hidden, output
        self.register_buffer("mem", torch.zeros(0), False)

    def reset_mem(self) -> Tensor:
        self.start_sequence()
        self.mem = self.produced_mem = torch.zeros_like(self.mem, device=self.mem.device)
        return self.mem

    def init_leaky(self) -> Tensor:
        return self.reset_mem()

    def forward(self, input_: Tensor, mem: Optional[Tensor] = None):
        if mem is not None:
            if self.init_hidden:
                raise TypeError("`mem` should not be passed as an argument while `init_hidden=True`")
            self.mem = mem
        if self.mem.shape != input_.shape:
            self.start_sequence()
            self.mem = torch.zeros_like(input_, device=self.mem.device)
        elif self.mem is not getattr(self, "produced_mem", None):
            self.start_sequence()  # a potential this layer did not produce: snnTorch's reset, or the user's own
        reset = (self.mem - self.threshold > 0).float()  # snnTorch's detached reset signal
        beta = self.beta.clamp(0, 1)
        if self.reset_mechanism_val == 0:
            self.mem = beta * self.mem + input_ - reset * self.threshold
        elif self.reset_mechanism_val == 1:
            self.mem = beta * ((1 - reset) * self.mem) + input_
        else:
            self.mem = beta * self.mem + input_
        self.produced_mem = self.mem
        spk = self.spike(self.mem - self.threshold) * self.graded_spikes_factor
        if self.init_hidden and not self.output:
            return spk
        return spk, self.mem

    def extra_repr(self) -> str:
        mechanism = next(k for k, v in RESETS.items() if v == self.reset_mechanism_val)
        return (f"beta={self.beta.tolist()}, threshold={self.threshold.tolist()}, reset_mechanism={mechanism}, "
                f"surrogate={self.surrogate.family}({self.surrogate.alpha}), one step per call")


def start_sequences(model: torch.nn.Module) -> None:
    """Tell every step-wise layer of ``model`` that a new sequence begins (before each forward)."""
    for module in model.modules():
        if isinstance(module, SteppedNeuron):
            module.start_sequence()
