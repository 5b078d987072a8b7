"""Nothing silent: spiking modules that snnbench does not control stop every gradient mode, by name."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from snnbench import LIF, gradient_mode
from snnbench.attacks import APGD, SAPGD, GradientSpec, Square
from snnbench.foreign import ForeignSpikingModules, NoSpikingLayers, foreign_spiking_modules
from snnbench.layers import TimeDistributed


class OwnSpikes(nn.Module):
    """A neuron of nobody's library: fires through a spike function of its own (a straight-through step)."""

    def __init__(self):
        super().__init__()
        self.spike_grad = lambda v: (v > 0).float() + v - v.detach()

    def forward(self, x):
        return self.spike_grad(x - 1.0)


class Readout(nn.Module):
    def __init__(self, neuron: nn.Module):
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), neuron)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.features(x))


X = torch.rand(4, 1, 4, 4)
Y = torch.tensor([0, 1, 2, 0])


def test_a_module_with_its_own_spike_function_is_named_and_refused():
    model = Readout(OwnSpikes())
    assert [path for path, _ in foreign_spiking_modules(model)] == ["features.2"]
    for mode in ("surrogate", "assg", "bptr", "none"):
        with pytest.raises(ForeignSpikingModules, match=f"gradient mode '{mode}' cannot reach 1 spiking module"
                                                        r"\(s\) that snnbench does not control: features.2 "
                                                        r"\(test_foreign.OwnSpikes\)"):
            with gradient_mode(model, mode):
                pass
    with pytest.raises(ForeignSpikingModules, match="features.2"):
        SAPGD(eps=0.1, steps=2)(model, X, Y)  # the reference attack never runs as something else
    assert Square(eps=0.1, queries=5)(model, X, Y).shape == X.shape  # gradient-free: nothing to differentiate


def test_a_model_mixing_snnbench_layers_with_foreign_ones_is_refused():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.ours = LIF(backend="eager")
            self.theirs = OwnSpikes()

        def forward(self, x):
            return self.theirs(self.ours(x.flatten(1).expand(2, -1, -1)).mean(0))

    with pytest.raises(ForeignSpikingModules, match="1 spiking module\\(s\\).*: theirs"):
        with gradient_mode(Mixed(), "assg"):
            pass


def test_a_network_without_spikes_needs_mode_none():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    with pytest.raises(NoSpikingLayers, match="Sequential has no snnbench spiking layer"):
        APGD(eps=0.1, steps=2)(model, X, Y)
    assert APGD(eps=0.1, steps=2, gradient=GradientSpec("none"))(model, X, Y).shape == X.shape


def test_spikingjelly_0_0_0_0_14_neurons_are_found_once_each():
    neuron = pytest.importorskip("spikingjelly.clock_driven.neuron")
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), neuron.MultiStepLIFNode(), nn.Linear(8, 8),
                          neuron.ParametricLIFNode(), nn.Linear(8, 3))
    found = foreign_spiking_modules(model)
    assert [path for path, _ in found] == ["2", "4"]  # not their surrogate_function submodules again
    with pytest.raises(ForeignSpikingModules, match=r"2 \(spikingjelly.clock_driven.neuron.MultiStepLIFNode\), "
                                                    r"4 \(spikingjelly.clock_driven.neuron.ParametricLIFNode\)"):
        with gradient_mode(model, "assg"):
            pass


def test_spikingjelly_surrogate_used_as_an_activation_is_found():
    surrogate = pytest.importorskip("spikingjelly.clock_driven.surrogate")
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3), surrogate.ATan())
    assert [path for path, _ in foreign_spiking_modules(model)] == ["2"]


def test_a_spike_function_of_another_library_called_by_a_module_of_the_models_own_is_refused_by_every_attack():
    # Papers' code often fires through SpikingJelly's autograd function in a hand-written neuron: no module shows
    # it, and ASSG ran on the one snnbench layer, reporting "assg on 1 layer(s)", with no word of the other.
    surrogate = pytest.importorskip("spikingjelly.clock_driven.surrogate")

    class HandWritten(nn.Module):
        def forward(self, x):
            return surrogate.atan.apply(x - 1.0, 2.0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.ours, self.fc2 = nn.Linear(16, 8), LIF(backend="eager"), nn.Linear(8, 3)
            self.theirs = HandWritten()

        def forward(self, x):
            h = self.ours(self.fc1(x.flatten(1)).expand(2, -1, -1)).mean(0)
            return self.fc2(self.theirs(h * 4.0))

    model = Net()
    assert foreign_spiking_modules(model) == []  # invisible as a module
    for attack in (APGD(eps=0.1, steps=2, gradient=GradientSpec("assg")), SAPGD(eps=0.1, steps=2)):
        with pytest.raises(ForeignSpikingModules, match="fires through spikingjelly.clock_driven.surrogate.atan, "
                                                        "which no gradient mode of snnbench reaches"):
            attack(model, X, Y)
    assert Square(eps=0.1, queries=2)(model, X, Y).shape == X.shape  # a gradient-free attack needs no mode


def test_snntorch_neurons_are_found():
    snn = pytest.importorskip("snntorch")

    class Net(nn.Module):  # snnTorch's usual per-step style
        def __init__(self):
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(16, 8), snn.Leaky(beta=0.9)
            self.fc2, self.lif2 = nn.Linear(8, 3), snn.Synaptic(alpha=0.8, beta=0.9)

        def forward(self, x):
            mem1, (syn2, mem2) = self.lif1.init_leaky(), self.lif2.init_synaptic()
            total = 0
            for _ in range(4):
                spk1, mem1 = self.lif1(self.fc1(x.flatten(1)), mem1)
                spk2, syn2, mem2 = self.lif2(self.fc2(spk1), syn2, mem2)
                total = total + mem2
            return total / 4

    model = Net()
    assert [(p, type(m).__name__) for p, m in foreign_spiking_modules(model)] == [("lif1", "Leaky"),
                                                                                 ("lif2", "Synaptic")]
    for mode in ("assg", "bptr", "rga", "hart", "pdsg"):  # all gave the same number before, silently
        with pytest.raises(ForeignSpikingModules, match="lif1 \\(snntorch._neurons.leaky.Leaky\\)"):
            APGD(eps=0.1, steps=2, gradient=GradientSpec(mode))(model, X, Y)


def test_snnbench_layers_are_never_foreign():
    model = nn.Sequential(TimeDistributed(nn.Linear(4, 4)), LIF(backend="eager"))
    assert foreign_spiking_modules(model) == []
