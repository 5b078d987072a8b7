import itertools

import pytest
import torch

from snnbench.neuron_loop import LoopRecord, compiled_kernels
from snnbench.neurons import IF, LIF, PSN, NeuronSpec, NoisyLIF, set_backend
from snnbench.randomness import CounterStream, counter_normal
from snnbench.surrogates import Surrogate

# The compiled backend runs the very functions the eager one runs; every distinct neuron configuration
# costs it a compilation (seconds), so it is checked against the reference on a few chosen configurations
# below rather than on every hand-computed sequence.
BACKENDS = ["reference", "eager"]


def run(layer, values):
    """Spikes of ``layer`` for a single neuron driven by ``values`` (one per step)."""
    x = torch.tensor(values, dtype=torch.float64).view(-1, 1, 1)
    return layer(x).view(-1).tolist()


@pytest.mark.parametrize("backend", BACKENDS)
class TestHandComputedDynamics:
    def test_lif_hard_reset(self, backend):
        # h: 0.75, 0.625, 1.2125 (fires, u → 0), 1.0 (= θ fires: the tie convention)
        assert run(LIF(tau=2.0, backend=backend), [1.5, 0.5, 1.8, 2.0]) == [0, 0, 1, 1]

    def test_lif_soft_reset(self, backend):
        # h: 0.9, 0.95, 1.475 (fires, u → 0.475), 0.4875, 0.84375
        assert run(LIF(tau=2.0, reset="soft", backend=backend), [1.8, 1.0, 2.0, 0.5, 1.2]) == [0, 0, 1, 0, 0]
        # 0.975 + (2.6 − 0.975)/2 = 1.7875 fires; soft reset keeps 0.7875, then 0.7875 + (1.3 − 0.7875)/2 ≈ 1.04 fires
        assert run(LIF(tau=2.0, reset="soft", backend=backend), [1.95, 2.6, 1.3]) == [0, 1, 1]
        assert run(LIF(tau=2.0, reset="hard", backend=backend), [1.95, 2.6, 1.3]) == [0, 1, 0]

    def test_lif_without_input_decay(self, backend):
        # u ← u/2 + x: 0.6, 0.9, 1.05 (fires), 0.6
        assert run(LIF(tau=2.0, decay_input=False, backend=backend), [0.6, 0.6, 0.6, 0.6]) == [0, 0, 1, 0]

    def test_lif_threshold_and_tau(self, backend):
        # τ = 4, θ = 0.5: h = 0.25, 0.4375, 0.578… (fires), 0.25
        assert run(LIF(tau=4.0, threshold=0.5, backend=backend), [1.0, 1.0, 1.0, 1.0]) == [0, 0, 1, 0]

    def test_if_hard_and_soft(self, backend):
        assert run(IF(backend=backend), [0.4, 0.4, 0.4, 0.4, 0.4]) == [0, 0, 1, 0, 0]
        # soft: 0.4, 0.8, 1.2 → 0.2, 0.6, 1.0 (fires)
        assert run(IF(reset="soft", backend=backend), [0.4, 0.4, 0.4, 0.4, 0.4]) == [0, 0, 1, 0, 1]

    def test_noisy_lif_adds_seeded_noise_to_the_potential(self, backend):
        sigma, seed = 0.5, 123
        layer = NoisyLIF(sigma=sigma, noise_at_eval=True, seed=seed, tau=2.0, backend=backend).eval()
        x = [0.9, 1.1, 0.7, 1.3, 1.0, 0.8]
        key = torch.tensor(CounterStream(seed).key(0))
        eps = counter_normal(torch.empty(6), key).double()
        u, expected = 0.0, []
        for t, x_t in enumerate(x):
            h = u + (x_t - u) / 2.0 + sigma * eps[t].item()
            expected.append(1.0 if h >= 1.0 else 0.0)
            u = 0.0 if h >= 1.0 else h
        assert run(layer, x) == expected
        layer.reseed(seed)
        assert run(layer, x) == expected


