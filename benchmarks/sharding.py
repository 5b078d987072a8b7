"""One evaluation in one process against the same evaluation spread over two (``torch.distributed``, gloo).

Usage:
    python benchmarks/sharding.py [--model mnist-convnet-lif-bptt] [--n-examples 100] [--batch-size 25]
                                  [--threads 1]

Runs the protocol in force, unofficially, on the first ``--n-examples`` images in batches of
``--batch-size``: first in one process, then in two processes started like ``torchrun`` would (a file
rendezvous), each with ``--threads`` threads, and prints both wall-clock times (process start to result,
start-up and compilation included), their ratio, and whether the two results agree in every flag, count and
figure (they must: batch ``b`` keeps its seed whichever rank runs it). On a machine with two cores, one
thread per process is the fair comparison: the single process gets one core, the pair gets two.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = """
import json, os, sys
import torch
torch.set_num_threads({threads})
import torch.distributed as dist
from snnbench.evaluation import run_plan
from snnbench.evaluation_plan import plan_evaluation
from snnbench.records import record_to_dict
world = int(os.environ["WORLD_SIZE"])
if world > 1:
    dist.init_process_group("gloo", init_method="file://" + {rendezvous!r}, rank=int(os.environ["RANK"]),
                            world_size=world)
plan = plan_evaluation({model!r}, {benchmark!r}, n_examples={n}, batch_size={batch})
result = run_plan(plan)
if int(os.environ["RANK"]) == 0:
    with open({out!r}, "w") as handle:
        json.dump(record_to_dict(result), handle)
if world > 1:
    dist.destroy_process_group()
"""


def launch(world: int, args, folder: Path, benchmark: str) -> tuple[float, dict]:
    out = folder / f"result-{world}.json"
    script = SCRIPT.format(threads=args.threads, rendezvous=str(folder / f"rendezvous-{world}"), model=args.model,
                           benchmark=benchmark, n=args.n_examples, batch=args.batch_size, out=str(out))
    env = {**os.environ, "WORLD_SIZE": str(world), "OMP_NUM_THREADS": str(args.threads)}
    start = time.perf_counter()
    ranks = [subprocess.Popen([sys.executable, "-c", script], env={**env, "RANK": str(r)}) for r in range(world)]
    if any(rank.wait() != 0 for rank in ranks):
        raise SystemExit(f"sharding.py: a process of the {world}-process run failed")
    return time.perf_counter() - start, json.loads(out.read_text())


def comparable(result: dict) -> dict:
    result = {k: v for k, v in result.items() if k not in ("seconds", "environment")}
    result["attacks"] = [{k: v for k, v in a.items() if k != "seconds"} for a in result["attacks"]]
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist-convnet-lif-bptt")
    parser.add_argument("--benchmark", default=None, help="default: the card's first benchmark")
    parser.add_argument("--n-examples", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1, help="threads per process")
    args = parser.parse_args(argv)
    from snnbench.zoo import model_card

    benchmark = args.benchmark or model_card(args.model).benchmarks[0]
    with tempfile.TemporaryDirectory() as tmp:
        one, single = launch(1, args, Path(tmp), benchmark)
        two, sharded = launch(2, args, Path(tmp), benchmark)
    same = comparable(single) == comparable(sharded)
    print(f"{args.model} on {benchmark}, first {args.n_examples} images, batches of {args.batch_size}, "
          f"{args.threads} thread(s) per process")
    print(f"1 process:   {one:7.1f} s")
    print(f"2 processes: {two:7.1f} s   ({one / two:.2f}x)")
    print(f"results {'equal' if same else 'DIFFER'} in every flag, count and figure "
          f"(robust {single['robust_accuracy']:.1f}%, {len(single['attacks'])} runs)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
