import math

import pytest
import torch

from snnbench.surrogates import (FAMILIES, Surrogate, get_family, inverse_vanishing_degree, spike,
                                 vanishing_degree)

# g₁ written out independently of the implementation.
DENSITIES = {
    "atan": lambda x: 0.5 / (1 + (math.pi * x / 2) ** 2),
    "sigmoid": lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x)),
    "gaussian": lambda x: torch.exp(-x ** 2 / 2) / math.sqrt(2 * math.pi),
    "rectangular": lambda x: 0.5 * (x.abs() < 1).double(),
    "triangle": lambda x: torch.clamp(1 - x.abs(), min=0),
}


def test_every_family_is_covered():
    assert set(FAMILIES) == set(DENSITIES)


@pytest.mark.parametrize("family", sorted(DENSITIES))
@pytest.mark.parametrize("alpha_kind", ["float", "tensor"])
def test_spike_backward_is_the_analytic_surrogate(family, alpha_kind):
    x = torch.linspace(-3, 3, 603, dtype=torch.float64).reshape(3, 201)
    alpha = 2.5 if alpha_kind == "float" else torch.linspace(0.5, 4.0, 201, dtype=torch.float64)
    x.requires_grad_(True)
    s = spike(x, Surrogate(family, alpha))
    assert torch.equal(s, (x >= 0).double())
    (grad,) = torch.autograd.grad(s.sum(), x)
    expected = alpha * DENSITIES[family](alpha * x.detach())
    torch.testing.assert_close(grad, expected, atol=1e-6, rtol=0)


def test_tie_convention_fires_at_threshold():
    assert spike(torch.zeros(1), Surrogate()).item() == 1.0


@pytest.mark.parametrize("family", sorted(DENSITIES))
@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_unit_mass_and_vanishing_degree(family, alpha):
    sur = Surrogate(family, alpha)
    z = torch.linspace(-40, 40, 400_001, dtype=torch.float64)
    mass = torch.trapezoid(sur.derivative(z), z).item()
    tail = 1 - vanishing_degree(family, 40 * alpha)  # atan's heavy tail beyond the grid
    assert mass == pytest.approx(1 - tail, abs=5e-4)  # trapezoid error at the rectangle's edges
    for half_width in (0.3, 0.9, 2.0):
        inner = z.abs() <= half_width
        numeric = torch.trapezoid(get_family(family).density(z[inner]), z[inner]).item()
        assert numeric == pytest.approx(vanishing_degree(family, half_width), abs=2e-3)


@pytest.mark.parametrize("family", sorted(DENSITIES))
def test_inverse_vanishing_degree_inverts(family):
    z = torch.linspace(0.05, 0.95 if family in ("rectangular", "triangle") else 4.0, 50, dtype=torch.float64)
    torch.testing.assert_close(inverse_vanishing_degree(family, vanishing_degree(family, z)), z, atol=1e-9, rtol=1e-9)
    assert inverse_vanishing_degree(family, 0.87) == pytest.approx(
        float(inverse_vanishing_degree(family, torch.tensor(0.87, dtype=torch.float64))))


def test_atan_omega_for_the_assg_default():
    # ω = G₁⁻¹(0.87) for Atan = (2/π)·tan(0.87·π/2)
    assert inverse_vanishing_degree("atan", 0.87) == pytest.approx(2 / math.pi * math.tan(0.87 * math.pi / 2))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown surrogate family 'relu'"):
        Surrogate("relu")
    with pytest.raises(ValueError, match="alpha must be positive"):
        Surrogate("atan", 0.0)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        inverse_vanishing_degree("atan", 1.0)


def test_default_surrogates_are_not_shared():
    from snnbench.neurons import LIF

    assert LIF().surrogate is not LIF().surrogate
