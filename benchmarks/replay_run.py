"""Re-run chosen batches of any run of a committed result with today's code, and compare what they fool with the
result's per-run flags.

Usage: ``python benchmarks/replay_run.py RESULT.json RUN [--batches 1,2] [--plain]``

``RUN`` is a run's name in the result (``sa-pgd-assg-a80``, ``apgd-t-assg/r2``); batches are numbered from 1, as
``snnbench verify`` numbers them. The run's samples follow from the result's flags (every clean-correct image
for a ``samples: clean`` entry, else those no earlier run fooled), its batches and their seeds from the
protocol, as in an evaluation. ``--plain`` runs the spiking layers' plain functions instead of their compiled
kernels (:class:`snnbench.compilation.Fused`), so that a difference can be told from a kernel's. Per batch it
prints the samples fooled here and in the result, and ``only here`` / ``only there``; it exits 1 if any
differs. Unlike ``snnbench verify`` it re-runs exactly the batches asked for, of one run, with no budget,
which is what tracing a mismatch that ``verify`` reported needs (a run carried over with ``--reuse`` is
re-run like any other).
"""
from __future__ import annotations

import argparse
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result")
    parser.add_argument("run", help="the run's name in the result, e.g. sa-pgd-assg-a80 or apgd-t-assg/r2")
    parser.add_argument("--batches", help="batch numbers from 1, comma-separated (default: all)")
    parser.add_argument("--plain", action="store_true", help="plain functions, not compiled kernels")
    parser.add_argument("--data-dir", help="data root for test sets that are not bundled")
    args = parser.parse_args()
    if args.plain:
        from snnbench import compilation
        compilation.Fused.__call__ = lambda self, *tensors: self.fn(*tensors)
    from snnbench.evaluation_plan import plan_evaluation
    from snnbench.protocol import load_protocol
    from snnbench.results import read_result
    from snnbench.runner import Runner
    from snnbench.verification import attacked_samples
    from snnbench.zoo import load_model

    result = read_result(args.result)
    if any(a.fooled_flags is None for a in result.attacks):
        raise SystemExit(f"replay_run.py: {args.result} keeps no per-run flags (a first v1 file): nothing to compare")
    names = [a.name for a in result.attacks]
    if args.run not in names:
        raise SystemExit(f"replay_run.py: {args.result} has no run {args.run!r}; it has {', '.join(names)}")
    bench = load_protocol().benchmark(result.benchmark, result.protocol)
    plan = plan_evaluation(load_model(result.model), bench, n_examples=result.n_examples,
                           batch_size=result.environment.batch_size or bench.batch_size, seed=result.environment.seed)
    images, labels = plan.images(args.data_dir)
    runner = Runner(plan, images, labels)
    run, outcome, samples, fooled = next(r for r in attacked_samples(result, bench) if r[1].name == args.run)
    if outcome.not_applicable:
        raise SystemExit(f"replay_run.py: {args.run} did not run on {result.model}: {outcome.not_applicable}")
    batches = runner.batches(samples)
    wanted = range(1, len(batches) + 1) if args.batches is None else [int(b) for b in args.batches.split(",")]
    if not all(1 <= b <= len(batches) for b in wanted):
        raise SystemExit(f"replay_run.py: --batches: {args.run} has batches 1 to {len(batches)}")
    differ = False
    for number in wanted:
        batch = batches[number - 1]
        start = time.perf_counter()
        here = set(runner.attack_batch(run, batch, number - 1).fooled)
        there = fooled & set(batch)
        differ |= here != there
        print(f"{args.run} batch {number} of {len(batches)} ({len(batch)} images, {time.perf_counter() - start:.0f} s"
              f"{', plain functions' if args.plain else ''}): fooled here {sorted(here)}, in the result "
              f"{sorted(there)}; only here {sorted(here - there)}, only there {sorted(there - here)}", flush=True)
    print("differs" if differ else "same")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
