"""Replay the reference run of a committed MNIST result, batch by batch, with the code first on PYTHONPATH.

Usage:
    python benchmarks/replay_reference.py MODEL RESULT.json [--batches 0,1,2,3]
    git worktree add /tmp/old REV && PYTHONPATH=/tmp/old python benchmarks/replay_reference.py MODEL RESULT.json

The first run of ``mnist-linf``'s reference (SA-PGD + ASSG, ``A = 0.87``, 100 iterations, ε = 0.1; the same in
protocol v1 and v2) attacks the result's clean-correct samples in batches of 250, batch ``b`` with seed
``derive_seed(0, "sa-pgd-assg", b)``. For each batch asked for, this prints how many samples the replay fooled,
and compares them with the result: with its per-run flags (v2: the very same set?) and with its robust flags
(a sample the replay fools must not be robust). It imports nothing newer than protocol v1's first commit
(29e941f), so that the same script runs an old commit's code against today's: a difference is then the code's.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from snnbench.attacks import SAPGD
from snnbench.eval_subsets import load_eval_subset
from snnbench.randomness import derive_seed

try:
    from snnbench import load_model
except ImportError:  # before load_model was exported
    from snnbench.zoo import load_model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("result")
    parser.add_argument("--batches", default="0,1,2,3", help="batch indices, comma-separated")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.result) as handle:
        result = json.load(handle)
    clean = [i for i, c in enumerate(result["clean_flags"]) if c == "1"]
    reference = next(a for a in result["attacks"] if a["name"] == "sa-pgd-assg")
    flags = reference.get("fooled_flags")  # absent from v1 results
    model = load_model(args.model)
    images, labels = load_eval_subset("mnist-test-1000")
    for b in (int(text) for text in args.batches.split(",")):
        batch = clean[250 * b: 250 * (b + 1)]
        start = time.time()
        adversarial = SAPGD(eps=0.1, steps=100, seed=derive_seed(0, "sa-pgd-assg", b))(model, images[batch],
                                                                                       labels[batch])
        with torch.no_grad():
            correct = (model(adversarial).argmax(1) == labels[batch]).tolist()
        fooled = [i for i, ok in zip(batch, correct) if not ok]
        line = f"batch {b}: fooled {len(fooled)} ({time.time() - start:.0f} s)"
        if flags:
            recorded = {i for i in batch if flags[i] == "1"}
            line += (f"; the result's run fooled {len(recorded)}, only here {sorted(set(fooled) - recorded)}, "
                     f"only there {sorted(recorded - set(fooled))}")
        robust = [i for i in fooled if result["robust_flags"][i] == "1"]
        line += f"; fooled here but robust in the result: {robust}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