def test_noise_switches():
    x = torch.full((4, 64, 8), 0.9)
    quiet = LIF(tau=2.0, backend="eager")(x)
    layer = NoisyLIF(sigma=0.3, noise_at_eval=False, seed=1, backend="eager")
    assert not torch.equal(layer.train()(x), quiet)  # noise in training
    assert torch.equal(layer.eval()(x), quiet)  # off at evaluation
    assert not layer.stochastic
    layer.noise_at_eval = True
    assert layer.stochastic
    layer.reseed(1)
    first, second = layer(x), layer(x)
    assert not torch.equal(first, second)  # a fresh draw every call
    layer.reseed(1)
    assert torch.equal(layer(x), first)


CONFIGS = [
    dict(reset=reset, detach_reset=detach, decay_input=decay)
    for reset, detach, decay in itertools.product(["hard", "soft"], [False, True], [True, False])
]


def _input_and_gradient(shape=(5, 3, 17), dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=dtype) * 1.5 + 0.6
    w = torch.randn(shape, generator=gen, dtype=dtype)
    return x, w


def _spikes_and_grad(layer, x, w):
    x = x.clone().requires_grad_(True)
    s = layer(x)
    (g,) = torch.autograd.grad(s, x, grad_outputs=w)
    return s.detach(), g


FAMILIES = ("atan", "sigmoid", "triangle", "gaussian", "rectangular")


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_eager_matches_the_reference(config):
    x, w = _input_and_gradient()
    for family in FAMILIES:
        sur = Surrogate(family, 3.0)
        ref_s, ref_g = _spikes_and_grad(LIF(tau=2.0, surrogate=sur, backend="reference", **config), x, w)
        s, g = _spikes_and_grad(LIF(tau=2.0, surrogate=sur, backend="eager", **config), x, w)
        assert torch.equal(s, ref_s)
        assert ref_s.mean() > 0.05  # the test exercises firing and resets
        torch.testing.assert_close(g, ref_g, atol=1e-10, rtol=1e-9)


COMPILED_CONFIGS = [
    dict(tau=2.0, reset="hard", detach_reset=False, decay_input=True, surrogate=Surrogate("atan", 2.0)),
    dict(tau=3.0, reset="soft", detach_reset=True, decay_input=False, surrogate=Surrogate("sigmoid", 4.0)),
    dict(tau=2.0, threshold=0.5, reset="soft", detach_reset=False, surrogate=Surrogate("triangle", 1.0)),
]


@pytest.mark.parametrize("config", COMPILED_CONFIGS, ids=["default", "soft-detach-nodecay", "soft-theta0.5"])
def test_compiled_matches_the_reference(config):
    x, w = _input_and_gradient(dtype=torch.float32)
    ref_s, ref_g = _spikes_and_grad(LIF(backend="reference", **config), x, w)
    s, g = _spikes_and_grad(LIF(backend="compiled", **config), x, w)
    assert torch.equal(s, ref_s) and ref_s.mean() > 0.05
    torch.testing.assert_close(g, ref_g, atol=1e-5, rtol=1e-5)
    # other shapes reuse the compiled kernel and stay exact
    x2, w2 = _input_and_gradient(shape=(5, 2, 3, 7), dtype=torch.float32, seed=1)
    ref_s2, ref_g2 = _spikes_and_grad(LIF(backend="reference", **config), x2, w2)
    s2, g2 = _spikes_and_grad(LIF(backend="compiled", **config), x2, w2)
    assert torch.equal(s2, ref_s2)
    torch.testing.assert_close(g2, ref_g2, atol=1e-5, rtol=1e-5)


def _channels_last(t):
    """``[T, B, C, H, W]`` with every time step in NHWC memory order, as convolutions leave it."""
    return t.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)


