"""First-order L∞ attacks: FGSM, R-FGSM, PGD (random start, restarts), MI-FGSM and Adam-PGD."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from .core import Attack, AttackContext, FoolingTracker, per_sample_mean, project, random_start


@dataclass
class FGSM(Attack):
    """One signed-gradient step of size ``eps`` (Goodfellow et al. 2015)."""

    def perturb(self, ctx: AttackContext, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        tracker = FoolingTracker(x, y)
        _, _, grad = ctx.loss_and_grad(x, y)
        x_new = project(x + self.eps * grad.sign(), x, self.eps)
        tracker.update(x_new, ctx.logits(x_new))
        return tracker.x_adv


@dataclass
class PGD(Attack):
    """Projected gradient ascent with signed steps (Madry et al. 2018).

    ``step_size`` defaults to ``2.5·eps/steps``; ``random_start`` draws uniformly from the ε-ball;
    ``restarts`` repeats the attack from new random starts on the samples not yet fooled.
    """

    steps: int = 10
    step_size: Optional[float] = None
    random_start: bool = True
    restarts: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 1 or self.restarts < 1:
            raise ValueError(f"PGD: steps and restarts must be >= 1, got {self.steps} and {self.restarts}")

    def perturb(self, ctx: AttackContext, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        tracker = FoolingTracker(x, y)
        alpha = self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps
        for _ in range(self.restarts):
            ctx.mode.reset()
            x_cur = random_start(x, self.eps, generator) if self.random_start else x.clone()
            for _ in range(self.steps):
                _, logits, grad = ctx.loss_and_grad(x_cur, y)
                tracker.update(x_cur, logits)
                x_cur = project(x_cur + alpha * grad.sign(), x, self.eps)
            tracker.update(x_cur, ctx.logits(x_cur))
            if bool(tracker.fooled.all()):
                break
        return tracker.x_adv


@dataclass
class RFGSM(Attack):
    """FGSM from a random signed step of size ``alpha`` (Tramèr et al. 2018): ``x′ = x + α·sign(N(0, I))``,
    then one step of ``eps − alpha``. ``alpha`` defaults to ``eps/2``."""

    alpha: Optional[float] = None

    def perturb(self, ctx: AttackContext, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        tracker = FoolingTracker(x, y)
        alpha = self.alpha if self.alpha is not None else self.eps / 2
        if not 0 <= alpha <= self.eps:
            raise ValueError(f"RFGSM: alpha must lie in [0, eps], got {alpha}")
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x_start = project(x + alpha * noise.sign(), x, self.eps)
        _, logits, grad = ctx.loss_and_grad(x_start, y)
        tracker.update(x_start, logits)
        x_new = project(x_start + (self.eps - alpha) * grad.sign(), x, self.eps)
        tracker.update(x_new, ctx.logits(x_new))
        return tracker.x_adv


@dataclass
class MIFGSM(Attack):
    """Momentum iterative FGSM (Dong et al. 2018): ``g ← μg + ∇/mean|∇|``, signed steps of ``eps/steps``."""

    steps: int = 10
    decay: float = 1.0

    def perturb(self, ctx: AttackContext, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        tracker = FoolingTracker(x, y)
        alpha = self.eps / self.steps
        x_cur, momentum = x.clone(), torch.zeros_like(x)
        for _ in range(self.steps):
            _, logits, grad = ctx.loss_and_grad(x_cur, y)
            tracker.update(x_cur, logits)
            momentum = self.decay * momentum + grad / per_sample_mean(grad.abs()).clamp_min(1e-30)
            x_cur = project(x_cur + alpha * momentum.sign(), x, self.eps)
        tracker.update(x_cur, ctx.logits(x_cur))
        return tracker.x_adv


@dataclass
class AdamPGD(Attack):
    """Projected ascent along Adam's direction (β₁ = 0.9, β₂ = 0.999, bias-corrected) from a random start;
    ``step_size`` defaults to ``2.5·eps/steps``."""

    steps: int = 10
    step_size: Optional[float] = None
    betas: tuple[float, float] = (0.9, 0.999)

    def perturb(self, ctx: AttackContext, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        tracker = FoolingTracker(x, y)
        step_size = self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps
        b1, b2 = self.betas
        x_cur = random_start(x, self.eps, generator)
        m, v = torch.zeros_like(x), torch.zeros_like(x)
        for t in range(1, self.steps + 1):
            _, logits, grad = ctx.loss_and_grad(x_cur, y)
            tracker.update(x_cur, logits)
            m, v = b1 * m + (1 - b1) * grad, b2 * v + (1 - b2) * grad * grad
            direction = (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + 1e-8)
            x_cur = project(x_cur + step_size * direction, x, self.eps)
        tracker.update(x_cur, ctx.logits(x_cur))
        return tracker.x_adv
