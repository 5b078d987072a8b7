"""What training a CIFAR-10 SNN costs on this machine, per architecture and size, before choosing the zoo's.

Usage: ``python benchmarks/cifar_training_cost.py [--threads 2] [--batch 128] [--repeats 3] [--pgd-steps 2]
[--only NAME ...]``

For each candidate (the literature's VGG-11, WRN-16 and SEW-ResNet-19 at several widths; LIF, T = 4,
compiled neurons) it times, interleaved, one optimiser step of plain training (BPTT) and one of PGD-k
adversarial training (``k`` input-gradient steps in ``eval()`` to make the examples, then the training step)
on a batch of random 32×32 images, through :func:`snnbench.training.loop.training_loss` exactly as
``snnbench train`` runs it. It prints per candidate: multiply-adds per image and step, parameters, seconds per
step (best of ``--repeats``), seconds per *image-gradient* (one forward and backward of one image: a plain
step is one per image, a PGD-k step ``k + 1``), the projected minutes per epoch of 50,000 images, and one
input-gradient step of the evaluation on 100 images (what each attack iteration costs). Save the output under
``benchmarks/results/``.
"""
from __future__ import annotations

import argparse
import math
import statistics

import torch
from torch import nn

from snnbench import create_model
from snnbench.allocator import retain_freed_memory
from snnbench.cards import ArchitectureConfig, NeuronConfig, SurrogateConfig
from snnbench.datasets import dataset_info
from snnbench.records import parse_record
from snnbench.training.loop import build_optimizer, training_loss
from snnbench.training.recipe import Recipe
from timing import interleaved

CANDIDATES: dict[str, tuple[str, dict]] = {
    "vgg11-w8": ("vgg11", {"width": 8, "hidden": 0}),
    "vgg11-w16": ("vgg11", {"width": 16, "hidden": 0}),  # the CIFAR-10 zoo's
    "vgg11-w16-h256": ("vgg11", {"width": 16, "hidden": 256}),
    "vgg11-w32": ("vgg11", {"width": 32, "hidden": 0}),
    "vgg11-w64": ("vgg11", {"width": 64, "hidden": 4096}),
    "wrn16-1": ("wrn16", {"widen_factor": 1}),
    "wrn16-2": ("wrn16", {"widen_factor": 2}),
    "wrn16-4": ("wrn16", {"widen_factor": 4}),
    "sew_resnet19-32": ("sew_resnet19", {"widths": (32, 64, 128)}),
}
EPOCH_IMAGES = 50_000


def multiply_adds(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of the convolutions and linear layers per image and time step (one forward at T = 1)."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
            total += output[0].numel() * per_output
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.reference_steps(x[:1])
    for hook in hooks:
        hook.remove()
    return total


def recipe_for(arch: str, options: dict, method: str, pgd_steps: int, batch: int) -> Recipe:
    data = {"name": "cost", "dataset": "cifar10", "method": method, "epochs": 1, "batch_size": batch,
            "architecture": {"name": arch, "T": 4, "neuron": {"kind": "lif", "params": {"tau": 2.0}},
                             "options": options},
            "surrogate": {"family": "atan", "alpha": 2.0}, "optimizer": {"name": "sgd", "lr": 0.1}}
    if method == "at":
        data["adversary"] = {"epsilon": 8 / 255, "steps": pgd_steps, "step_size": 1.5 * (8 / 255) / pgd_steps}
    return parse_record(Recipe, data, "benchmark recipe")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pgd-steps", type=int, default=2)
    parser.add_argument("--only", nargs="*", choices=sorted(CANDIDATES), help="candidates to time (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    retain_freed_memory()
    info = dataset_info("cifar10")
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, T = 4, LIF, PGD-{args.pgd_steps}")
    print(f"{'candidate':<16} {'MMAC/img/step':>13} {'params':>10} {'plain s/step':>12} {'AT s/step':>10} "
          f"{'ms/img-grad plain':>17} {'AT':>6} {'plain min/epoch':>15} {'AT min/epoch':>12} {'eval grad s/100':>15}")
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, 32, 32, generator=generator)
    y = torch.randint(0, 10, (args.batch,), generator=generator)
    for name in args.only or CANDIDATES:
        arch, options = CANDIDATES[name]
        torch.manual_seed(0)
        model = create_model(arch, T=4, in_channels=3, image_size=32, num_classes=10, mean=info.mean, std=info.std,
                             neuron={"kind": "lif", "params": {"tau": 2.0}}, **options)
        macs = multiply_adds(model, x)
        params = sum(p.numel() for p in model.parameters())
        plain, adversarial = recipe_for(arch, options, "bptt", 1, args.batch), \
            recipe_for(arch, options, "at", args.pgd_steps, args.batch)
        optimizer = build_optimizer(plain, model)

        def step(recipe):
            model.train()
            loss, _ = training_loss(model, recipe, x, y, 1, torch.Generator().manual_seed(1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        def eval_gradient():
            model.eval()
            xr = x[:100].clone().requires_grad_(True)
            torch.autograd.grad(nn.functional.cross_entropy(model(xr), y[:100]), xr)

        times = interleaved({"plain": lambda: step(plain), "at": lambda: step(adversarial),
                             "eval": eval_gradient}, args.repeats, warmup=1)
        best = {k: min(v) for k, v in times.items()}
        per_image_plain = best["plain"] / args.batch * 1000
        per_image_at = best["at"] / (args.batch * (args.pgd_steps + 1)) * 1000
        steps = math.ceil(EPOCH_IMAGES / args.batch)
        print(f"{name:<16} {macs / 1e6:>13.1f} {params:>10,} {best['plain']:>12.2f} {best['at']:>10.2f} "
              f"{per_image_plain:>17.2f} {per_image_at:>6.2f} {best['plain'] * steps / 60:>15.1f} "
              f"{best['at'] * steps / 60:>12.1f} {best['eval']:>15.2f}", flush=True)
        medians = {k: statistics.median(v) for k, v in times.items()}
        print(f"{'':<16} medians: plain {medians['plain']:.2f} s, AT {medians['at']:.2f} s, "
              f"eval {medians['eval']:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
