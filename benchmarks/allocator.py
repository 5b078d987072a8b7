"""Attack steps with glibc's default allocator settings against :func:`snnbench.allocator.retain_freed_memory`.

Usage: ``python benchmarks/allocator.py [--batch 250] [--repeats 6] [--rounds 2]``

The setting is process-wide and cannot be undone, so each arm runs in its own interpreter; the arms
alternate for ``--rounds`` rounds so that both see the same machine load. Each interpreter times, for the
MNIST convnet (LIF, T = 4, compiled neurons) in eval mode, one input-gradient step (an attack iteration)
and one forward pass (a Square query) on ``--batch`` images, best of ``--repeats`` after warm-up.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

ARM = """
import json, sys, time
import torch
import torch.nn.functional as F
if sys.argv[1] == "retain":
    from snnbench.allocator import retain_freed_memory
    assert retain_freed_memory(), "not glibc: nothing to compare"
from snnbench import create_model

batch, repeats = int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
model = create_model("convnet", T=4, mean=(0.1307,), std=(0.3081,)).eval()
x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))

def gradient_step():
    xr = x.clone().requires_grad_(True)
    torch.autograd.grad(F.cross_entropy(model(xr), y), xr)

def forward():
    with torch.no_grad():
        model(x)

times = {}
for name, run in (("gradient", gradient_step), ("forward", forward)):
    for _ in range(2):
        run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    times[name] = best
print(json.dumps(times))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    best: dict[str, dict[str, float]] = {"default": {}, "retain": {}}
    for _ in range(args.rounds):
        for arm in best:
            run = subprocess.run([sys.executable, "-c", ARM, arm, str(args.batch), str(args.repeats)],
                                 capture_output=True, text=True, check=True)
            for kind, seconds in json.loads(run.stdout.splitlines()[-1]).items():
                best[arm][kind] = min(best[arm].get(kind, float("inf")), seconds)
    for kind, label in (("gradient", "input-gradient step"), ("forward", "forward pass")):
        default, retain = best["default"][kind] * 1000, best["retain"][kind] * 1000
        print(f"{label} on {args.batch} images: default allocator {default:.0f} ms, retained memory "
              f"{retain:.0f} ms (best of {args.rounds}×{args.repeats}); default/retained {default / retain:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
