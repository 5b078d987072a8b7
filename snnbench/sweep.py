"""Robust accuracy against ε: the reference and prior practice alone, at each ε, as unofficial results.

For a benchmark ``B`` and radii ``ε_1 < … < ε_m``, each point is an evaluation of ``B`` with ``epsilon = ε_j``
and only its two headline entries (the reference and prior practice, one run each, on every clean-correct
sample): the reference's accuracy, prior practice's, and their per-sample worst case. These are not the
board's headline (no extras, no restarts, no Square), and every point is an unofficial result whose departure
names its ε, written to ``<out>/<benchmark>/v<k>/sweeps/<model>-eps<ε>-n<N>-b<B>-s<S>.json``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from .classifier import SpikingClassifier
from .datasets import PathLike
from .evaluation import run_plan
from .evaluation_plan import plan_evaluation
from .protocol import Benchmark, load_protocol
from .results import Result, write_result
from .zoo import load_model


def headline_only(bench: Benchmark, epsilon: float) -> Benchmark:
    """``bench`` at ``epsilon`` with only its reference and prior-practice entries, each run once."""
    attacks = tuple(dataclasses.replace(a, restarts=1) for a in bench.attacks if a.role in ("reference", "prior"))
    return dataclasses.replace(bench, epsilon=epsilon, attacks=attacks)


def sweep_file(out: Optional[PathLike], bench: Benchmark, model: str, epsilon: float, label: str) -> Path:
    folder = Path("snnbench-results" if out is None else out) / bench.name / f"v{bench.version}" / "sweeps"
    return folder / f"{model}-eps{epsilon:.6g}-{label}.json"


def epsilon_sweep(model: Union[str, SpikingClassifier], benchmark: Union[str, Benchmark],
                  epsilons: Sequence[float], *, name: Optional[str] = None, n_examples: int = 100,
                  batch_size: Optional[int] = None, device: str = "cpu", zoo: Optional[PathLike] = None,
                  out: Optional[PathLike] = None,
                  log: Optional[Callable[[str], None]] = None) -> list[tuple[float, Result, Path]]:
    """Evaluate ``model`` at every ε in ``epsilons`` (ascending) under :func:`headline_only`; write each result
    and return ``(ε, result, path)`` per point."""
    bench = benchmark if isinstance(benchmark, Benchmark) else load_protocol().benchmark(benchmark)
    if not epsilons or any(not 0 < e <= 1 for e in epsilons):
        raise ValueError(f"epsilons must lie in (0, 1], got {list(epsilons)}")
    if isinstance(model, str):
        name = name or model
        model = load_model(model, zoo=zoo, device=device)
    points = []
    for epsilon in sorted(epsilons):
        plan = plan_evaluation(model, headline_only(bench, epsilon), name=name, n_examples=n_examples,
                               batch_size=batch_size, device=device, zoo=zoo)
        result = run_plan(plan)
        path = write_result(result, sweep_file(out, bench, plan.subject.name, epsilon, plan.settings.label))
        if log is not None:
            log(f"ε = {epsilon:.6g}: clean {result.clean_accuracy:.1f}%, reference {result.reference_accuracy:.1f}%, "
                f"prior practice {result.prior_accuracy:.1f}%, both {result.robust_accuracy:.1f}% ({path})")
        points.append((epsilon, result, path))
    return points
