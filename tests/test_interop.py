"""SpikingJelly models converted by snnbench.interop: the same spikes bit for bit, the same gradients through
the same surrogate, every weight kept, and nothing converted approximately."""
from __future__ import annotations

import copy
import re

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
    unknown = nn.Sequential(sj_neuron.MultiStepLIFNode(), sj_neuron.MultiStepEIFNode())  # no snnbench EIF neuron
    with pytest.raises(ConversionError, match="cannot convert 1 spiking module"):
        convert(unknown)


def test_a_refused_model_is_left_as_it_was_and_every_refusal_names_the_module():
    # A refusal found after the first node used to leave that node converted: a half-converted hybrid.
    model = nn.Sequential(nn.Linear(4, 4), sj_neuron.MultiStepLIFNode(surrogate_function=sj_surrogate.ATan()),
                          nn.Linear(4, 4), sj_neuron.MultiStepLIFNode(surrogate_function=sj_surrogate.SoftSign()))
    with pytest.raises(ConversionError, match="3: no snnbench surrogate family"):
        convert(model)
    assert type(model[1]) is sj_neuron.MultiStepLIFNode and hasattr(model[1], "surrogate_function")
    leftover = nn.Sequential(sj_neuron.MultiStepLIFNode(), sj_neuron.MultiStepEIFNode())
    with pytest.raises(ConversionError, match="cannot convert 1 spiking module"):
        convert(leftover)
    assert type(leftover[0]) is sj_neuron.MultiStepLIFNode
    per_neuron = nn.Sequential(nn.Linear(4, 5), sj_neuron.MultiStepLIFNode())
    per_neuron[1].v_threshold = torch.ones(5)  # SpikingJelly accepts a per-neuron threshold set after building
    with pytest.raises(ConversionError, match=r"1: MultiStepLIFNode.v_threshold is not one number"):
        convert(per_neuron)
    silent = nn.Sequential(nn.Linear(4, 5), sj_neuron.MultiStepLIFNode(v_threshold=float("inf")))
    with pytest.raises(ConversionError, match="v_threshold is inf: a neuron that never fires"):
        convert(silent)


def test_state_that_snnbench_would_not_reset_is_refused():
    # SpikingJelly modules that keep state between calls, and its encoders, are not spiking neurons but make
    # one image give other logits on every call (or draw from the global generator): refused, by name, by
    # convert() and by every gradient mode, where they used to pass.
    ab_layer = pytest.importorskip("spikingjelly.activation_based.layer")
    encoding = pytest.importorskip("spikingjelly.clock_driven.encoding")
    for stateful in (ab_layer.SynapseFilter(tau=5.0, step_mode="m"), encoding.PoissonEncoder()):
        model = nn.Sequential(nn.Linear(4, 4), sj_neuron.MultiStepLIFNode(), stateful)
        name = f"2 ({type(stateful).__module__}.{type(stateful).__qualname__})"
        with pytest.raises(ConversionError, match=re.escape(name)):
            convert(model)
        assert [path for path, _ in foreign_spiking_modules(model)] == ["1", "2"]
    ab_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    with pytest.raises(ConversionError, match=r"0: LIFNode\(store_v_seq=True\) is read through its v_seq"):
        convert(nn.Sequential(ab_neuron.LIFNode(step_mode="m", store_v_seq=True)))
    lynxi = pytest.importorskip("spikingjelly.activation_based.lynxi_exchange")
    with pytest.raises(ConversionError, match=r"cannot convert 1 spiking module\(s\): 0 \(spikingjelly"
                                              r"\.activation_based\.lynxi_exchange\.LIFNode\)"):
        convert(nn.Sequential(lynxi.LIFNode(step_mode="m", T=2)))  # a namesake, another neuron model


class _PerStep(nn.Module):
    """Feeds a multi-step node one step at a time, relying on SpikingJelly keeping its potential in between."""

    def __init__(self, chunk: int):
        super().__init__()
        self.chunk = chunk
        self.fc = nn.Linear(16, 3)
        self.lif = sj_neuron.MultiStepLIFNode(surrogate_function=sj_surrogate.ATan())

    def forward(self, x_seq):
        x_seq = self.fc(x_seq.flatten(2))
        return torch.cat([self.lif(x_seq[t:t + self.chunk]) for t in range(0, len(x_seq), self.chunk)])


