"""The run order of a protocol with restarts: rounds on the survivors, converged restarts stop, gradient-free last."""
from __future__ import annotations

import dataclasses

import pytest

from snnbench.protocol import load_protocol
from snnbench.schedule import Run, runs, unconverged


def bench_with(threshold=None, patience=1, **restarts):
    bench = load_protocol().benchmark("mnist-linf")
    attacks = tuple(dataclasses.replace(a, restarts=restarts.get(a.name.replace("-", "_"), 1)) for a in bench.attacks)
    return dataclasses.replace(bench, attacks=attacks, diagnostics=dataclasses.replace(
        bench.diagnostics, restart_gain_percent=threshold, restart_patience=patience))


def order(bench, gains, n=1000):
    """The names the schedule yields when run ``name`` fools ``gains[name]`` samples first (0 when absent)."""
    asked = []

    def first_to_fool(run: Run) -> int:
        assert run.name in yielded, f"asked about {run.name} before it ran"
        asked.append(run.name)
        return gains.get(run.name, 0)

    yielded = []
    for run in runs(bench, n, first_to_fool):
        yielded.append(run.name)
    return yielded


def test_without_restarts_the_order_is_the_protocols():
    bench = bench_with()
    assert order(bench, {}) == [a.name for a in bench.attacks]


def test_restarts_come_in_rounds_after_every_gradient_attack_and_before_gradient_free_ones():
    bench = bench_with(sa_pgd_assg=3, apgd_dlr=2)
    names = order(bench, {})
    gradient = [a.name for a in bench.attacks if not a.gradient_free]
    assert names == gradient + ["sa-pgd-assg/r1", "apgd-dlr/r1", "sa-pgd-assg/r2", "square"]


@pytest.mark.parametrize("gain_r1, expected", [(2, True), (1, False)])
def test_a_restart_runs_only_while_the_previous_one_fooled_at_least_the_threshold(gain_r1, expected):
    bench = bench_with(0.2, sa_pgd_assg=4)  # 0.2% of 1000 samples: 2
    names = order(bench, {"sa-pgd-assg/r1": gain_r1, "sa-pgd-assg/r2": 5, "sa-pgd-assg/r3": 0})
    assert "sa-pgd-assg/r1" in names  # the first restart always runs: it measures convergence
    assert ("sa-pgd-assg/r2" in names) is expected
    assert ("sa-pgd-assg/r3" in names) is expected  # r2 fooled 5, so r3 follows it
    assert names[-1] == "square"


def test_a_stopped_entry_stays_stopped_and_a_full_last_restart_is_unconverged():
    bench = bench_with(0.2, sa_pgd_assg=3, apgd_dlr=3)
    gains = {"sa-pgd-assg/r1": 0, "apgd-dlr/r1": 9, "apgd-dlr/r2": 4}
    names = order(bench, gains)
    assert "sa-pgd-assg/r2" not in names and "apgd-dlr/r2" in names
    done = [Run(a, 0) for a in bench.attacks] + [Run(bench.attack("sa-pgd-assg"), 1)] + \
        [Run(bench.attack("apgd-dlr"), r) for r in (1, 2)]
    left = unconverged(bench, 1000, done, lambda run: gains.get(run.name, 0))
    assert [run.name for run in left] == ["apgd-dlr/r2"]  # fooled 4 ≥ 2 with no run allowed after it
    assert unconverged(bench_with(None, apgd_dlr=3), 1000, done, lambda run: 50) == []  # no threshold: not judged


def test_a_verification_draw_depends_on_the_flags_and_challenge_and_covers_what_was_asked():
    from types import SimpleNamespace

    from snnbench.verification import _draw, draw_key

    batches = [list(range(i, i + 4)) for i in range(0, 40, 4)]  # 10 batches of 4
    result = SimpleNamespace(flags_sha256="ab" * 32)
    key = draw_key(result)
    assert key == result.flags_sha256  # without a challenge: the flags alone, as before challenges existed
    first = _draw(key, "sa-pgd-assg", batches, 9)
    assert first == _draw(key, "sa-pgd-assg", batches, 9) and len(first) == 3  # 3 batches cover 9 images
    assert _draw(key, "sa-pgd-assg", batches, 100) == list(range(10))  # more than there is: everything
    others = {tuple(_draw(draw_key(SimpleNamespace(flags_sha256=f"{k:064x}")), "sa-pgd-assg", batches, 4))
              for k in range(20)}
    assert len(others) > 1  # other flags, other batches: a submitter does not choose them
    # A challenge moves the draw for the same flags (so grinding the flags for a lucky draw gains nothing) and
    # the same challenge repeats it.
    challenged = {tuple(_draw(draw_key(result, f"c{k}"), "sa-pgd-assg", batches, 4)) for k in range(20)}
    assert len(challenged) > 1
    assert _draw(draw_key(result, "c1"), "sa-pgd-assg", batches, 4) == _draw(draw_key(result, "c1"), "sa-pgd-assg",
                                                                              batches, 4)


