"""The multi-step charge → fire → reset loop of integrate-and-fire neurons, and its backward paths.

Hot path of every attack and training step, so it exists three ways:

* ``reference``: the plain step loop, differentiated by autograd through :func:`spike`. Obviously correct,
  slow, and only ever the yardstick the fast paths are tested against.
* ``eager``: :class:`FusedLoop`, an ``autograd.Function`` that runs the forward loop without building a
  graph, keeps the pre-spike potential ``H``, and runs a hand-written backward through time.
* ``compiled``: the same node with both loops compiled by ``torch.compile`` into one fused kernel each;
  it keeps only the layer input and recomputes ``H`` inside the backward kernel.

The loop, for ``t = 1..T`` from ``u₀ = V_r`` (hard reset) or ``u₀ = 0`` (soft reset)::

    H_t = charge(u_{t−1}, X_t) (+ noise_t)        S_t = Θ(H_t − θ)  (Θ(0) = 1)
    u_t = (1 − S_t)·H_t + S_t·V_r   (hard reset to V_r, 0 by default)   or   u_t = H_t − θ·S_t   (soft reset)

The backward pass is pluggable: a :data:`LoopBackward` receives ``∂L/∂S`` and the :class:`LoopRecord` of
the forward and returns ``∂L/∂X``. The default, :class:`SurrogateBPTT`, is backpropagation through time
with a surrogate derivative; attacks swap in other paths while the spikes stay the same.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

import torch
from torch import Tensor

from .compilation import DYNAMO_CONFIG, KernelLayout
from .surrogates import Surrogate, spike

BACKENDS = ("compiled", "eager", "reference")


@dataclass(frozen=True)
class Dynamics:
    """The constants of one neuron type.

    The leak is given one of three ways: ``tau`` (LIF, dividing by τ), ``factor`` (the parametric LIF's
    ``k = sigmoid(w)``, multiplying by k, with ``retain = 1 − k`` as the library computes it in float32), or
    neither (IF, no leak). With ``decay_input`` the charge is ``u + (X − (u − V_r))/τ`` (SpikingJelly's
    default LIF), without it ``u − (u − V_r)/τ + X``: both ``λ(u − V_r) + V_r + c·X`` with ``λ = 1 − 1/τ``
    and ``c`` the input gain. Each case is written exactly as SpikingJelly writes it (the forms with
    ``V_r = 0``, which it uses for a soft reset too, apart), so that spikes agree bit for bit.
    ``v_reset`` is where a hard reset puts the potential, and where it starts.
    """

    tau: Optional[float] = 2.0
    decay_input: bool = True
    threshold: float = 1.0
    soft_reset: bool = False
    detach_reset: bool = False
    v_reset: float = 0.0
    factor: Optional[float] = None
    retain: Optional[float] = None  # 1 − factor, in the precision the library computed it

    def __post_init__(self) -> None:
        if self.tau is not None and not self.tau >= 1.0:
            raise ValueError(f"membrane time constant tau must be >= 1, got {self.tau}")
        if not self.threshold > 0.0:
            raise ValueError(f"threshold must be positive, got {self.threshold}")
        if self.factor is not None and (self.tau is not None or not 0.0 < self.factor <= 1.0 or self.retain is None):
            raise ValueError(f"a decay factor in (0, 1] with its retain = 1 − factor replaces tau, got "
                             f"factor={self.factor}, retain={self.retain}, tau={self.tau}")
        if not self.v_reset < self.threshold:
            raise ValueError(f"v_reset must lie below the threshold {self.threshold}, got {self.v_reset}")

    @property
    def leaky(self) -> bool:
        return self.tau is not None or self.factor is not None

    @property
    def reset_potential(self) -> float:
        """``u₀`` and the hard reset's target: ``V_r``, or 0 under a soft reset."""
        return 0.0 if self.soft_reset else self.v_reset

    @property
    def leak(self) -> float:
        """``∂H_t/∂u_{t−1}``."""
        if self.factor is not None:
            return self.retain
        return 1.0 if self.tau is None else 1.0 - 1.0 / self.tau

    @property
    def input_gain(self) -> float:
        """``∂H_t/∂X_t``."""
        if not self.decay_input or not self.leaky:
            return 1.0
        return self.factor if self.factor is not None else 1.0 / self.tau