@pytest.mark.parametrize("repeating", [False, True], ids=["dense", "repeating-over-time"])
def test_compiled_kernels_take_channels_last_input_and_keep_its_memory_order(repeating):
    x, w = _input_and_gradient(shape=(4, 3, 5, 6, 7), dtype=torch.float32, seed=2)
    if repeating:  # the hoisted first layer's input: one NHWC map repeated over time (stride 0)
        x = x[:1].expand_as(x)
    ref_s, ref_g = _spikes_and_grad(LIF(backend="reference"), x.contiguous(), w)
    x_last = _channels_last(x[:1]).expand_as(x) if repeating else _channels_last(x)
    for grad in (_channels_last(w), w):  # the gradient in the same order, or in another
        s, g = _spikes_and_grad(LIF(backend="compiled"), x_last, grad)
        assert torch.equal(s, ref_s) and ref_s.mean() > 0.05
        torch.testing.assert_close(g, ref_g, atol=1e-5, rtol=1e-5)
        assert s.stride() == _channels_last(x).stride() and g.stride() == s.stride()


@pytest.mark.parametrize("backend", ["eager", "compiled"])
def test_fast_paths_match_the_reference_for_if_noise_and_float32(backend):
    x, w = _input_and_gradient(dtype=torch.float32)
    for make in (lambda b: IF(backend=b), lambda b: NoisyLIF(sigma=0.2, seed=3, backend=b).train()):
        ref_s, ref_g = _spikes_and_grad(make("reference"), x, w)
        s, g = _spikes_and_grad(make(backend), x, w)
        assert torch.equal(s, ref_s)
        torch.testing.assert_close(g, ref_g, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", ["eager", "compiled"])
def test_per_element_sharpness(backend):
    x, w = _input_and_gradient(dtype=torch.float32)
    alpha = torch.rand(x.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype) * 4 + 0.5
    for a in (alpha, alpha[:1], alpha[0, 0]):  # full [T, ...], broadcast over time, a 0-d tensor
        ref = _spikes_and_grad(LIF(surrogate=Surrogate("atan", a), backend="reference"), x, w)[1]
        got = _spikes_and_grad(LIF(surrogate=Surrogate("atan", a), backend=backend), x, w)[1]
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_matches_spikingjelly_lifnode():
    sj = pytest.importorskip("spikingjelly.activation_based.neuron")
    from spikingjelly.activation_based import functional, surrogate

    x, w = _input_and_gradient(shape=(4, 8, 16, 6, 6), dtype=torch.float32, seed=7)
    for reset, detach, decay in itertools.product(["hard", "soft"], [False, True], [True, False]):
        default = (reset, detach, decay) == ("hard", False, True)
        ours = LIF(tau=2.0, reset=reset, detach_reset=detach, decay_input=decay, surrogate=Surrogate("atan", 2.0),
                   backend="compiled" if default else "eager")
        theirs = sj.LIFNode(tau=2.0, decay_input=decay, v_threshold=1.0, v_reset=0.0 if reset == "hard" else None,
                            surrogate_function=surrogate.ATan(alpha=2.0), detach_reset=detach, step_mode="m")
        functional.reset_net(theirs)
        # SpikingJelly's own eval() path drops surrogate gradients; compare in train(), where it keeps them.
        s_ref, g_ref = _spikes_and_grad(theirs.train(), x, w)
        s, g = _spikes_and_grad(ours.eval(), x, w)
        assert torch.equal(s, s_ref), (reset, detach, decay)
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=0)


def test_train_and_eval_behave_the_same():
    x, w = _input_and_gradient(dtype=torch.float32)
    layer = LIF()
    assert all(torch.equal(a, b) for a, b in zip(_spikes_and_grad(layer.train(), x, w),
                                                  _spikes_and_grad(layer.eval(), x, w)))


def test_fresh_state_every_call():
    x, _ = _input_and_gradient(dtype=torch.float32)
    layer = LIF()
    first = layer(x)
    layer(x * 3)
    assert torch.equal(layer(x), first)


def test_backward_path_is_swappable_and_spikes_do_not_change():
    x, w = _input_and_gradient(dtype=torch.float32)
    layer = LIF()
    spikes, grad = _spikes_and_grad(layer, x, w)
    seen = []

    def rate_like(grad_spikes, record: LoopRecord):
        seen.append(record)
        return grad_spikes * record.spikes.mean(0, keepdim=True)

    layer.backward_path = rate_like
    spikes2, grad2 = _spikes_and_grad(layer, x, w)
    assert torch.equal(spikes2, spikes)
    torch.testing.assert_close(grad2, w * spikes.mean(0, keepdim=True))
    assert torch.equal(seen[0].spikes, spikes) and seen[0].dynamics == layer.dynamics
    layer.backward_path = None
    assert torch.equal(_spikes_and_grad(layer, x, w)[1], grad)


