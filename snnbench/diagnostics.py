"""The reliability diagnostics that a result's own outcomes determine: one derivation, used by the summary that
states them and by ``snnbench leaderboard --check`` that recomputes them (so that a diagnostic cannot be
dropped from a result file, nor a note turned into a doubt, without the check noticing).

With ``c`` clean-correct samples (at least 1), ``n`` samples and the protocol's thresholds
(``Benchmark.diagnostics``):

- ``gradient-free-gain``: a gradient-free run (the schedule puts them after every gradient attack) was the
  first to fool ``k > 0`` samples, which every gradient attack missed; unreliable when ``100·k/c`` exceeds
  ``square_gain_percent`` (a sign of gradient masking), a note otherwise.
- ``not-converged``: an entry reached its last allowed restart without its last ``restart_patience``
  restarts each fooling fewer than ``restart_gain_percent`` % of the ``n`` samples first, the protocol's stop
  rule (:func:`snnbench.schedule.unconverged`); unreliable.
- ``not-applicable``: a run that could not run on the model (its reason); a note.
- ``no-eot``: a stochastic model attacked without Expectation over Transformation (``eot = 1``); unreliable.

Two more need the model itself, so the evaluation states them and ``snnbench verify`` recomputes them:

- ``zero-gradient``: ``z`` clean-correct samples whose input gradient through the training surrogate is exactly
  zero; unreliable when ``100·z/c`` reaches ``zero_gradient_percent``, a note when ``z > 0``.
- ``nondeterministic``: the same input gave different logits on a model whose card says it is deterministic;
  unreliable.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Optional, Sequence

from .protocol import Benchmark
from .results import AttackOutcome, Diagnostic
from .schedule import Run, unconverged

DERIVED = ("gradient-free-gain", "not-converged", "not-applicable", "no-eot")  # from a result's outcomes
OF_THE_MODEL = ("zero-gradient", "nondeterministic")  # from the model (the checks before the attacks)
NEEDS_FIRST_TO_FOOL = ("gradient-free-gain", "not-converged")  # not derivable from results without the counts


def outcome_diagnostics(bench: Benchmark, n_examples: int, clean: int, outcomes: Sequence[AttackOutcome],
                        stochastic: bool) -> Iterator[Diagnostic]:
    """The diagnostics of :data:`DERIVED` that ``outcomes`` (in the order they ran) give under ``bench``. Runs
    the protocol does not name are skipped (the protocol check reports them); runs without a first-to-fool
    count (results of protocol v1) give no ``gradient-free-gain`` or ``not-converged``."""
    limits, attacked = bench.diagnostics, max(clean, 1)
    by_name = {Run(entry, r).name: Run(entry, r) for entry in bench.attacks for r in range(entry.restarts)}
    counted = [o for o in outcomes if o.name in by_name and o.first_to_fool is not None]
    for outcome in counted:
        if by_name[outcome.name].entry.gradient_free and outcome.first_to_fool:
            gain = 100.0 * outcome.first_to_fool / attacked
            yield Diagnostic("gradient-free-gain", f"{outcome.name} fooled {outcome.first_to_fool} samples "
                             f"({gain:.2f}% of the {clean} clean-correct) that every gradient attack missed: a sign "
                             f"of gradient masking", gain > limits.square_gain_percent)
    gains = {o.name: o.first_to_fool for o in counted}
    for run in unconverged(bench, n_examples, [by_name[o.name] for o in counted], lambda run: gains[run.name]):
        if limits.restart_patience == 1:
            message = (f"{run.name}, the last restart the protocol allows, still fooled {gains[run.name]} samples "
                       f"(at least {limits.restart_gain_percent}% of {n_examples}): one more restart would still "
                       f"lower the headline")
        else:
            message = (f"{run.name}, the last restart the protocol allows, fooled {gains[run.name]} samples and "
                       f"the restarts before it did not bring {limits.restart_patience} in a row below "
                       f"{limits.restart_gain_percent}% of {n_examples}: one more restart might still lower the "
                       f"headline")
        yield Diagnostic("not-converged", message, True)
    for outcome in outcomes:
        if outcome.not_applicable:
            yield Diagnostic("not-applicable", f"{outcome.name} did not run: {outcome.not_applicable}", False)
    if stochastic and bench.stochastic.eot == 1:
        yield Diagnostic("no-eot", "a stochastic model was attacked without EoT", True)


def model_diagnostics(bench: Benchmark, clean: int, zero_gradient: int, deterministic: bool) -> Iterator[Diagnostic]:
    """The diagnostics of :data:`OF_THE_MODEL`, from the checks run before the attacks."""
    limits = bench.diagnostics
    zero = 100.0 * zero_gradient / max(clean, 1)
    if zero >= limits.zero_gradient_percent:
        yield Diagnostic("zero-gradient", f"{zero:.1f}% of the clean-correct samples have an input gradient of "
                         f"exactly zero through the training surrogate", True)
    elif zero_gradient:
        yield Diagnostic("zero-gradient", f"{zero_gradient} clean-correct samples have a zero input gradient "
                         f"through the training surrogate", False)
    if not deterministic:
        yield Diagnostic("nondeterministic", "the same input gave different logits on a model whose card says it "
                         "is deterministic", True)


def mismatch(derived: Iterable[Diagnostic], stated: Iterable[Diagnostic], codes: Iterable[str],
             source: str) -> Optional[str]:
    """How the ``stated`` diagnostics with one of ``codes`` differ from the ``derived`` ones (compared by code
    and by whether each marks the result unreliable: the wording may change between versions), or None;
    ``source`` says what derived them ("its outcomes give")."""
    codes = set(codes)

    def kinds(diagnostics: Iterable[Diagnostic]) -> list[tuple[str, bool]]:
        return sorted((d.code, d.unreliable) for d in diagnostics if d.code in codes)

    def show(found: list[tuple[str, bool]]) -> str:
        return ", ".join(f"{code} ({'unreliable' if bad else 'note'})" for code, bad in found) or "none"

    want, given = kinds(derived), kinds(stated)
    return None if want == given else f"states the diagnostics {show(given)} but {source} {show(want)}"


def diagnostic_problems(bench: Benchmark, n_examples: int, clean: int, outcomes: Sequence[AttackOutcome],
                        stochastic: bool, stated: Sequence[Diagnostic]) -> list[str]:
    """How the ``stated`` diagnostics of :data:`DERIVED` differ from what ``outcomes`` give."""
    codes = set(DERIVED)
    if any(o.first_to_fool is None for o in outcomes):
        codes -= set(NEEDS_FIRST_TO_FOOL)
    found = mismatch(outcome_diagnostics(bench, n_examples, clean, outcomes, stochastic), stated, codes,
                     "its outcomes give")
    return [] if found is None else [found]
