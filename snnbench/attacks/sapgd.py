"""SA-PGD: the stable adaptive PGD of arXiv 2512.22522, the reference attack with ASSG."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import Tensor

from .core import (ActiveSamples, Attack, AttackContext, AttackRun, FoolingTracker, GradientSpec, per_sample_mean,
                   project, random_start)
from .schedules import apgd_checkpoints


def _assg() -> GradientSpec:
    return GradientSpec("assg", {})


@dataclass
class SAPGD(Attack):
    """Stable adaptive PGD.

    From a random start at exactly ε, with ``g`` the input gradient of the cross-entropy:
    ``ĝ = g / mean|g|`` (per sample, mean over input dimensions), ``m ← 0.5·m + ĝ``,
    ``v ← 0.8·v + g²/mean(g²)`` (both start at their first value), ``step = clip(η·m/(√v + 1e-12), −η, η)``,
    then projection onto the ε-ball and ``[0, 1]``. ``η`` starts at ε and is halved for all samples at the
    APGD checkpoints. The first step is therefore an FGSM step of size ε. With the default gradient mode,
    ASSG, each value in ``A_values`` is one restart, and each sample keeps its worst case.
    """

    steps: int = 100
    gradient: GradientSpec = field(default_factory=_assg)
    A_values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 1:
            raise ValueError(f"SAPGD: steps must be >= 1, got {self.steps}")
        if self.A_values and self.gradient.mode != "assg":
            raise ValueError("SAPGD: A_values are restarts of the 'assg' gradient mode")

    def run(self, model, x, y, observe=None) -> AttackRun:
        if not self.A_values:
            return super().run(model, x, y, observe)
        fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        x_adv = x.detach().clone()
        layers = []
        for A in self.A_values:
            params = {**self.gradient.params, "A": A}
            attack = SAPGD(eps=self.eps, seed=self.seed, gradient=GradientSpec("assg", params), eot=self.eot,
                           steps=self.steps)
            run = attack.run(model, x, y, observe)
            candidate = run.x_adv
            newly = ~fooled & (candidate != x).flatten(1).any(1)  # runs return x itself unless they fooled
            x_adv[newly] = candidate[newly]
            fooled |= newly
            layers.append(run.layers)
        return AttackRun(x_adv, "assg", min(layers))

    def perturb(self, ctx: AttackContext, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        tracker = FoolingTracker(x, y)
        active = ActiveSamples(tracker)
        ctx.mode.reset()
        x_cur = random_start(x, self.eps, generator, exact=True)
        direction = StableAdaptiveDirection()
        for eta in step_sizes(self.eps, self.steps):
            _, logits, g = ctx.loss_and_grad(x_cur, y)
            keep = active.update(x_cur, logits)
            if keep is not None:
                if active.done:
                    return tracker.x_adv
                x, y, x_cur, g = x[keep], y[keep], x_cur[keep], g[keep]
                direction.select(keep)
                ctx.mode.select(keep)
            x_cur = project(x_cur + direction.step(g, eta), x, self.eps)
        active.update(x_cur, ctx.logits(x_cur))
        return tracker.x_adv


def step_sizes(eps: float, steps: int) -> list[float]:
    """η for each iteration: ε, halved after every APGD checkpoint."""
    checkpoints = set(apgd_checkpoints(steps))
    sizes, eta = [], eps
    for iteration in range(1, steps + 1):
        sizes.append(eta)
        if iteration in checkpoints:
            eta /= 2
    return sizes


class StableAdaptiveDirection:
    """SA-PGD's normalised momentum: ``m ← 0.5m + g/mean|g|``, ``v ← 0.8v + g²/mean(g²)``."""

    def __init__(self) -> None:
        self.m: Optional[Tensor] = None
        self.v: Optional[Tensor] = None

    def select(self, keep: Tensor) -> None:
        if self.m is not None:
            self.m, self.v = self.m[keep], self.v[keep]

    def step(self, g: Tensor, eta: float) -> Tensor:
        # Per-sample MEAN, not sum: a sum would shrink every step about √d-fold.
        g_hat = g / per_sample_mean(g.abs()).clamp_min(1e-30)
        g_sq = g * g / per_sample_mean(g * g).clamp_min(1e-30)
        self.m = g_hat if self.m is None else 0.5 * self.m + g_hat
        self.v = g_sq if self.v is None else 0.8 * self.v + g_sq
        return torch.clamp(eta * self.m / (self.v.sqrt() + 1e-12), -eta, eta)