def charge(u: Tensor, x: Tensor, dyn: Dynamics) -> Tensor:
    """``H_t`` from ``u_{t−1}`` and ``X_t``, written as SpikingJelly writes each case."""
    if not dyn.leaky:
        return u + x
    v_r = dyn.reset_potential
    if dyn.factor is not None:  # parametric LIF: ``* k`` where LIF has ``/ τ``
        k = dyn.factor
        if dyn.decay_input:
            return u + (x - u) * k if v_r == 0.0 else u + (x - (u - v_r)) * k
        return u * dyn.retain + x if v_r == 0.0 else u - (u - v_r) * k + x
    if dyn.decay_input:
        return u + (x - u) / dyn.tau if v_r == 0.0 else u + (x - (u - v_r)) / dyn.tau
    return u * (1.0 - 1.0 / dyn.tau) + x if v_r == 0.0 else u - (u - v_r) / dyn.tau + x


def reset(h: Tensor, s: Tensor, dyn: Dynamics) -> Tensor:
    """``u_t`` after the spikes ``s`` (detach them first for a detached reset)."""
    if dyn.soft_reset:
        return h - dyn.threshold * s
    if dyn.v_reset == 0.0:
        return h * (1.0 - s)
    return (1.0 - s) * h + s * dyn.v_reset


