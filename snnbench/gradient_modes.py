"""Gradient modes: how an attacker differentiates through spikes.

``with gradient_mode(model, "assg", A=0.87) as mode:`` installs, on every spiking layer of ``model``, a
backward path of that kind for the duration of the block, and restores the previous ones on exit (also
after an exception). The forward pass — the spikes — never changes. One instance serves one layer, so
per-layer state (ASSG's statistics) lives in the instance and nowhere else.

Modes:

``surrogate``
    BPTT through a fixed surrogate; by default each layer's own training surrogate (``family``, ``alpha``).
``assg``
    Adaptive Sharpness Surrogate Gradient (arXiv 2512.22522). ``surrogate`` and ``assg`` take
    ``detach_reset=True`` to pass no gradient through the reset, as the official ASSG code does, whatever
    the layer's own setting (:func:`through_reset`); by default they follow the layer.
    Per layer, time step and element it keeps
    exponential moving averages over attack iterations of ``x = |u − θ|``: ``M ← β₁M + (1 − β₁)x`` and
    then ``D ← β₂D + (1 − β₂)|x − M|``, from ``M₀ = 1, D₀ = 0``, and uses the sharpness
    ``α = ω / (M + γD + 1e-4)`` with ``ω = G₁⁻¹(A)`` of the family. Statistics update once per forward,
    before that forward's backward uses them, and not while frozen (extra EoT samples).
``bptr``
    ``∂L/∂I_t = ∂L/∂S_t · 1[mean_t S_t > 0]``.
``rga``
    Rate gradient approximation (Bu et al., CVPR 2023): ``∂L/∂I_t = ∂L/∂S_t · r′(mean_t I_t)`` with the
    piecewise-linear firing-rate function ``r`` of the neuron's leak and threshold (see :class:`RGA`).
``hart``
    Hao et al., ICLR 2024: the potential carried across time is detached, spikes pass through a surrogate,
    and the input-current gradient of every step is replaced by its mean over time.
``pdsg``
    Lun et al., CVPR 2025: a Gaussian surrogate whose standard deviation σ is that of ``u − θ`` per channel
    (convolutional layers) or feature (linear layers) over time, batch and space, centred at ``+σ/2``.

``none``
    Plain autograd, for a network without spikes; refused on a model with spiking layers.

``bptr``, ``rga`` and ``hart`` are defined for LIF/IF layers; ``surrogate``, ``assg`` and ``pdsg`` for PSN too.
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import torch
from torch import Tensor, nn

from .compilation import Fused
from .foreign import check_controllable
from .neuron_loop import LoopRecord, SurrogateBPTT
from .neurons import SpikingNeuron, spiking_layers
from .surrogates import Surrogate, get_family, inverse_vanishing_degree


class GradientMode:
    """Base of the per-layer backward paths that :func:`gradient_mode` installs."""

    name = ""
    frozen: bool = False  # while True, adaptive statistics do not update (extra EoT samples)
    recurrent_only = False  # True: defined through the membrane recurrence, so not for PSN
    step_local = False  # True: defined step by step, so it also runs on step-wise layers (snnbench.stepwise)

    def reset(self) -> None:
        """Forget adaptive statistics: a new attack run or restart begins."""

    def select(self, keep: Tensor) -> None:
        """Keep the per-sample statistics of the samples where the batch mask ``keep`` is True."""

    def __call__(self, grad_spikes: Tensor, record: LoopRecord) -> Tensor:
        raise NotImplementedError

    @classmethod
    def for_layer(cls, layer: SpikingNeuron, **params: Any) -> "GradientMode":
        return cls(**params)

    def on_step(self, shifted: Tensor, t: int) -> None:
        """A step-wise layer fired at step ``t`` with potentials ``H − θ`` = ``shifted`` (step-local modes)."""
        raise NotImplementedError

    def step_backward(self, grad_spikes: Tensor, shifted: Tensor, t: int) -> Tensor:
        """``∂L/∂(H − θ)`` at step ``t`` of a step-wise layer (step-local modes)."""
        raise NotImplementedError

    @classmethod
    def inapplicable_to(cls, layer: SpikingNeuron) -> Optional[str]:
        """Why this mode is not defined for ``layer``, or None."""
        if not layer.whole_sequence and not cls.step_local:
            return (f"gradient mode {cls.name!r} needs a layer's whole time series in one call; "
                    f"{type(layer).__name__} runs one step per call (a per-step loop)")
        if cls.recurrent_only and not layer.recurrent:
            return (f"gradient mode {cls.name!r} is defined through the membrane recurrence of LIF/IF layers; "
                    f"{type(layer).__name__} has none")
        return None


def _require_recurrent(mode: GradientMode, record: LoopRecord) -> None:
    if record.dynamics is None:
        raise ValueError(f"gradient mode {mode.name!r} is defined for LIF/IF layers, not for a stateless "
                         "threshold such as PSN; use 'surrogate' or 'assg'")


class _LayerSurrogateByDefault:
    """Modes whose surrogate defaults to the layer's own training surrogate."""

    @classmethod
    def for_layer(cls, layer: SpikingNeuron, **params: Any):
        params.setdefault("family", layer.surrogate.family)
        params.setdefault("alpha", layer.surrogate.alpha)
        return cls(**params)


