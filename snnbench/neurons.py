"""Multi-step spiking neurons: LIF, IF, parametric LIF, noisy LIF and PSN.

Every layer takes ``[T, B, ...]``, runs all ``T`` steps in one call from fresh state (nothing is carried
between calls, so there is no ``reset_net``), and returns spikes of the same shape. Behaviour is the same
in ``train()`` and ``eval()``, with one deliberate exception: a noisy LIF draws noise in training and, only
when asked to, at evaluation. Surrogate gradients flow in ``eval()`` mode.

How gradients pass through the spikes is pluggable per layer (see :mod:`snnbench.neuron_loop`):
``backward_path`` is ``None`` for the layer's own training surrogate, or any ``LoopBackward`` an attack
installs for its duration. The forward spikes never depend on it.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import torch
from torch import Tensor, nn

from .neuron_loop import (BACKENDS, Dynamics, FusedThreshold, LoopBackward, SurrogateBPTT, run_loop,
                          run_loop_with_potentials)

# Receives each forward's pre-reset potentials H [T, ...] (differentiable) and the layer's threshold.
PotentialObserver = Callable[[Tensor, float], None]
from .compilation import KernelLayout
from .randomness import CounterStream
from .records import value_problems
from .surrogates import Surrogate, spike


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown neuron backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return backend


def _check_time_major(x: Tensor, layer: nn.Module) -> None:
    if x.dim() < 2:
        raise ValueError(f"{type(layer).__name__} expects [T, B, ...], got a tensor of shape {tuple(x.shape)}")


class SpikingNeuron(nn.Module):
    """Base of all spiking layers: owns its training surrogate, backend and swappable backward path."""

    # True when a membrane potential carries over from step to step (the backward paths built on that
    # recurrence, BPTR, RGA and HART, need it).
    recurrent = True
    # True when one call runs all T steps ([T, B, ...]); False for step-wise layers (snnbench.stepwise).
    whole_sequence = True

    def __init__(self, surrogate: Optional[Surrogate], backend: str) -> None:
        super().__init__()
        # A fresh default per layer: a shared instance would let one layer's change leak into all.
        self.surrogate = surrogate if surrogate is not None else Surrogate()
        self.backend = check_backend(backend)
        self.backward_path: Optional[LoopBackward] = None
        # Installed by snnbench.potentials.recorded_potentials for the duration of a block, else None.
        self.potential_observer: Optional[PotentialObserver] = None

    def active_backward(self) -> LoopBackward:
        return self.backward_path if self.backward_path is not None else SurrogateBPTT(self.surrogate)

    def _effective_backend(self) -> str:
        # The reference backend can only follow a surrogate; other paths need the fused node.
        if self.backend == "reference" and self.backward_path is not None:
            return "eager"
        return self.backend

    @property
    def stochastic(self) -> bool:
        """True when the layer draws random numbers at evaluation."""
        return False


class LIF(SpikingNeuron):
    """Leaky integrate-and-fire.

    ``decay_input=True``: ``u ← u + (I − (u − V_r))/τ`` (SpikingJelly's default); ``False``:
    ``u ← u − (u − V_r)/τ + I``, that is ``λ(u − V_r) + V_r + I`` with ``λ = 1 − 1/τ``. Fires when
    ``u ≥ threshold``; ``reset="hard"`` sets ``u`` to ``v_reset`` (``V_r``, 0 by default, also where ``u``
    starts), ``"soft"`` subtracts the threshold (then ``V_r = 0`` in the charge); ``detach_reset`` stops
    gradients through the reset.
    """

    def __init__(self, tau: float = 2.0, threshold: float = 1.0, reset: str = "hard", detach_reset: bool = False,
                 decay_input: bool = True, v_reset: float = 0.0, surrogate: Optional[Surrogate] = None,
                 backend: str = "compiled") -> None:
        super().__init__(surrogate, backend)
        check_reset(reset, v_reset)
        self.dynamics = Dynamics(tau=float(tau) if tau is not None else None, decay_input=decay_input,
                                 threshold=float(threshold), soft_reset=reset == "soft",
                                 detach_reset=detach_reset, v_reset=float(v_reset))

    def noise(self, x: Tensor) -> Optional[Tensor]:
        """Additive membrane noise for this call, ``[T, ...]``, or ``None``."""
        return None

    def forward(self, x: Tensor) -> Tensor:
        _check_time_major(x, self)
        args = dict(backend=self._effective_backend(), backward=self.active_backward(), noise=self.noise(x))
        if self.potential_observer is None:
            return run_loop(x, self.dynamics, **args)
        spikes, h = run_loop_with_potentials(x, self.dynamics, **args)
        self.potential_observer(h, self.dynamics.threshold)
        return spikes

    def extra_repr(self) -> str:
        d = self.dynamics
        return (f"tau={d.tau}, threshold={d.threshold}, reset={'soft' if d.soft_reset else 'hard'}, "
                f"v_reset={d.v_reset}, detach_reset={d.detach_reset}, decay_input={d.decay_input}, "
                f"surrogate={self.surrogate.family}({self.surrogate.alpha}), backend={self.backend}")


def check_reset(reset: str, v_reset: float) -> None:
    if reset not in ("hard", "soft"):
        raise ValueError(f"reset must be 'hard' or 'soft', got {reset!r}")
    if reset == "soft" and v_reset != 0.0:
        raise ValueError(f"v_reset={v_reset} applies to a hard reset; a soft reset subtracts the threshold")


class IF(LIF):
    """Integrate-and-fire: ``u ← u + I`` (no leak)."""

    def __init__(self, threshold: float = 1.0, reset: str = "hard", detach_reset: bool = False,
                 v_reset: float = 0.0, surrogate: Optional[Surrogate] = None, backend: str = "compiled") -> None:
        super().__init__(tau=None, threshold=threshold, reset=reset, detach_reset=detach_reset,
                         decay_input=False, v_reset=v_reset, surrogate=surrogate, backend=backend)


class ParametricLIF(LIF):
    """LIF with a learnable time constant (Fang et al., ICCV 2021; SpikingJelly's ``ParametricLIFNode``).

    ``1/τ = k = sigmoid(w)`` with ``w`` a parameter initialised to ``−log(init_tau − 1)``; the charge is the
    LIF's with ``· k`` in place of ``/ τ`` (and ``u·(1 − k) + I`` without input decay), as SpikingJelly
    writes it. The kernels read ``k`` at every call as a constant: ``w`` gets no gradient, so training
    with ``w`` trainable is refused rather than silently leaving it where it is.
    """

    def __init__(self, init_tau: float = 2.0, threshold: float = 1.0, reset: str = "hard",
                 detach_reset: bool = False, decay_input: bool = True, v_reset: float = 0.0,
                 surrogate: Optional[Surrogate] = None, backend: str = "compiled") -> None:
        if not init_tau > 1.0:
            raise ValueError(f"init_tau must be > 1, got {init_tau}")
        super().__init__(tau=2.0, threshold=threshold, reset=reset, detach_reset=detach_reset,
                         decay_input=decay_input, v_reset=v_reset, surrogate=surrogate, backend=backend)
        self.w = nn.Parameter(torch.as_tensor(-math.log(init_tau - 1.0)))

    @property
    def dynamics(self) -> Dynamics:
        with torch.no_grad():
            k = self.w.sigmoid()
            retain = 1.0 - k  # in w's precision, as SpikingJelly computes it
        return dataclasses.replace(self._constants, tau=None, factor=float(k), retain=float(retain))

    @dynamics.setter
    def dynamics(self, constants: Dynamics) -> None:  # LIF.__init__ sets the other constants
        self._constants = constants

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.w.requires_grad and torch.is_grad_enabled():
            raise RuntimeError("ParametricLIF's time constant is a constant of snnbench's kernels, so w would not "
                               "learn: freeze it (layer.w.requires_grad_(False)) to train the other weights")
        return super().forward(x)

    def extra_repr(self) -> str:
        return super().extra_repr().replace(f"tau={self.dynamics.tau}", f"tau=1/{self.dynamics.factor:.6g}")


class NoisyLIF(LIF):
    """LIF with Gaussian noise ``N(0, σ²)`` added to the membrane potential before the threshold.

    Noise is drawn every step for every element from the layer's own counter-based stream
    (:class:`snnbench.randomness.CounterStream`, seeded by ``seed``), so a run is reproducible. It is on
    in training and, when ``noise_at_eval`` is true, also at evaluation; then the model is stochastic.
    """

    def __init__(self, sigma: float = 0.1, noise_at_eval: bool = False, seed: int = 0, **lif_kwargs) -> None:
        super().__init__(**lif_kwargs)
        if not sigma >= 0.0:
            raise ValueError(f"noise sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)
        self.noise_at_eval = noise_at_eval
        self.stream = CounterStream(seed)

    def reseed(self, seed: int) -> None:
        """Restart the noise stream from ``seed``."""
        self.stream.reseed(seed)

    @property
    def stochastic(self) -> bool:
        return self.noise_at_eval and self.sigma > 0.0

    def noise(self, x: Tensor) -> Optional[Tensor]:
        if self.sigma == 0.0 or not (self.training or self.noise_at_eval):
            return None
        return self.stream.normal_like(x, self.sigma)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", sigma={self.sigma}, noise_at_eval={self.noise_at_eval}, seed={self.stream.seed}"


class PSN(SpikingNeuron):
    """Parallel spiking neuron (Fang et al., NeurIPS 2023): ``H = W·X + b`` along time, ``S = Θ(H)``.

    ``W ∈ R^{T×T}`` mixes the time steps of each element, ``b`` (a scalar initialised to −1) acts as the
    threshold. No reset, no recurrence: all steps are computed at once.
    """

    recurrent = False

    def __init__(self, T: int, surrogate: Optional[Surrogate] = None, backend: str = "compiled") -> None:
        super().__init__(surrogate, backend)
        if T < 1:
            raise ValueError(f"PSN needs T >= 1, got {T}")
        self.T = T
        self.weight = nn.Parameter(torch.empty(T, T))
        self.bias = nn.Parameter(torch.tensor(-1.0))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def potential(self, x: Tensor) -> Tensor:
        """``H = W·X + b`` for ``x`` ``[T, ...]``."""
        if x.shape[0] != self.T:
            raise ValueError(f"PSN was built for T={self.T} but got {x.shape[0]} time steps")
        # Mixing time steps is elementwise in the rest, so any memory order of x serves (no copy).
        layout = KernelLayout.of(x, "over_time")
        return layout.restore(torch.addmm(self.bias, self.weight, layout.flatten(x)))

    def forward(self, x: Tensor) -> Tensor:
        _check_time_major(x, self)
        h = self.potential(x)
        if self.potential_observer is not None:
            self.potential_observer(h, 0.0)  # the bias b plays the threshold's part: S = Θ(H)
        if self._effective_backend() == "reference":
            return spike(h, self.surrogate)
        return FusedThreshold.apply(h, 0.0, self.active_backward())

    def extra_repr(self) -> str:
        return f"T={self.T}, surrogate={self.surrogate.family}({self.surrogate.alpha}), backend={self.backend}"


NEURONS: dict[str, type[SpikingNeuron]] = {"lif": LIF, "if": IF, "plif": ParametricLIF, "noisy_lif": NoisyLIF,
                                           "psn": PSN}


@dataclass(frozen=True)
class NeuronSpec:
    """How to build every spiking layer of a network: the type, its parameters and training surrogate.

    ``params`` are the neuron's keyword arguments (e.g. ``tau``, ``threshold``, ``reset``, ``sigma``);
    unknown names are rejected when the spec is made. Each :meth:`build` returns a new layer with its own
    surrogate instance.
    """

    kind: str = "lif"
    params: Mapping[str, Any] = field(default_factory=dict)
    surrogate: str = "atan"
    alpha: float = 2.0
    backend: str = "compiled"

    def __post_init__(self) -> None:
        if self.kind not in NEURONS:
            raise ValueError(f"unknown neuron {self.kind!r}; choose one of {', '.join(NEURONS)}")
        accepted = _accepted_params(self.kind)
        unknown = sorted(set(self.params) - accepted)
        if unknown:
            raise ValueError(f"neuron {self.kind!r} has no parameter(s) {', '.join(unknown)}; "
                             f"it accepts {', '.join(sorted(accepted))}")
        hints = _param_hints(self.kind)
        for name, value in self.params.items():
            hint = hints.get(name, Any)
            problems = value_problems(hint, value, name)
            if problems:
                raise ValueError(f"neuron {self.kind!r} parameter {problems[0][0]}: {problems[0][1]}")
            if hint is float and not math.isfinite(value):
                raise ValueError(f"neuron {self.kind!r} parameter {name}: must be finite, got {value}")
        if "reset" in self.params or "v_reset" in self.params:  # (for a library's builder too, which maps them)
            check_reset(self.params.get("reset", "hard"), self.params.get("v_reset", 0.0))
        if self.kind == "noisy_lif" and "seed" in self.params:
            raise ValueError("neuron 'noisy_lif' parameter seed: the model seeds every layer's noise stream from its "
                             "own seed (SpikingClassifier.reseed); remove it")
        Surrogate(self.surrogate, self.alpha)  # validates family and sharpness
        check_backend(self.backend)
        object.__setattr__(self, "params", dict(self.params))  # a private copy: callers cannot mutate it

    def build(self, T: int) -> SpikingNeuron:
        surrogate = Surrogate(self.surrogate, self.alpha)
        if self.kind == "psn":
            return PSN(T=T, surrogate=surrogate, backend=self.backend)
        return NEURONS[self.kind](**self.params, surrogate=surrogate, backend=self.backend)


def _param_hints(kind: str) -> dict[str, Any]:
    """The type of each parameter a neuron of ``kind`` accepts, from its constructor's annotations (a card's
    ``tau: "2"`` or ``detach_reset: "yes"`` is refused, not converted or read as true)."""
    cls = NEURONS[kind]
    hints = _param_hints("lif") if cls is NoisyLIF else {}
    return {**hints, **{k: v for k, v in typing.get_type_hints(cls.__init__).items() if k in _accepted_params(kind)}}


def _accepted_params(kind: str) -> set[str]:
    cls = NEURONS[kind]
    names = set(inspect.signature(cls.__init__).parameters) - {"self", "surrogate", "backend", "T", "lif_kwargs"}
    if cls is NoisyLIF:
        names |= _accepted_params("lif")
    return names


def spiking_layers(model: nn.Module) -> list[SpikingNeuron]:
    """Every spiking layer of ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, SpikingNeuron)]


def set_backend(model: nn.Module, backend: str) -> None:
    """Switch every spiking layer of ``model`` to ``backend`` (``compiled``, ``eager`` or ``reference``)."""
    check_backend(backend)
    for layer in spiking_layers(model):
        layer.backend = backend