def forward_loop(x: Tensor, dyn: Dynamics, noise: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    """Spikes and pre-spike potentials ``H`` for ``x`` of shape ``[T, ...]``; builds no graph."""
    u = torch.full_like(x[0], dyn.reset_potential)
    potentials, spikes = [], []
    for t in range(x.shape[0]):
        h = charge(u, x[t], dyn)
        if noise is not None:
            h = h + noise[t]
        s = (h >= dyn.threshold).to(h.dtype)
        u = reset(h, s, dyn)
        potentials.append(h)
        spikes.append(s)
    # Spikes are stored as they are made: recomputing them from H would read H once more.
    return torch.stack(spikes), torch.stack(potentials)


def bptt_loop(grad_spikes: Tensor, h_seq: Tensor, dyn: Dynamics, surrogate: Surrogate,
              grad_potentials: Optional[Tensor] = None) -> Tensor:
    """``∂L/∂X`` by backpropagation through time, with ``g_α(H − θ)`` standing in for ``dS/dH``.

    ``grad_potentials`` is ``∂L/∂H`` from a loss that reads the potentials directly (a membrane-potential
    regulariser); it adds to what reaches ``H_t`` through the spike and the reset.
    """
    # Whole-sequence surrogate so that a per-element sharpness of shape [T, ...] broadcasts.
    sg = surrogate.derivative(h_seq - dyn.threshold)
    grad_u = torch.zeros_like(h_seq[0])
    grads = []
    for t in range(h_seq.shape[0] - 1, -1, -1):
        h, g = h_seq[t], sg[t]
        fired = (h >= dyn.threshold).to(h.dtype)
        if dyn.soft_reset:
            du_dh = torch.ones_like(h) if dyn.detach_reset else 1.0 - dyn.threshold * g
        else:  # u = (1 − S)·H + S·V_r
            du_dh = 1.0 - fired if dyn.detach_reset else 1.0 - fired + (dyn.v_reset - h) * g
        grad_h = grad_spikes[t] * g + grad_u * du_dh
        if grad_potentials is not None:
            grad_h = grad_h + grad_potentials[t]
        grads.append(grad_h * dyn.input_gain)
        grad_u = grad_h * dyn.leak
    grads.reverse()
    return torch.stack(grads)


def bptt_from_input(grad_spikes: Tensor, x: Tensor, noise: Optional[Tensor], dyn: Dynamics,
                    surrogate: Surrogate, grad_potentials: Optional[Tensor] = None) -> Tensor:
    """:func:`bptt_loop` recomputing ``H`` from the input; compiled, the recomputation is free."""
    _, h_seq = forward_loop(x, dyn, noise)
    return bptt_loop(grad_spikes, h_seq, dyn, surrogate, grad_potentials)


def spikes_only(x: Tensor, dyn: Dynamics, noise: Optional[Tensor]) -> Tensor:
    return forward_loop(x, dyn, noise)[0]


@dataclass(frozen=True, eq=False)
class LoopRecord:
    """What a backward path may use from the forward pass of one spiking layer.

    ``dynamics is None`` marks a stateless threshold (PSN): ``S = Θ(H − threshold)`` with ``H = x``, no
    recurrence, and the backward returns ``∂L/∂H``.
    """

    x: Tensor  # the layer's input current, [T, ...]
    threshold: float
    dynamics: Optional[Dynamics] = None
    noise: Optional[Tensor] = None
    kernels: Optional["LoopKernels"] = None
    saved_h: Optional[Tensor] = None

    @property
    def h(self) -> Tensor:
        """Pre-spike membrane potentials ``[T, ...]`` (noise included)."""
        if self.dynamics is None:
            return self.x
        if self.saved_h is not None:
            return self.saved_h
        return forward_loop(self.x, self.dynamics, self.noise)[1]

    @property
    def spikes(self) -> Tensor:
        return (self.h >= self.threshold).to(self.x.dtype)


class LoopKernels:
    """Runs the loop forward and backward; subclasses differ only in how."""

    def forward(self, x: Tensor, dyn: Dynamics, noise: Optional[Tensor],
                keep_potentials: bool = False) -> tuple[Tensor, Optional[Tensor]]:
        """Spikes and the potentials ``H`` when asked for or when this implementation keeps them anyway."""
        raise NotImplementedError

    def bptt(self, grad_spikes: Tensor, record: LoopRecord, surrogate: Surrogate,
             grad_potentials: Optional[Tensor] = None) -> Tensor:
        raise NotImplementedError


class EagerKernels(LoopKernels):
    """Plain PyTorch ops; keeps ``H`` because recomputing it eagerly costs a whole forward pass."""

    def forward(self, x, dyn, noise, keep_potentials=False):
        return forward_loop(x, dyn, noise)

    def bptt(self, grad_spikes, record, surrogate, grad_potentials=None):
        return bptt_loop(grad_spikes, record.h, record.dynamics, surrogate, grad_potentials)


class CompiledKernels(LoopKernels):
    """Both loops compiled by ``torch.compile`` into one fused kernel each.

    Only the input is kept for the backward, which recomputes ``H`` inside its fused kernel: cheaper
    than writing ``H`` out and reading it back, and it allocates nothing extra in the forward. Inputs are
    flattened to ``[T, N]`` so that layers of every shape share one compiled kernel.

    Where ``torch.compile`` cannot work (no C++ compiler, an unsupported platform) the first call warns
    once and these kernels run eagerly from then on: slower, never wrong.
    """

    def __init__(self) -> None:
        import torch._dynamo  # noqa: F401  here, not at the top: importing it costs seconds, eager runs never need it

        # The element count is dynamic, so the kernel cannot know its size when compiled; without
        # dynamic_threads inductor may decide from the first (small) call to run single-threaded forever.
        options = {"cpp.dynamic_threads": True}
        self._spikes = torch.compile(spikes_only, fullgraph=True, options=options)
        self._spikes_and_potentials = torch.compile(forward_loop, fullgraph=True, options=options)
        self._bptt = torch.compile(bptt_from_input, fullgraph=True, options=options)
        self.unavailable: Optional[str] = None

    def _run(self, compiled: Callable, eager: Callable, *args):
        if self.unavailable is None:
            try:
                with torch._dynamo.config.patch(**DYNAMO_CONFIG):
                    return compiled(*args)
            except (torch._dynamo.exc.BackendCompilerFailed, torch._dynamo.exc.Unsupported,
                    torch._dynamo.exc.FailOnRecompileLimitHit, OSError) as err:
                self.unavailable = f"{type(err).__name__}: {err}".splitlines()[0]
                warnings.warn(f"snnbench: torch.compile is unavailable here ({self.unavailable}); "
                              "spiking layers fall back to the eager backend", RuntimeWarning, stacklevel=3)
        return eager(*args)

    def forward(self, x, dyn, noise, keep_potentials=False):
        layout = KernelLayout.of(x, "over_time")
        flat, noise = layout.view(x), None if noise is None else layout.view(noise)
        if keep_potentials:
            spikes, h = self._run(self._spikes_and_potentials, forward_loop, flat, dyn, noise)
            return layout.restore(spikes), layout.restore(h)
        return layout.restore(self._run(self._spikes, spikes_only, flat, dyn, noise)), None

    def bptt(self, grad_spikes, record, surrogate, grad_potentials=None):
        x = record.x
        layout = KernelLayout.of(x, "over_time")
        surrogate = surrogate.map_tensors(lambda t: layout.view(t.expand(x.shape)))
        noise = None if record.noise is None else layout.view(record.noise)
        grad_potentials = None if grad_potentials is None else layout.view(grad_potentials)
        grad = self._run(self._bptt, bptt_from_input, layout.view(grad_spikes), layout.view(x), noise,
                         record.dynamics, surrogate, grad_potentials)
        return layout.restore(grad)


EAGER_KERNELS = EagerKernels()


@functools.cache
def compiled_kernels() -> CompiledKernels:
    """One set per process; ``torch.compile`` caches per shape and constants underneath."""
    return CompiledKernels()


def kernels_for(backend: str) -> LoopKernels:
    if backend == "compiled":
        return compiled_kernels()
    if backend == "eager":
        return EAGER_KERNELS
    raise ValueError(f"no fused kernels for backend {backend!r}; choose one of {BACKENDS}")


class LoopBackward(Protocol):
    """Maps ``∂L/∂S`` (``[T, ...]``) and the forward's record to ``∂L/∂x``.

    A backward path that needs to see every forward pass (adaptive sharpness keeps statistics of the
    potentials) also defines ``on_forward(record)``; the layer calls it, with ``H`` computed, before it
    returns its spikes. A path whose backward reads ``record.h`` sets ``needs_potentials = True`` so that
    the forward keeps ``H`` rather than the backward recomputing it.
    """

    def __call__(self, grad_spikes: Tensor, record: LoopRecord) -> Tensor: ...


def _observe(backward: LoopBackward, record: LoopRecord) -> None:
    on_forward = getattr(backward, "on_forward", None)
    if on_forward is not None:
        on_forward(record)


@dataclass(frozen=True, eq=False)
class SurrogateBPTT:
    """Backpropagation through time with the surrogate derivative ``g_α(H − θ)``."""

    surrogate: Surrogate

    def __call__(self, grad_spikes: Tensor, record: LoopRecord,
                 grad_potentials: Optional[Tensor] = None) -> Tensor:
        if record.dynamics is None:
            return grad_spikes * self.surrogate.derivative(record.h - record.threshold)
        return record.kernels.bptt(grad_spikes, record, self.surrogate, grad_potentials)


class FusedLoop(torch.autograd.Function):
    """The loop as one autograd node that keeps only what its backward needs."""

    @staticmethod
    def forward(ctx, x: Tensor, dyn: Dynamics, noise: Optional[Tensor], backward: LoopBackward,
                kernels: LoopKernels) -> Tensor:
        x, noise = x.detach(), None if noise is None else noise.detach()
        observes = getattr(backward, "on_forward", None) is not None
        # Paths that read H in their backward get it from this pass instead of an eager recomputation.
        keep = observes or getattr(backward, "needs_potentials", False)
        spikes, h_seq = kernels.forward(x, dyn, noise, keep_potentials=keep)
        if observes:
            _observe(backward, LoopRecord(x, dyn.threshold, dyn, noise, kernels, h_seq))
        ctx.save_for_backward(x, noise, h_seq)
        ctx.dyn, ctx.backward_path, ctx.kernels = dyn, backward, kernels
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes: Tensor):
        x, noise, h_seq = ctx.saved_tensors
        record = LoopRecord(x, ctx.dyn.threshold, ctx.dyn, noise, ctx.kernels, h_seq)
        return ctx.backward_path(grad_spikes, record), None, None, None, None