def _check_flag(mode: GradientMode, name: str) -> None:
    if not isinstance(getattr(mode, name), bool):
        raise ValueError(f"{mode.name} {name} must be true or false, got {getattr(mode, name)!r}")


def through_reset(record: LoopRecord, detach_reset: bool) -> LoopRecord:
    """``record`` as the backward sees it: with ``detach_reset`` the reset passes no gradient
    (``∂u_t/∂H_t = 1 − S_t`` for a hard reset, ``1`` for a soft one, as in the official ASSG code), whatever the
    layer's own ``detach_reset``; without it, the layer's setting (``1 − S_t + (V_r − H_t)·g_α(H_t − θ)`` when
    the layer does not detach). The spikes are the same either way."""
    dyn = record.dynamics
    if not detach_reset or dyn is None or dyn.detach_reset:
        return record
    return dataclasses.replace(record, dynamics=dataclasses.replace(dyn, detach_reset=True))


@dataclass(eq=False)
class SurrogateMode(_LayerSurrogateByDefault, GradientMode):
    """Backpropagation through time with a fixed surrogate; ``detach_reset``: see :func:`through_reset`."""

    family: str = "atan"
    alpha: float = 2.0
    detach_reset: bool = False
    name = "surrogate"

    step_local = True

    def __post_init__(self) -> None:
        _check_flag(self, "detach_reset")
        self._path = SurrogateBPTT(Surrogate(self.family, self.alpha))

    def __call__(self, grad_spikes: Tensor, record: LoopRecord) -> Tensor:
        return self._path(grad_spikes, through_reset(record, self.detach_reset))

    def on_step(self, shifted: Tensor, t: int) -> None:
        pass

    def step_backward(self, grad_spikes: Tensor, shifted: Tensor, t: int) -> Tensor:
        return grad_spikes * self._path.surrogate.derivative(shifted)


def assg_update(h: Tensor, M: Tensor, D: Tensor, threshold: float, beta1: float, beta2: float, omega: float,
                gamma: float) -> tuple[Tensor, Tensor, Tensor]:
    """One step of ASSG's statistics of ``x = |H − θ|`` and the sharpness they give."""
    x = (h - threshold).abs()
    M = beta1 * M + (1.0 - beta1) * x
    D = beta2 * D + (1.0 - beta2) * (x - M).abs()
    return M, D, assg_sharpness(M, D, omega, gamma)


def assg_sharpness(M: Tensor, D: Tensor, omega: float, gamma: float) -> Tensor:
    return omega / (M + gamma * D + 1e-4)


ASSG_UPDATE = Fused(assg_update)
ASSG_SHARPNESS = Fused(assg_sharpness)