@pytest.mark.parametrize("chunk", [1, 2])
def test_a_node_fed_a_chunk_at_a_time_is_refused_where_it_would_differ(chunk):
    # SpikingJelly's node keeps v between calls, the converted one starts each call from fresh state: the
    # same weights gave 27 spikes against 21. The classifier refuses any call with other than T steps.
    original = _PerStep(chunk)
    model = classifier(convert(copy.deepcopy(original), backend="eager"), T=4, num_classes=3, mean=(0.0,),
                       std=(1.0,))
    with pytest.raises(ConversionError, match=f"lif \\(LIFFromMultiStepLIFNode\\) received {chunk} time step"):
        model(torch.rand(2, 1, 4, 4))
    whole = _PerStep(4)
    assert classifier(convert(whole, backend="eager"), T=4, num_classes=3, mean=(0.0,), std=(1.0,))(
        torch.rand(2, 1, 4, 4)).shape == (2, 3)


def test_spikingjellys_attributes_on_a_converted_node_read_what_it_runs_and_refuse_a_change():
    # The converted node runs snnbench's dynamics: v_threshold = 0.25 on it used to change nothing, silently.
    ab_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    for node in (sj_neuron.MultiStepLIFNode(tau=3.0, v_threshold=0.5),  # 0.0.0.0.14 keeps v_threshold as memory
                 ab_neuron.LIFNode(tau=3.0, v_threshold=0.5, step_mode="m"),
                 sj_neuron.MultiStepIFNode(v_threshold=0.5, v_reset=None)):
        converted = convert(nn.Sequential(node), backend="eager")
        sj_functional.reset_net(converted)  # SpikingJelly's reset of its memories still works
        layer = converted[0]
        assert (layer.v_threshold, layer.dynamics.threshold) == (0.5, 0.5)
        assert layer.v_reset == (None if layer.dynamics.soft_reset else 0.0)
        for name in ("v_threshold", "v_reset", "detach_reset"):
            with pytest.raises(ConversionError, match=f"{type(layer).__name__}.{name} is fixed at conversion"):
                setattr(layer, name, 0.25)
        assert layer.dynamics.threshold == 0.5


def test_spikingjellys_multi_step_dropout_becomes_the_same_dropout_and_a_single_step_one_is_refused():
    # Common in SpikingJelly's CIFAR nets; it keeps its mask as state, so conversion refused it as a "spiking
    # module" without saying why. It is the identity in eval() and draws one mask per sequence in train().
    ab_layer = pytest.importorskip("spikingjelly.activation_based.layer")
    from snnbench.layers import SequenceDropout

    x = torch.rand(4, 3, 2, 5, 5)
    for dropout, channel_wise in ((sj_layer.MultiStepDropout(0.4), False), (sj_layer.MultiStepDropout2d(0.4), True),
                                  (ab_layer.Dropout(0.4, step_mode="m"), False),
                                  (ab_layer.Dropout2d(0.4, step_mode="m"), True)):
        original = nn.Sequential(dropout, sj_neuron.MultiStepLIFNode())
        converted = convert(copy.deepcopy(original), backend="eager")
        assert isinstance(converted[0], SequenceDropout) and converted[0].channel_wise == channel_wise
        assert foreign_spiking_modules(converted) == []
        for train in (True, False):
            sj_functional.reset_net(original)
            original.train(train), converted.train(train)
            torch.manual_seed(3)
            expected = original[0](x)
            torch.manual_seed(3)
            assert torch.equal(converted[0](x), expected), (type(dropout).__name__, train)  # the same mask
        assert torch.equal(converted[0](x), x)  # eval(): the identity
    for single in (sj_layer.Dropout(0.4), ab_layer.Dropout2d(0.4)):  # a mask per call, kept across steps
        with pytest.raises(ConversionError, match=f"0: {type(single).__name__} runs one time step per call"):
            convert(nn.Sequential(single, sj_neuron.MultiStepLIFNode()))


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


