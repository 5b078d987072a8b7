"""The order of a benchmark's runs, restarts included: a pure function of the protocol and of what the runs
before each decision fooled.

1. Every gradient attack runs once (run 0), in the protocol's order.
2. Restarts, in rounds: round ``r = 1, 2, …`` runs restart ``r`` of every entry that allows more than ``r`` runs
   (``AttackEntry.restarts``), in the protocol's order, each on the samples every earlier run left standing.
   With a convergence threshold ``g`` (``diagnostics.restart_gain_percent``) and a patience ``p``
   (``diagnostics.restart_patience``), call restart ``k`` quiet when ``first_to_fool(k) < g · n / 100`` (fewer
   than ``g`` % of the benchmark's ``n`` samples). An entry's restart ``r > p`` runs unless its restarts
   ``r − p … r − 1`` were all quiet; an entry that stops stays stopped. Restarts ``1 … p`` always run: they
   are the measurement of how far from converged the first runs left the headline.
3. Gradient-free attacks, once each, last: what they fool every gradient attack missed.

Restarts run on the survivors of *every* earlier run (not of their own entry only), so each restart spends
its budget only where all else failed, and its ``first_to_fool`` is exactly how much it lowered the headline.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

from .protocol import AttackEntry, Benchmark


@dataclass(frozen=True)
class Run:
    """One run of a protocol entry: run 0 is the entry itself, run ``r ≥ 1`` its ``r``-th restart."""

    entry: AttackEntry
    restart: int = 0

    @property
    def name(self) -> str:
        return self.entry.run_name(self.restart)

    @property
    def on_clean(self) -> bool:
        """Runs on every clean-correct sample (else on the samples no earlier run fooled)."""
        return self.restart == 0 and self.entry.samples == "clean"


def samples_attacked(clean: Sequence[bool], earlier_fooled: Iterable[Iterable[int]], on_clean: bool) -> list[int]:
    """The samples a run attacks: every clean-correct one for a run on clean samples, else those that no run
    before it fooled (``earlier_fooled``: each earlier run's fooled samples). So the flags of a result (or an
    evaluation's state) fix every run's samples, and with them its batches."""
    samples = [i for i, ok in enumerate(clean) if ok]
    if on_clean:
        return samples
    fooled = {i for run in earlier_fooled for i in run}
    return [i for i in samples if i not in fooled]


def runs(bench: Benchmark, n_examples: int, first_to_fool: Callable[[Run], int]) -> Iterator[Run]:
    """The benchmark's runs in order. ``first_to_fool(run)`` is asked only about runs already yielded (and so
    already run by the caller): how many samples that run fooled that no run before it had fooled."""
    gradient = [e for e in bench.attacks if not e.gradient_free]
    for entry in gradient:
        yield Run(entry)
    threshold, patience = bench.diagnostics.restart_gain_percent, bench.diagnostics.restart_patience
    stopped: set[str] = set()
    for r in range(1, max((e.restarts for e in gradient), default=1)):
        for entry in gradient:
            if r >= entry.restarts or entry.name in stopped:
                continue
            if threshold is not None and r > patience and \
                    all(_quiet(first_to_fool(Run(entry, k)), threshold, n_examples) for k in range(r - patience, r)):
                stopped.add(entry.name)
                continue
            yield Run(entry, r)
    for entry in bench.attacks:
        if entry.gradient_free:
            yield Run(entry)


def unconverged(bench: Benchmark, n_examples: int, done: list[Run], first_to_fool: Callable[[Run], int]) -> list[Run]:
    """The entries' last restarts where an entry reached the last run it allows without meeting the stop rule
    (its last ``p`` restarts, or all of them if fewer, quiet): one more restart would have run, so it might still
    have moved the headline. Empty without a threshold."""
    threshold, patience = bench.diagnostics.restart_gain_percent, bench.diagnostics.restart_patience
    if threshold is None:
        return []
    last: dict[str, Run] = {}
    for run in done:
        if run.restart > 0:
            last[run.entry.name] = run
    return [run for run in last.values()
            if run.restart == run.entry.restarts - 1 and not all(
                _quiet(first_to_fool(Run(run.entry, k)), threshold, n_examples)
                for k in range(max(1, run.restart - patience + 1), run.restart + 1))]


def _quiet(first_to_fool: int, threshold: float, n_examples: int) -> bool:
    """A restart that was the first to fool fewer than ``threshold`` % of the ``n_examples`` samples."""
    return 100.0 * first_to_fool < threshold * n_examples