@dataclass(eq=False)
class ASSG(GradientMode):
    """Adaptive Sharpness Surrogate Gradient; see the module docstring. ``detach_reset``: see
    :func:`through_reset` (the official code detaches the reset)."""

    family: str = "atan"
    A: float = 0.87
    gamma: float = 1.5
    beta1: float = 0.9
    beta2: float = 0.9
    detach_reset: bool = False
    name = "assg"
    step_local = True
    M: Optional[Tensor] = field(default=None, init=False, repr=False)
    D: Optional[Tensor] = field(default=None, init=False, repr=False)
    alpha: Optional[Tensor] = field(default=None, init=False, repr=False)
    # On a step-wise layer: (M, D, α) of each step t, each [B, ...].
    steps: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        get_family(self.family)
        _check_flag(self, "detach_reset")
        if not 0.0 < self.A < 1.0:  # A = 0: ω = 0, every surrogate is zero and so is every gradient
            raise ValueError(f"assg A must lie in (0, 1) (A = 0 gives zero sharpness: no gradient at all), "
                             f"got {self.A}")
        self.omega = inverse_vanishing_degree(self.family, self.A)
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"assg {name} must lie in [0, 1), got {getattr(self, name)}")

    def reset(self) -> None:
        self.M = self.D = self.alpha = None
        self.steps = {}

    def select(self, keep: Tensor) -> None:
        # Statistics are [T, B, ...]: the batch is dimension 1 (dimension 0 of a step's).
        if self.M is not None:
            self.M, self.D = self.M[:, keep], self.D[:, keep]
        self.alpha = None if self.alpha is None else self.alpha[:, keep]
        self.steps = {t: tuple(v[keep] for v in stats) for t, stats in self.steps.items()}

    def on_step(self, shifted: Tensor, t: int) -> None:
        M, D, _ = self.steps.get(t, (None, None, None))
        if M is None or M.shape != shifted.shape:
            M, D = torch.ones_like(shifted), torch.zeros_like(shifted)
        if self.frozen:
            self.steps[t] = (M, D, ASSG_SHARPNESS(M, D, self.omega, self.gamma))
        else:
            self.steps[t] = ASSG_UPDATE(shifted, M, D, 0.0, self.beta1, self.beta2, self.omega, self.gamma)

    def step_backward(self, grad_spikes: Tensor, shifted: Tensor, t: int) -> Tensor:
        return grad_spikes * Surrogate(self.family, self.steps[t][2]).derivative(shifted)

    def on_forward(self, record: LoopRecord) -> None:
        h = record.h
        if self.M is None or self.M.shape != h.shape:
            # A new batch (or the first forward) starts from M₀ = 1, D₀ = 0.
            self.M, self.D = torch.ones_like(h), torch.zeros_like(h)
        if self.frozen:
            self.alpha = ASSG_SHARPNESS(self.M, self.D, self.omega, self.gamma)
        else:
            self.M, self.D, self.alpha = ASSG_UPDATE(h, self.M, self.D, record.threshold, self.beta1, self.beta2,
                                                     self.omega, self.gamma)

    def __call__(self, grad_spikes: Tensor, record: LoopRecord) -> Tensor:
        if self.alpha is None or self.alpha.shape != record.h.shape:
            raise RuntimeError("assg: a backward pass without its forward pass through this layer")
        return SurrogateBPTT(Surrogate(self.family, self.alpha))(grad_spikes, through_reset(record, self.detach_reset))


@dataclass(eq=False)
class BPTR(GradientMode):
    """Backpropagation through rate: ``∂L/∂I_t = ∂L/∂S_t · 1[mean_t S_t > 0]``."""

    needs_potentials = True
    recurrent_only = True
    name = "bptr"

    def __call__(self, grad_spikes: Tensor, record: LoopRecord) -> Tensor:
        _require_recurrent(self, record)
        return BPTR_BACKWARD(grad_spikes, record.h, record.threshold)


