"""How many membrane potentials sit near threshold? The quantity TGO trains down, for every zoo model.

Usage: ``python benchmarks/near_threshold.py --delta 0.3 [--dataset cifar10] [MODEL ...]``

For each model (default: every zoo model of ``--dataset``, MNIST by default) it runs the first ``--images``
images of the dataset's bundled test subset through the model in ``eval()`` mode (noise as the card says) and counts the pre-reset
potentials ``H`` of all spiking layers, time steps and neurons with ``|H − θ| < δ``. The TGO paper reports
about 40% fewer such neurons after TGO training than after vanilla training.
"""
from __future__ import annotations

import argparse

import torch
from tabulate import tabulate

from snnbench import list_models, load_eval_subset, load_model
from snnbench.potentials import near_threshold_counts, recorded_potentials

VANILLA = {"mnist": "mnist-convnet-lif-bptt", "cifar10": "cifar10-vgg11-lif-bptt"}  # plain BPTT, the baseline
DATASET_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10"}


def fraction(name: str, images: torch.Tensor, delta: float, batch: int = 250) -> float:
    model = load_model(name).eval()
    model.reseed(0)
    near = total = 0
    with torch.no_grad():
        for start in range(0, len(images), batch):
            with recorded_potentials(model) as records:
                model(images[start:start + batch])
            n, t = near_threshold_counts(records, delta)
            near, total = near + n, total + t
    return near / total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*")
    parser.add_argument("--delta", type=float, required=True)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--dataset", default="mnist", choices=sorted(VANILLA))
    parser.add_argument("--reference", help="the vanilla model to compare with (default: the dataset's BPTT model)")
    args = parser.parse_args()
    reference = args.reference or VANILLA[args.dataset]
    images = load_eval_subset(f"{args.dataset}-test-1000")[0][:args.images]
    names = args.models or list_models(args.dataset)
    fractions = {name: fraction(name, images, args.delta) for name in names}
    base = fractions.get(reference)
    rows = [[name, f"{100 * f:.2f}%", "" if base is None else f"{100 * (f / base - 1):+.1f}%"]
            for name, f in fractions.items()]
    print(f"|H − θ| < {args.delta} on the first {len(images)} {DATASET_NAMES[args.dataset]} test images")
    print(tabulate(rows, headers=["model", "near threshold", f"vs {reference}"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
