"""snnbench's LIF, IF and parametric LIF against SpikingJelly 0.0.0.0.14 across the parameter space.

Spikes must agree bit for bit and input gradients through the same surrogate to 1e-5, not only at the
defaults: τ that are not powers of two, thresholds other than 1, hard resets to values other than 0, soft
resets, with and without input decay and a detached reset.
"""
from __future__ import annotations

import itertools

import pytest
import torch

from snnbench.neurons import IF, LIF, ParametricLIF
from snnbench.surrogates import Surrogate
from test_neurons import _input_and_gradient, _spikes_and_grad

neuron = pytest.importorskip("spikingjelly.clock_driven.neuron")
surrogate = pytest.importorskip("spikingjelly.clock_driven.surrogate")
functional = pytest.importorskip("spikingjelly.clock_driven.functional")

RESETS = [None, 0.0, -0.4, 0.3]  # SpikingJelly's v_reset: None is a soft reset
GRID = list(itertools.product([2.0, 3.0, 1.7], [1.0, 0.6], RESETS, [True, False], [False, True]))


def drive(seed: int):
    return _input_and_gradient(shape=(6, 3, 40), dtype=torch.float32, seed=seed)


def ours_kwargs(threshold, v_reset, detach):
    return dict(threshold=threshold, reset="soft" if v_reset is None else "hard",
                v_reset=0.0 if v_reset is None else v_reset, detach_reset=detach, surrogate=Surrogate("atan", 2.0))


def theirs_kwargs(threshold, v_reset, detach):
    return dict(v_threshold=threshold, v_reset=v_reset, surrogate_function=surrogate.ATan(alpha=2.0),
                detach_reset=detach)


def compare(ours, theirs, seed, label):
    x, w = drive(seed)
    functional.reset_net(theirs)
    s_ref, g_ref = _spikes_and_grad(theirs.train(), x, w)  # its eval() drops surrogate gradients
    s, g = _spikes_and_grad(ours.eval(), x, w)
    assert s_ref.sum() > 0 and s_ref.sum() < s_ref.numel(), label  # the drive makes some, not all, fire
    assert torch.equal(s, s_ref), label
    torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=0, msg=lambda m: f"{label}: {m}")


@pytest.mark.parametrize("backend", ["eager", "reference"])
def test_lif_matches_multistep_lifnode(backend):
    for i, (tau, threshold, v_reset, decay, detach) in enumerate(GRID):
        label = dict(tau=tau, threshold=threshold, v_reset=v_reset, decay_input=decay, detach=detach)
        ours = LIF(tau=tau, decay_input=decay, backend=backend, **ours_kwargs(threshold, v_reset, detach))
        theirs = neuron.MultiStepLIFNode(tau=tau, decay_input=decay, **theirs_kwargs(threshold, v_reset, detach))
        compare(ours, theirs, i, label)


@pytest.mark.parametrize("backend", ["eager", "reference"])
def test_if_matches_multistep_ifnode(backend):
    for i, (threshold, v_reset, detach) in enumerate(itertools.product([1.0, 0.6], RESETS, [False, True])):
        ours = IF(backend=backend, **ours_kwargs(threshold, v_reset, detach))
        theirs = neuron.MultiStepIFNode(**theirs_kwargs(threshold, v_reset, detach))
        compare(ours, theirs, 100 + i, dict(threshold=threshold, v_reset=v_reset, detach=detach))


@pytest.mark.parametrize("backend", ["eager", "reference"])
def test_parametric_lif_matches_multistep_parametric_lifnode(backend):
    for i, (init_tau, threshold, v_reset, decay, detach) in enumerate(GRID):
        label = dict(init_tau=init_tau, threshold=threshold, v_reset=v_reset, decay_input=decay, detach=detach)
        ours = ParametricLIF(init_tau=init_tau, decay_input=decay, backend=backend,
                             **ours_kwargs(threshold, v_reset, detach))
        theirs = neuron.MultiStepParametricLIFNode(init_tau=init_tau, decay_input=decay,
                                                   **theirs_kwargs(threshold, v_reset, detach))
        with torch.no_grad():  # a learnt w, not only the initial one
            theirs.w.add_(0.15 * (i % 5 - 2))
        ours.load_state_dict({"w": theirs.w.detach().clone()})
        ours.w.requires_grad_(False)
        compare(ours, theirs, 200 + i, label)


@pytest.mark.parametrize("case", [
    dict(tau=3.0, threshold=0.6, v_reset=-0.4, decay=False, detach=False),
    dict(tau=1.7, threshold=1.0, v_reset=None, decay=True, detach=True),
])
def test_compiled_kernels_agree_bit_for_bit_too(case):
    ours = LIF(tau=case["tau"], decay_input=case["decay"], backend="compiled",
               **ours_kwargs(case["threshold"], case["v_reset"], case["detach"]))
    theirs = neuron.MultiStepLIFNode(tau=case["tau"], decay_input=case["decay"],
                                     **theirs_kwargs(case["threshold"], case["v_reset"], case["detach"]))
    compare(ours, theirs, 300, case)


def test_parametric_lif_refuses_to_train_a_w_it_cannot_learn():
    layer = ParametricLIF(backend="eager").train()
    with pytest.raises(RuntimeError, match="freeze it"):
        layer(torch.rand(2, 1, 3))
    layer.w.requires_grad_(False)
    assert layer(torch.rand(2, 1, 3)).shape == (2, 1, 3)


def test_a_soft_reset_takes_no_reset_value():
    with pytest.raises(ValueError, match="v_reset=0.2 applies to a hard reset"):
        LIF(reset="soft", v_reset=0.2)
    with pytest.raises(ValueError, match="v_reset must lie below the threshold 1.0"):
        LIF(v_reset=1.5)
