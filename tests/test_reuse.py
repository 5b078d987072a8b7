"""evaluate(reuse=...): runs that an older protocol version already ran carry over along the common prefix of the
two schedules, give exactly the fresh result, and are refused for another model, other data or other settings."""
from __future__ import annotations

import dataclasses

import pytest

from snnbench.evaluation import evaluate
from snnbench.protocol import load_protocol
from snnbench.records import record_to_dict
from snnbench.results import write_result
from snnbench.reuse import carryover, same_definition
from snnbench.runner import Runner
from snnbench.zoo import load_model
from test_evaluation import BATCH, N, tiny_benchmark
from tiny_zoo import register_tiny_model


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    register_tiny_model(root, "tiny-lif")
    return root


@pytest.fixture
def versions(monkeypatch):
    """Tiny budgets for mnist-linf v2 (patience 1) and v3 (patience 2, the same first runs), as the protocol."""
    real = load_protocol()
    old, new = tiny_benchmark(version=2), tiny_benchmark(version=3)
    assert (old.version, old.diagnostics.restart_patience, new.diagnostics.restart_patience) == (2, 1, 2)
    retired = tuple(old if (b.name, b.version) == (old.name, old.version) else b for b in real.retired)
    protocol = dataclasses.replace(real, retired=retired)
    monkeypatch.setattr("snnbench.reuse.load_protocol", lambda: protocol)
    return old, new


def run(zoo, bench, **kwargs):
    return evaluate(load_model("tiny-lif", zoo=zoo, backend="eager"), bench, n_examples=N, batch_size=BATCH,
                    zoo=zoo, **kwargs)


def comparable(result) -> dict:
    data = record_to_dict(result)
    for key in ("seconds", "environment"):
        data.pop(key)
    for attack in data["attacks"]:
        attack.pop("seconds")
        attack.pop("reused", None)
    return data


def test_carried_runs_are_not_attacked_again_and_give_the_fresh_result(zoo, versions, tmp_path, monkeypatch):
    old, new = versions
    earlier = run(zoo, old)
    source = write_result(earlier, tmp_path / "earlier.json")
    attacked = []
    real_attack = Runner.attack_batch

    def counting(self, run_, batch, index, observe=None):
        attacked.append(run_.name)
        return real_attack(self, run_, batch, index, observe)

    monkeypatch.setattr(Runner, "attack_batch", counting)
    carried = run(zoo, new, reuse=source)
    carried_attacked, attacked[:] = set(attacked), []
    fresh = run(zoo, new)
    assert comparable(carried) == comparable(fresh)  # flags, counts, accuracies, diagnostics: all equal
    names = [a.name for a in carried.attacks]
    reused = [a.name for a in carried.attacks if a.reused]
    assert reused and reused == names[:len(reused)]  # a prefix of the schedule
    assert not carried_attacked & set(reused) and set(attacked) >= set(reused)  # carried: never attacked here
    assert {a.reused for a in carried.attacks if a.reused} == {f"mnist-linf v2 result {earlier.flags_sha256[:12]}"}
    by_name = {a.name: a for a in earlier.attacks}
    assert all(a.seconds == by_name[a.name].seconds for a in carried.attacks if a.reused)  # measured when it ran
    # v2 stops an entry after one quiet restart, v3 after two: where v2 stopped, v3 runs on, anew
    v2_restarts = {a.name for a in earlier.attacks if a.restart}
    v3_restarts = {a.name for a in carried.attacks if a.restart}
    assert v2_restarts < v3_restarts and not (v3_restarts - v2_restarts) & set(reused)


def test_reuse_true_finds_the_older_versions_result_where_result_file_puts_it(zoo, versions, tmp_path, monkeypatch):
    from snnbench.evaluation_plan import plan_evaluation
    from snnbench.reuse import for_plan

    old, new = versions
    plan = plan_evaluation(load_model("tiny-lif", zoo=zoo, backend="eager"), new, n_examples=N, batch_size=BATCH,
                           zoo=zoo)
    assert for_plan(plan, out=tmp_path) is None  # nothing earlier: every run runs
    earlier_plan = dataclasses.replace(plan, bench=old)
    assert plan.earlier_result_files(tmp_path)[0] == earlier_plan.result_file(tmp_path)
    write_result(run(zoo, old), earlier_plan.result_file(tmp_path))
    carry, source = for_plan(plan, out=tmp_path)
    assert source == earlier_plan.result_file(tmp_path) and carry.bench == old


