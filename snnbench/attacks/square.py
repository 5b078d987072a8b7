"""Square attack, L∞ (Andriushchenko et al., ECCV 2020): score-based and gradient-free.

It never looks at a gradient, so it is the guard against gradient masking: a defense that is robust
under gradient attacks but not under Square is masking gradients, not robust.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from .core import Attack, AttackContext, FoolingTracker, project

# Fractions of the image a square covers, by query number (rescaled to a 10 000-query budget).
_SCHEDULE = ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128),
             (8000, 256))


def square_fraction(p_init: float, query: int, budget: int) -> float:
    """``p`` at ``query``: ``p_init`` halved at the schedule's milestones."""
    scaled = int(query / budget * 10000)
    divisor = 512
    for bound, value in _SCHEDULE:
        if scaled <= bound:
            divisor = value
            break
    return p_init / divisor


def margin(logits: Tensor, y: Tensor) -> Tensor:
    """``z_y − max_{j≠y} z_j``: negative exactly when the sample is misclassified."""
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf"))
    return z_y - others.amax(1)


@dataclass
class Square(Attack):
    """Random square-shaped ±ε updates, kept when they lower the margin; ``queries`` forward passes."""

    queries: int = 5000
    p_init: float = 0.8
    gradient_free: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.queries < 1 or not 0 < self.p_init <= 1:
            raise ValueError(f"Square: queries must be >= 1 and p_init in (0, 1], got {self.queries}, {self.p_init}")

    def perturb(self, ctx: AttackContext, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        tracker = FoolingTracker(x, y)
        B, C, H, W = x.shape
        # Start from vertical stripes of ±ε.
        stripes = self._signs((B, C, 1, W), generator, x)
        x_cur = project(x + self.eps * stripes, x, self.eps)
        best = margin(ctx.mean_logits(x_cur), y)
        tracker.record(best < 0, x_cur)
        for query in range(1, self.queries):
            active = (best >= 0).nonzero().squeeze(1)
            if len(active) == 0:
                break
            side = self._side(query, C, H, W)
            rows = torch.randint(0, H - side + 1, (len(active), 1, 1, 1), generator=generator, device=x.device)
            cols = torch.randint(0, W - side + 1, (len(active), 1, 1, 1), generator=generator, device=x.device)
            r = torch.arange(H, device=x.device).view(1, 1, H, 1)
            c = torch.arange(W, device=x.device).view(1, 1, 1, W)
            window = (r >= rows) & (r < rows + side) & (c >= cols) & (c < cols + side)
            signs = self._signs((len(active), C, 1, 1), generator, x)
            x_act = x[active]
            delta = torch.where(window, self.eps * signs, x_cur[active] - x_act)
            candidate = project(x_act + delta, x_act, self.eps)
            new = margin(ctx.mean_logits(candidate), y[active])
            better = new < best[active]
            idx = active[better]
            x_cur[idx], best[idx] = candidate[better], new[better]
            tracker.record(best < 0, x_cur)
        return tracker.x_adv

    def _side(self, query: int, C: int, H: int, W: int) -> int:
        p = square_fraction(self.p_init, query, self.queries)
        return min(max(int(round(math.sqrt(p * H * W))), 1), H - 1 if H > 1 else 1)

    @staticmethod
    def _signs(shape: tuple[int, ...], generator: torch.Generator, like: Tensor) -> Tensor:
        draws = torch.randint(0, 2, shape, generator=generator, device=like.device)
        return (draws * 2 - 1).to(like.dtype)