# ---- snnTorch ---------------------------------------------------------------------------------------------


def snntorch_net(snn, surrogate, **leaky):
    class Net(nn.Module):  # snnTorch's usual style: a Python loop over steps, state passed by hand
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.lif1 = snn.Leaky(spike_grad=surrogate, **leaky)
            self.fc = nn.Linear(4 * 14 * 14, 10)
            self.lif2 = snn.Leaky(spike_grad=surrogate, **leaky)

        def forward(self, x):
            mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
            spk_rec, mem_rec = [], []
            for _ in range(4):
                spk1, mem1 = self.lif1(nn.functional.avg_pool2d(self.conv(x), 2), mem1)
                spk2, mem2 = self.lif2(self.fc(spk1.flatten(1)), mem2)
                spk_rec.append(spk2)
                mem_rec.append(mem2)
            return torch.stack(spk_rec), torch.stack(mem_rec)

    return Net()


@pytest.mark.parametrize("leaky, grad", [
    (dict(beta=0.9), ("atan", 2.0)),
    (dict(beta=0.5, threshold=0.6, reset_mechanism="zero"), ("atan", 3.0)),
    (dict(beta=0.8, reset_mechanism="none", graded_spikes_factor=2.5), ("sigmoid", 5.0)),
    (dict(beta=torch.linspace(0.3, 0.95, 10), threshold=0.8, learn_beta=True), ("sigmoid", 5.0)),
], ids=["subtract", "zero", "none-graded", "per-neuron-beta"])
def test_snntorch_leaky_converts_exactly(leaky, grad):
    snn = pytest.importorskip("snntorch")
    from snntorch import surrogate

    torch.manual_seed(0)
    spike_grad = surrogate.atan(alpha=grad[1]) if grad[0] == "atan" else surrogate.sigmoid(slope=grad[1])
    if isinstance(leaky.get("beta"), torch.Tensor):
        original = snntorch_net(snn, spike_grad, **leaky)
        original.lif1 = snn.Leaky(spike_grad=spike_grad, beta=0.7)  # the conv layer's neurons: one beta
    else:
        original = snntorch_net(snn, spike_grad, **leaky)
    converted = convert(copy.deepcopy(original))
    assert foreign_spiking_modules(converted) == []
    assert [type(m).__name__ for m in spiking_layers(converted)] == ["SteppedLeakyFromLeaky"] * 2
    x = (torch.rand(3, 1, 28, 28) * 3).requires_grad_(True)
    spk_ref, mem_ref = original(x)
    (g_ref,) = torch.autograd.grad(mem_ref.sum() + spk_ref.sum(), x)
    spk, mem = converted(x)
    (g,) = torch.autograd.grad(mem.sum() + spk.sum(), x)
    assert 0 < spk_ref.sum() < spk_ref.numel()
    assert torch.equal(spk, spk_ref) and torch.equal(mem, mem_ref)
    torch.testing.assert_close(g, g_ref, atol=1e-5 * max(g_ref.abs().max().item(), 1.0), rtol=1e-5)
    assert original.state_dict().keys() == converted.state_dict().keys()


