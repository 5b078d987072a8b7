import pytest
import torch
from torch import nn

from snnbench.gradient_modes import gradient_mode, inapplicable
from snnbench.neuron_loop import Dynamics, forward_loop
from snnbench.neurons import LIF, PSN
from snnbench.surrogates import Surrogate, inverse_vanishing_degree


def input_grad(model, x, w):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x), x, grad_outputs=w)
    return g


def sequences(shape=(4, 3, 6), seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen) * 1.5 + 0.6, torch.randn(shape, generator=gen)


@pytest.mark.parametrize("backend", ["eager", "compiled"])
def test_modes_are_restored_on_exit_and_after_an_exception(backend):
    model = nn.Sequential(LIF(backend=backend), LIF(backend=backend))
    custom = lambda g, record: g  # noqa: E731 - a stand-in for an earlier mode
    model[1].backward_path = custom
    with gradient_mode(model, "assg") as outer:
        assert [layer.backward_path for layer in model] == outer.paths
        with gradient_mode(model, "bptr"):
            assert type(model[0].backward_path).__name__ == "BPTR"
        assert [layer.backward_path for layer in model] == outer.paths
    assert model[0].backward_path is None and model[1].backward_path is custom
    with pytest.raises(ZeroDivisionError):
        with gradient_mode(model, "surrogate", alpha=4.0):
            1 / 0
    assert model[0].backward_path is None and model[1].backward_path is custom


def test_spikes_never_change_with_the_mode():
    layer = LIF(backend="eager")
    x, _ = sequences()
    spikes = layer(x)
    for mode in ("surrogate", "assg", "bptr", "rga", "hart", "pdsg"):
        with gradient_mode(layer, mode):
            assert torch.equal(layer(x), spikes)


def test_surrogate_mode_defaults_to_the_training_surrogate_and_can_change_it():
    layer = LIF(surrogate=Surrogate("sigmoid", 4.0), backend="eager")
    x, w = sequences()
    own = input_grad(layer, x, w)
    with gradient_mode(layer, "surrogate"):
        assert torch.equal(input_grad(layer, x, w), own)
    with gradient_mode(layer, "surrogate", family="atan", alpha=2.0):
        expected = input_grad(LIF(surrogate=Surrogate("atan", 2.0), backend="reference"), x, w)
        torch.testing.assert_close(input_grad(layer, x, w), expected)


