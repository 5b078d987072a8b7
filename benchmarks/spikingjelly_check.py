"""snnbench.interop against whichever SpikingJelly is installed: its ``activation_based`` multi-step neurons and
a SEW-ResNet from its own builder, converted, must give the same spikes bit for bit and input gradients to 1e-5.

Usage (the suite pins SpikingJelly 0.0.0.0.14; the 2.x release cannot share its environment, so it gets a
folder of its own that shadows the pinned one):

    pip install --no-deps --target /tmp/sj2 spikingjelly==2.0.0 "loguru>=0.7,<1" h5py
    PYTHONPATH=/tmp/sj2 python benchmarks/spikingjelly_check.py

With the pinned release: ``python benchmarks/spikingjelly_check.py``. Exits non-zero on any disagreement.
"""
from __future__ import annotations

import copy
import itertools
import sys

import torch
from torch import nn

from snnbench.interop import convert

GRID = list(itertools.product([2.0, 3.0, 1.7], [1.0, 0.6], [None, 0.0, -0.4, 0.3], [True, False], [False, True]))


def compare(original: nn.Module, converted: nn.Module, x: torch.Tensor, functional) -> tuple[bool, float]:
    """Equal outputs, and the largest input-gradient difference relative to the gradient's scale."""
    torch.manual_seed(1)
    functional.reset_net(original)
    with torch.no_grad():
        w = torch.randn(original.eval()(x).shape)

    def run(model, nodes_train):
        functional.reset_net(model)
        model.eval()
        if nodes_train:  # SpikingJelly's eval() may drop surrogate gradients; compare where it keeps them
            for m in model.modules():
                if hasattr(m, "surrogate_function"):
                    m.train()
        xr = x.clone().requires_grad_(True)
        out = model(xr)
        (grad,) = torch.autograd.grad((out * w).sum(), xr)
        return out.detach(), grad

    out_ref, g_ref = run(original, True)
    out, g = run(converted, False)
    return torch.equal(out, out_ref), ((g - g_ref).abs().max() / g_ref.abs().max().clamp_min(1.0)).item()


def main() -> int:
    import spikingjelly
    from spikingjelly.activation_based import functional, neuron, surrogate

    version = getattr(spikingjelly, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version
        version = dist_version("spikingjelly")
    print(f"SpikingJelly {version} ({spikingjelly.__file__}), torch {torch.__version__}")
    failures = 0
    kinds = {"LIFNode": lambda tau, **kw: neuron.LIFNode(tau=tau, **kw),
             "IFNode": lambda tau, decay_input, **kw: neuron.IFNode(**kw),
             "ParametricLIFNode": lambda tau, **kw: neuron.ParametricLIFNode(init_tau=tau, **kw)}
    for kind, make in kinds.items():
        worst, equal, cases = 0.0, 0, 0
        for i, (tau, threshold, v_reset, decay, detach) in enumerate(GRID):
            torch.manual_seed(i)
            node = make(tau=tau, decay_input=decay, v_threshold=threshold, v_reset=v_reset, detach_reset=detach,
                        surrogate_function=surrogate.ATan(alpha=2.0), step_mode="m")
            converted = convert(nn.Sequential(copy.deepcopy(node)), backend="eager")
            for layer in converted.parameters():
                layer.requires_grad_(False)
            x = torch.randn(6, 3, 40) * 1.2 + 0.5
            same, error = compare(nn.Sequential(node), converted, x, functional)
            cases, equal, worst = cases + 1, equal + same, max(worst, error)
        ok = equal == cases and worst <= 1e-5
        failures += not ok
        print(f"{kind:<18} {equal}/{cases} parameter sets with equal spikes; largest gradient difference "
              f"{worst:.1e} {'ok' if ok else 'FAILED'}")
    from spikingjelly.activation_based.model import sew_resnet

    torch.manual_seed(0)
    model = sew_resnet.sew_resnet18(cnf="ADD", spiking_neuron=neuron.LIFNode, tau=1.7, v_reset=None,
                                    detach_reset=True, surrogate_function=surrogate.ATan(alpha=3.0), num_classes=10)
    functional.set_step_mode(model, "m")
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    converted = convert(copy.deepcopy(model), backend="eager")
    same, error = compare(model, converted, torch.rand(3, 2, 3, 32, 32) * 4, functional)
    ok = same and error <= 1e-5
    failures += not ok
    print(f"{'sew_resnet18 (ADD)':<18} logits equal: {same}; largest gradient difference {error:.1e} "
          f"{'ok' if ok else 'FAILED'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