def test_a_converted_snntorch_model_runs_the_step_local_modes_and_names_the_others():
    snn = pytest.importorskip("snntorch")
    from snnbench.attacks import APGD, GradientSpec

    for backend, words in (("compiled", "snnTorch's Leaky runs step by step in eager PyTorch; backend 'compiled'"),
                           ("bogus", "bogus")):  # asked of it, never silently ignored
        with pytest.raises((ConversionError, ValueError), match=words):
            convert(snntorch_net(snn, None, beta=0.9), backend=backend)

    torch.manual_seed(0)
    model = classifier(convert(snntorch_net(snn, None, beta=0.9)), T=4, num_classes=10, mean=(0.1307,),
                       std=(0.3081,), readout=lambda out: out[1].mean(0))
    from snnbench import set_backend

    with pytest.raises(ValueError, match="SteppedLeakyFromLeaky runs step by step in eager PyTorch .*backend "
                                         "'compiled' does not apply"):
        set_backend(model, "compiled")  # was accepted and ignored
    set_backend(model, "eager")
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    for mode in ("surrogate", "assg"):
        run = APGD(eps=0.1, steps=3, gradient=GradientSpec(mode)).run(model, x, y)
        assert (run.gradient_mode, run.layers) == (mode, 2)
    for mode in ("bptr", "rga", "hart", "pdsg"):  # they all gave the same number before, silently
        with pytest.raises(ValueError, match=f"gradient mode '{mode}' needs a layer's whole time series in one "
                                             f"call; SteppedLeakyFromLeaky runs one step per call"):
            APGD(eps=0.1, steps=3, gradient=GradientSpec(mode))(model, x, y)
    # ASSG on a step-wise layer adapts per step: its statistics hold one entry per time step.
    with gradient_mode(model, "assg") as mode:
        model(x).sum().backward()
        assert sorted(mode.paths[0].steps) == [0, 1, 2, 3]
    # T is recorded in every result: a network that loops 4 times wrapped with T = 25 is refused at its call.
    wrong = classifier(convert(snntorch_net(snn, None, beta=0.9)), T=25, num_classes=10, mean=(0.0,), std=(1.0,),
                       readout=lambda out: out[1].mean(0))
    with pytest.raises(ValueError, match="step-wise layers ran 4 step\\(s\\) in one call, but classifier\\(\\) was "
                                         "given T = 25"):
        wrong(x)
    result = evaluate(model, tiny_benchmark(version=1), name="converted-snntorch", n_examples=8, batch_size=8)
    skipped = {a.name for a in result.attacks if a.not_applicable}
    assert skipped == {"apgd-ce-bptr", "apgd-ce-rga", "apgd-ce-hart"} and not result.official


def test_snntorchs_own_reset_begins_a_sequence_for_assg():
    """``snntorch.utils.reset`` assigns zeros to ``mem`` without ``reset_mem``: the step count must restart
    anyway, or ASSG's per-step statistics start afresh at every forward (a fixed surrogate under ASSG's name)."""
    snn = pytest.importorskip("snntorch")
    from snntorch import utils

    class HiddenNet(nn.Module):  # snnTorch's other style: init_hidden, reset by utils.reset at each forward
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.lif1 = snn.Leaky(beta=0.9, init_hidden=True)
            self.fc = nn.Linear(4 * 14 * 14, 10)
            self.lif2 = snn.Leaky(beta=0.9, init_hidden=True, output=True)

        def forward(self, x):
            utils.reset(self)
            mem = []
            for _ in range(4):
                _, m = self.lif2(self.fc(self.lif1(nn.functional.avg_pool2d(self.conv(x), 2)).flatten(1)))
                mem.append(m)
            return torch.stack(mem).mean(0)

    torch.manual_seed(0)
    net = convert(HiddenNet())
    x = torch.rand(3, 1, 28, 28) * 3
    first = net(x)
    assert torch.equal(net(x), first)  # utils.reset zeroed the potentials: the same logits again
    grads = []
    with gradient_mode(net, "assg") as mode:
        for _ in range(3):
            xi = x.clone().requires_grad_(True)
            net(xi).sum().backward()
            grads.append(xi.grad)
        assert [sorted(path.steps) for path in mode.paths] == [[0, 1, 2, 3]] * 2
    # The same three forwards through snnbench's own loop (reset_mem at each call) give the same gradients.
    looped = classifier(net, T=4, num_classes=10, mean=(0.0,), std=(1.0,), readout=lambda out: out)
    with gradient_mode(looped, "assg"):
        for g in grads:
            xi = x.clone().requires_grad_(True)
            looped(xi).sum().backward()
            torch.testing.assert_close(xi.grad, g, rtol=0, atol=0)
    # Passing back the potential a call returned continues the sequence; a fresh tensor begins one.
    lif = convert(nn.Sequential(snn.Leaky(beta=0.9)))[0]
    mem = lif.init_leaky()
    for _ in range(3):
        _, mem = lif(torch.ones(2, 5), mem)
    assert lif.step_index == 3
    lif(torch.ones(2, 5), torch.zeros(2, 5))
    assert lif.step_index == 1


