"""Which attacks of the protocol do the work on one board: per model, how many images each entry was the first
to fool, from the committed results.

Usage: ``python benchmarks/first_to_fool.py [--benchmark mnist-linf] [--version K]`` (default: the version in
force)

Prints a Markdown table, headed by the board's name and version, with a row per zoo model that has a result
under that version. The protocol runs its entries in order on the survivors of the runs before; a cell counts
the images an entry's runs fooled that no earlier run had fooled (``first_to_fool`` in the result's
``attacks``), as ``first run + later restarts (number of restarts)``; "n/a" where the entry does not apply to
the model's neurons. Per row,

    clean-correct − Σ cells = robust accuracy × n / 100,

which the script checks, so the table is the headline taken apart.
"""
from __future__ import annotations

import argparse

from snnbench.protocol import load_protocol
from snnbench.results import Result, leaderboard_root, read_result, result_path
from snnbench.zoo import list_models, model_card


def entries(result: Result) -> dict[str, list]:
    """The result's runs grouped by protocol entry (``name/r<k>`` is restart k of ``name``), in protocol order."""
    grouped: dict[str, list] = {}
    for attack in result.attacks:
        grouped.setdefault(attack.name.split("/", 1)[0], []).append(attack)
    return grouped


def _cell(runs: list) -> str:
    if any(run.not_applicable for run in runs):
        return "n/a"
    first, *restarts = (run.first_to_fool or 0 for run in runs)
    return f"{first} + {sum(restarts)} ({len(restarts)})" if restarts else f"{first}"


def rows(benchmark: str, version: int) -> tuple[list[str], list[list[str]]]:
    """The header (its first cell names the board) and a row per zoo model with a result under ``version``."""
    names: list[str] = []
    found: list[tuple[str, Result]] = []
    for model in list_models():
        path = result_path(leaderboard_root(), benchmark, version, model)
        if benchmark in model_card(model).benchmarks and path.exists():
            result = read_result(path)
            found.append((path.name, result))
            names += [name for name in entries(result) if name not in names]
    table = []
    for file, result in found:
        grouped = entries(result)
        correct = result.clean_flags.count("1")
        fooled = sum(run.first_to_fool or 0 for runs in grouped.values() for run in runs)
        robust = result.robust_flags.count("1")
        if correct - fooled != robust:
            raise SystemExit(f"first_to_fool.py: {file}: {correct} clean-correct minus {fooled} first fooled "
                             f"is not the {robust} robust images")
        table.append([f"`{result.model}`", str(correct)] + [_cell(grouped[n]) if n in grouped else "—" for n in names]
                     + [f"{robust} ({result.robust_accuracy:.1f}%)"])
    return [f"{benchmark} v{version}", "clean-correct", *names, "robust"], table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="mnist-linf")
    parser.add_argument("--version", type=int, help="default: the version in force")
    args = parser.parse_args()
    try:
        version = load_protocol().benchmark(args.benchmark, args.version).version
    except ValueError as err:  # an unknown benchmark or version, named in one line
        raise SystemExit(f"first_to_fool.py: {err}") from None
    header, table = rows(args.benchmark, version)
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in table:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
