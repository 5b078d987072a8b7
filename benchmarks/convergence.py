"""How far a board's headline is from converged: more attack budget, added on the survivors only.

Usage:
    python benchmarks/convergence.py --model NAME [--benchmark B] [--n-examples N] [--only LABEL ...]
    python benchmarks/convergence.py --report            # the table and plot of every committed run

A run starts from the samples that the model's committed official result calls robust (the survivors of
every attack of the protocol, recomputed from nothing: the result's flags are reproducible by
``snnbench evaluate``) and adds, one after another, each attack of :data:`ADDITIONS` on the samples that
are still standing: restarts of the reference from new random starts, other ASSG sharpness ``A``, DLR,
targeted and CE losses through ASSG, more iterations, more Square queries (through ASSG as the version's own
ASSG entries differentiate: with the reset detached from mnist-linf v4 on). For each addition it records
which samples it was the first to fool, the headline after it, and its cost in images forward, input
gradients and seconds. Batches are seeded from ``(protocol seed, "convergence", label, batch)``, so a run is
reproducible, and it is saved after every addition to
``benchmarks/results/convergence/<benchmark>-v<k>/<model>.json``, so an interrupted run continues where it
stopped (``--restart`` starts over). ``--version`` picks the protocol version whose result it starts from
(default: the newest with a committed result).

``--report`` prints one table per model and writes ``benchmarks/results/convergence.png`` (and ``.svg``): how
far the headline falls against the cost spent beyond the protocol, in image-gradient equivalents
(:func:`gradient_equivalents`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from snnbench.allocator import retain_freed_memory
from snnbench.counting import counted_passes
from snnbench.eval_subsets import load_eval_subset
from snnbench.protocol import AttackEntry, GradientConfig, load_protocol
from snnbench.randomness import derive_seed
from snnbench.results import leaderboard_root, read_result, result_path
from snnbench.runner import judge
from snnbench.zoo import load_model

RESULTS = Path(__file__).resolve().parent / "results" / "convergence"
ASSG = GradientConfig("assg", {"A": 0.87})


def _assg(A: float, **params) -> GradientConfig:
    return GradientConfig("assg", {"A": A, **params})


@dataclass(frozen=True)
class Addition:
    """One more attack on the survivors. ``seed`` distinguishes restarts of the same attack."""

    label: str
    entry: AttackEntry
    seed: int = 0


def _entry(name: str, attack: str, params: dict, gradient: GradientConfig = None) -> AttackEntry:
    return AttackEntry(name=name, attack=attack, role="extra", samples="survivors", params=params,
                       gradient=gradient)


# In the order they run. The first group answers "what does each kind of budget buy"; the second repeats
# the strongest kinds from new random starts, to see whether one more restart still fools anything.
ADDITIONS: tuple[Addition, ...] = (
    Addition("sa-pgd-assg restart 1", _entry("sa-pgd-assg", "SAPGD", {"steps": 100}, ASSG), 1),
    Addition("sa-pgd-assg A=0.80", _entry("sa-pgd-assg-a0.80", "SAPGD", {"steps": 100}, _assg(0.80))),
    Addition("apgd-dlr-assg", _entry("apgd-dlr-assg", "APGD", {"steps": 100, "loss_name": "dlr"}, ASSG)),
    Addition("apgd-t-assg (3 targets)", _entry("apgd-t-assg", "APGDT", {"steps": 100, "targets": 3}, ASSG)),
    Addition("apgd-ce-assg", _entry("apgd-ce-assg", "APGD", {"steps": 100, "loss_name": "ce"}, ASSG)),
    Addition("sa-pgd-assg 300 steps", _entry("sa-pgd-assg-300", "SAPGD", {"steps": 300}, ASSG)),
    Addition("square 3000 queries", _entry("square-3000", "Square", {"queries": 3000}), 1),
    Addition("sa-pgd-assg restart 2", _entry("sa-pgd-assg", "SAPGD", {"steps": 100}, ASSG), 2),
    Addition("sa-pgd-assg A=0.80 restart 2", _entry("sa-pgd-assg-a0.80", "SAPGD", {"steps": 100}, _assg(0.80)), 2),
    Addition("apgd-t-assg restart 2", _entry("apgd-t-assg", "APGDT", {"steps": 100, "targets": 3}, ASSG), 2),
    Addition("sa-pgd-assg restart 3", _entry("sa-pgd-assg", "SAPGD", {"steps": 100}, ASSG), 3),
    # The official ASSG code passes no gradient through the reset; the zoo's LIF/IF layers do not detach theirs.
    Addition("sa-pgd-assg reset detached",
             _entry("sa-pgd-assg-detached", "SAPGD", {"steps": 100}, _assg(0.87, detach_reset=True))),
    Addition("sa-pgd-assg A=0.80 reset detached",
             _entry("sa-pgd-assg-a0.80-detached", "SAPGD", {"steps": 100}, _assg(0.80, detach_reset=True))),
    Addition("apgd-t-assg reset detached (3 targets)",
             _entry("apgd-t-assg-detached", "APGDT", {"steps": 100, "targets": 3}, _assg(0.87, detach_reset=True))),
)


def for_version(addition: Addition, bench) -> Optional[Addition]:
    """``addition`` as it applies to a result of ``bench``: where that version's ASSG entries pass no gradient
    through the reset (``detach_reset``, since mnist-linf v4), so do the additions through ASSG, and those
    labelled "reset detached" are left out (None): they would repeat the others."""
    detached = any(e.gradient is not None and e.gradient.mode == "assg" and e.gradient.params.get("detach_reset")
                   for e in bench.attacks)
    gradient = addition.entry.gradient
    if not detached or gradient is None or gradient.mode != "assg":
        return addition
    if gradient.params.get("detach_reset"):
        return None
    return dataclasses.replace(addition, entry=dataclasses.replace(
        addition.entry, gradient=GradientConfig("assg", {**dict(gradient.params), "detach_reset": True})))


def run(model_name: str, benchmark: str, n_examples: int, only: list[str], restart: bool, results: Path,
        version: int = None) -> Path:
    retain_freed_memory()
    protocol = load_protocol()
    versions = [b.version for b in protocol.versions(benchmark)
                if result_path(leaderboard_root(), benchmark, b.version, model_name).exists()]
    if version is None and not versions:
        raise SystemExit(f"convergence.py: {model_name} has no committed {benchmark} result; run `snnbench "
                         f"evaluate --model {model_name}` first")
    bench = protocol.benchmark(benchmark, version if version is not None else max(versions))
    committed = result_path(leaderboard_root(), benchmark, bench.version, model_name)
    if not committed.exists():
        raise SystemExit(f"convergence.py: no committed result {committed}")
    result = read_result(committed)
    if bench.subset is None:
        raise SystemExit(f"convergence.py: {bench.label} has no bundled subset; it runs on bundled benchmarks only")
    n = min(n_examples or result.n_examples, result.n_examples)
    folder = results / f"{bench.name}-v{bench.version}"
    out = folder / (f"{model_name}.json" if n == result.n_examples else f"{model_name}-first{n}.json")
    record = _load(out, model_name, bench, n) if not restart else None
    if record is None:
        robust = [i for i, flag in enumerate(result.robust_flags[:n]) if flag == "1"]
        record = {"model": model_name, "benchmark": bench.name, "version": bench.version, "n_examples": n,
                  "start": {"robust": len(robust), "headline": 100.0 * len(robust) / n,
                            "robust_indices": robust},
                  "threads": torch.get_num_threads(), "additions": []}
    images, labels = load_eval_subset(bench.subset)
    images, labels = images[:n], labels[:n]
    model = load_model(model_name)
    eot = bench.stochastic.eot if model.stochastic else 1
    done = {a["label"] for a in record["additions"]}
    for addition in filter(None, (for_version(a, bench) for a in ADDITIONS)):
        if addition.label in done or (only and addition.label not in only):
            continue
        survivors = _survivors(record)
        fooled, forward, backward, start = [], 0, 0, time.perf_counter()
        for index in range(0, len(survivors), bench.batch_size):
            batch = survivors[index:index + bench.batch_size]
            seed = derive_seed(bench.seed, "convergence", addition.label, index // bench.batch_size)
            x, y = images[batch], labels[batch]
            with counted_passes(model) as counter:
                x_adv = addition.entry.build(bench.epsilon, seed, eot)(model, x, y)
                ok = judge(model, x_adv, y, bench, seed, addition.label)
            fooled += [i for i, still in zip(batch, ok.tolist()) if not still]
            forward, backward = forward + counter.forward, backward + counter.backward
        left = len(survivors) - len(fooled)
        record["additions"].append({
            "label": addition.label, "attack": addition.entry.attack, "params": dict(addition.entry.params),
            "gradient": None if addition.entry.gradient is None else {
                "mode": addition.entry.gradient.mode, "params": dict(addition.entry.gradient.params)},
            "seed": addition.seed, "attacked": len(survivors), "fooled": len(fooled), "fooled_indices": fooled,
            "headline": 100.0 * left / n, "forward": forward, "backward": backward,
            "seconds": round(time.perf_counter() - start, 1)})
        _save(out, record)
        print(f"{model_name}: {addition.label}: fooled {len(fooled)} of {len(survivors)}, headline "
              f"{100.0 * left / n:.1f}%, {backward:,} input gradients, {forward:,} images forward, "
              f"{record['additions'][-1]['seconds']:.0f} s", flush=True)
    return out


def _survivors(record: dict) -> list[int]:
    fooled = {i for a in record["additions"] for i in a["fooled_indices"]}
    return [i for i in record["start"]["robust_indices"] if i not in fooled]


def _load(path: Path, model: str, bench, n: int):
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    if (record["model"], record["benchmark"], record["version"], record["n_examples"]) != (model, bench.name,
                                                                                           bench.version, n):
        raise SystemExit(f"convergence.py: {path} is another run; pass --restart to start over")
    return record


def _save(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(path)


def report(results: Path) -> int:
    records = [json.loads(p.read_text()) for p in sorted(results.glob("*/*.json"))]
    if not records:
        print(f"no runs in {results}")
        return 1
    for record in records:
        start = record["start"]
        print(f"\n{record['model']} ({record['benchmark']} v{record['version']}, {record['n_examples']} images): "
              f"headline {start['headline']:.1f}% ({start['robust']} robust)")
        print(f"  {'addition':<30} {'attacked':>8} {'fooled':>6} {'headline':>8} {'input grads':>12} "
              f"{'forward':>11} {'seconds':>8}")
        for a in record["additions"]:
            print(f"  {a['label']:<30} {a['attacked']:>8} {a['fooled']:>6} {a['headline']:>7.1f}% "
                  f"{a['backward']:>12,} {a['forward']:>11,} {a['seconds']:>8.0f}")
    _plot(records, results.parent / "convergence")
    return 0


def gradient_equivalents(addition: dict) -> int:
    """Cost in image-gradient equivalents: every input gradient (with its forward pass), plus a third for each
    forward pass that computed no gradient (Square's queries, judging): a forward pass costs about a third of
    a forward and backward pass."""
    return addition["backward"] + (addition["forward"] - addition["backward"]) // 3


def _plot(records: list[dict], stem: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab20").colors  # more lines than tab10 has colours: no two alike
    for index, record in enumerate(records):
        cost, drop = [0], [0.0]
        for a in record["additions"]:
            cost.append(cost[-1] + gradient_equivalents(a))
            drop.append(record["start"]["headline"] - a["headline"])
        label = f"{record['model']} ({record['benchmark']} v{record['version']})"
        ax.step(cost, drop, where="post", marker="o", markersize=3, label=label,
                color=colours[(2 * index) % 20 + (2 * index) // 20 % 2])
    ax.set_xlabel("extra cost beyond the protocol (image-gradient equivalents)")
    ax.set_ylabel("headline lowered by (points)")
    ax.set_title("How much more the headline falls with more attack budget on the survivors")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    for suffix in ("png", "svg"):
        fig.savefig(f"{stem}.{suffix}", dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--benchmark", default=None, help="default: the card's first benchmark")
    parser.add_argument("--version", type=int, default=None,
                        help="the protocol version whose committed result to start from (default: the newest)")
    parser.add_argument("--n-examples", type=int, default=None, help="only the first N images (a quick look)")
    parser.add_argument("--only", nargs="*", default=[], help="run only these additions (labels)")
    parser.add_argument("--restart", action="store_true", help="discard the saved run and start over")
    parser.add_argument("--report", action="store_true", help="print and plot every saved run")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help=f"folder of the runs (default {RESULTS}); the plot goes beside it")
    args = parser.parse_args()
    if args.report:
        return report(args.results)
    if not args.model:
        parser.error("give --model NAME, or --report")
    unknown = sorted(set(args.only) - {a.label for a in ADDITIONS})
    if unknown:
        parser.error(f"no addition(s) {', '.join(unknown)}; labels: {', '.join(a.label for a in ADDITIONS)}")
    from snnbench.zoo import model_card

    benchmark = args.benchmark or model_card(args.model).benchmarks[0]
    print(run(args.model, benchmark, args.n_examples, args.only, args.restart, args.results, args.version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
