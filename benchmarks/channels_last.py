"""Channels-last convolutions (:mod:`snnbench.memory_format`) against NCHW, in the same run.

Usage: ``python benchmarks/channels_last.py [--batch 250] [--repeats 6]``

The MNIST convnet's second convolution (``T·B`` = 4 × ``--batch`` spike maps, 32 → 64 channels, 14×14),
forward plus input gradient (an attack step) and forward alone (a Square query), in NCHW and in NHWC.
CPU time (user + system) of the fastest repeat; runs are interleaved and the ratio is what to read on a
shared machine. ``benchmarks/model_speed.py`` measures the whole model.
"""
from __future__ import annotations

import argparse
import resource
from typing import Callable

import torch
import torch.nn.functional as F

from snnbench.allocator import retain_freed_memory
from timing import interleaved


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fastest(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Milliseconds of CPU time of the fastest of ``repeats`` interleaved runs of each case."""
    return {name: 1000 * min(t) for name, t in interleaved(cases, repeats, clock=cpu_seconds).items()}


def channels_last_convolution(batch: int, repeats: int) -> None:
    gen = torch.Generator().manual_seed(1)
    weight, bias = torch.randn(64, 32, 3, 3, generator=gen) * 0.1, torch.randn(64, generator=gen)
    spikes = (torch.rand(4 * batch, 32, 14, 14, generator=gen) < 0.2).float()
    grad = torch.randn(4 * batch, 64, 14, 14, generator=gen)
    nhwc = {"x": spikes.contiguous(memory_format=torch.channels_last),
            "grad": grad.contiguous(memory_format=torch.channels_last)}

    def step(x: torch.Tensor, g: torch.Tensor) -> None:
        x = x.clone().requires_grad_(True)
        torch.autograd.grad(F.conv2d(x, weight, bias, padding=1), x, g)

    def forward(x: torch.Tensor) -> None:
        with torch.no_grad():
            F.conv2d(x, weight, bias, padding=1)

    ms = fastest({"step nchw": lambda: step(spikes, grad), "step nhwc": lambda: step(nhwc["x"], nhwc["grad"]),
                  "forward nchw": lambda: forward(spikes), "forward nhwc": lambda: forward(nhwc["x"])}, repeats)
    for kind in ("step", "forward"):
        label = "forward + input gradient" if kind == "step" else "forward"
        print(f"conv 32→64 on {4 * batch} spike maps, {label}: NCHW {ms[kind + ' nchw']:.0f} ms, "
              f"NHWC {ms[kind + ' nhwc']:.0f} ms; NCHW/NHWC {ms[kind + ' nchw'] / ms[kind + ' nhwc']:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    retain_freed_memory()
    channels_last_convolution(args.batch, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
