"""The reference with the reset detached, against a committed result that differentiated through it.

Usage:
    python benchmarks/detached_reset.py --model NAME [--benchmark B] [--version K] [--n-examples N]

A LIF/IF layer's hard reset ``u_t = H_t·(1 − S_t) + V_r·S_t`` passes
``∂u_t/∂H_t = 1 − S_t + (V_r − H_t)·g(H_t − θ)`` to the backward unless the layer detaches ``S_t`` there; the official ASSG code detaches it (``1 − S_t``), and
protocol versions before mnist-linf v4 (CIFAR-10 boards: v5) followed the layer, which in the zoo does not.
This script runs the reference entry of the committed result's protocol version (SA-PGD + ASSG) once more,
with ``detach_reset: true`` and otherwise exactly as that version's first reference run (the same batches of
clean-correct samples, seeds ``(seed, entry name, batch)`` and judging), on every clean-correct sample, and
compares per sample with the committed runs: how many the detached run fooled, how many of those the
committed reference's first run and all its runs together fooled, and the robust accuracy of each.

Under mnist-linf v4 (CIFAR-10 boards v5), whose reference is this detached run, an evaluation's first
reference run fools exactly the samples this script reports. The record goes to
``benchmarks/results/detached_reset/<benchmark>-v<k>/<model>.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from snnbench.allocator import retain_freed_memory
from snnbench.counting import counted_passes
from snnbench.eval_subsets import load_eval_subset
from snnbench.protocol import GradientConfig, load_protocol
from snnbench.randomness import derive_seed
from snnbench.results import leaderboard_root, read_result, result_path
from snnbench.runner import judge
from snnbench.zoo import load_model, model_card

RESULTS = Path(__file__).resolve().parent / "results" / "detached_reset"


def _ones(flags: str) -> set[int]:
    return {i for i, f in enumerate(flags) if f == "1"}


def run(model_name: str, benchmark: str, version: int, n_examples: int, results: Path) -> dict:
    retain_freed_memory()
    bench = load_protocol().benchmark(benchmark, version)
    reference = next(e for e in bench.attacks if e.role == "reference")
    if reference.gradient is None or reference.gradient.mode != "assg":
        raise SystemExit(f"detached_reset.py: {bench.label}'s reference {reference.name} is not driven by ASSG")
    if reference.gradient.params.get("detach_reset"):
        raise SystemExit(f"detached_reset.py: {bench.label}'s reference already detaches the reset")
    committed = result_path(leaderboard_root(), benchmark, bench.version, model_name)
    if not committed.exists():
        raise SystemExit(f"detached_reset.py: no committed result {committed}")
    if bench.subset is None:
        raise SystemExit(f"detached_reset.py: {bench.label} has no bundled subset; it runs on bundled benchmarks only")
    result = read_result(committed)
    if result.early:
        raise SystemExit(f"detached_reset.py: {committed} records no per-run flags to compare with")
    detached = dataclasses.replace(reference, gradient=GradientConfig(
        "assg", {**dict(reference.gradient.params), "detach_reset": True}))
    n = min(n_examples or result.n_examples, result.n_examples)
    images, labels = load_eval_subset(bench.subset)
    model = load_model(model_name)
    eot = bench.stochastic.eot if model.stochastic else 1
    clean = [i for i in sorted(_ones(result.clean_flags)) if i < n]
    fooled, forward, backward, start = [], 0, 0, time.perf_counter()
    # As the runner batches a run on all clean-correct samples: in order, batch_size at a time, batch k seeded
    # by (seed, entry name, k) and judged under the purpose "<entry name>/<k>".
    for k, index in enumerate(range(0, len(clean), bench.batch_size)):
        batch = clean[index:index + bench.batch_size]
        x, y = images[batch], labels[batch]
        with counted_passes(model) as counter:
            outcome = detached.build(bench.epsilon, derive_seed(bench.seed, reference.name, k), eot).run(model, x, y)
            ok = judge(model, outcome.x_adv, y, bench, bench.seed, f"{reference.name}/{k}")
        fooled += [i for i, still in zip(batch, ok.tolist()) if not still]
        forward, backward = forward + counter.forward, backward + counter.backward
    within = set(range(n))
    first = _ones(result.attacks[0].fooled_flags) & within
    every = set().union(*(_ones(a.fooled_flags) for a in result.attacks)) & within
    ours = set(fooled)
    record = {
        "model": model_name, "benchmark": bench.name, "version": bench.version, "n_examples": n,
        "entry": reference.name, "gradient": {"mode": "assg", "params": dict(detached.gradient.params)},
        "clean": len(clean), "fooled": len(ours), "fooled_indices": sorted(ours),
        "committed_reference_fooled": len(first), "committed_all_runs_fooled": len(every),
        "committed_runs": len(result.attacks),
        "fooled_by_committed_reference_only": len(first - ours), "fooled_by_committed_runs_only": len(every - ours),
        "fooled_by_detached_only": len(ours - every),
        "reference_accuracy_detached": 100.0 * (len(clean) - len(ours)) / n,
        "reference_accuracy_committed": 100.0 * (len(clean) - len(first)) / n,
        "headline_committed": 100.0 * (len(clean) - len(every)) / n,
        "headline_with_both": 100.0 * (len(clean) - len(every | ours)) / n,
        "forward": forward, "backward": backward, "seconds": round(time.perf_counter() - start, 1),
        "threads": torch.get_num_threads(),
    }
    folder = results / f"{bench.name}-v{bench.version}"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / (f"{model_name}.json" if n == result.n_examples else f"{model_name}-first{n}.json")
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(out)
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--benchmark", default=None, help="default: the card's first benchmark")
    parser.add_argument("--version", type=int, required=True,
                        help="the protocol version of the committed result (one whose reference follows the layer)")
    parser.add_argument("--n-examples", type=int, default=None, help="only the first N images (a quick look)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    benchmark = args.benchmark or model_card(args.model).benchmarks[0]
    r = run(args.model, benchmark, args.version, args.n_examples, args.results)
    print(f"{r['model']} ({r['benchmark']} v{r['version']}, {r['n_examples']} images, {r['clean']} clean-correct): "
          f"{r['entry']} with the reset detached fooled {r['fooled']} ({r['seconds']:.0f} s, {r['backward']:,} input "
          f"gradients); the committed reference's first run fooled {r['committed_reference_fooled']} "
          f"({r['fooled_by_committed_reference_only']} of them not fooled here), its {r['committed_runs']} runs "
          f"together {r['committed_all_runs_fooled']} ({r['fooled_by_committed_runs_only']} not fooled here). "
          f"Reference accuracy {r['reference_accuracy_committed']:.1f}% -> {r['reference_accuracy_detached']:.1f}% "
          f"detached; headline {r['headline_committed']:.1f}%, {r['headline_with_both']:.1f}% with this run added.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
