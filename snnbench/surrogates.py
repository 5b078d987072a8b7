"""Surrogate gradients for the Heaviside spike.

A spike is ``S = Θ(x)`` with ``x = u − θ`` and the tie convention ``Θ(0) = 1``: a neuron fires when its
membrane potential reaches the threshold (``u ≥ θ``), as in SpikingJelly. The forward pass is always this
step; only the backward pass uses a surrogate derivative.

Every family is a unit-mass density ``g₁`` scaled by a sharpness α: ``g_α(x) = α·g₁(αx)``. Each family
also exposes its vanishing degree ``G₁(z) = ∫_{−z}^{z} g₁`` (the mass within ``|x| ≤ z``) and its inverse,
which the adaptive-sharpness attack uses to turn a target mass ``A`` into a sharpness scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import torch
from torch import Tensor

Sharpness = Union[float, Tensor]


class SurrogateFamily:
    """A unit-mass density ``g₁`` with its vanishing degree ``G₁`` and ``G₁⁻¹``; stateless."""

    name: str = ""

    def density(self, x: Tensor) -> Tensor:
        """``g₁(x)``."""
        raise NotImplementedError

    def vanishing_degree(self, z: Tensor) -> Tensor:
        """``G₁(z) = ∫_{−z}^{z} g₁``, for ``z ≥ 0``."""
        raise NotImplementedError

    def inverse_vanishing_degree(self, mass: Tensor) -> Tensor:
        """``G₁⁻¹(A)``, for ``0 ≤ A < 1``."""
        raise NotImplementedError


class Atan(SurrogateFamily):
    name = "atan"

    def density(self, x: Tensor) -> Tensor:
        return 0.5 / (1.0 + (0.5 * math.pi * x) ** 2)

    def vanishing_degree(self, z: Tensor) -> Tensor:
        return (2.0 / math.pi) * torch.atan(0.5 * math.pi * z)

    def inverse_vanishing_degree(self, mass: Tensor) -> Tensor:
        return (2.0 / math.pi) * torch.tan(0.5 * math.pi * mass)


class Sigmoid(SurrogateFamily):
    name = "sigmoid"

    def density(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(x)
        return s * (1.0 - s)

    def vanishing_degree(self, z: Tensor) -> Tensor:
        return torch.tanh(0.5 * z)

    def inverse_vanishing_degree(self, mass: Tensor) -> Tensor:
        return 2.0 * torch.atanh(mass)


class Gaussian(SurrogateFamily):
    name = "gaussian"

    def density(self, x: Tensor) -> Tensor:
        return torch.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)

    def vanishing_degree(self, z: Tensor) -> Tensor:
        return torch.erf(z / math.sqrt(2.0))

    def inverse_vanishing_degree(self, mass: Tensor) -> Tensor:
        return math.sqrt(2.0) * torch.erfinv(mass)


class Rectangular(SurrogateFamily):
    name = "rectangular"

    def density(self, x: Tensor) -> Tensor:
        return 0.5 * (x.abs() < 1.0).to(x.dtype)

    def vanishing_degree(self, z: Tensor) -> Tensor:
        return torch.clamp(z, max=1.0)

    def inverse_vanishing_degree(self, mass: Tensor) -> Tensor:
        return mass.clone()


class Triangle(SurrogateFamily):
    name = "triangle"

    def density(self, x: Tensor) -> Tensor:
        return torch.clamp(1.0 - x.abs(), min=0.0)

    def vanishing_degree(self, z: Tensor) -> Tensor:
        return 1.0 - (1.0 - torch.clamp(z, max=1.0)) ** 2

    def inverse_vanishing_degree(self, mass: Tensor) -> Tensor:
        return 1.0 - torch.sqrt(1.0 - mass)


FAMILIES: dict[str, SurrogateFamily] = {f.name: f for f in (Atan(), Sigmoid(), Gaussian(), Rectangular(), Triangle())}


def get_family(name: str) -> SurrogateFamily:
    """The family called ``name``; a clear error lists the known ones."""
    try:
        return FAMILIES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown surrogate family {name!r}; known: {', '.join(sorted(FAMILIES))}") from None


def _as_tensor(value: Union[float, Tensor]) -> Tensor:
    return value if isinstance(value, Tensor) else torch.tensor(float(value), dtype=torch.float64)


def vanishing_degree(family: str, z: Union[float, Tensor]) -> Union[float, Tensor]:
    """``G₁(z)`` of ``family``; returns a float for a float argument."""
    out = get_family(family).vanishing_degree(_as_tensor(z))
    return out if isinstance(z, Tensor) else float(out)


def inverse_vanishing_degree(family: str, mass: Union[float, Tensor]) -> Union[float, Tensor]:
    """``G₁⁻¹(A)`` of ``family``; returns a float for a float argument."""
    if not isinstance(mass, Tensor) and not 0.0 <= float(mass) < 1.0:
        raise ValueError(f"vanishing degree A must lie in [0, 1), got {mass}")
    out = get_family(family).inverse_vanishing_degree(_as_tensor(mass))
    return out if isinstance(mass, Tensor) else float(out)


@dataclass(frozen=True, eq=False)
class Surrogate:
    """A surrogate derivative ``g_α(x) = α·g₁(αx)``.

    ``alpha`` is a float or a tensor that broadcasts against the membrane potential (per-element
    sharpness for adaptive attacks). Each spiking layer owns its own instance: nothing is shared.
    """

    family: str = "atan"
    alpha: Sharpness = 2.0
    center: Sharpness = 0.0  # the density's centre; PDSG shifts it off the threshold

    def __post_init__(self) -> None:
        get_family(self.family)  # fail at construction, not at the first backward
        if not isinstance(self.alpha, Tensor) and not float(self.alpha) > 0.0:
            raise ValueError(f"surrogate sharpness alpha must be positive, got {self.alpha}")

    def derivative(self, x: Tensor) -> Tensor:
        """``g_α(x − center)``, the surrogate of ``dΘ/dx``."""
        alpha, center = self.alpha, self.center
        if isinstance(alpha, Tensor):
            alpha = alpha.to(device=x.device, dtype=x.dtype)
        if isinstance(center, Tensor):
            center = center.to(device=x.device, dtype=x.dtype)
        return alpha * get_family(self.family).density(alpha * (x - center))

    def map_tensors(self, fn) -> "Surrogate":
        """The same surrogate with ``fn`` applied to every parameter that is a non-scalar tensor."""
        def apply(value):
            return fn(value) if isinstance(value, Tensor) and value.dim() > 0 else value
        return Surrogate(self.family, apply(self.alpha), apply(self.center))

    def describe(self) -> dict:
        """Family and sharpness as plain data (for cards and logs)."""
        alpha = self.alpha if not isinstance(self.alpha, Tensor) else "per-element"
        return {"family": self.family, "alpha": alpha}


class _HeavisideWithSurrogate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, surrogate: Surrogate) -> Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.derivative(x), None


def spike(x: Tensor, surrogate: Surrogate) -> Tensor:
    """``Θ(x)`` forward (``Θ(0) = 1``), ``surrogate.derivative(x)`` backward."""
    return _HeavisideWithSurrogate.apply(x, surrogate)