def test_shares_of_a_run_merge_into_what_one_process_holds():
    from snnbench.runner import AttackProgress, _merge
    from snnbench.sharding import Shard

    samples = [3, 5, 8, 9, 11]
    assert [b for b in range(5) if Shard(1, 2).owns(b)] == [1, 3]
    with pytest.raises(ValueError, match=r"rank 2 is not in \[0, 2\)"):
        Shard(2, 2)
    rank0 = AttackProgress(samples, done_batches=3, fooled=[11, 3], seconds=1.0, forward=10, backward=8,
                           gradient_layers=2)
    rank1 = AttackProgress(samples, done_batches=2, fooled=[8], seconds=2.0, forward=6, backward=4, gradient_layers=1)
    merged = _merge(rank0, [rank0, rank1])
    assert merged.fooled == [3, 8, 11] and merged.done_batches == 5 and merged.gradient_layers == 1
    assert (merged.seconds, merged.forward, merged.backward) == (3.0, 16, 12)
    assert _merge(rank0, [rank0]) is rank0


@pytest.mark.parametrize("gains, last", [
    ({"sa-pgd-assg/r1": 0, "sa-pgd-assg/r2": 5, "sa-pgd-assg/r3": 1, "sa-pgd-assg/r4": 0}, 4),  # r3, r4 quiet
    ({"sa-pgd-assg/r1": 1, "sa-pgd-assg/r2": 1}, 2),  # two quiet in a row at once: stops after r2
    ({"sa-pgd-assg/r1": 3, "sa-pgd-assg/r2": 0, "sa-pgd-assg/r3": 4, "sa-pgd-assg/r4": 1, "sa-pgd-assg/r5": 1}, 5),
])
def test_with_patience_two_an_entry_stops_only_after_two_quiet_restarts_in_a_row(gains, last):
    bench = bench_with(0.2, 2, sa_pgd_assg=20)  # quiet: fewer than 2 of 1000
    names = [n for n in order(bench, gains) if n.startswith("sa-pgd-assg/")]
    assert names == [f"sa-pgd-assg/r{r}" for r in range(1, last + 1)]
    assert "sa-pgd-assg/r2" in order(bench_with(0.2, sa_pgd_assg=20), {"sa-pgd-assg/r1": 3}) and \
        "sa-pgd-assg/r2" not in order(bench_with(0.2, sa_pgd_assg=20), {"sa-pgd-assg/r1": 1})  # patience 1


def test_with_patience_two_the_last_allowed_restart_is_converged_only_after_two_quiet_ones():
    bench = bench_with(0.2, 2, sa_pgd_assg=4)
    entry = bench.attack("sa-pgd-assg")
    done = [Run(a, 0) for a in bench.attacks] + [Run(entry, r) for r in (1, 2, 3)]

    def left(gains):
        return [run.name for run in unconverged(bench, 1000, done, lambda run: gains.get(run.name, 0))]

    assert left({"sa-pgd-assg/r1": 9, "sa-pgd-assg/r2": 1, "sa-pgd-assg/r3": 0}) == []
    assert left({"sa-pgd-assg/r1": 0, "sa-pgd-assg/r2": 3, "sa-pgd-assg/r3": 0}) == ["sa-pgd-assg/r3"]  # one quiet
    assert left({"sa-pgd-assg/r2": 0, "sa-pgd-assg/r3": 2}) == ["sa-pgd-assg/r3"]


def test_samples_attacked_are_the_clean_correct_ones_or_the_survivors_of_the_runs_before():
    from snnbench.schedule import samples_attacked

    clean = [True, False, True, True, True]
    assert samples_attacked(clean, [[0], [3]], on_clean=True) == [0, 2, 3, 4]
    assert samples_attacked(clean, [[0], [3]], on_clean=False) == [2, 4]
    assert samples_attacked(clean, [], on_clean=False) == [0, 2, 3, 4]
