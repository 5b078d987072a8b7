import copy
import re

import pytest
import torch

from snnbench import SpikingClassifier, create_model
from snnbench.datasets import dataset_info


def mnist_model(**kwargs):
    info = dataset_info("mnist")
    kwargs.setdefault("neuron", {"backend": "eager"})
    return create_model("convnet", T=4, mean=info.mean, std=info.std, **kwargs).eval()


def test_contract_images_in_logits_out():
    model = mnist_model()
    assert isinstance(model, SpikingClassifier)
    assert model.T == 4 and not model.stochastic and model.training_surrogate == ("atan", 2.0)
    x = torch.rand(5, 1, 28, 28)
    assert model(x).shape == (5, 10)
    with pytest.raises(ValueError, match=r"expected images \[B, 1, H, W\]"):
        model(torch.rand(5, 28, 28))


def test_a_body_that_does_not_return_T_B_K_is_refused_at_its_first_call():
    from torch import nn

    from snnbench import LIF
    from snnbench.neurons import NeuronSpec

    class MeanInside(nn.Module):  # a SpikingJelly idiom: the body averages over time itself
        def __init__(self):
            super().__init__()
            self.fc, self.lif = nn.Linear(16, 3), LIF(backend="eager")

        def forward(self, x):
            return self.lif(self.fc(x.flatten(2))).mean(0)  # [B, K]: the classifier's mean was over the batch

    class BatchFirst(MeanInside):
        def forward(self, x):
            return self.lif(self.fc(x.flatten(2))).transpose(0, 1)  # [B, T, K]: logits [T, K] for any B

    for body, shape in ((MeanInside(), (2, 3)), (BatchFirst(), (2, 4, 3))):
        model = SpikingClassifier(body, T=4, num_classes=3, neuron=NeuronSpec("lif"))
        with pytest.raises(ValueError, match=re.escape(f"[T, B, K] = [4, 2, 3]; it returned {shape}")):
            model(torch.rand(2, 1, 4, 4))


def test_normalisation_encoding_and_readout_live_inside():
    model = mnist_model()
    x = torch.rand(4, 1, 28, 28)
    normalised = (x - 0.1307) / 0.3081
    by_hand = model.body(normalised.unsqueeze(0).repeat(4, 1, 1, 1, 1)).mean(0)
    torch.testing.assert_close(model(x), by_hand)
    assert {"mean", "std"} <= set(dict(model.named_buffers()))


def test_state_dict_round_trip_and_deepcopy():
    a, b = mnist_model(seed=1), mnist_model(seed=2)
    x = torch.rand(4, 1, 28, 28)
    assert not torch.equal(a(x), b(x))
    b.load_state_dict(a.state_dict(), strict=True)
    assert torch.equal(a(x), b(x))
    assert torch.equal(copy.deepcopy(a)(x), a(x))


def test_noise_at_evaluation_makes_the_model_stochastic_and_reseedable():
    model = mnist_model(neuron={"kind": "noisy_lif", "params": {"sigma": 0.3, "noise_at_eval": True},
                                "backend": "eager"})
    assert model.stochastic
    x = torch.rand(8, 1, 28, 28)
    model.reseed(5)
    first = model(x)
    assert not torch.equal(model(x), first)
    model.reseed(5)
    assert torch.equal(model(x), first)
    layers = model.spiking_layers()
    assert layers[0].stream.seed != layers[1].stream.seed  # layers draw independent noise


def test_poisson_encoding():
    model = create_model("convnet", encoding="poisson", neuron={"backend": "eager"}).eval()
    assert model.stochastic
    x = torch.rand(8, 1, 28, 28, requires_grad=True)
    model.reseed(0)
    out = model(x)
    out.sum().backward()
    assert x.grad.abs().sum() > 0  # straight-through gradient
    model.reseed(0)
    assert torch.equal(model(x), out)
    with pytest.raises(ValueError, match="Poisson encoding"):
        create_model("convnet", encoding="poisson", mean=(0.5,), std=(0.5,))
    with pytest.raises(ValueError, match="unknown encoding 'rate'"):
        create_model("convnet", encoding="rate")


def test_poisson_rates_match_intensities():
    from snnbench.encoding import PoissonEncoding

    enc = PoissonEncoding(T=400, seed=0)
    x = torch.tensor([[0.0, 0.25, 0.5, 1.0]])
    rates = enc(x).mean(0)
    torch.testing.assert_close(rates, x, atol=0.06, rtol=0)
    assert rates[0, 0] == 0 and rates[0, 3] == 1