def test_another_model_other_settings_or_other_clean_flags_are_refused(zoo, versions):
    old, new = versions
    earlier = run(zoo, old)
    summary = earlier.model_summary
    ok = dict(model=earlier.model, bench=new, n_examples=N, seed=0, batch_size=BATCH,
              model_sha256=summary.model_sha256, card_file_sha256=summary.card_file_sha256, source="e.json")
    carry = carryover(earlier, **ok)
    for change, words in ((dict(model="other"), "not of other"), (dict(n_examples=N - 1), "n_examples is"),
                          (dict(batch_size=2), "environment.batch_size is"), (dict(seed=1), "environment.seed is"),
                          (dict(model_sha256="0" * 64), "model_summary.model_sha256 is"),
                          (dict(bench=old), "not older than mnist-linf v2"),
                          (dict(bench=dataclasses.replace(new, epsilon=0.2)), "differ in their data or budget")):
        with pytest.raises(ValueError, match=words):
            carryover(earlier, **{**ok, **change})
    flipped = [c == "0" for c in earlier.clean_flags]
    with pytest.raises(ValueError, match=r"clean pass differs from the earlier result's on 12 sample\(s\)"):
        carry.check_clean(flipped)
    without = dataclasses.replace(earlier, attacks=tuple(dataclasses.replace(a, fooled_flags=None)
                                                          for a in earlier.attacks))
    with pytest.raises(ValueError, match="no per-run fooled_flags"):
        carryover(without, **ok)


def test_a_run_of_another_definition_or_on_other_samples_ends_the_prefix(zoo, versions):
    from snnbench.schedule import Run

    old, new = versions
    earlier = run(zoo, old)
    summary = earlier.model_summary
    carry = carryover(earlier, model=earlier.model, bench=new, n_examples=N, seed=0, batch_size=BATCH,
                      model_sha256=summary.model_sha256, card_file_sha256=summary.card_file_sha256)
    first, entry = earlier.attacks[0], new.attacks[0]
    samples = [i for i, c in enumerate(earlier.clean_flags) if c == "1"]
    taken = carry.take(0, Run(entry), samples, BATCH)
    assert taken.fooled == [i for i, f in enumerate(first.fooled_flags) if f == "1"]
    assert taken.done_batches == -(-len(samples) // BATCH) and taken.reused == carry.label
    assert carry.take(0, Run(entry), samples[:-1], BATCH) is None  # other samples
    # In another order the batches differ: on an earlier result with two clean-correct samples (the tiny model
    # gets one right, so a second is marked), the first run's samples reversed are not taken.
    extra = next(i for i, c in enumerate(earlier.clean_flags) if c == "0")
    two = dataclasses.replace(earlier, clean_flags="".join(
        "1" if i == extra else c for i, c in enumerate(earlier.clean_flags)))
    both = sorted(samples + [extra])
    carry_two = carryover(two, model=earlier.model, bench=new, n_examples=N, seed=0, batch_size=BATCH,
                          model_sha256=summary.model_sha256, card_file_sha256=summary.card_file_sha256)
    assert carry_two.take(0, Run(entry), both, BATCH) is not None
    assert carry_two.take(0, Run(entry), both[::-1], BATCH) is None
    other = next(i for i, c in enumerate(earlier.clean_flags + "0") if c == "0")  # not attacked by the earlier run
    assert carry.take(0, Run(entry), samples[:-1] + [other], BATCH) is None  # as many samples, not the same
    assert carry.take(1, Run(entry), samples, BATCH) is None  # another position
    stronger = dataclasses.replace(entry, params={**entry.params, "steps": 3})
    assert not same_definition(entry, stronger) and carry.take(0, Run(stronger), samples, BATCH) is None
    assert same_definition(entry, dataclasses.replace(entry, restarts=3))  # the count of restarts is the schedule's


def test_a_board_check_wants_carried_runs_first_and_from_one_older_result(zoo, versions):
    from snnbench.leaderboard import _carried_problems

    old, new = versions
    result = run(zoo, old)
    result = dataclasses.replace(result, protocol=3)
    label = f"mnist-linf v2 result {result.flags_sha256[:12]}"

    def carried(*labels):
        attacks = tuple(dataclasses.replace(a, reused=labels[i] if i < len(labels) else None)
                        for i, a in enumerate(result.attacks))
        return _carried_problems(dataclasses.replace(result, attacks=attacks))

    assert carried() == [] and carried(label, label) == []
    assert "a prefix of the schedule" in carried(None, label)[0]
    assert "older version of mnist-linf" in carried(label.replace("v2", "v3"))[0]
    assert "older version of mnist-linf" in carried(label, "mnist-linf v1 result 0123456789ab")[0]
    assert "older version of mnist-linf" in carried("cifar10-linf-1000 v2 result 0123456789ab")[0]
