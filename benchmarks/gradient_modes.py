"""The cost of one attack step under each gradient mode, against the training surrogate in the same run.

Usage: ``python benchmarks/gradient_modes.py [--batch 250] [--repeats 5] [--modes surrogate assg bptr rga hart]``

For the MNIST convnet (LIF, T = 4, compiled neurons) in eval mode, times one forward and input-gradient
pass of the cross-entropy on ``--batch`` images under each mode, the modes interleaved round by round so
that all see the same machine load, and prints best-of times and each mode's ratio to ``surrogate``.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from snnbench import create_model, gradient_mode
from snnbench.allocator import retain_freed_memory
from snnbench.gradient_modes import MODES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--modes", nargs="+", default=["surrogate", "assg", "bptr", "rga", "hart"], choices=list(MODES))
    args = parser.parse_args()
    retain_freed_memory()
    torch.manual_seed(0)
    model = create_model("convnet", T=4, mean=(0.1307,), std=(0.3081,)).eval()
    x, y = torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,))
    modes = ["surrogate"] + [m for m in args.modes if m != "surrogate"]

    def step(mode: str) -> float:
        with gradient_mode(model, mode):
            start = time.perf_counter()
            xr = x.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xr), y), xr)
            return time.perf_counter() - start

    for mode in modes:  # warm-up: compilation
        step(mode), step(mode)
    best = {mode: float("inf") for mode in modes}
    for _ in range(args.repeats):
        for mode in modes:
            best[mode] = min(best[mode], step(mode))
    for mode in modes:
        print(f"{mode:>10}: {best[mode] * 1000:7.0f} ms per step on {args.batch} images "
              f"({best[mode] / best['surrogate']:.2f}x surrogate, best of {args.repeats})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
