"""Which attack finds the weakness of an undefended SNN? Robust accuracy under every gradient mode.

Usage: ``python benchmarks/attack_strength.py [--data-dir ../shared/data] [--images 500] [--eps 0.1]``

Trains (or loads from ``--cache``) a small convnet SNN on MNIST — plain BPTT, LIF, T = 4, ATan α = 2, one
epoch — then attacks the first ``--images`` images of the bundled MNIST test subset at ε = ``--eps`` with:
PGD-20 and APGD-CE-100 through the training surrogate, torchattacks' PGD and APGD on the same model, APGD-CE
with each of BPTR, RGA, HART and PDSG, Square (gradient-free), and SA-PGD + ASSG. It prints the robust
accuracy of each and exits non-zero unless SA-PGD + ASSG finds the lowest robust accuracy of the gradient
attacks and our PGD/APGD agree with torchattacks' within 1 point.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save

from snnbench import create_model, load_eval_subset
from snnbench.attacks import APGD, PGD, SAPGD, GradientSpec, Square
from snnbench.datasets import dataset_info, load_dataset
from snnbench.files import atomic_write_bytes


def build_model() -> torch.nn.Module:
    info = dataset_info("mnist")
    return create_model("convnet", T=4, mean=info.mean, std=info.std,
                        neuron={"kind": "lif", "surrogate": "atan", "alpha": 2.0})


def train_one_epoch(model: torch.nn.Module, data_dir: str, seed: int) -> None:
    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(load_dataset("mnist", "train", root=data_dir), batch_size=128,
                                         shuffle=True, generator=torch.Generator().manual_seed(seed))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    start = time.time()
    for step, (x, y) in enumerate(loader):
        loss = F.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 100 == 0:
            print(f"  train step {step}/{len(loader)}: loss {loss.item():.3f} ({time.time() - start:.0f} s)", flush=True)
    model.eval()


def trained_model(cache: Path, data_dir: str, seed: int) -> torch.nn.Module:
    model = build_model()
    if cache.exists():
        model.load_state_dict(load_file(str(cache)), strict=True)
        print(f"loaded {cache}")
    else:
        print(f"training the convnet for one epoch on MNIST from {data_dir}")
        train_one_epoch(model, data_dir, seed)
        atomic_write_bytes(cache, save({k: v.contiguous() for k, v in model.state_dict().items()}))
    return model.eval()


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return 100.0 * (model(x).argmax(1) == y).float().mean().item()


def torchattacks_runs(eps: float) -> dict[str, Callable]:
    import torchattacks

    return {
        "torchattacks PGD-20": lambda m: torchattacks.PGD(m, eps=eps, alpha=2.5 * eps / 20, steps=20),
        "torchattacks APGD-CE-100": lambda m: torchattacks.APGD(m, eps=eps, steps=100, loss="ce"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "snnbench" / "attack_strength_convnet.safetensors")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--square-queries", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    model = trained_model(args.cache, args.data_dir, args.seed)
    images, labels = load_eval_subset("mnist-test-1000")
    images, labels = images[: args.images], labels[: args.images]
    eps = args.eps
    ours = {
        "PGD-20 (training surrogate)": PGD(eps=eps, steps=20, seed=args.seed),
        "APGD-CE-100 (training surrogate)": APGD(eps=eps, steps=100, seed=args.seed),
        "APGD-CE-100 + BPTR": APGD(eps=eps, steps=100, seed=args.seed, gradient=GradientSpec("bptr")),
        "APGD-CE-100 + RGA": APGD(eps=eps, steps=100, seed=args.seed, gradient=GradientSpec("rga")),
        "APGD-CE-100 + HART": APGD(eps=eps, steps=100, seed=args.seed, gradient=GradientSpec("hart")),
        "APGD-CE-100 + PDSG": APGD(eps=eps, steps=100, seed=args.seed, gradient=GradientSpec("pdsg")),
        "SA-PGD-100 + ASSG": SAPGD(eps=eps, steps=100, seed=args.seed),
        f"Square-{args.square_queries} (gradient-free)": Square(eps=eps, queries=args.square_queries, seed=args.seed),
    }
    results: dict[str, float] = {}
    print(f"clean accuracy on the first {len(images)} MNIST test images: {accuracy(model, images, labels):.1f}%")
    print(f"robust accuracy at eps = {eps}:")
    runs: dict[str, Callable] = dict(ours)
    for name, make in torchattacks_runs(eps).items():
        runs[name] = lambda m, x, y, make=make: make(m)(x, y)
    for name, run in runs.items():
        start = time.time()
        adv = torch.cat([run(model, images[i:i + args.batch], labels[i:i + args.batch])
                         for i in range(0, len(images), args.batch)])
        assert (adv - images).abs().max() <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
        results[name] = accuracy(model, adv, labels)
        print(f"  {name:<38} {results[name]:5.1f}%   ({time.time() - start:.0f} s)", flush=True)

    # torchattacks' runs are all gradient attacks; ours say so themselves.
    gradient_based = {k: v for k, v in results.items() if not (k in ours and ours[k].gradient_free)}
    assg = results["SA-PGD-100 + ASSG"]
    checks = {
        "SA-PGD + ASSG finds the lowest robust accuracy of the gradient attacks": assg <= min(gradient_based.values()),
        "our PGD-20 agrees with torchattacks' within 1 point":
            abs(results["PGD-20 (training surrogate)"] - results["torchattacks PGD-20"]) <= 1.0,
        "our APGD-CE-100 agrees with torchattacks' within 1 point":
            abs(results["APGD-CE-100 (training surrogate)"] - results["torchattacks APGD-CE-100"]) <= 1.0,
    }
    for claim, holds in checks.items():
        print(f"{'PASS' if holds else 'FAIL'}: {claim}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