def bptr_backward(grad_spikes: Tensor, h: Tensor, threshold: float) -> Tensor:
    """``∂L/∂S_t`` where the neuron fired at least once over time (``mean_t S_t > 0``), else 0."""
    fired = (h >= threshold).any(0, keepdim=True)
    return grad_spikes * fired.to(grad_spikes.dtype)


BPTR_BACKWARD = Fused(bptr_backward, layout="over_time")


@dataclass(eq=False)
class RGA(GradientMode):
    """Rate gradient approximation: ``∂L/∂I_t = ∂L/∂S_t · r′(Ī)``, ``Ī = mean_t I_t``, for every step.

    In leak form ``u ← λu + c·I`` (``c`` the input gain) with drive ``d = c·Ī``, the firing rate rises with
    slope ``gamma`` up to the onset ``(1 − λ)θ``, then linearly to 1 at ``beta·θ``, and stays there:
    ``r′ = c·gamma`` on ``[0, (1 − λ)θ]``, ``c·(1 − gamma·θ(1 − λ)) / ((λ + beta − 1)θ)`` on
    ``((1 − λ)θ, beta·θ]`` and 0 elsewhere. For IF (λ = 1) this is ``1/(beta·θ)`` on ``(0, beta·θ]``.
    """

    gamma: float = 0.2
    beta: float = 2.0
    recurrent_only = True
    name = "rga"

    @classmethod
    def inapplicable_to(cls, layer: SpikingNeuron) -> Optional[str]:
        reason = super().inapplicable_to(layer)
        dynamics = getattr(layer, "dynamics", None)
        if reason is None and dynamics is not None and not dynamics.soft_reset and dynamics.v_reset != 0.0:
            reason = (f"gradient mode 'rga' models the firing rate of a neuron reset to 0; {type(layer).__name__} "
                      f"resets to {dynamics.v_reset}")
        return reason

    def __call__(self, grad_spikes: Tensor, record: LoopRecord) -> Tensor:
        _require_recurrent(self, record)
        dyn = record.dynamics
        return RGA_BACKWARD(grad_spikes, record.x, dyn.leak, dyn.threshold, dyn.input_gain, self.gamma, self.beta)


def rga_backward(grad_spikes: Tensor, x: Tensor, leak: float, theta: float, gain: float, gamma: float,
                 beta: float) -> Tensor:
    """``∂L/∂S_t · c·r′(c·mean_t x_t)`` with the piecewise-linear rate function of :class:`RGA`."""
    drive = gain * x.mean(0, keepdim=True)
    onset, saturation = (1.0 - leak) * theta, beta * theta
    rising = (1.0 - gamma * theta * (1.0 - leak)) / ((leak + beta - 1.0) * theta)
    slope = torch.where((drive >= 0) & (drive <= onset), gamma,
                        torch.where((drive > onset) & (drive <= saturation), rising, 0.0))
    return grad_spikes * (gain * slope)


RGA_BACKWARD = Fused(rga_backward, layout="over_time")


@dataclass(eq=False)
class HART(_LayerSurrogateByDefault, GradientMode):
    """Spikes through a surrogate, no gradient along the membrane across time, and the input-current
    gradient of each step replaced by its mean over time (rate and temporal information combined)."""

    family: str = "atan"
    alpha: float = 2.0
    needs_potentials = True
    recurrent_only = True
    name = "hart"

    def __call__(self, grad_spikes: Tensor, record: LoopRecord) -> Tensor:
        _require_recurrent(self, record)
        return HART_BACKWARD(grad_spikes, record.h, Surrogate(self.family, self.alpha), record.threshold,
                             record.dynamics.input_gain)


def hart_backward(grad_spikes: Tensor, h: Tensor, surrogate: Surrogate, threshold: float, gain: float) -> Tensor:
    """The mean over time of ``∂L/∂S_t · g_α(H_t − θ) · c``, at every step."""
    per_step = grad_spikes * surrogate.derivative(h - threshold) * gain
    return per_step.mean(0, keepdim=True).expand_as(per_step).clone()


HART_BACKWARD = Fused(hart_backward, layout="over_time")


