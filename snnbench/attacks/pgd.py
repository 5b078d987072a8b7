"""Sign-gradient attacks: FGSM and PGD with random start and restarts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from .core import Attack, AttackContext, FoolingTracker, project, random_start


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
