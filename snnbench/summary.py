"""From an evaluation's state to its :class:`~snnbench.results.Result`: a pure function, no model, no clock.

The headline is the per-sample worst case: a sample is robust if it is clean-correct and no run fooled it,
``robust = clean ∧ ¬(fooled₁ ∨ … ∨ fooledₖ)``. The reference and prior-practice accuracies are those of their
entry's first run alone; the overestimate is ``prior − robust`` in points. Each run reports the samples it
was the first to fool (in the order the runs ran), so the first-to-fool counts add up to
``clean − robust``.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from .diagnostics import model_diagnostics, outcome_diagnostics
from .evaluation_plan import EvaluationPlan, Subject
from .neurons import spiking_layers
from .results import AttackOutcome, Diagnostic, Environment, ModelSummary, Result, flags_digest
from .runner import AttackProgress, EvaluationState
from .schedule import Run


def summarize(plan: EvaluationPlan, state: EvaluationState, done: list[Run], environment: Environment) -> Result:
    """The result of ``plan`` from its finished ``state``; ``done`` are the runs in the order they ran."""
    bench, n = plan.bench, plan.settings.n_examples
    clean = state.clean
    fooled_by = {run.name: set(state.attacks[run.name].fooled) for run in done}
    robust = worst_case(clean, fooled_by.values())

    def alone(role: str) -> float:  # the first run of the entry with that role
        return percent(worst_case(clean, [fooled_by[r.name] for r in done if r.entry.role == role and not r.restart]))

    outcomes, before = [], set()
    for run in done:
        fooled = fooled_by[run.name]
        outcomes.append(_outcome(run, state.attacks[run.name], len(fooled - before), _flags(fooled, n)))
        before |= fooled
    outcomes = tuple(outcomes)
    clean_flags = "".join("1" if ok else "0" for ok in clean)
    robust_flags = "".join("1" if ok else "0" for ok in robust)
    robust_accuracy, prior = percent(robust), alone("prior")
    diagnostics = tuple(_diagnostics(plan, state, outcomes, robust_accuracy > percent(clean)))
    return Result(
        model=plan.subject.name, benchmark=bench.name, protocol=bench.version, official=plan.official,
        departures=plan.departures, n_examples=n, clean_accuracy=percent(clean),
        robust_accuracy=robust_accuracy, reference_accuracy=alone("reference"), prior_accuracy=prior,
        overestimate=round(prior - robust_accuracy, 10), attacks=outcomes, clean_flags=clean_flags,
        robust_flags=robust_flags, flags_sha256=flags_digest(clean_flags, robust_flags),
        reliable=not any(d.unreliable for d in diagnostics), diagnostics=diagnostics,
        seconds=round(state.seconds, 1), forward=sum(o.forward for o in outcomes),
        backward=sum(o.backward for o in outcomes), model_summary=model_summary(plan.subject),
        environment=environment)


def worst_case(clean: list[bool], fooled: Iterable[set[int]]) -> list[bool]:
    """Per sample: correct on the clean input and fooled by none of the attacks (sets of sample indices)."""
    every = set().union(*fooled)
    return [ok and i not in every for i, ok in enumerate(clean)]


def percent(flags: list[bool]) -> float:
    return 100.0 * sum(flags) / len(flags)


def _flags(indices: set[int], n: int) -> str:
    return "".join("1" if i in indices else "0" for i in range(n))


def _outcome(run: Run, progress: AttackProgress, first_to_fool: int, fooled_flags: str) -> AttackOutcome:
    entry, attacked, fooled = run.entry, len(progress.samples), len(progress.fooled)
    return AttackOutcome(name=run.name, role=entry.role, attacked=attacked, robust=attacked - fooled,
                         accuracy=100.0 * (attacked - fooled) / attacked if attacked else 100.0,
                         seconds=round(progress.seconds, 1), forward=progress.forward, backward=progress.backward,
                         not_applicable=progress.not_applicable, restart=run.restart, first_to_fool=first_to_fool,
                         gradient_mode=None if entry.gradient_free else (
                             entry.gradient.mode if entry.gradient else "surrogate"),
                         gradient_layers=progress.gradient_layers, fooled_flags=fooled_flags,
                         gradient_free=entry.gradient_free, reused=progress.reused)


def _diagnostics(plan: EvaluationPlan, state: EvaluationState,
                 outcomes: tuple[AttackOutcome, ...], robust_above_clean: bool) -> Iterator[Diagnostic]:
    bench, model, clean = plan.bench, plan.subject.model, sum(state.clean)
    yield from model_diagnostics(bench, clean, state.zero_gradient, state.deterministic)
    yield from outcome_diagnostics(bench, plan.settings.n_examples, clean, outcomes, model.stochastic)
    if robust_above_clean:  # cannot happen by construction; a guard against a broken aggregation
        yield Diagnostic("robust-above-clean", "robust accuracy exceeds clean accuracy", True)


def model_summary(subject: Subject) -> ModelSummary:
    card, model = subject.card, subject.model
    layers = spiking_layers(model)
    if card is None:
        return ModelSummary(architecture="unregistered",
                            neuron="+".join(sorted({type(layer).__name__.lower() for layer in layers})) or "none",
                            T=model.T, defense="unknown", source="no card", stochastic=model.stochastic,
                            card_sha256=None, checkpoint_sha256=subject.weights_sha256, spiking_layers=len(layers),
                            model_sha256=model.fingerprint())
    return ModelSummary(**card.board_description(), checkpoint_sha256=subject.weights_sha256,
                        spiking_layers=len(layers), card_file_sha256=subject.card_sha256,
                        model_sha256=model.fingerprint())