class FusedLoopWithPotentials(torch.autograd.Function):
    """:class:`FusedLoop` that also returns the potentials ``H``, differentiable, for losses that read them.

    Only the surrogate backward can carry ``∂L/∂H`` back through the recurrence; other paths are attack
    modes, which never put a loss on the potentials.
    """

    @staticmethod
    def forward(ctx, x: Tensor, dyn: Dynamics, noise: Optional[Tensor], backward: LoopBackward,
                kernels: LoopKernels) -> tuple[Tensor, Tensor]:
        x, noise = x.detach(), None if noise is None else noise.detach()
        spikes, h_seq = kernels.forward(x, dyn, noise, keep_potentials=True)
        _observe(backward, LoopRecord(x, dyn.threshold, dyn, noise, kernels, h_seq))
        # An unused H must arrive as None, not as zeros: then any backward path serves.
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, noise, h_seq)
        ctx.dyn, ctx.backward_path, ctx.kernels = dyn, backward, kernels
        return spikes, h_seq

    @staticmethod
    def backward(ctx, grad_spikes: Tensor, grad_potentials: Optional[Tensor]):
        x, noise, h_seq = ctx.saved_tensors
        record = LoopRecord(x, ctx.dyn.threshold, ctx.dyn, noise, ctx.kernels, h_seq)
        if grad_spikes is None:
            grad_spikes = torch.zeros_like(x)
        if grad_potentials is None:
            return ctx.backward_path(grad_spikes, record), None, None, None, None
        if not isinstance(ctx.backward_path, SurrogateBPTT):
            raise RuntimeError(f"the backward path {ctx.backward_path!r} cannot carry gradients of the "
                               "membrane potentials; losses on H need the training surrogate")
        return ctx.backward_path(grad_spikes, record, grad_potentials), None, None, None, None


