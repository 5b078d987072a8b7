"""Building blocks that connect stateless layers to the time-major ``[T, B, ...]`` layout."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class TimeDistributed(nn.Sequential):
    """Runs stateless layers (conv, BN, pooling, linear) on ``[T·B, ...]`` and restores ``[T, B, ...]``.

    Batch normalisation therefore pools its statistics over time and batch, as in SpikingJelly's
    ``SeqToANNContainer``.
    """

    def forward(self, x: Tensor) -> Tensor:
        T, B = x.shape[:2]
        y = super().forward(x.flatten(0, 1))
        return y.reshape(T, B, *y.shape[1:])


class Flatten(nn.Module):
    """``[T, B, ...] → [T, B, features]``."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2)


class GlobalAveragePool(nn.Module):
    """``[T, B, C, H, W] → [T, B, C]``."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(3, 4))


class ConvexCombination(nn.Module):
    """``w₀·a + w₁·b`` with learnable weights on the simplex (initially ½, ½).

    Merges a residual branch with its shortcut in WRN blocks (the RAT line of work); the weights stay a
    convex combination because robust-training recipes project them back onto the simplex after each step.
    """

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((2,), 0.5))

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.weight[0] * a + self.weight[1] * b
