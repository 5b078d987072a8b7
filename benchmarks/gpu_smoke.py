"""Where CUDA exists: one zoo model on the CPU and on the GPU — spikes, logits and the protocol's per-sample
flags on a few images — and the speed of one attack step on each.

Usage:
    python benchmarks/gpu_smoke.py [--model mnist-convnet-lif-at] [--n-examples 16] [--steps 10]

Checks, in this order, and exits 1 on the first that fails:

1. spikes: every spiking layer's output spikes on the clean images, CPU against GPU; a spike whose membrane
   potential sits within float rounding of the threshold may flip, so the share of equal spikes is reported
   and must be at least 99.99%;
2. logits: largest absolute difference (reported) and equal predictions;
3. flags: the protocol in force, unofficial, on the first ``--n-examples`` images (batches of the same size)
   on each device; the clean, robust and every run's fooled flags must be equal.

Then it times ``--steps`` SA-PGD + ASSG steps on a batch of 250 on each device (after one warm-up step) and
prints seconds per step. Without a CUDA device it says so and exits 0: nothing to compare (this is what runs
on the 2-core machine the project is developed on; the README says what has and has not run on a GPU).
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from snnbench.attacks import SAPGD, GradientSpec
from snnbench.eval_subsets import load_eval_subset
from snnbench.evaluation import evaluate
from snnbench.neurons import spiking_layers
from snnbench.protocol import load_protocol
from snnbench.zoo import load_model, model_card


def spikes(model, x) -> list[torch.Tensor]:
    outputs = []
    handles = [layer.register_forward_hook(lambda module, args, out: outputs.append(out.detach().cpu()))
               for layer in spiking_layers(model)]
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs + [logits.detach().cpu()]


def step_seconds(model, x, y, eps: float, steps: int) -> float:
    attack = SAPGD(eps=eps, steps=1, seed=0, gradient=GradientSpec("assg", {"A": 0.87}))
    attack.run(model, x, y)  # warm-up: compilation, allocator
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    SAPGD(eps=eps, steps=steps, seed=0, gradient=GradientSpec("assg", {"A": 0.87})).run(model, x, y)
    if x.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist-convnet-lif-at")
    parser.add_argument("--n-examples", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--backend", default="compiled", choices=["compiled", "eager", "reference"],
                        help="the spiking layers' kernels on both devices")
    parser.add_argument("--against", default="cuda",
                        help="the device compared with the CPU (cpu: the script's own check, on any machine)")
    args = parser.parse_args(argv)
    other = args.against
    if other.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_smoke: no CUDA device: nothing to compare")
        return 0
    card = model_card(args.model)
    bench = load_protocol().benchmark(card.benchmarks[0])
    images, labels = load_eval_subset(bench.subset)
    x, y = images[:args.n_examples], labels[:args.n_examples]
    cpu = load_model(args.model, device="cpu", backend=args.backend)
    gpu = load_model(args.model, device=other, backend=args.backend)
    on_cpu, on_gpu = spikes(cpu, x), spikes(gpu, x.to(other))
    equal = sum(int((a == b).sum()) for a, b in zip(on_cpu[:-1], on_gpu[:-1]))
    total = sum(a.numel() for a in on_cpu[:-1])
    share = 100.0 * equal / total
    print(f"spikes: {equal:,} of {total:,} equal ({share:.4f}%)")
    if share < 99.99:
        return 1
    difference = float((on_cpu[-1] - on_gpu[-1]).abs().max())
    same_predictions = bool(torch.equal(on_cpu[-1].argmax(1), on_gpu[-1].argmax(1)))
    print(f"logits: largest difference {difference:.2e}; predictions {'equal' if same_predictions else 'DIFFER'}")
    if not same_predictions:
        return 1
    results = {device: evaluate(model, bench, n_examples=args.n_examples, batch_size=args.n_examples,
                                device=device) for device, model in (("cpu", cpu), (other, gpu))}
    flags = {device: (r.clean_flags, r.robust_flags, [a.fooled_flags for a in r.attacks])
             for device, r in results.items()}
    print(f"flags: {'equal' if flags['cpu'] == flags[other] else 'DIFFER'} (robust "
          f"{results['cpu'].robust_accuracy:.1f}% on the CPU, {results[other].robust_accuracy:.1f}% on {other}, "
          f"{args.n_examples} images)")
    if flags["cpu"] != flags[other]:
        return 1
    batch = images[:250]
    for device, model in (("cpu", cpu), (other, gpu)):
        seconds = step_seconds(model, batch.to(device), labels[:250].to(device), bench.epsilon, args.steps)
        print(f"{device}: {seconds * 1000:.1f} ms per SA-PGD + ASSG step on 250 images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
