"""Encoders: turn an image batch ``[B, C, H, W]`` into a spike-train input ``[T, B, C, H, W]``."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .randomness import SeededStream


class DirectEncoding(nn.Module):
    """The same (normalised) analogue image at every time step; deterministic."""

    stochastic = False

    def __init__(self, T: int) -> None:
        super().__init__()
        self.T = T

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(0).expand(self.T, *x.shape)

    def extra_repr(self) -> str:
        return f"T={self.T}"


class _BernoulliStraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, rates: Tensor, generator: torch.Generator) -> Tensor:
        return torch.bernoulli(rates, generator=generator)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        # Straight-through: E[spike] = rate, so d E[spike] / d rate = 1.
        return grad_output, None


class PoissonEncoding(nn.Module):
    """Rate coding: at every step each pixel spikes with probability equal to its intensity in [0, 1].

    Draws come from the encoder's own seeded stream; gradients pass straight through to the intensities.
    A model with this encoding is stochastic and must be attacked with EoT.
    """

    stochastic = True

    def __init__(self, T: int, seed: int = 0) -> None:
        super().__init__()
        self.T = T
        self.stream = SeededStream(seed)

    def reseed(self, seed: int) -> None:
        self.stream.reseed(seed)

    def forward(self, x: Tensor) -> Tensor:
        rates = x.clamp(0.0, 1.0).unsqueeze(0).expand(self.T, *x.shape).contiguous()
        return _BernoulliStraightThrough.apply(rates, self.stream.generator(x.device))

    def extra_repr(self) -> str:
        return f"T={self.T}, seed={self.stream.seed}"


ENCODINGS = {"direct": DirectEncoding, "poisson": PoissonEncoding}


def make_encoding(name: str, T: int) -> nn.Module:
    try:
        return ENCODINGS[name](T)
    except KeyError:
        raise ValueError(f"unknown encoding {name!r}; choose one of {', '.join(ENCODINGS)}") from None