@pytest.mark.parametrize("backend", ["eager", "compiled"])
@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_detach_reset_differentiates_as_a_layer_that_detaches_its_reset(backend, reset):
    """The official ASSG code passes no gradient through the reset; ``detach_reset=True`` does the same on a
    layer that does not detach its own (the reference: autograd through the plain loop of such a layer)."""
    layer = LIF(reset=reset, backend=backend)
    detached = LIF(reset=reset, detach_reset=True, backend="reference")
    x, w = sequences()
    with gradient_mode(layer, "surrogate", detach_reset=True):
        torch.testing.assert_close(input_grad(layer, x, w), input_grad(detached, x, w), rtol=1e-5, atol=1e-6)
    with gradient_mode(layer, "surrogate"):  # by default the layer's own setting
        through = input_grad(layer, x, w)
    torch.testing.assert_close(through, input_grad(LIF(reset=reset, backend="reference"), x, w), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(through, input_grad(detached, x, w))  # the two differ on these inputs
    with gradient_mode(layer, "assg", detach_reset=True):  # ASSG: the same path, its own sharpness
        assg = input_grad(layer, x, w)
    with gradient_mode(detached, "assg"):
        torch.testing.assert_close(assg, input_grad(detached, x, w), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="assg detach_reset must be true or false, got 'yes'"):
        with gradient_mode(layer, "assg", detach_reset="yes"):
            pass


@pytest.mark.parametrize("backend", ["eager", "compiled"])
def test_assg_sharpness_follows_the_formula_over_two_iterations(backend):
    layer = LIF(backend=backend)
    dyn = Dynamics()
    (x1, w), (x2, _) = sequences(seed=1), sequences(seed=2)
    omega = inverse_vanishing_degree("atan", 0.87)
    a1 = (forward_loop(x1, dyn, None)[1] - 1.0).abs()
    a2 = (forward_loop(x2, dyn, None)[1] - 1.0).abs()
    m1 = 0.9 * 1.0 + 0.1 * a1
    d1 = 0.1 * (a1 - m1).abs()
    m2 = 0.9 * m1 + 0.1 * a2
    d2 = 0.9 * d1 + 0.1 * (a2 - m2).abs()
    with gradient_mode(layer, "assg") as mode:
        assg = mode.paths[0]
        g1 = input_grad(layer, x1, w)
        torch.testing.assert_close(assg.alpha, omega / (m1 + 1.5 * d1 + 1e-4))
        g2 = input_grad(layer, x2, w)
        expected_alpha = omega / (m2 + 1.5 * d2 + 1e-4)
        torch.testing.assert_close(assg.alpha, expected_alpha)
        reference = LIF(surrogate=Surrogate("atan", expected_alpha), backend="reference")
        torch.testing.assert_close(g2, input_grad(reference, x2, w), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(g1, input_grad(layer, x1, w))  # statistics moved on
        with mode.frozen():  # extra EoT samples leave the statistics alone
            before = assg.M.clone()
            layer(x1)
            assert torch.equal(assg.M, before)
        mode.reset()
        input_grad(layer, x1, w)
        torch.testing.assert_close(assg.M, m1)


def test_assg_on_psn_uses_the_potential_itself():
    layer = PSN(T=4)
    x, w = sequences()
    with gradient_mode(layer, "assg", A=0.9, gamma=1.0) as mode:
        input_grad(layer, x, w)
        h = layer.potential(x).detach().abs()
        m = 0.9 + 0.1 * h
        d = 0.1 * (h - m).abs()
        torch.testing.assert_close(mode.paths[0].alpha, inverse_vanishing_degree("atan", 0.9) / (m + d + 1e-4))


def test_bptr_passes_gradient_only_where_the_neuron_fired():
    layer = LIF(backend="eager")
    x, w = sequences()
    with gradient_mode(layer, "bptr"):
        g = input_grad(layer, x, w)
    fired = (layer(x).mean(0, keepdim=True) > 0).float()
    assert 0 < fired.mean() < 1
    torch.testing.assert_close(g, w * fired)
    psn = PSN(T=4)
    for mode in ("bptr", "rga", "hart"):  # refused on entry, before any forward pass
        assert "PSN has none" in inapplicable(mode, psn)
        with pytest.raises(ValueError, match=f"'{mode}' is defined through the membrane recurrence"):
            with gradient_mode(psn, mode):
                pass
    assert inapplicable("bptr", layer) is None and inapplicable("assg", psn) is None


def test_bad_modes_are_named():
    layer = LIF()
    with pytest.raises(ValueError, match="unknown gradient mode 'fgsm'"):
        with gradient_mode(layer, "fgsm"):
            pass
    with pytest.raises(ValueError, match="gradient mode 'assg' has no parameter\\(s\\) alpha"):
        with gradient_mode(layer, "assg", alpha=2.0):
            pass
    for A in (0.0, 1.0, -0.1):  # A = 0 would run with zero sharpness: every input gradient exactly 0
        with pytest.raises(ValueError, match=f"assg A must lie in \\(0, 1\\).*got {A}"):
            with gradient_mode(layer, "assg", A=A):
                pass
    with pytest.raises(ValueError, match="Linear has no snnbench spiking layer, so gradient mode 'assg' would "
                                         "change nothing"):
        with gradient_mode(nn.Linear(2, 2), "assg"):  # nothing to differentiate through spikes: said, not skipped
            pass
    with gradient_mode(nn.Linear(2, 2), "none") as handle:  # a network without spikes, said explicitly
        assert handle.paths == []
    with pytest.raises(ValueError, match="'none' is for networks without spikes; LIF has 1 spiking layer"):
        with gradient_mode(layer, "none"):
            pass


def test_rga_uses_the_rate_derivative_at_the_mean_input():
    from snnbench.neurons import IF

    x = torch.tensor([[-0.5, 0.4, 1.0, 3.0], [-0.1, 0.8, 2.6, 3.0]]).view(2, 1, 4)  # means: -0.3, 0.6, 1.8, 3.0
    w = torch.ones_like(x)
    layer = IF(backend="eager")
    with gradient_mode(layer, "rga"):
        g = input_grad(layer, x, w)
    torch.testing.assert_close(g, torch.tensor([0.0, 0.5, 0.5, 0.0]).expand(2, 1, 4))  # 1/(βθ) on (0, 2θ]
    lif = LIF(tau=2.0, backend="eager")  # leak form: λ = 1/2, gain c = 1/2, drive d = Ī/2
    x = torch.tensor([0.6, 1.2, 3.0, 5.0]).view(1, 1, 4).expand(3, 1, 4)  # drives 0.3, 0.6, 1.5, 2.5
    with gradient_mode(lif, "rga"):
        g = input_grad(lif, x, torch.ones_like(x))
    rising = (1 - 0.2 * 0.5) / (0.5 + 1.0)  # (1 − γθ(1−λ)) / ((λ + β − 1)θ)
    torch.testing.assert_close(g[0, 0], torch.tensor([0.5 * 0.2, 0.5 * rising, 0.5 * rising, 0.0]))


def test_hart_averages_the_detached_surrogate_gradient_over_time():
    layer = LIF(tau=2.0, surrogate=Surrogate("atan", 3.0), backend="eager")
    x, w = sequences()
    with gradient_mode(layer, "hart"):
        g = input_grad(layer, x, w)
    h = forward_loop(x, Dynamics(), None)[1]
    per_step = w * Surrogate("atan", 3.0).derivative(h - 1.0) * 0.5
    torch.testing.assert_close(g, per_step.mean(0, keepdim=True).expand_as(g))
    with gradient_mode(layer, "hart", alpha=8.0):
        assert not torch.allclose(input_grad(layer, x, w), g)


@pytest.mark.parametrize("backend", ["eager", "compiled"])
def test_pdsg_uses_a_per_channel_gaussian_centred_at_half_sigma(backend):
    layer = LIF(backend=backend)
    x, w = sequences(shape=(4, 3, 5, 2, 2))
    with gradient_mode(layer, "pdsg"):
        g = input_grad(layer, x, w)
    u = forward_loop(x, Dynamics(), None)[1] - 1.0
    sigma = torch.stack([u[:, :, c].std() for c in range(5)]).view(1, 1, 5, 1, 1)
    reference = LIF(surrogate=Surrogate("gaussian", 1.0 / sigma, center=sigma / 2), backend="reference")
    torch.testing.assert_close(g, input_grad(reference, x, w), atol=1e-5, rtol=1e-5)
    density = torch.exp(-((u - sigma / 2) ** 2) / (2 * sigma ** 2)) / (sigma * (2 * torch.pi) ** 0.5)
    torch.testing.assert_close(Surrogate("gaussian", 1.0 / sigma, center=sigma / 2).derivative(u), density)


def test_rga_is_not_applicable_to_a_reset_other_than_zero():
    shifted = LIF(v_reset=-0.5, backend="eager")
    assert inapplicable("rga", shifted) == ("gradient mode 'rga' models the firing rate of a neuron reset to 0; "
                                            "LIF resets to -0.5")
    assert inapplicable("rga", LIF(reset="soft")) is None and inapplicable("bptr", shifted) is None
    x = (torch.randn(4, 2, 6) + 0.8).requires_grad_(True)
    with gradient_mode(shifted, "assg"):
        (grad,) = torch.autograd.grad(shifted(x).sum(), x)
    assert grad.abs().sum() > 0
