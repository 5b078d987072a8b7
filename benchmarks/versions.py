"""Two protocol versions of one board side by side, from the committed results: what the new version changed,
per model, and what it cost.

Usage: ``python benchmarks/versions.py [--benchmark mnist-linf] [--old K] [--new K]`` (default: the version in
force and the one before it)

Prints a Markdown table with a row per zoo model that has a result under either version: the headline under
each (and the difference in points), the new version's reference and prior-practice accuracies, prior
practice's overestimate under each, the evaluation's minutes and input gradients under each (with the
threads it ran on, and the processes when there were several, whose minutes are summed: the machine was
shared, so minutes compare loosely; gradients are exact), and how much
the new version's last restart still lowered the headline. A model without a result under one of the two
versions shows "—" there. Minutes include runs carried over from the older version's result (``snnbench evaluate
--reuse``), as they were measured then, and say how many minutes those were.
"""
from __future__ import annotations

import argparse
from typing import Optional

from snnbench.leaderboard import restart_gain_text
from snnbench.protocol import load_protocol
from snnbench.results import Result, leaderboard_root, read_result, result_path
from snnbench.zoo import list_models, model_card


def _result(benchmark: str, version: int, model: str) -> Optional[Result]:
    path = result_path(leaderboard_root(), benchmark, version, model)
    return read_result(path) if path.exists() else None


def _cost(result: Optional[Result]) -> str:
    if result is None:
        return "—"
    carried = result.carried_seconds  # measured when the older version ran them
    env = result.environment  # with several processes, minutes are summed over them
    where = f"{env.threads} thr." + (f" × {env.processes} proc., summed" if env.processes > 1 else "")
    return (f"{result.seconds / 60:.1f} min{f' ({carried / 60:.1f} carried over)' if carried else ''}, "
            f"{result.backward:,} ({where})")


def _figure(result: Optional[Result], field: str) -> str:
    return "—" if result is None else f"{getattr(result, field):.1f}"


def rows(benchmark: str, old: int, new: int) -> list[list[str]]:
    table = []
    for model in list_models():
        if benchmark not in model_card(model).benchmarks:
            continue
        before, after = _result(benchmark, old, model), _result(benchmark, new, model)
        if before is None and after is None:
            continue
        change = "—" if before is None or after is None else f"{after.robust_accuracy - before.robust_accuracy:+.1f}"
        ratio = ("—" if before is None or after is None or not before.backward
                 else f"{after.backward / before.backward:.1f}×")
        table.append([f"`{model}`", _figure(before, "robust_accuracy"), _figure(after, "robust_accuracy"), change,
                      _figure(after, "reference_accuracy"), _figure(after, "prior_accuracy"),
                      _figure(before, "overestimate"), _figure(after, "overestimate"), _cost(before), _cost(after),
                      ratio,
                      "—" if after is None else restart_gain_text(after),
                      "—" if after is None else ("ok" if after.reliable else "unreliable")])
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="mnist-linf")
    parser.add_argument("--old", type=int, help="default: the version before --new")
    parser.add_argument("--new", type=int, help="default: the version in force")
    args = parser.parse_args()
    protocol = load_protocol()
    try:
        in_force = protocol.benchmark(args.benchmark).version
    except ValueError as err:
        raise SystemExit(f"versions.py: {err}") from None
    args.new = in_force if args.new is None else args.new
    args.old = args.new - 1 if args.old is None else args.old
    for version in (args.new, args.old):
        try:
            protocol.benchmark(args.benchmark, version)
        except ValueError as err:  # an unknown benchmark or version, named in one line
            raise SystemExit(f"versions.py: {err}") from None
    o, n = f"v{args.old}", f"v{args.new}"
    header = ["model", f"robust {o}", f"robust {n}", "change", f"reference {n}", f"prior practice {n}",
              f"overestimate {o}", f"overestimate {n}", f"{o}: time, input gradients", f"{n}: time, input gradients",
              f"gradients {n}/{o}", f"last restart {n} (%)", f"{n} reliability"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in rows(args.benchmark, args.old, args.new):
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