def test_psn():
    layer = PSN(T=4)
    assert layer.weight.shape == (4, 4) and layer.bias.item() == -1.0
    x = torch.randn(4, 3, 5, requires_grad=True)
    s = layer(x)
    h = (layer.weight @ x.reshape(4, -1) + layer.bias).reshape(x.shape)
    assert s.shape == x.shape and torch.equal(s, (h >= 0).float())
    s.sum().backward()
    assert x.grad.abs().sum() > 0 and layer.weight.grad is not None and layer.bias.grad is not None
    ref = PSN(T=4, backend="reference")
    ref.load_state_dict(layer.state_dict())
    x2 = x.detach().requires_grad_(True)
    ref(x2).sum().backward()
    torch.testing.assert_close(x2.grad, x.grad)
    with pytest.raises(ValueError, match="built for T=4"):
        layer(torch.randn(3, 2, 5))
    maps = torch.randn(4, 2, 3, 5, 5)  # channels-last maps mix over time in their own memory order
    last = _channels_last(maps)
    h_last, h = layer.potential(last), layer.potential(maps)
    torch.testing.assert_close(h_last, h, rtol=1e-6, atol=1e-6)
    assert h_last.stride() == last.stride()


def test_compiled_backend_falls_back_to_eager_with_a_warning(monkeypatch):
    kernels = compiled_kernels()

    def broken(*args):
        raise OSError("no C++ compiler")

    monkeypatch.setattr(kernels, "_spikes", broken)
    monkeypatch.setattr(kernels, "unavailable", None)
    x, w = _input_and_gradient(dtype=torch.float32)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
        s, g = _spikes_and_grad(LIF(backend="compiled"), x, w)
    ref_s, ref_g = _spikes_and_grad(LIF(backend="reference"), x, w)
    assert torch.equal(s, ref_s)
    torch.testing.assert_close(g, ref_g, atol=1e-5, rtol=1e-5)
    assert kernels.unavailable.startswith("OSError")


def test_bad_configuration_is_named():
    with pytest.raises(ValueError, match="reset must be"):
        LIF(reset="zero")
    with pytest.raises(ValueError, match="tau must be >= 1"):
        LIF(tau=0.5)
    with pytest.raises(ValueError, match="unknown neuron backend 'cuda'"):
        LIF(backend="cuda")
    with pytest.raises(ValueError, match="neuron 'lif' has no parameter\\(s\\) beta"):
        NeuronSpec("lif", {"beta": 0.5})
    with pytest.raises(ValueError, match="expects \\[T, B, ...\\]"):
        LIF()(torch.randn(5))


def test_neuron_spec_builds_independent_layers():
    spec = NeuronSpec("noisy_lif", {"sigma": 0.2, "tau": 3.0}, surrogate="sigmoid", alpha=4.0, backend="eager")
    a, b = spec.build(4), spec.build(4)
    assert isinstance(a, NoisyLIF) and a.sigma == 0.2 and a.dynamics.tau == 3.0
    assert a.surrogate is not b.surrogate and a.surrogate.family == "sigmoid"
    assert isinstance(NeuronSpec("psn").build(6), PSN)
    model = torch.nn.Sequential(a, b)
    set_backend(model, "reference")
    assert a.backend == b.backend == "reference"


def test_eval_mode_keeps_gradients_where_spikingjelly_0_0_0_0_14_drops_them():
    sj = pytest.importorskip("spikingjelly.activation_based.neuron")
    x = torch.randn(4, 2, 8) * 2
    theirs = sj.LIFNode(step_mode="m").eval()
    assert not theirs(x.requires_grad_(True)).requires_grad  # the README's claim about SpikingJelly
    ours = LIF(backend="eager").eval()
    (grad,) = torch.autograd.grad(ours(x).sum(), x)
    assert grad.abs().sum() > 0
