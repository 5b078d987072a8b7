"""What the noise of a noisy LIF costs per forward pass, in the same run.

Usage: ``python benchmarks/noisy_forward.py [--batch 250] [--repeats 8]``

Times one forward pass (what Square and the judging passes do) on ``--batch`` images for the zoo's TGO
weights with the noise off at evaluation (``mnist-convnet-lif-tgo``) and on (``mnist-convnet-lif-tgo-noise``),
interleaved, and drawing the noise alone for both spiking layers' ``[T, B, C, H, W]``, two ways: with the
counter-based stream :class:`snnbench.NoisyLIF` uses, and with ``torch.randn`` from a seeded CPU generator
(the serial Mersenne Twister it used before). Prints best-of and median times and the ratios.
"""
from __future__ import annotations

import argparse
import statistics

import torch

from snnbench.allocator import retain_freed_memory
from snnbench.memory_format import channels_last
from snnbench.randomness import CounterStream
from snnbench.zoo import load_model
from timing import interleaved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()
    retain_freed_memory()
    x = torch.rand(args.batch, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    quiet, noisy = load_model("mnist-convnet-lif-tgo"), load_model("mnist-convnet-lif-tgo-noise")
    generator, stream = torch.Generator().manual_seed(0), CounterStream(0)
    # The convnet's two spiking layers' inputs, [T, B, C, H, W] in the memory order its convolutions make.
    inputs = [channels_last(torch.empty(4 * args.batch, c, s, s)).view(4, args.batch, c, s, s) for c, s in [(32, 28), (64, 14)]]
    cases = {
        "noise off": lambda: quiet(x),
        "noise on": lambda: noisy(x),
        "counter": lambda: [stream.normal_like(i, 0.1) for i in inputs],
        "randn": lambda: [torch.randn(i.shape, generator=generator) for i in inputs],
    }
    with torch.no_grad():
        times = interleaved(cases, args.repeats)
    for name, seconds in times.items():
        print(f"{name:12s} best {1e3 * min(seconds):6.0f} ms   median {1e3 * statistics.median(seconds):6.0f} ms")
    off, on, counter, randn = (min(times[name]) for name in cases)
    print(f"noise on / off: {on / off:.2f}x best; drawing the noise is {counter / (on - off):.0%} of the "
          f"difference; torch.randn / counter stream: {randn / counter:.2f}x "
          f"({torch.get_num_threads()} threads, batch {args.batch})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
