"""Speed of the multi-step LIF (forward + backward) against SpikingJelly and snnTorch.

Usage: ``python benchmarks/neurons.py [--shape T B C H W] [--repeats N] [--threads N]``

Times one forward and backward of LIF (τ = 2, θ = 1, hard reset to 0, ATan surrogate with α = 2) on a
float32 CPU tensor of shape ``[T=4, B=128, 64, 16, 16]``, for each of our backends, SpikingJelly's
``LIFNode(step_mode='m')`` and snnTorch's ``Leaky`` configured to the same dynamics. It first checks that
spikes agree exactly with SpikingJelly and input gradients to 1e-5, and reports how many snnTorch spikes
agree. Runs are interleaved; the fastest of the repeats is the estimate (the other tenants of a shared
machine only ever add time) and the median is shown beside it. Speed is a ratio to SpikingJelly measured
in the same run, because absolute times on a shared machine are noisy.
"""
from __future__ import annotations

import argparse
import statistics
import time
from importlib.metadata import version
from typing import Callable

import torch

from snnbench.neurons import LIF
from snnbench.surrogates import Surrogate


def ours(backend: str) -> Callable[[torch.Tensor], torch.Tensor]:
    layer = LIF(tau=2.0, threshold=1.0, reset="hard", surrogate=Surrogate("atan", 2.0), backend=backend)
    return layer


def spikingjelly() -> Callable[[torch.Tensor], torch.Tensor]:
    from spikingjelly.activation_based import functional, neuron, surrogate

    node = neuron.LIFNode(tau=2.0, v_threshold=1.0, v_reset=0.0, surrogate_function=surrogate.ATan(alpha=2.0),
                          step_mode="m")

    def run(x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(node)
        return node(x)

    return run


def snntorch_leaky() -> Callable[[torch.Tensor], torch.Tensor]:
    import snntorch
    from snntorch import surrogate

    # Leaky integrates u ← βu + I; with β = 1/2 and I = X/2 this is u + (X − u)/2 up to rounding.
    node = snntorch.Leaky(beta=0.5, threshold=1.0, reset_mechanism="zero", spike_grad=surrogate.atan(alpha=2.0))

    def run(x: torch.Tensor) -> torch.Tensor:
        mem = node.init_leaky()
        spikes = []
        for t in range(x.shape[0]):
            spk, mem = node(x[t] * 0.5, mem)
            spikes.append(spk)
        return torch.stack(spikes)

    return run


def forward_backward(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, w: torch.Tensor):
    """Spikes and ``∂⟨w, S⟩/∂x``: the layer's own forward and backward, with nothing else timed."""
    x = x.detach().requires_grad_(True)
    spikes = fn(x)
    (grad,) = torch.autograd.grad(spikes, x, grad_outputs=w)
    return spikes.detach(), grad


def check_agreement(candidates: dict, x: torch.Tensor, w: torch.Tensor) -> None:
    s_ref, g_ref = forward_backward(candidates["SpikingJelly"], x, w)
    for name, fn in candidates.items():
        s, g = forward_backward(fn, x, w)
        if name == "snnTorch":
            agree = (s == s_ref).float().mean().item()
            print(f"  {name:<22} spikes agree with SpikingJelly on {100 * agree:.4f}% of elements")
            continue
        spikes_equal = torch.equal(s, s_ref)
        grad_err = (g - g_ref).abs().max().item()
        print(f"  {name:<22} spikes equal: {spikes_equal}, max |grad diff| = {grad_err:.2e}")
        if not spikes_equal or grad_err > 1e-5:
            raise SystemExit(f"{name} disagrees with SpikingJelly")


def time_all(candidates: dict, x: torch.Tensor, w: torch.Tensor, repeats: int) -> dict[str, list[float]]:
    for fn in candidates.values():  # warm-up, including compilation
        for _ in range(2):
            forward_backward(fn, x, w)
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            forward_backward(fn, x, w)
            samples[name].append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs="+", default=[4, 128, 64, 16, 16])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--backends", nargs="+", default=["reference", "eager", "compiled"],
                        choices=["reference", "eager", "compiled"], help="our backends to time")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.shape, generator=gen) * 1.5 + 0.5
    w = torch.randn(args.shape, generator=gen)

    candidates = {"SpikingJelly": spikingjelly(), "snnTorch": snntorch_leaky()}
    candidates.update({f"snnbench {backend}": ours(backend) for backend in args.backends})
    print(f"LIF forward+backward, shape {tuple(args.shape)}, float32, CPU, {args.threads} threads, "
          f"torch {version('torch')}, spikingjelly {version('spikingjelly')}, snntorch {version('snntorch')}")
    check_agreement(candidates, x, w)
    samples = time_all(candidates, x, w, args.repeats)
    best = {name: min(times) for name, times in samples.items()}
    base = best["SpikingJelly"]
    for name, t in best.items():
        median = statistics.median(samples[name])
        print(f"  {name:<22} {1000 * t:8.1f} ms (median {1000 * median:6.1f} ms)   {base / t:5.1f}x SpikingJelly's speed")
    fastest = min(args.backends, key=lambda b: best[f"snnbench {b}"])
    print(f"snnbench {fastest} vs SpikingJelly: {base / best[f'snnbench {fastest}']:.1f}x")

if __name__ == "__main__":
    main()
