"""SpikingJelly models converted by snnbench.interop: the same spikes bit for bit, the same gradients through
the same surrogate, every weight kept, and nothing converted approximately."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from snnbench import evaluate, gradient_mode, spiking_layers
from snnbench.attacks import SAPGD
from snnbench.interop import ConversionError, classifier, convert
from snnbench.foreign import foreign_spiking_modules
from test_evaluation import tiny_benchmark

sj_neuron = pytest.importorskip("spikingjelly.clock_driven.neuron")
sj_surrogate = pytest.importorskip("spikingjelly.clock_driven.surrogate")
sj_functional = pytest.importorskip("spikingjelly.clock_driven.functional")
sj_layer = pytest.importorskip("spikingjelly.clock_driven.layer")


def logits_and_input_grad(model, x, w, nodes_train: bool):
    """Logits ``[T, N, K]`` and the input gradient of ``(logits * w).sum()``; BN on running statistics."""
    sj_functional.reset_net(model)
    model.eval()
    if nodes_train:  # SpikingJelly's multi-step nodes drop surrogate gradients in eval(); ours never do
        for m in model.modules():
            if isinstance(m, sj_neuron.BaseNode):
                m.train()
    x = x.clone().requires_grad_(True)
    out = model(x)
    (grad,) = torch.autograd.grad((out * w).sum(), x)
    return out.detach(), grad


def assert_same_model(original, converted, x, label):
    torch.manual_seed(1)
    with torch.no_grad():
        sj_functional.reset_net(original)
        w = torch.randn(original.eval()(x).shape)
    out_ref, g_ref = logits_and_input_grad(original, x, w, nodes_train=True)
    out, g = logits_and_input_grad(converted, x, w, nodes_train=False)
    assert torch.equal(out, out_ref), label  # equal logits: every spike of every layer agreed
    scale = g_ref.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(g, g_ref, atol=1e-5 * max(scale, 1.0), rtol=1e-5, msg=lambda m: f"{label}: {m}")
    assert original.state_dict().keys() == converted.state_dict().keys()  # every weight kept, nothing added
    assert all(torch.equal(a, b) for a, b in zip(original.state_dict().values(), converted.state_dict().values()))


def test_sew_resnet18_built_by_spikingjelly_converts_exactly():
    from spikingjelly.clock_driven.model.sew_resnet import multi_step_sew_resnet18

    torch.manual_seed(0)
    original = multi_step_sew_resnet18(T=3, cnf="ADD", multi_step_neuron=sj_neuron.MultiStepLIFNode, tau=1.7,
                                       v_reset=None, detach_reset=True,
                                       surrogate_function=sj_surrogate.ATan(alpha=3.0), num_classes=10)
    for m in original.modules():  # running statistics of a trained model, not the initial 0 and 1
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    converted = convert(copy.deepcopy(original), backend="eager")
    assert foreign_spiking_modules(converted) == [] and len(spiking_layers(converted)) == 20  # stem, 8 blocks × 2, 3 shortcuts
    x = torch.rand(3, 2, 3, 32, 32) * 4  # [T, N, C, H, W], as SpikingJelly's multi-step models take it
    assert_same_model(original, converted, x, "sew-resnet18")


def test_vgg_with_parametric_lif_and_erf_converts_exactly():
    from spikingjelly.clock_driven.model.spiking_vgg import MultiStepSpikingVGG

    torch.manual_seed(0)
    original = MultiStepSpikingVGG(cfg=[8, "M", 16, "M"], batch_norm=True, num_classes=10, T=3,
                                   multi_step_neuron=sj_neuron.MultiStepParametricLIFNode, init_tau=3.0,
                                   decay_input=False, v_reset=-0.3, surrogate_function=sj_surrogate.Erf(alpha=2.5))
    original.classifier = nn.Sequential(nn.Linear(16 * 7 * 7, 32), sj_neuron.MultiStepParametricLIFNode(
        init_tau=2.5, surrogate_function=sj_surrogate.Erf(alpha=2.5)), nn.Linear(32, 10))  # a smaller head
    with torch.no_grad():
        for i, m in enumerate(m for m in original.modules() if isinstance(m, sj_neuron.BaseNode)):
            m.w.add_(0.1 * i)  # learnt time constants, each its own
    converted = convert(copy.deepcopy(original), backend="eager")
    for layer in spiking_layers(converted):
        layer.w.requires_grad_(False)
    x = torch.rand(3, 2, 3, 16, 16) * 3
    assert_same_model(original, converted, x, "vgg-plif-erf")


def test_a_converted_network_is_attacked_through_assg_and_evaluated_unofficially():
    torch.manual_seed(0)
    body = nn.Sequential(sj_layer.SeqToANNContainer(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)),
                         sj_neuron.MultiStepLIFNode(tau=2.0, surrogate_function=sj_surrogate.Sigmoid(alpha=4.0)),
                         sj_layer.SeqToANNContainer(nn.AvgPool2d(4), nn.Flatten(), nn.Linear(4 * 7 * 7, 10)))
    model = classifier(convert(body, backend="eager"), T=2, num_classes=10, mean=(0.1307,), std=(0.3081,))
    assert model.training_surrogate == ("sigmoid", 4.0)
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    with gradient_mode(model, "assg") as mode:
        assert len(mode.paths) == 1
    run = SAPGD(eps=0.1, steps=2).run(model, x, y)
    assert (run.gradient_mode, run.layers) == ("assg", 1)
    result = evaluate(model, tiny_benchmark(), name="converted-sj", n_examples=8, batch_size=8)
    assert not result.official and result.model_summary.spiking_layers == 1
    assert all(a.gradient_layers == 1 for a in result.attacks if a.gradient_mode and a.attacked)


def test_what_cannot_be_converted_exactly_is_named():
    single = nn.Sequential(nn.Linear(4, 4), sj_neuron.LIFNode())
    with pytest.raises(ConversionError, match="1: LIFNode runs one time step per call"):
        convert(single)
    odd_surrogate = nn.Sequential(nn.Linear(4, 4), sj_neuron.MultiStepLIFNode(
        surrogate_function=sj_surrogate.SoftSign()))
    with pytest.raises(ConversionError, match="1: no snnbench surrogate family for "
                                              "spikingjelly.clock_driven.surrogate.SoftSign"):
        convert(odd_surrogate)
    primitive = nn.Sequential(sj_neuron.MultiStepLIFNode(surrogate_function=sj_surrogate.ATan(spiking=False)))
    with pytest.raises(ConversionError, match=r"ATan\(spiking=False\) fires its primitive function"):
        convert(primitive)
    unknown = nn.Sequential(sj_neuron.MultiStepLIFNode(), sj_neuron.MultiStepQIFNode()
                            if hasattr(sj_neuron, "MultiStepQIFNode") else sj_surrogate.ATan())
    with pytest.raises(ConversionError, match="cannot convert 1 spiking module"):
        convert(unknown)


def test_activation_based_multi_step_nodes_convert_too():
    ab_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    ab_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")
    ab_functional = pytest.importorskip("spikingjelly.activation_based.functional")
    torch.manual_seed(0)
    original = ab_neuron.LIFNode(tau=3.0, v_reset=0.1, decay_input=True,
                                 surrogate_function=ab_surrogate.ATan(alpha=2.0), step_mode="m")
    converted = convert(nn.Sequential(copy.deepcopy(original)), backend="eager")[0]
    x = (torch.randn(5, 3, 20) + 0.7).requires_grad_(True)
    ab_functional.reset_net(original)
    ref = original.train()(x)
    (g_ref,) = torch.autograd.grad(ref.sum(), x)
    out = converted.eval()(x)
    (g,) = torch.autograd.grad(out.sum(), x)
    assert torch.equal(out, ref)
    torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=0)
    with pytest.raises(ConversionError, match="step_mode 's'"):
        convert(nn.Sequential(ab_neuron.LIFNode(step_mode="s")))
