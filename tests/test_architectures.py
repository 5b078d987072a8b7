import pytest
import torch
from torch import nn

from snnbench import create_model, list_architectures
from snnbench.architectures.vgg import VGG11_STAGES
from snnbench.neurons import PSN, spiking_layers

EAGER = {"backend": "eager"}
MNIST = dict(in_channels=1, image_size=28)
CIFAR = dict(in_channels=3, image_size=32)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(i, o, k, bias=False):
    return i * o * k * k + (o if bias else 0)


def bn(c):
    return 2 * c


def linear(i, o):
    return i * o + o


def test_registry_lists_the_four_architectures():
    assert list_architectures() == ["convnet", "sew_resnet19", "vgg11", "wrn16"]
    with pytest.raises(ValueError, match="unknown architecture 'resnet50'; choose one of convnet"):
        create_model("resnet50")
    with pytest.raises(ValueError, match="architecture 'convnet' has no option\\(s\\) depth"):
        create_model("convnet", depth=3)


# Counts pinned for 10 classes; the formulas beside them say where each number comes from.
def expected_convnet(c_in, size):
    return conv(c_in, 32, 3) + bn(32) + conv(32, 64, 3) + bn(64) + linear(64 * (size // 4) ** 2, 10)


def expected_vgg11(c_in, size, width=64, hidden=4096):
    total, prev = 0, c_in
    for stage in VGG11_STAGES:
        for multiple in stage:
            total += conv(prev, multiple * width, 3, bias=True) + bn(multiple * width)
            prev = multiple * width
    flat = 8 * width * (size // 8) ** 2
    if hidden == 0:
        return total + linear(flat, 10)
    return total + linear(flat, hidden) + linear(hidden, hidden) + linear(hidden, 10)


def expected_sew_resnet19(c_in):
    total = conv(c_in, 64, 3) + bn(64)
    prev = 64
    for width in (128, 256, 512):
        for block in range(3):
            total += conv(prev, width, 3) + bn(width) + conv(width, width, 3) + bn(width)
            if block == 0:
                total += conv(prev, width, 1) + bn(width)
            prev = width
    return total + linear(512, 10)


def expected_wrn16(c_in):
    total, prev = conv(c_in, 16, 3), 16
    for width in (64, 128, 256):
        for block in range(2):
            total += bn(prev) + conv(prev, width, 3) + bn(width) + conv(width, width, 3) + 2  # 2: convex weights
            if block == 0:
                total += conv(prev, width, 1)
            prev = width
    return total + bn(256) + linear(256, 10)


@pytest.mark.parametrize("name,data,count,formula", [
    ("convnet", MNIST, 50_282, expected_convnet(1, 28)),
    ("convnet", CIFAR, 60_458, expected_convnet(3, 32)),
    ("vgg11", CIFAR, 61_377_034, expected_vgg11(3, 32)),
    ("vgg11", MNIST, 46_695_818, expected_vgg11(1, 28)),
    ("vgg11", dict(CIFAR, width=16, hidden=256), 1_282_186, expected_vgg11(3, 32, 16, 256)),
    ("vgg11", dict(CIFAR, width=16, hidden=0), 709_770, expected_vgg11(3, 32, 16, 0)),
    ("sew_resnet19", CIFAR, 17_222_730, expected_sew_resnet19(3)),
    ("sew_resnet19", MNIST, 17_221_578, expected_sew_resnet19(1)),
    ("wrn16", CIFAR, 2_748_902, expected_wrn16(3)),
    ("wrn16", MNIST, 2_748_614, expected_wrn16(1)),
])
def test_parameter_counts(name, data, count, formula):
    model = create_model(name, neuron=EAGER, **data)
    assert VGG11_STAGES == ((1,), (2, 4), (8, 8, 8), (8, 8))  # the literature's 64-128-256-512 at width 64
    assert count == formula
    assert n_params(model) == count


@pytest.mark.parametrize("name", ["convnet", "vgg11", "sew_resnet19", "wrn16"])
@pytest.mark.parametrize("data,classes", [(MNIST, 10), (CIFAR, 100)], ids=["mnist", "cifar100"])
def test_output_shapes_and_eval_gradients(name, data, classes):
    model = create_model(name, neuron=EAGER, num_classes=classes, T=2, **data).eval()
    x = torch.rand(3, data["in_channels"], data["image_size"], data["image_size"], requires_grad=True)
    logits = model(x)
    assert logits.shape == (3, classes)
    logits[:, 0].sum().backward()
    assert x.grad.abs().sum() > 0  # surrogate gradients reach the input in eval() mode
    assert torch.equal(model(x), logits)  # fresh state: the same input gives the same logits


def test_psn_adds_its_time_mixing_parameters():
    lif = create_model("convnet", neuron=EAGER, T=4)
    psn = create_model("convnet", neuron={"kind": "psn", "backend": "eager"}, T=4)
    layers = spiking_layers(psn)
    assert len(layers) == 2 and all(isinstance(m, PSN) for m in layers)
    assert n_params(psn) - n_params(lif) == 2 * (4 * 4 + 1)


def test_sew_blocks_add_spikes():
    from snnbench.architectures.sew_resnet import SEWBasicBlock

    model = create_model("sew_resnet19", neuron=EAGER, T=2, **CIFAR).eval()
    blocks = [m for m in model.modules() if isinstance(m, SEWBasicBlock)]
    assert len(blocks) == 9
    x = (torch.rand(2, 2, 64, 8, 8) < 0.3).float()
    block = blocks[0]
    out = block(x)
    residual, shortcut = block.residual(x), block.shortcut(x)
    assert torch.equal(out, residual + shortcut)
    assert set(torch.unique(residual).tolist()) <= {0.0, 1.0} and set(torch.unique(shortcut).tolist()) <= {0.0, 1.0}


def test_wrn_blocks_merge_by_a_convex_combination():
    model = create_model("wrn16", neuron=EAGER, T=2, **CIFAR)
    merges = [m for m in model.modules() if type(m).__name__ == "ConvexCombination"]
    assert len(merges) == 6 and all(torch.equal(m.weight.data, torch.tensor([0.5, 0.5])) for m in merges)


def test_register_architecture_takes_its_configuration_as_data():
    from snnbench.architectures import ARCHITECTURES, architecture_info, register_architecture
    from snnbench.layers import Flatten, TimeDistributed

    def tiny(*, neuron, T, in_channels, num_classes, image_size, hidden=8):
        """A linear readout over one spiking layer."""
        return nn.Sequential(Flatten(), TimeDistributed(nn.Linear(in_channels * image_size ** 2, hidden)),
                             neuron.build(T), TimeDistributed(nn.Linear(hidden, num_classes)))

    try:
        register_architecture(datasets=("mnist",), name="tiny-test")(tiny)
        info = architecture_info("tiny-test")
        assert (info.datasets, info.options, info.summary) == (("mnist",), {"hidden": 8},
                                                               "A linear readout over one spiking layer.")
        model = create_model("tiny-test", neuron=EAGER, hidden=4)
        assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
        with pytest.raises(ValueError, match="architecture 'tiny-test' is registered already"):
            register_architecture(datasets=("mnist",), name="tiny-test")(tiny)
    finally:
        ARCHITECTURES.pop("tiny-test", None)
    with pytest.raises(TypeError, match="lacks in_channels, image_size"):
        register_architecture(datasets=("mnist",))(lambda *, neuron, T, num_classes: None)
    with pytest.raises(TypeError, match="options need defaults \\(configuration as data\\); depth has none"):
        register_architecture(datasets=("mnist",), name="x")(
            lambda *, neuron, T, in_channels, num_classes, image_size, depth: None)
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        register_architecture(datasets=("imagenet",), name="y")(tiny)
    assert "x" not in ARCHITECTURES and "y" not in ARCHITECTURES