@dataclass(eq=False)
class PDSG(GradientMode):
    """Potential-dependent surrogate: Gaussian density with std σ centred at ``+σ/2``, σ = std of ``u − θ``
    per channel (dimension 2) over time, batch and space; a σ of 0 counts as 1."""

    needs_potentials = True
    name = "pdsg"

    def __call__(self, grad_spikes: Tensor, record: LoopRecord) -> Tensor:
        x = record.h - record.threshold
        reduce = tuple(d for d in range(x.dim()) if d != 2) if x.dim() > 2 else tuple(range(x.dim()))
        sigma = x.std(dim=reduce, keepdim=True)
        sigma = torch.where(sigma > 0, sigma, torch.ones_like(sigma))
        return SurrogateBPTT(Surrogate("gaussian", 1.0 / sigma, center=sigma / 2))(grad_spikes, record)


class NoSpikes(GradientMode):
    """``none``: plain autograd, for a network without spikes (an ANN baseline, a toy model in a test)."""

    name = "none"

    def __call__(self, grad_spikes: Tensor, record: LoopRecord) -> Tensor:
        raise AssertionError("gradient mode 'none' is never installed on a spiking layer")


MODES: dict[str, type[GradientMode]] = {cls.name: cls for cls in (SurrogateMode, ASSG, BPTR, RGA, HART, PDSG,
                                                                  NoSpikes)}


def _check_params(mode: str, params: dict[str, Any]) -> None:
    cls = MODES[mode]
    accepted = {f.name for f in dataclasses.fields(cls) if f.init} if dataclasses.is_dataclass(cls) else set()
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(f"gradient mode {mode!r} has no parameter(s) {', '.join(unknown)}; "
                         f"it accepts {', '.join(sorted(accepted)) or 'none'}")


class ModeHandle:
    """What ``with gradient_mode(...) as handle`` yields: the installed per-layer paths."""

    def __init__(self, paths: list[GradientMode]) -> None:
        self.paths = paths

    def reset(self) -> None:
        """Fresh adaptive statistics on every layer (call at each attack run or restart)."""
        for path in self.paths:
            path.reset()

    def select(self, keep: Tensor) -> None:
        """The attack goes on with the samples where the batch mask ``keep`` is True."""
        for path in self.paths:
            path.select(keep)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Forward passes inside do not update adaptive statistics (extra EoT samples)."""
        for path in self.paths:
            path.frozen = True
        try:
            yield
        finally:
            for path in self.paths:
                path.frozen = False


def inapplicable(mode: str, model: nn.Module) -> Optional[str]:
    """Why ``mode`` cannot differentiate ``model``, or None when it can."""
    if mode not in MODES:
        raise ValueError(f"unknown gradient mode {mode!r}; choose one of {', '.join(MODES)}")
    reasons = sorted({reason for layer in spiking_layers(model)
                      if (reason := MODES[mode].inapplicable_to(layer)) is not None})
    return "; ".join(reasons) or None


@contextlib.contextmanager
def gradient_mode(model: nn.Module, mode: str, **params: Any) -> Iterator[ModeHandle]:
    """Differentiate every spiking layer of ``model`` with ``mode`` inside the block.

    Refuses (:mod:`snnbench.foreign`) a model that holds spiking modules snnbench does not control, a spiking
    mode on a model without any snnbench spiking layer, and ``none`` on a model with spiking layers: a mode
    that would leave spikes untouched never runs silently.
    """
    reason = inapplicable(mode, model)
    if reason is not None:
        raise ValueError(f"{reason}; use 'surrogate' or 'assg'")
    _check_params(mode, params)
    check_controllable(model, mode)
    layers = spiking_layers(model)
    paths = [MODES[mode].for_layer(layer, **params) for layer in layers]
    previous = [layer.backward_path for layer in layers]
    for layer, path in zip(layers, paths):
        layer.backward_path = path
    try:
        yield ModeHandle(paths)
    finally:
        for layer, path in zip(layers, previous):
            layer.backward_path = path