ARCHITECTURE_CASES = [
    ("convnet", dict(in_channels=1, image_size=28, channels=(4, 8))),
    ("sew_resnet19", dict(in_channels=3, image_size=16, widths=(8, 8, 16), blocks=1)),
    ("wrn16", dict(in_channels=3, image_size=16, widen_factor=1)),
    ("vgg11", dict(in_channels=3, image_size=32, hidden=16)),
]


@pytest.mark.parametrize("name, options", ARCHITECTURE_CASES, ids=[c[0] for c in ARCHITECTURE_CASES])
def test_folded_and_hoisted_path_equals_the_plain_one(name, options):
    """Conv → BN folded in eval mode and the head run once under direct encoding: the same function."""
    torch.manual_seed(0)
    model = create_model(name, T=3, num_classes=5, neuron={"backend": "eager"}, **options).double()
    size = (6, options["in_channels"], options["image_size"], options["image_size"])
    model.train()
    with torch.no_grad():  # non-trivial running statistics
        model(torch.rand(size, dtype=torch.float64))
    reference = copy.deepcopy(model)
    x = torch.rand(size, dtype=torch.float64)
    fast_train, plain_train = model.forward_steps(x), reference.reference_steps(x)
    torch.testing.assert_close(fast_train, plain_train)
    for a, b in zip(model.buffers(), reference.buffers()):  # BN statistics moved alike
        torch.testing.assert_close(a, b)
    model.eval()
    xr = x.clone().requires_grad_(True)
    fast = model.forward_steps(xr)
    (g_fast,) = torch.autograd.grad(fast.sum(), xr)
    plain = model.reference_steps(xr)
    (g_plain,) = torch.autograd.grad(plain.sum(), xr)
    torch.testing.assert_close(fast, plain)
    torch.testing.assert_close(g_fast, g_plain)
    grads = torch.autograd.grad(model.forward_steps(x).sum(), list(model.parameters()), allow_unused=True)
    plain_grads = torch.autograd.grad(model.reference_steps(x).sum(), list(model.parameters()), allow_unused=True)
    for a, b in zip(grads, plain_grads):
        if b is not None:
            torch.testing.assert_close(a, b)
    assert all(m.fast_paths for m in model.modules() if hasattr(m, "fast_paths"))


def test_the_fast_path_convolves_channels_last_and_the_compiled_model_agrees_with_the_plain_one(monkeypatch):
    torch.manual_seed(0)
    model = create_model("convnet", T=3, num_classes=5, in_channels=1, image_size=28, channels=(4, 8)).eval()
    x = torch.rand(6, 1, 28, 28).requires_grad_(True)
    seen, conv2d = [], torch.nn.functional.conv2d

    def recording(inputs, *args, **kwargs):
        seen.append(inputs.is_contiguous(memory_format=torch.channels_last))
        return conv2d(inputs, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "conv2d", recording)
    fast = model.forward_steps(x)
    (g_fast,) = torch.autograd.grad(fast.sum(), x)
    assert seen == [True, True]
    plain = model.reference_steps(x)
    (g_plain,) = torch.autograd.grad(plain.sum(), x)
    assert len(seen) == 4 and not seen[3]  # the plain path stays NCHW (one-channel images are both)
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(g_fast, g_plain, rtol=1e-4, atol=1e-5)


def test_fingerprint_sees_weights_and_neurons_but_not_backend_or_noise_position():
    import dataclasses

    from snnbench import create_model

    def build(backend="eager", **params):
        torch.manual_seed(0)
        return create_model("convnet", T=2, channels=(4, 8), neuron={"kind": "noisy_lif", "backend": backend,
                                                                      "params": {"sigma": 0.1, **params}})

    model = build()
    reference = model.fingerprint()
    model.reseed(123)  # every attack reseeds the noise streams
    assert model.fingerprint() == reference == build("compiled").fingerprint()
    assert build(threshold=0.9).fingerprint() != reference
    layer = model.spiking_layers()[0]
    layer.dynamics = dataclasses.replace(layer.dynamics, tau=3.0)
    assert model.fingerprint() != reference
    model = build()
    with torch.no_grad():
        next(model.parameters()).mul_(0)
    assert model.fingerprint() != reference