def test_snntorch_features_that_cannot_be_converted_exactly_are_named():
    snn = pytest.importorskip("snntorch")
    from snntorch import surrogate

    cases = [(snn.Leaky(beta=0.9, reset_delay=False), "reset_delay=False"),
             (snn.Leaky(beta=0.9, spike_grad=surrogate.fast_sigmoid()), "spike_grad fast_sigmoid"),
             (snn.Leaky(beta=0.9, inhibition=True), "inhibition"),
             (snn.Synaptic(alpha=0.9, beta=0.8), "cannot convert 1 spiking module")]
    # A reset-to-zero checkpoint loaded into a Leaky built to subtract: snnTorch keeps subtracting (its update
    # is bound at build), the converted layer followed the loaded buffer; membranes differed by up to 0.86.
    loaded = snn.Leaky(beta=0.9, reset_mechanism="subtract")
    loaded.load_state_dict(snn.Leaky(beta=0.9, reset_mechanism="zero").state_dict())
    cases.append((loaded, "reset_mechanism_val says 'zero' but its forward resets by 'subtract'"))
    for module, words in cases:
        with pytest.raises(ConversionError, match=words):
            convert(nn.Sequential(nn.Linear(3, 3), module))


# ---- bring your own SNN: a card whose model SpikingJelly's own code builds -----------------------------------


def test_bring_your_own_snn_from_spikingjelly_end_to_end(tmp_path):
    from snnbench import load_model
    from snnbench.validation import validate_card
    from tiny_zoo import register_tiny_model

    architecture = {"name": "spikingjelly.sew_resnet18", "T": 2, "options": {"cnf": "ADD"},
                    "neuron": {"kind": "lif", "params": {"tau": 2.0, "reset": "soft", "detach_reset": True}}}
    card, _ = register_tiny_model(tmp_path, "sj-sew-resnet18", dataset="cifar10",
                                  benchmarks=["cifar10-linf-1000"], architecture=architecture)
    report = validate_card(card, backend="eager")
    assert report.ok, report.problems
    model = load_model("sj-sew-resnet18", zoo=tmp_path, backend="eager")
    assert len(model.spiking_layers()) == 20 and foreign_spiking_modules(model) == []
    result = evaluate(model, tiny_benchmark(name="cifar10-linf-1000"), n_examples=4, batch_size=4, zoo=tmp_path)
    assert result.model == "sj-sew-resnet18" and result.model_summary.architecture == "spikingjelly.sew_resnet18"
    assert all(a.gradient_layers == 20 for a in result.attacks if a.attacked and a.gradient_mode)
    x, y = torch.rand(2, 3, 32, 32), torch.tensor([0, 1])
    assert SAPGD(eps=8 / 255, steps=2).run(model, x, y).layers == 20


def test_a_card_naming_a_library_builder_is_checked_like_any_other(tmp_path):
    from snnbench.cards import ModelCard
    from snnbench.records import RecordError, parse_record
    from tiny_zoo import card_data

    def problems(**architecture):
        data = card_data("x", dataset="cifar10", benchmarks=["cifar10-linf-1000"], architecture={
            "name": "spikingjelly.sew_resnet18", "T": 2, "neuron": {"kind": "lif"}, **architecture})
        with pytest.raises(RecordError) as caught:
            parse_record(ModelCard, data, "card")
        return " ".join(caught.value.problems)

    assert "sew_resnet18 has no option(s) depth; it accepts cnf" in problems(options={"depth": 3, "cnf": "ADD"})
    # SpikingJelly builds a SEW ResNet with any cnf and fails at the first forward pass with an empty error
    assert "spikingjelly.sew_resnet18 needs cnf, one of ADD, AND, IAND" in problems()
    assert "spikingjelly.sew_resnet18's cnf must be one of ADD, AND, IAND, got 'add'" in problems(
        options={"cnf": "add"})
    assert "takes neurons of kind lif, if, plif, not 'psn'" in problems(neuron={"kind": "psn"})
    assert "built by a library: spikingjelly.sew_resnet18" in problems(name="spikingjelly.resnet1000")
