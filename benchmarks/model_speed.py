"""The fast model path against the plain one: conv → BN folded, channels-last, the head run once over time.

Usage: ``python benchmarks/model_speed.py [--batch 250] [--repeats 8]``

Times, with freed memory retained (:mod:`snnbench.allocator`), for the MNIST convnet (LIF, T = 4, compiled neurons) in eval mode, one input-gradient step (what an
attack does per iteration) and one forward pass (what Square does per query) on ``--batch`` images, through
:meth:`SpikingClassifier.forward_steps` (fast) and :meth:`SpikingClassifier.reference_steps` (plain),
interleaved; prints best-of and median times and the plain/fast ratio. Outputs are checked equal first.
"""
from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn.functional as F

from snnbench import create_model
from snnbench.allocator import retain_freed_memory
from timing import interleaved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()
    retain_freed_memory()
    torch.manual_seed(0)
    model = create_model("convnet", T=4, mean=(0.1307,), std=(0.3081,)).eval()
    x, y = torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,))
    with torch.no_grad():
        fast, plain = model.forward_steps(x), model.reference_steps(x)
    print(f"max |fast − plain| logit difference: {(fast - plain).abs().max().item():.2e}")

    def gradient_step(path):
        xr = x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(path(xr).mean(0), y), xr)

    def forward(path):
        with torch.no_grad():
            path(x)

    for kind, run in (("input-gradient step", gradient_step), ("forward pass", forward)):
        times = interleaved({"fast": lambda: run(model.forward_steps), "plain": lambda: run(model.reference_steps)},
                            args.repeats, warmup=2)
        best = {k: min(v) * 1000 for k, v in times.items()}
        median = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(f"{kind} on {args.batch} images: fast {best['fast']:.0f} ms, plain {best['plain']:.0f} ms (best of "
              f"{args.repeats}); medians {median['fast']:.0f} / {median['plain']:.0f} ms; plain/fast "
              f"{best['plain'] / best['fast']:.2f}x best, {median['plain'] / median['fast']:.2f}x median")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
