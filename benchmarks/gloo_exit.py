"""How often two gloo ranks abort at exit with and without ``destroy_process_group`` (why the CLI's
``sharding.process_group_from_environment`` meets at a barrier and destroys the group on leaving).

    python benchmarks/gloo_exit.py --runs 30

Each run starts two processes that join a gloo group through a file rendezvous, exchange 20
``all_gather_object`` calls and exit, either leaving the group alive or destroying it first; a run fails when
either process's exit code is not 0 (an abort at interpreter shutdown: ``terminate called without an active
exception``).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

RANK = """
import os, sys, torch.distributed as dist
dist.init_process_group("gloo", init_method="file://" + sys.argv[1], rank=int(os.environ["RANK"]), world_size=2)
for _ in range(20):
    out = [None, None]
    dist.all_gather_object(out, {"rank": dist.get_rank(), "payload": list(range(1000))})
if sys.argv[2] == "destroy":
    dist.destroy_process_group()
"""


def failures(mode: str, runs: int) -> int:
    failed = 0
    with tempfile.TemporaryDirectory() as folder:
        for run in range(runs):
            store = os.path.join(folder, f"rendezvous{mode}{run}")
            ranks = [subprocess.Popen([sys.executable, "-c", RANK, store, mode], env={**os.environ, "RANK": str(r)},
                                      stderr=subprocess.DEVNULL) for r in range(2)]
            failed += any(rank.wait(timeout=300) != 0 for rank in ranks)
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    for mode in ("keep", "destroy"):
        print(f"group {'left alive' if mode == 'keep' else 'destroyed'} at exit: {failures(mode, args.runs)} of "
              f"{args.runs} runs aborted")


if __name__ == "__main__":
    main()
