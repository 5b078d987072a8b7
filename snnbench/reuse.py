"""Carrying runs over from an earlier result, so that a new protocol version does not repeat what an older one
already ran on the same model.

A run is fixed by the model, the images, the data settings (subset, ε, seed, batch size, the stochastic rule),
its entry's definition, its restart index and the samples it attacks; its batches are seeded from
``(seed, run name, batch index)``. The samples a run attacks are fixed by the runs before it. So where two
protocol versions' schedules (:func:`snnbench.schedule.runs`) begin with the same runs, on the same model and
data, those runs are identical, and an earlier result's per-run outcomes (the samples each fooled, its costs)
are the new evaluation's. :class:`Carryover` hands them over run by run, along the longest common prefix:
the first run that differs (another entry, restart or set of samples) and every run after it are run anew.

A carried run is marked in the new result (``AttackOutcome.reused`` names the earlier result), its seconds are
those measured when it ran, and ``snnbench verify`` re-runs a sample of its batches with today's code like any
other run's.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

from .datasets import PathLike
from .evaluation_plan import EvaluationPlan
from .protocol import AttackEntry, Benchmark, load_protocol
from .results import AttackOutcome, Result, read_result
from .runner import AttackProgress
from .schedule import Run, samples_attacked


@dataclasses.dataclass(frozen=True)
class Carryover:
    """The runs of ``result`` (on the retired benchmark ``bench``) that a new evaluation may take over."""

    label: str  # how the new result names the source: "<benchmark> v<k> result <flags sha256, 12 digits>"
    bench: Benchmark
    clean_flags: str
    outcomes: tuple[AttackOutcome, ...]

    def take(self, position: int, run: Run, samples: list[int], batch_size: int) -> Optional[AttackProgress]:
        """The earlier outcome of ``run`` if it is the ``position``-th run of both schedules, of the same entry and
        restart, on the same ``samples``; else None (and the caller stops asking: the prefix has ended)."""
        if position >= len(self.outcomes):
            return None
        old = self.outcomes[position]
        entry = next((e for e in self.bench.attacks if e.name == run.entry.name), None)
        if old.name != run.name or old.restart != run.restart or entry is None or \
                not same_definition(entry, run.entry) or list(samples) != samples_attacked(
                    [f == "1" for f in self.clean_flags], (_ones(o.fooled_flags) for o in self.outcomes[:position]),
                    run.on_clean):
            return None
        fooled = [i for i in samples if old.fooled_flags[i] == "1"]
        if fooled != _ones(old.fooled_flags):  # (the record checks the count)
            raise ValueError(f"{self.label}: run {old.name} reports {old.attacked - old.robust} fooled samples but "
                             f"its fooled_flags mark {old.fooled_flags.count('1')} ({len(fooled)} of them among the "
                             f"samples it attacked): the file is inconsistent; evaluate without --reuse")
        return AttackProgress(samples=list(samples), done_batches=-(-len(samples) // batch_size), fooled=fooled,
                              seconds=old.seconds, forward=old.forward, backward=old.backward,
                              not_applicable=old.not_applicable, gradient_layers=old.gradient_layers,
                              reused=self.label)

    def check_clean(self, clean: list[bool]) -> None:
        """The new evaluation's clean pass must give the earlier one's flags: the same model on the same data."""
        flags = "".join("1" if ok else "0" for ok in clean)
        if flags != self.clean_flags:
            differ = sum(a != b for a, b in zip(flags, self.clean_flags))
            raise ValueError(f"{self.label}: the clean pass differs from the earlier result's on {differ} "
                             f"sample(s), so its runs are not this model's; evaluate without --reuse")


def _ones(flags: str) -> list[int]:
    return [i for i, flag in enumerate(flags) if flag == "1"]


def same_definition(a: AttackEntry, b: AttackEntry) -> bool:
    """Two entries run the same attack the same way (their number of restarts aside: the schedule decides that)."""
    return dataclasses.replace(a, restarts=1) == dataclasses.replace(b, restarts=1)


def carryover(result: Result, *, model: str, bench: Benchmark, n_examples: int, seed: int, batch_size: int,
              model_sha256: str, card_file_sha256: Optional[str], source: str = "") -> Carryover:
    """The runs of ``result`` that an evaluation of ``model`` (its fingerprint ``model_sha256`` and card file
    hash) on ``bench`` with these settings may take over; ValueError naming the first thing that differs
    (``source`` names the file in the message)."""
    where = f"{source}: " if source else ""
    if result.model != model or result.benchmark != bench.name:
        raise ValueError(f"{where}a result of {result.model} on {result.benchmark}, not of {model} on {bench.name}")
    if result.protocol >= bench.version:
        raise ValueError(f"{where}protocol v{result.protocol} is not older than {bench.label}")
    old = load_protocol().benchmark(result.benchmark, result.protocol)
    if _data(old) != _data(bench):
        raise ValueError(f"{where}{old.label} and {bench.label} differ in their data or budget (subset, ε, seed, "
                         f"batch size or stochastic rule), so no run carries over")
    summary, env = result.model_summary, result.environment
    for field, theirs, ours in (("n_examples", result.n_examples, n_examples), ("environment.seed", env.seed, seed),
                                ("environment.batch_size", env.batch_size, batch_size),
                                ("model_summary.model_sha256", summary.model_sha256, model_sha256),
                                ("model_summary.card_file_sha256", summary.card_file_sha256, card_file_sha256)):
        if theirs != ours:
            raise ValueError(f"{where}{field} is {theirs}, this evaluation's is {ours}: not the same evaluation")
    if any(o.fooled_flags is None for o in result.attacks):
        raise ValueError(f"{where}its runs have no per-run fooled_flags (protocol v1 results), so none can carry over")
    return Carryover(label=f"{old.label} result {result.flags_sha256[:12]}", bench=old,
                     clean_flags=result.clean_flags, outcomes=result.attacks)


def for_plan(plan: EvaluationPlan, source: Optional[PathLike] = None,
             out: Optional[PathLike] = None) -> Optional[tuple[Carryover, Path]]:
    """What ``plan`` may take over: from the result file ``source``, or else from the plan's own result under
    the newest older version of its benchmark that has per-run flags (in ``out`` or the repository's
    leaderboard, where :meth:`~snnbench.evaluation_plan.EvaluationPlan.result_file` puts them). None when no
    such result exists; ValueError when ``source`` (or the result found) is not the same evaluation."""
    if source is None:
        earlier = ((path, read_result(path)) for path in plan.earlier_result_files(out) if path.is_file())
        found = next(((path, result) for path, result in earlier
                      if all(o.fooled_flags is not None for o in result.attacks)), None)
        if found is None:
            return None
        source, result = found
    else:
        result = read_result(source)
    model = plan.subject
    carry = carryover(result, model=model.name, bench=plan.bench, n_examples=plan.settings.n_examples,
                      seed=plan.settings.seed, batch_size=plan.settings.batch_size,
                      model_sha256=model.model.fingerprint(), card_file_sha256=model.card_sha256, source=str(source))
    return carry, Path(source)


def _data(bench: Benchmark) -> dict:
    """The settings of ``bench`` that every run depends on: all but its name, version, attacks and diagnostics."""
    return {k: v for k, v in dataclasses.asdict(bench).items()
            if k not in ("name", "version", "attacks", "diagnostics")}
