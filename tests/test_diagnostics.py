"""The diagnostics a result's outcomes determine are recomputed by the board check: dropping one, or turning a
doubt into a note, is caught on committed results; the thresholds' boundaries are the documented ones."""
import dataclasses
from pathlib import Path

import pytest

from snnbench.diagnostics import diagnostic_problems, outcome_diagnostics
from snnbench.leaderboard import protocol_problems
from snnbench.protocol import load_protocol
from snnbench.results import Diagnostic, read_result

ROOT = Path(__file__).resolve().parents[1]
# Square was the first to fool 4 of its 577 clean-correct samples (0.7% > 0.5%): unreliable.
MASKED = ROOT / "leaderboard" / "cifar10-linf-1000" / "v2" / "results" / "cifar10-vgg11-lif-at.json"
CONVERGED = ROOT / "leaderboard" / "mnist-linf" / "v2" / "results" / "mnist-convnet-lif-bptt.json"
V1_NOTE = ROOT / "leaderboard" / "mnist-linf" / "v1" / "results" / "mnist-convnet-lif-trades.json"


def test_committed_results_state_the_diagnostics_their_outcomes_give():
    for path in (MASKED, CONVERGED, V1_NOTE):
        assert protocol_problems(read_result(path)) == [], path


def test_a_dropped_or_softened_doubt_is_caught():
    result = read_result(MASKED)
    assert [(d.code, d.unreliable) for d in result.diagnostics] == [("gradient-free-gain", True)]
    dropped = dataclasses.replace(result, diagnostics=(), reliable=True)
    assert protocol_problems(dropped) == ["states the diagnostics none but its outcomes give gradient-free-gain "
                                          "(unreliable)"]
    note = dataclasses.replace(result.diagnostics[0], unreliable=False)
    softened = dataclasses.replace(result, diagnostics=(note,), reliable=True)
    assert protocol_problems(softened) == ["states the diagnostics gradient-free-gain (note) but its outcomes give "
                                           "gradient-free-gain (unreliable)"]


def test_an_invented_diagnostic_is_caught_and_unrecomputable_ones_are_left_alone():
    result = read_result(CONVERGED)
    invented = Diagnostic("not-converged", "sa-pgd-assg-a80/r19 still fooled 9 samples", True)
    problems = protocol_problems(dataclasses.replace(result, diagnostics=(invented,), reliable=False))
    assert problems == ["states the diagnostics not-converged (unreliable) but its outcomes give none"]
    # Zero gradients and nondeterminism need the model: the check neither requires nor refuses them.
    needs_model = Diagnostic("zero-gradient", "3 clean-correct samples have a zero input gradient", False)
    assert protocol_problems(dataclasses.replace(result, diagnostics=(needs_model,))) == []


def gains(bench, clean, square_first_to_fool, last_restart_first_to_fool=0):
    """Outcomes of a full v2 schedule in which only Square and the reference's last allowed restart fool."""
    from snnbench.results import AttackOutcome
    from snnbench.schedule import runs

    def outcome(run):
        fooled = square_first_to_fool if run.entry.gradient_free else (
            last_restart_first_to_fool if run.restart == run.entry.restarts - 1 and run.entry.role == "reference"
            else 0)
        return AttackOutcome(name=run.name, role=run.entry.role, attacked=clean, robust=clean - fooled,
                             accuracy=100.0, seconds=0.0, forward=0, backward=0, restart=run.restart,
                             first_to_fool=fooled, gradient_free=run.entry.gradient_free)
    # Every restart fools enough to keep its entry going (the threshold is 0.2% of 1000 samples: 2).
    scheduled = list(runs(bench, 1000, lambda run: 2))
    return [outcome(run) for run in scheduled]


@pytest.mark.parametrize("fooled, unreliable", [(0, None), (2, False), (3, True)])
def test_the_gradient_free_gain_is_a_share_of_the_clean_correct_samples(fooled, unreliable):
    bench = load_protocol().benchmark("mnist-linf", 2)
    found = [d for d in outcome_diagnostics(bench, 1000, 400, gains(bench, 400, fooled), False)
             if d.code == "gradient-free-gain"]
    # 2 of 400 is exactly the 0.5% threshold (a note); 3 of 400 is 0.75% (a doubt), though 0.3% of 1000.
    assert [d.unreliable for d in found] == ([] if unreliable is None else [unreliable])
    if found:
        assert "of the 400 clean-correct" in found[0].message


def test_a_last_allowed_restart_that_still_fools_is_not_converged():
    bench = load_protocol().benchmark("mnist-linf", 2)
    kinds = lambda k: [(d.code, d.unreliable) for d in outcome_diagnostics(bench, 1000, 900, gains(bench, 900, 0, k),
                                                                           False)]
    assert kinds(1) == [] and kinds(2) == [("not-converged", True)]
    stated = (Diagnostic("not-converged", "", True),)
    assert diagnostic_problems(bench, 1000, 900, gains(bench, 900, 0, 2), False, stated) == []
    assert diagnostic_problems(bench, 1000, 900, gains(bench, 900, 0, 2), False, ()) == [
        "states the diagnostics none but its outcomes give not-converged (unreliable)"]
    softened = (Diagnostic("not-converged", "", False),)
    assert diagnostic_problems(bench, 1000, 900, gains(bench, 900, 0, 2), False, softened) == [
        "states the diagnostics not-converged (note) but its outcomes give not-converged (unreliable)"]


def test_a_doubt_just_over_its_mark_does_not_read_as_the_mark():
    """5 of 975 clean-correct is 0.513%: over the 0.5% mark, so its message must not say 0.5%."""
    bench = load_protocol().benchmark("mnist-linf", 2)
    [found] = [d for d in outcome_diagnostics(bench, 1000, 975, gains(bench, 975, 5), False)
               if d.code == "gradient-free-gain"]
    assert found.unreliable and "(0.51% of the 975 clean-correct)" in found.message


@pytest.mark.parametrize("n, fooled, shown", [(1000, 1, "0.1"), (1000, 2, "0.2"), (10000, 19, "0.19"),
                                              (10000, 25, "0.25")])
def test_the_last_restart_column_resolves_one_sample_of_its_board(n, fooled, shown):
    """On 10,000 images a quiet restart (19 fooled, 0.19% < 0.2%) must not be shown as 0.2, the quiet mark."""
    from snnbench.leaderboard import last_restart_gain, restart_gain_text

    result = read_result(CONVERGED)
    assert restart_gain_text(result) == f"{last_restart_gain(result):.1f}"  # 1000 images: one decimal is a sample
    attacks = tuple(dataclasses.replace(a, first_to_fool=fooled) if a.restart else a for a in result.attacks)
    assert restart_gain_text(dataclasses.replace(result, n_examples=n, attacks=attacks)) == shown
