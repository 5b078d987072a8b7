"""A SpikingJelly model and an snnTorch model through snnbench.interop: agreement, and what the reference finds.

Usage: ``python benchmarks/interop.py [--data-dir ../shared/data] [--train-images 20000] [--images 200]
[--eps 0.1]``

Trains (or loads from the cache) two small MNIST convnets the way each library's users write them, T = 4,
ATan α = 2, one pass over ``--train-images`` training images with Adam: a SpikingJelly 0.0.0.0.14 multi-step
net (``SeqToANNContainer`` + ``MultiStepLIFNode``) and an snnTorch 1.0 net (a per-step loop over ``Leaky``,
read out by the output layer's mean membrane potential). Each is converted with ``snnbench.interop.convert``
and, on the first ``--images`` images of the bundled MNIST test subset, the script prints:

* spike agreement: the share of equal spikes, layer by layer, between the original and the converted model
  (forward hooks on both), and whether the logits are equal;
* gradient agreement: the largest difference of the input gradients of the cross-entropy, relative to
  the largest gradient;
* robust accuracy at ε = ``--eps`` under APGD-CE-100 through the library's own surrogate (torchattacks'
  APGD on the original model: what a user of the library would run) and under SA-PGD-100 + ASSG on the
  converted model.

Exits non-zero unless every spike agrees and the gradients agree to 1e-5.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save
from torch import nn

from snnbench import load_eval_subset
from snnbench.attacks import SAPGD
from snnbench.datasets import dataset_info, split_tensors
from snnbench.files import atomic_write_bytes, cache_dir
from snnbench.interop import classifier, convert

T = 4
MNIST = dataset_info("mnist")


class Normalised(nn.Module):
    """The library model as its users call it on normalised images, returning logits ``[B, 10]``."""

    def __init__(self, net: nn.Module, kind: str):
        super().__init__()
        self.net, self.kind = net, kind
        self.register_buffer("mean", torch.tensor(MNIST.mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(MNIST.std).view(1, -1, 1, 1))

    def forward(self, x):
        x = (x - self.mean) / self.std
        if self.kind == "spikingjelly":
            from spikingjelly.clock_driven import functional
            functional.reset_net(self.net)
            return self.net(x.unsqueeze(0).repeat(T, 1, 1, 1, 1)).mean(0)
        return self.net(x)[1].mean(0)


def spikingjelly_net() -> nn.Module:
    from spikingjelly.clock_driven import layer, neuron, surrogate

    return nn.Sequential(
        layer.SeqToANNContainer(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)),
        neuron.MultiStepLIFNode(tau=2.0, surrogate_function=surrogate.ATan(alpha=2.0)),
        layer.SeqToANNContainer(nn.AvgPool2d(2), nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)),
        neuron.MultiStepLIFNode(tau=2.0, surrogate_function=surrogate.ATan(alpha=2.0)),
        layer.SeqToANNContainer(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(32 * 7 * 7, 10)))


def snntorch_net() -> nn.Module:
    import snntorch as snn
    from snntorch import surrogate

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.lif1 = nn.Conv2d(1, 16, 3, padding=1), snn.Leaky(beta=0.5, spike_grad=surrogate.atan())
            self.conv2, self.lif2 = nn.Conv2d(16, 32, 3, padding=1), snn.Leaky(beta=0.5, spike_grad=surrogate.atan())
            self.fc, self.lif3 = nn.Linear(32 * 7 * 7, 10), snn.Leaky(beta=0.5, spike_grad=surrogate.atan())

        def forward(self, x):
            mem1, mem2, mem3 = self.lif1.init_leaky(), self.lif2.init_leaky(), self.lif3.init_leaky()
            spikes, potentials = [], []
            for _ in range(T):
                spk1, mem1 = self.lif1(F.avg_pool2d(self.conv1(x), 2), mem1)
                spk2, mem2 = self.lif2(F.avg_pool2d(self.conv2(spk1), 2), mem2)
                spk3, mem3 = self.lif3(self.fc(spk2.flatten(1)), mem3)
                spikes.append(spk3)
                potentials.append(mem3)
            return torch.stack(spikes), torch.stack(potentials)

    return Net()


def trained(kind: str, data_dir: str, n_train: int) -> Normalised:
    torch.manual_seed(0)
    model = Normalised(spikingjelly_net() if kind == "spikingjelly" else snntorch_net(), kind)
    cache = cache_dir("interop") / f"{kind}-mnist-{n_train}.safetensors"
    if cache.exists():
        model.load_state_dict(load_file(str(cache)), strict=True)
        print(f"{kind}: loaded {cache}")
        return model.eval()
    images, labels = split_tensors("mnist", "train", root=data_dir, first=n_train)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(n_train, generator=torch.Generator().manual_seed(0))
    model.train()
    start = time.time()
    for step, index in enumerate(order.split(128)):
        loss = F.cross_entropy(model(images[index].float() / 255), labels[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 50 == 0:
            print(f"  {kind} step {step}: loss {loss.item():.3f} ({time.time() - start:.0f} s)", flush=True)
    atomic_write_bytes(cache, save({k: v.contiguous() for k, v in model.state_dict().items()}))
    return model.eval()


def clear_state(model: Normalised) -> None:
    """Drop the state each library keeps in its neurons after a forward (it holds autograd history)."""
    if model.kind == "spikingjelly":
        from spikingjelly.clock_driven import functional
        functional.reset_net(model.net)
    else:
        for module in model.net.modules():
            if hasattr(module, "reset_mem"):
                module.reset_mem()
                module.mem = module.mem.detach()


def converted_classifier(model: Normalised) -> nn.Module:
    clear_state(model)
    body = convert(copy.deepcopy(model.net))
    if model.kind == "spikingjelly":
        return classifier(body, T=T, num_classes=10, mean=MNIST.mean, std=MNIST.std)
    return classifier(body, T=T, num_classes=10, mean=MNIST.mean, std=MNIST.std, readout=lambda out: out[1].mean(0))


def spiking_outputs(model: nn.Module, kind: str, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every spiking layer's output (concatenated over calls) and the logits."""
    outputs: dict[str, list[torch.Tensor]] = {}
    hooks = []
    for name, module in model.named_modules():
        if hasattr(module, "surrogate_function") or hasattr(module, "spike_grad") or \
                type(module).__name__.endswith(("FromMultiStepLIFNode", "FromLeaky")):
            def hook(module, args, out, name=name):
                spikes = out[0] if isinstance(out, tuple) else out
                outputs.setdefault(name.split("net.")[-1].split("body.")[-1], []).append(spikes.detach().flatten())
            hooks.append(module.register_forward_hook(hook))
    with torch.no_grad():
        logits = model(x)
    for handle in hooks:
        handle.remove()
    return [torch.cat(outputs[k]) for k in sorted(outputs)], logits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--train-images", type=int, default=20000)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--eps", type=float, default=0.1)
    args = parser.parse_args()
    import torchattacks

    x, y = load_eval_subset("mnist-test-1000")
    x, y = x[:args.images], y[:args.images]
    failures = 0
    for kind in ("spikingjelly", "snntorch"):
        original = trained(kind, args.data_dir, args.train_images)
        ours = converted_classifier(original).eval()
        theirs_spikes, theirs_logits = spiking_outputs(original, kind, x)
        our_spikes, our_logits = spiking_outputs(ours, kind, x)
        agreement = [100.0 * (a == b).float().mean().item() for a, b in zip(theirs_spikes, our_spikes)]
        xr = x.clone().requires_grad_(True)
        if kind == "spikingjelly":  # SpikingJelly's multi-step nodes keep surrogate gradients only in train()
            for m in original.modules():
                if hasattr(m, "surrogate_function"):
                    m.train()
        (g_theirs,) = torch.autograd.grad(F.cross_entropy(original(xr), y), xr)
        original.eval()
        (g_ours,) = torch.autograd.grad(F.cross_entropy(ours(xr), y), xr)
        gradient = ((g_ours - g_theirs).abs().max() / g_theirs.abs().max()).item()
        clean = 100.0 * (our_logits.argmax(1) == y).float().mean().item()
        if kind == "spikingjelly":
            for m in original.modules():
                if hasattr(m, "surrogate_function"):
                    m.train()
        prior = torchattacks.APGD(original, norm="Linf", eps=args.eps, steps=100, loss="ce", seed=0)(x, y)
        original.eval()
        with torch.no_grad():
            prior_acc = 100.0 * (ours(prior).argmax(1) == y).float().mean().item()
        reference = SAPGD(eps=args.eps, steps=100).run(ours, x, y)
        with torch.no_grad():
            reference_acc = 100.0 * (ours(reference.x_adv).argmax(1) == y).float().mean().item()
        ok = all(a == 100.0 for a in agreement) and torch.equal(theirs_logits, our_logits) and gradient <= 1e-5
        failures += not ok
        print(f"\n{kind}: {len(agreement)} spiking layers, spikes equal {', '.join(f'{a:.4f}%' for a in agreement)}; "
              f"logits equal: {torch.equal(theirs_logits, our_logits)}; input-gradient difference "
              f"{gradient:.1e} of the largest; clean {clean:.1f}% on {len(y)} images")
        print(f"  robust at eps={args.eps}: APGD-CE-100 through {kind}'s own surrogate (torchattacks, original "
              f"model) {prior_acc:.1f}%; SA-PGD-100 + ASSG (converted, {reference.layers} layers) "
              f"{reference_acc:.1f}%  {'ok' if ok else 'FAILED'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
