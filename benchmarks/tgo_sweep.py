"""Choose TGO's unpublished margin δ and noise σ on held-out training data, never on the test set.

Usage: ``python benchmarks/tgo_sweep.py --data-dir ../shared/data [--out benchmarks/results/tgo_sweep.json]``

For every (δ, σ) of the grid it trains the MNIST convnet (LIF → noisy LIF, T = 4) with the TGO recipe on
the first ``--train-examples`` training images for ``--epochs`` epochs, then measures on the first
``--images`` of the 5,000 held-out training images (the zoo recipes' holdout): clean accuracy and robust
accuracy at ε = 0.1 under SA-PGD + ASSG (the reference attack; choosing by an attack through the training
surrogate would reward gradient masking), both with the noise off at evaluation, and the fraction of
membrane potentials within δ of threshold. The choice is the highest robust accuracy; ties go to the higher
clean accuracy. Writes every row and the choice to ``--out``.
"""
from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time

import torch
from tabulate import tabulate

from snnbench.attacks import SAPGD
from snnbench.cards import read_card
from snnbench.datasets import split_tensors
from snnbench.files import atomic_write_text
from snnbench.potentials import near_threshold_counts, recorded_potentials
from snnbench.records import parse_record
from snnbench.training import Recipe, train
from snnbench.zoo import load_model

HOLDOUT = 5000
BASE = {
    "name": "tgo-sweep", "dataset": "mnist", "benchmarks": ["mnist-linf"],
    "architecture": {"name": "convnet", "T": 4, "neuron": {"kind": "noisy_lif", "params": {"tau": 2.0}}},
    "surrogate": {"family": "atan", "alpha": 2.0}, "method": "tgo", "batch_size": 128,
    "optimizer": {"name": "adam", "lr": 0.001}, "schedule": {"name": "cosine"}, "holdout": HOLDOUT, "seed": 0,
}


def sweep_recipe(delta: float, sigma: float, lambda_max: float, epochs: int, examples: int) -> Recipe:
    data = copy.deepcopy(BASE)
    data["architecture"]["neuron"]["params"]["sigma"] = sigma
    data.update(epochs=epochs, train_examples=examples, tgo={"delta": delta, "lambda_max": lambda_max})
    return parse_record(Recipe, data, "tgo sweep")


def measure(model, images, labels, delta: float, eps: float, steps: int) -> dict:
    model.eval()
    with torch.no_grad(), recorded_potentials(model) as records:
        clean = model(images).argmax(1) == labels
    near, total = near_threshold_counts(records, delta)
    x, y = images[clean], labels[clean]
    adversarial = torch.cat([SAPGD(eps=eps, steps=steps)(model, x[i:i + 250], y[i:i + 250])
                             for i in range(0, len(y), 250)])
    with torch.no_grad():
        robust = int((model(adversarial).argmax(1) == y).sum())
    return {"clean": 100.0 * float(clean.float().mean()), "robust": 100.0 * robust / len(labels),
            "near_threshold": near / total}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--deltas", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.05, 0.2])
    parser.add_argument("--lambda-max", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-examples", type=int, default=10000)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--out", default="benchmarks/results/tgo_sweep.json")
    args = parser.parse_args()

    images, labels = split_tensors("mnist", "train", root=args.data_dir)
    holdout = images[-HOLDOUT:][:args.images].float() / 255.0, labels[-HOLDOUT:][:args.images]
    rows = []
    for delta in args.deltas:
        for sigma in args.sigmas:
            recipe = sweep_recipe(delta, sigma, args.lambda_max, args.epochs, args.train_examples)
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as out:
                outcome = train(recipe, f"{out}/mnist", data=(images, labels), progress=False)
                model = load_model(read_card(outcome.card))
            row = {"delta": delta, "sigma": sigma, **measure(model, *holdout, delta, args.eps, args.steps),
                   "seconds": round(time.perf_counter() - start, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    best = max(rows, key=lambda r: (r["robust"], r["clean"]))
    print(tabulate(rows, headers="keys", floatfmt=".3f"))
    print(f"chosen: delta={best['delta']}, sigma={best['sigma']}")
    settings = {k: v for k, v in vars(args).items() if k not in ("data_dir", "out")}
    atomic_write_text(args.out, json.dumps({"settings": settings, "rows": rows, "chosen": best}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
