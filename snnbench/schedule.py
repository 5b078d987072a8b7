"""The order of a benchmark's runs, restarts included: a pure function of the protocol and of what the runs
before each decision fooled.

1. Every gradient attack runs once (run 0), in the protocol's order.
2. Restarts, in rounds: round ``r = 1, 2, …`` runs restart ``r`` of every entry that allows more than ``r`` runs
   (``AttackEntry.restarts``), in the protocol's order, each on the samples every earlier run left standing.
   With a convergence threshold ``g`` (``diagnostics.restart_gain_percent``), an entry's restart ``r ≥ 2`` runs
   only if its restart ``r − 1`` was the first to fool at least ``g`` % of the benchmark's ``n`` samples, i.e.
   ``first_to_fool(r − 1) ≥ g · n / 100``; an entry that stops stays stopped. Restart 1 always runs: it is the
   measurement of how far from converged the first runs left the headline.
3. Gradient-free attacks, once each, last: what they fool every gradient attack missed.

Restarts run on the survivors of *every* earlier run (not of their own entry only), so each restart spends
its budget only where all else failed, and its ``first_to_fool`` is exactly how much it lowered the headline.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

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


def runs(bench: Benchmark, n_examples: int, first_to_fool: Callable[[Run], int]) -> Iterator[Run]:
    """The benchmark's runs in order. ``first_to_fool(run)`` is asked only about runs already yielded (and so
    already run by the caller): how many samples that run fooled that no run before it had fooled."""
    gradient = [e for e in bench.attacks if not e.gradient_free]
    for entry in gradient:
        yield Run(entry)
    threshold = bench.diagnostics.restart_gain_percent
    stopped: set[str] = set()
    for r in range(1, max((e.restarts for e in gradient), default=1)):
        for entry in gradient:
            if r >= entry.restarts or entry.name in stopped:
                continue
            if r >= 2 and threshold is not None and \
                    100.0 * first_to_fool(Run(entry, r - 1)) < threshold * n_examples:
                stopped.add(entry.name)
                continue
            yield Run(entry, r)
    for entry in bench.attacks:
        if entry.gradient_free:
            yield Run(entry)


def unconverged(bench: Benchmark, n_examples: int, done: list[Run], first_to_fool: Callable[[Run], int]) -> list[Run]:
    """The entries' last restarts that still fooled at least the threshold's share although their entry allows
    no further run: one more restart would still have moved the headline. Empty without a threshold."""
    threshold = bench.diagnostics.restart_gain_percent
    if threshold is None:
        return []
    last: dict[str, Run] = {}
    for run in done:
        if run.restart > 0:
            last[run.entry.name] = run
    return [run for run in last.values()
            if run.restart == run.entry.restarts - 1 and 100.0 * first_to_fool(run) >= threshold * n_examples]