class FusedThreshold(torch.autograd.Function):
    """A stateless threshold ``S = Θ(H − threshold)`` whose backward is a :data:`LoopBackward`."""

    @staticmethod
    def forward(ctx, h: Tensor, threshold: float, backward: LoopBackward) -> Tensor:
        h = h.detach()
        _observe(backward, LoopRecord(h, threshold))
        ctx.save_for_backward(h)
        ctx.threshold, ctx.backward_path = threshold, backward
        return (h >= threshold).to(h.dtype)

    @staticmethod
    def backward(ctx, grad_spikes: Tensor):
        (h,) = ctx.saved_tensors
        return ctx.backward_path(grad_spikes, LoopRecord(h, ctx.threshold)), None, None


def reference_loop(x: Tensor, dyn: Dynamics, noise: Optional[Tensor], surrogate: Surrogate) -> tuple[Tensor, Tensor]:
    """The plain charge → fire → reset loop, differentiated by autograd: spikes and potentials ``H``."""
    u = torch.full_like(x[0], dyn.reset_potential)
    spikes, potentials = [], []
    for t in range(x.shape[0]):
        h = charge(u, x[t], dyn)
        if noise is not None:
            h = h + noise[t]
        # Parameter tensors broadcast against [T, ...]: step t takes its slice t.
        step_surrogate = surrogate.map_tensors(lambda p: p.expand(x.shape)[t])
        s = spike(h - dyn.threshold, step_surrogate)
        u = reset(h, s.detach() if dyn.detach_reset else s, dyn)
        spikes.append(s)
        potentials.append(h)
    return torch.stack(spikes), torch.stack(potentials)


def run_loop(x: Tensor, dyn: Dynamics, *, backend: str, backward: LoopBackward,
             noise: Optional[Tensor] = None) -> Tensor:
    """Spikes ``[T, ...]`` of the loop on input current ``x`` ``[T, ...]`` with the chosen backend."""
    if backend == "reference":
        return reference_loop(x, dyn, noise, _reference_surrogate(backward))[0]
    return FusedLoop.apply(x, dyn, noise, backward, kernels_for(backend))


def run_loop_with_potentials(x: Tensor, dyn: Dynamics, *, backend: str, backward: LoopBackward,
                             noise: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    """Spikes and pre-reset potentials ``H``, both ``[T, ...]`` and differentiable."""
    if backend == "reference":
        return reference_loop(x, dyn, noise, _reference_surrogate(backward))
    return FusedLoopWithPotentials.apply(x, dyn, noise, backward, kernels_for(backend))


def _reference_surrogate(backward: LoopBackward) -> Surrogate:
    if not isinstance(backward, SurrogateBPTT):
        raise ValueError(f"the reference backend only differentiates with a surrogate, not {backward!r}")
    return backward.surrogate
