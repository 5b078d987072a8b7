"""What every attack shares: configuration, the gradient through spikes, EoT, projection, bookkeeping.

An attack is a small dataclass configured once and called as ``attack(model, x, y) -> x_adv``. Every attack

* runs the model in ``eval()`` mode (batch norm on running statistics) and restores its mode afterwards;
* differentiates through the spikes with the gradient mode it is configured with (``GradientSpec``);
* averages gradients over ``eot`` random draws for stochastic models (10 by default for those, 1 otherwise);
  adaptive statistics (ASSG) update only on the first draw of each step;
* is deterministic for its ``seed`` (its own generator for random starts, the model's streams reseeded);
* returns, per sample, the first point found that fools the model, else the clean input, so that
  ``‖x_adv − x‖∞ ≤ eps`` and ``x_adv ∈ [0, 1]`` always hold.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..foreign import ForeignSpikingModules, foreign_spike_functions
from ..gradient_modes import ModeHandle, gradient_mode

LossFn = Callable[[Tensor, Tensor], Tensor]  # (logits, labels) -> per-sample loss


@dataclass(frozen=True)
class GradientSpec:
    """A gradient mode and its parameters, e.g. ``GradientSpec("assg", {"A": 0.87})``."""

    mode: str = "surrogate"
    params: dict[str, Any] = field(default_factory=dict)


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(logits, y, reduction="none")


def project(x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
    """Onto the L∞ ball of radius ``eps`` around ``x`` and the image box ``[0, 1]``."""
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)


def per_sample_mean(t: Tensor) -> Tensor:
    """Mean over all but the first dimension, shaped to broadcast against ``t``."""
    return t.flatten(1).mean(1).view(-1, *([1] * (t.dim() - 1)))


class FoolingTracker:
    """Keeps, per sample, the first point that fooled the model (else the clean input).

    ``index`` says which samples of the batch ``x_current`` holds, when an attack iterates on a subset.
    """

    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.y = y
        self.x_adv = x.detach().clone()
        self.fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)

    def update(self, x_current: Tensor, logits: Tensor, index: Optional[Tensor] = None) -> None:
        labels = self.y if index is None else self.y[index]
        self.record(logits.argmax(1) != labels, x_current, index)

    def record(self, fooled: Tensor, x_current: Tensor, index: Optional[Tensor] = None) -> None:
        if index is None:
            index = torch.arange(len(self.fooled), device=self.fooled.device)
        newly = fooled & ~self.fooled[index]
        self.x_adv[index[newly]] = x_current.detach()[newly]
        self.fooled[index[newly]] = True


class ActiveSamples:
    """The samples an iterative attack still works on: those no point has fooled yet.

    A fooled sample's result is fixed (its first fooling point), and dropping it from the batch cannot
    change another sample's trajectory: every attack state is per sample, batch norm runs on running
    statistics, and adaptive surrogate statistics are per element and shrink with the batch
    (:meth:`ModeHandle.select`). So attacks iterate on the shrinking set, the same result for less work;
    on an undefended model most of the batch drops out within a few steps. Two things do depend on the
    batch, so there the result is another equally valid draw rather than the same one: the noise of a
    stochastic model (drawn for the batch as it is) and PDSG's σ (a statistic over the batch).
    """

    def __init__(self, tracker: FoolingTracker) -> None:
        self.tracker = tracker
        self.index = (~tracker.fooled).nonzero().squeeze(1)

    def rows(self, *tensors: Tensor) -> tuple[Tensor, ...]:
        """The rows of full-batch tensors that belong to the samples still attacked."""
        return tuple(t[self.index] for t in tensors)

    def update(self, x_current: Tensor, logits: Tensor) -> Optional[Tensor]:
        """Record fooling points; return the mask of the current samples to keep when some must go."""
        self.tracker.update(x_current, logits, self.index)
        keep = ~self.tracker.fooled[self.index]
        if bool(keep.all()):
            return None
        self.index = self.index[keep]
        return keep

    @property
    def done(self) -> bool:
        return len(self.index) == 0


@dataclass
class AttackContext:
    """One attack run's model access: gradients with EoT under the configured gradient mode."""

    model: nn.Module
    loss_fn: LossFn
    eot: int
    mode: ModeHandle
    # Called once per gradient evaluation with the first draw's per-sample loss, logits and the labels of the
    # samples the attack still works on (a convergence trace; see snnbench.traces). Never changes the attack.
    observe: Optional[Callable[[Tensor, Tensor, Tensor], None]] = None
    graph_checked: bool = field(default=False, init=False)

    def loss_and_grad(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per-sample loss and logits of the first draw, and the input gradient averaged over draws."""
        grad_sum: Optional[Tensor] = None
        first_loss = first_logits = None
        for draw in range(self.eot):
            frozen = self.mode.frozen() if draw > 0 else contextlib.nullcontext()
            with frozen, torch.enable_grad():
                x_req = x.detach().requires_grad_(True)
                logits = self.model(x_req)
                loss = self.loss_fn(logits, y)
                if not self.graph_checked:
                    self._refuse_foreign_spike_functions(loss)
                (grad,) = torch.autograd.grad(loss.sum(), x_req)
            grad_sum = grad if grad_sum is None else grad_sum + grad
            if draw == 0:
                first_loss, first_logits = loss.detach(), logits.detach()
        if self.observe is not None:
            self.observe(first_loss, first_logits, y)
        return first_loss, first_logits, grad_sum / self.eot

    def _refuse_foreign_spike_functions(self, loss: Tensor) -> None:
        """Spike functions of another library that the model's own code calls are seen only in the graph."""
        found = foreign_spike_functions(loss)
        if found:
            raise ForeignSpikingModules(
                f"the model fires through {', '.join(found)}, which no gradient mode of snnbench reaches (the "
                f"attack would differentiate those spikes with that function's fixed surrogate): rebuild the neuron "
                f"that calls it with snnbench's spiking layers (snnbench.LIF, snnbench.IF)")
        self.graph_checked = True

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        with self.mode.frozen():
            return self.model(x)

    @torch.no_grad()
    def mean_logits(self, x: Tensor) -> Tensor:
        """Logits averaged over the EoT draws (score-based attacks on stochastic models)."""
        return sum(self.logits(x) for _ in range(self.eot)) / self.eot


@dataclass
class Attack:
    """Base of all attacks: L∞ budget ``eps``, ``seed``, gradient mode and EoT draws."""

    eps: float = 8 / 255
    seed: int = 0
    gradient: GradientSpec = field(default_factory=GradientSpec)
    eot: Optional[int] = None  # None: 10 draws for a stochastic model, 1 for a deterministic one
    # True for attacks that never differentiate the model (score-based): what they find that every gradient
    # attack missed is a sign of gradient masking.
    gradient_free: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not self.eps >= 0:
            raise ValueError(f"{type(self).__name__}: eps must be >= 0, got {self.eps}")
        if self.eot is not None and self.eot < 1:
            raise ValueError(f"{type(self).__name__}: eot must be >= 1, got {self.eot}")

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """Per-sample loss the attack ascends; cross-entropy of the mean-over-time logits by default."""
        return cross_entropy(logits, y)

    @property
    def loss_label(self) -> str:
        """The name of the loss the attack ascends, ``"ce"`` by default: values under one label share a scale
        (a plot draws them on one axis; cross-entropy and DLR do not)."""
        return "ce"

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        return self.run(model, x, y).x_adv

    def run(self, model: nn.Module, x: Tensor, y: Tensor,
            observe: Optional[Callable[[Tensor, Tensor, Tensor], None]] = None) -> "AttackRun":
        """The attack with what it did: ``x_adv`` and the gradient mode and spiking layers it ran with.
        ``observe`` sees every gradient evaluation (:attr:`AttackContext.observe`)."""
        _check_inputs(type(self).__name__, x, y, getattr(model, "num_classes", None))
        generator = torch.Generator(device=x.device).manual_seed(self.seed)
        # A gradient-free attack differentiates nothing, so it needs no gradient mode (and runs on any model).
        differentiate = (contextlib.nullcontext(ModeHandle([])) if self.gradient_free
                         else gradient_mode(model, self.gradient.mode, **self.gradient.params))
        with _attack_setting(model, self.seed), differentiate as mode:
            eot = self.eot if self.eot is not None else (10 if getattr(model, "stochastic", False) else 1)
            ctx = AttackContext(model, self.loss, eot, mode, observe)
            x_adv = self.perturb(ctx, x.detach(), y, generator)
        # The projection is a no-op but for rounding: the contract holds exactly.
        return AttackRun(project(x_adv, x, self.eps), None if self.gradient_free else self.gradient.mode,
                         len(mode.paths))

    def perturb(self, ctx: AttackContext, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class AttackRun:
    """What one call of an attack did: the adversarial images, and how it differentiated through spikes.

    ``gradient_mode`` is None for a gradient-free attack; ``layers`` counts the spiking layers the mode was
    installed on (every spiking layer of the model: a gradient mode refuses a model it cannot fully control).
    """

    x_adv: Tensor
    gradient_mode: Optional[str]
    layers: int


@contextlib.contextmanager
def _attack_setting(model: nn.Module, seed: int) -> Iterator[None]:
    was_training = model.training
    model.eval()
    if hasattr(model, "reseed"):
        model.reseed(seed)
    try:
        yield
    finally:
        model.train(was_training)


def _check_inputs(name: str, x: Tensor, y: Tensor, num_classes: Optional[int] = None) -> None:
    if x.dim() != 4 or y.dim() != 1 or len(x) != len(y):
        raise ValueError(f"{name}: expected images [B, C, H, W] and labels [B], got {tuple(x.shape)} and {tuple(y.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: images hold {int((~torch.isfinite(x)).sum())} NaN or infinite values")
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"{name}: images must lie in [0, 1], got values in [{x.min().item():.3g}, {x.max().item():.3g}]")
    if y.is_floating_point() or (len(y) and (y.min() < 0 or (num_classes is not None and y.max() >= num_classes))):
        raise ValueError(f"{name}: labels must be integer classes in [0, {num_classes or 'K'}), got "
                         f"{y.dtype} values in [{y.min().item()}, {y.max().item()}]")


def random_start(x: Tensor, eps: float, generator: torch.Generator, exact: bool = False) -> Tensor:
    """``x`` plus uniform noise in the ε-ball; with ``exact`` scaled so that its largest entry is ε."""
    r = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
    if exact:
        r = r / r.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, *([1] * (x.dim() - 1)))
    return project(x + eps * r, x, eps)
