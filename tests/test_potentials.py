"""Recorded membrane potentials: the fused backends carry ∂L/∂H exactly as autograd through the plain loop."""
from __future__ import annotations

import itertools

import pytest
import torch

from snnbench import LIF, PSN, Surrogate, create_model
from snnbench.gradient_modes import gradient_mode
from snnbench.neurons import NoisyLIF
from snnbench.potentials import membrane_constraint, near_threshold_counts, recorded_potentials

CONFIGS = [dict(reset=r, detach_reset=d, decay_input=i)
           for r, d, i in itertools.product(["hard", "soft"], [False, True], [True, False])]


def _loss_gradient(layer, x, w_spikes, w_potentials):
    """∂/∂x of Σ w_s·S + Σ w_h·H, the shape of any loss that reads spikes and potentials."""
    x = x.clone().requires_grad_(True)
    with recorded_potentials(layer) as records:
        spikes = layer(x)
    (h,) = [r.h for r in records]
    (grad,) = torch.autograd.grad((spikes * w_spikes).sum() + (h * w_potentials).sum(), x)
    return spikes.detach(), h.detach(), grad


def _inputs(dtype, shape=(5, 3, 17)):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, dtype=dtype) * 1.5 + 0.6
    return x, torch.randn(shape, generator=gen, dtype=dtype), torch.randn(shape, generator=gen, dtype=dtype)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_eager_potential_gradients_match_the_reference(config):
    x, ws, wh = _inputs(torch.float64)
    sur = Surrogate("atan", 3.0)
    ref = _loss_gradient(LIF(surrogate=sur, backend="reference", **config), x, ws, wh)
    got = _loss_gradient(LIF(surrogate=sur, backend="eager", **config), x, ws, wh)
    assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
    torch.testing.assert_close(got[2], ref[2], atol=1e-10, rtol=1e-9)


def test_compiled_potential_gradients_match_the_reference():
    x, ws, wh = _inputs(torch.float32)
    config = dict(tau=2.0, reset="hard", surrogate=Surrogate("atan", 2.0))
    ref = _loss_gradient(LIF(backend="reference", **config), x, ws, wh)
    got = _loss_gradient(LIF(backend="compiled", **config), x, ws, wh)
    assert torch.equal(got[0], ref[0])
    torch.testing.assert_close(got[1], ref[1])
    torch.testing.assert_close(got[2], ref[2], atol=1e-5, rtol=1e-5)


def test_potentials_include_the_noise_and_ignore_an_unused_h():
    x, ws, _ = _inputs(torch.float64)
    layers = [NoisyLIF(sigma=0.5, backend=b).train() for b in ("reference", "eager")]
    for layer in layers:
        layer.reseed(3)
    (ref_s, ref_h, _), (s, h, _) = (_loss_gradient(layer, x, ws, torch.zeros_like(x)) for layer in layers)
    assert torch.equal(s, ref_s) and torch.equal(h, ref_h)
    # With H unused, the recorded pass gives the gradient of the plain pass (H arrives as None, not zeros).
    layer = LIF(backend="eager")
    xr = x.clone().requires_grad_(True)
    with recorded_potentials(layer):
        (g1,) = torch.autograd.grad((layer(xr) * ws).sum(), xr)
    (g2,) = torch.autograd.grad((layer(xr) * ws).sum(), xr)
    torch.testing.assert_close(g1, g2)


def test_attack_modes_still_run_while_potentials_are_recorded_without_a_loss_on_them():
    model = create_model("convnet", T=2, neuron={"backend": "eager"}, channels=(4, 8)).eval()
    x = torch.rand(3, 1, 28, 28, requires_grad=True)
    w = torch.randn(3, 10)
    with gradient_mode(model, "pdsg"):
        (plain,) = torch.autograd.grad((model(x) * w).sum(), x)
        with recorded_potentials(model) as records:
            (recorded,) = torch.autograd.grad((model(x) * w).sum(), x)
    assert len(records) == 2 and plain.abs().sum() > 0
    torch.testing.assert_close(recorded, plain)
    with gradient_mode(model, "bptr"), recorded_potentials(model) as records:
        model(x)
        with pytest.raises(RuntimeError, match="cannot carry gradients of the membrane potentials"):
            records[0].h.sum().backward()


def test_recorder_scope_constraint_and_counts():
    model = create_model("convnet", T=2, neuron={"backend": "eager"}, channels=(4, 8))
    x = torch.rand(2, 1, 28, 28)
    with recorded_potentials(model) as records:
        model(x)
    assert [r.layer for r in records] == [0, 1] and tuple(records[0].h.shape) == (2, 2, 4, 28, 28)
    assert all(layer.potential_observer is None for layer in model.spiking_layers())
    delta = 0.3
    by_hand = sum(torch.clamp(delta - (r.h - 1.0).abs(), min=0).mean() for r in records)
    torch.testing.assert_close(membrane_constraint(records, delta), by_hand)
    near, total = near_threshold_counts(records, delta)
    assert total == 2 * 2 * 4 * 28 * 28 + 2 * 2 * 8 * 14 * 14
    assert near == sum(int(((r.h - 1.0).abs() < delta).sum()) for r in records) and 0 < near < total
    with pytest.raises(ValueError, match="no potentials were recorded"):
        membrane_constraint([], delta)


def test_psn_records_its_potential_against_threshold_zero():
    layer = PSN(T=3, backend="eager")
    with recorded_potentials(layer) as records:
        layer(torch.randn(3, 4, 5))
    assert records[0].threshold == 0.0 and records[0].h.requires_grad
