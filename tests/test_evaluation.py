"""evaluate(): worst-case aggregation, the result schema, resume after a kill, tables, and the unofficial rule."""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from snnbench.cli import main
from snnbench.counting import LiveCount, counted_passes
from snnbench.evaluation import evaluate
from snnbench.summary import percent, worst_case
from snnbench.leaderboard import regenerate
from snnbench.protocol import GradientConfig, load_protocol
from snnbench.records import RecordError, parse_record, record_to_dict
from snnbench.results import Diagnostic, Result, flags_digest, read_result, result_path, write_result
from snnbench.zoo import load_model
from tiny_zoo import card_data, register_tiny_model

N, BATCH = 12, 4


def tiny_benchmark(steps: int = 2, queries: int = 10, name: str = "mnist-linf", version: int = None):
    """A benchmark (mnist-linf in force by default) with tiny budgets (an unofficial benchmark, for tests)."""
    bench = load_protocol().benchmark(name, version)
    attacks = tuple(dataclasses.replace(a, params={**a.params, **({"queries": queries} if a.gradient_free
                                                                   else {"steps": steps})})
                    for a in bench.attacks)
    return dataclasses.replace(bench, attacks=attacks, stochastic=dataclasses.replace(bench.stochastic, passes=2,
                                                                                     eot=2))


VERSION = load_protocol().benchmark("mnist-linf").version


def boards_check_against(monkeypatch, bench) -> None:
    """Boards check each result against its protocol version; make ``bench`` (on N images) that version."""
    real = load_protocol()
    tiny = dataclasses.replace(bench, n_examples=N, batch_size=BATCH)
    protocol = dataclasses.replace(real, benchmarks={**real.benchmarks, bench.name: tiny})
    monkeypatch.setattr("snnbench.leaderboard.load_protocol", lambda: protocol)


@pytest.fixture(autouse=True)
def tiny_boards(monkeypatch):
    """The tiny results are checked against the tiny benchmark they ran, as a real result against its protocol."""
    boards_check_against(monkeypatch, tiny_benchmark())


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    register_tiny_model(root, "tiny-lif")
    return root


def run(zoo, **kwargs) -> Result:
    settings = dict(n_examples=N, batch_size=BATCH, zoo=zoo)
    settings.update(kwargs)
    bench = settings.pop("bench", None) or tiny_benchmark()
    return evaluate(load_model("tiny-lif", zoo=zoo, backend="eager"), bench, **settings)


@pytest.fixture(scope="module")
def tiny_result(zoo) -> Result:
    return run(zoo)


def _comparable(result: Result) -> dict:
    data = record_to_dict(result)
    data.pop("seconds")
    data.pop("environment")
    for attack in data["attacks"]:
        attack.pop("seconds")
    return data


def test_worst_case_on_hand_made_flags():
    clean = [True, True, True, False, True]
    fooled = [{0}, {0, 2}, {3}]  # sample 3 is not clean: fooling it changes nothing
    assert worst_case(clean, fooled) == [False, True, False, False, True]
    assert worst_case(clean, []) == clean
    assert percent(worst_case(clean, fooled)) == 40.0


class _Bar:
    def __init__(self):
        self.shown = []

    def set_postfix_str(self, text):
        self.shown.append(text)


def test_the_bar_counts_images_forward_while_a_batch_runs(zoo):
    model = load_model("tiny-lif", zoo=zoo, backend="eager")
    bar, quiet = _Bar(), _Bar()
    with counted_passes(model, LiveCount(bar, before=1000, interval=0.0)) as counter:
        model(torch.rand(3, 1, 28, 28))
        model(torch.rand(2, 1, 28, 28))
    assert counter.forward == 5
    assert bar.shown == ["1,003 images forward", "1,005 images forward"]
    with counted_passes(model, LiveCount(quiet, interval=3600.0)):
        model(torch.rand(3, 1, 28, 28))
    assert quiet.shown == []  # throttled: a bar redrawn on every pass would slow Square down


def test_evaluate_tiny_model(tiny_result):
    result = tiny_result
    assert not result.official and any("n_examples 12" in d for d in result.departures)
    assert [a.name for a in result.attacks][:2] == ["sa-pgd-assg", "apgd-ce"]
    clean = result.clean_flags.count("1")
    assert result.attacks[0].attacked == result.attacks[1].attacked == clean
    assert result.robust_accuracy <= min(result.reference_accuracy, result.prior_accuracy) <= result.clean_accuracy
    assert result.overestimate == pytest.approx(result.prior_accuracy - result.robust_accuracy)
    for earlier, later in zip(result.attacks[1:], result.attacks[2:]):  # survivors shrink attack by attack
        assert later.attacked <= (earlier.robust if earlier.name != "apgd-ce" else later.attacked)
    assert result.attacks[0].backward == 2 * clean  # SA-PGD: one gradient per step and sample
    parse_record(Result, record_to_dict(result), "round trip")


def test_attacks_built_on_membrane_dynamics_do_not_apply_to_psn(zoo, tmp_path):
    psn = card_data("tiny-psn")["architecture"]
    psn["neuron"] = {"kind": "psn", "params": {}}
    register_tiny_model(zoo, "tiny-psn", architecture=psn)
    model = load_model("tiny-psn", zoo=zoo, backend="eager")
    result = evaluate(model, tiny_benchmark(), n_examples=N, batch_size=BATCH, zoo=zoo)
    skipped = {a.name: a for a in result.attacks if a.not_applicable}
    assert set(skipped) == {"apgd-ce-hart"}
    assert all(a.attacked == a.forward == a.backward == 0 for a in skipped.values())
    *runs, square = result.attacks
    before = [a for a in runs if not a.not_applicable][-1]  # HART saw nothing: Square takes what was left before
    assert square.name == "square" and square.attacked == before.robust
    notes = [d for d in result.diagnostics if d.code == "not-applicable"]
    assert len(notes) == 1 and not any(d.unreliable for d in notes)
    v1 = evaluate(model, tiny_benchmark(version=1), n_examples=N, batch_size=BATCH, zoo=zoo)
    assert {a.name for a in v1.attacks if a.not_applicable} == {"apgd-ce-bptr", "apgd-ce-rga", "apgd-ce-hart"}
    parse_record(Result, record_to_dict(result), "round trip")
    path = result_path(tmp_path, "mnist-linf", VERSION, "tiny-psn")
    write_result(dataclasses.replace(result, official=True, departures=()), path)
    regenerate(tmp_path, zoo=zoo)
    assert "(notes: not-applicable)" in (tmp_path / "mnist-linf" / f"v{VERSION}" / "README.md").read_text()

    reference_needs_bptr = tiny_benchmark()
    attacks = list(reference_needs_bptr.attacks)
    attacks[0] = dataclasses.replace(attacks[0], gradient=GradientConfig("bptr", {}))
    with pytest.raises(ValueError, match="the reference attack sa-pgd-assg cannot run on this model"):
        evaluate(model, dataclasses.replace(reference_needs_bptr, attacks=tuple(attacks)), n_examples=N,
                 batch_size=BATCH, zoo=zoo)


def test_resume_after_a_kill_equals_an_uninterrupted_run(zoo, tmp_path):
    state = tmp_path / "state.json"
    # The child stops (sleeps) right after saving the first attack's first batch, so the kill always lands
    # mid-evaluation, however fast the machine: nothing after that save may be in the state.
    script = f"""
import sys, time
sys.path.insert(0, {str(os.path.dirname(__file__))!r})
from snnbench.runner import EvaluationState
original = EvaluationState.save
def save_then_wait(self, path):
    original(self, path)
    if "sa-pgd-assg" in self.attacks and self.attacks["sa-pgd-assg"].done_batches:
        print("saved", flush=True)
        time.sleep(600)
EvaluationState.save = save_then_wait
from test_evaluation import run, tiny_benchmark
run({str(zoo)!r}, bench=tiny_benchmark(steps=10), resume={str(state)!r})
"""
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline() == b"saved\n", process.stderr.read().decode()
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved = json.loads(state.read_text())
    assert saved["attacks"]["sa-pgd-assg"]["done_batches"] >= 1 and list(saved["attacks"]) == ["sa-pgd-assg"]
    resumed = run(zoo, bench=tiny_benchmark(steps=10), resume=state)
    whole = run(zoo, bench=tiny_benchmark(steps=10))
    assert _comparable(resumed) == _comparable(whole)


def test_a_state_file_of_another_evaluation_is_refused(zoo, tmp_path):
    state = tmp_path / "state.json"
    run(zoo, bench=tiny_benchmark(steps=1, queries=2), resume=state)
    with pytest.raises(ValueError, match="belongs to another evaluation"):
        run(zoo, bench=tiny_benchmark(steps=1, queries=2), seed=1, resume=state)


def test_a_state_made_by_other_code_is_not_resumed(zoo, tmp_path, monkeypatch):
    """An evaluation is finished by the code that began it: a state from other code (another rounding in a
    kernel) is refused, and the result records which code produced it."""
    from snnbench import source

    state = tmp_path / "state.json"
    bench = tiny_benchmark(steps=1, queries=2)
    result = run(zoo, bench=bench, resume=state)
    assert result.environment.source_sha256 == source.source_sha256()
    assert result.environment.revision == source.git_revision()
    from snnbench.runner import EvaluationState

    folder = tmp_path / "states"
    folder.mkdir()
    original = EvaluationState.save

    def save_and_stop(self, path):  # interrupted after its first save
        original(self, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(EvaluationState, "save", save_and_stop)
    with pytest.raises(KeyboardInterrupt):
        run(zoo, bench=bench, resume=folder)
    monkeypatch.setattr(EvaluationState, "save", original)
    begun = list(folder.glob("*.state.json"))
    monkeypatch.setattr(source, "source_sha256", lambda: "f" * 64)  # then the code changes
    with pytest.raises(ValueError, match="belongs to another evaluation"):
        run(zoo, bench=bench, resume=state)
    with pytest.warns(RuntimeWarning, match=f"not resuming {begun[0]}: begun by other code"):
        again = run(zoo, bench=bench, resume=folder)  # starts over, and says so
    assert _comparable(again) == _comparable(result) and list(folder.glob("*.state.json")) == begun


def test_a_retired_version_is_official_on_its_own_board_and_an_unknown_one_is_named():
    from snnbench.evaluation_plan import _benchmark_departures

    protocol = load_protocol()
    old = protocol.benchmark("mnist-linf", 1)
    assert VERSION > 1 and _benchmark_departures(old, protocol) == []  # re-running v1 with today's code
    assert _benchmark_departures(dataclasses.replace(old, epsilon=0.05), protocol) == [
        "the benchmark's settings are not those of mnist-linf v1: epsilon 0.05 instead of 0.1"]
    assert _benchmark_departures(dataclasses.replace(old, version=VERSION + 5), protocol) == [
        f"mnist-linf has no version {VERSION + 5}; mnist-linf v{VERSION} is in force"]


def test_cli_evaluate_names_a_version_the_protocol_does_not_know(capsys):
    assert main(["evaluate", "--model", "mnist-convnet-lif-at", "--version", "9"]) == 1
    known = ", ".join(f"v{v}" for v in range(1, VERSION + 1))
    assert f"mnist-linf has no version 9; the protocol knows {known}" in capsys.readouterr().err


@pytest.fixture
def official_result(tiny_result):
    """A tiny evaluation dressed as an official result (the real protocol takes minutes)."""
    return dataclasses.replace(tiny_result, official=True, departures=())


@pytest.mark.parametrize("field, value, words", [
    ("robust_accuracy", "12.5", "expected a number"),
    ("clean_flags", "01", "characters of 0 and 1"),
    ("overestimate", 99.0, "prior_accuracy - robust_accuracy"),
    ("flags_sha256", "0" * 64, "does not match the flags"),
    ("official", True, "no departures"),
    ("colour", "red", "unknown field"),
])
def test_the_schema_rejects_malformed_results(tiny_result, field, value, words):
    data = record_to_dict(tiny_result)
    data[field] = value
    with pytest.raises(RecordError) as caught:
        parse_record(Result, data, "result.json")
    assert any(words in p for p in caught.value.problems), caught.value.problems


@pytest.fixture(scope="module")
def bptt_result() -> Result:
    """A zoo model that the tiny budgets do fool (the untrained tiny model is right on one image in twelve)."""
    return evaluate(load_model("mnist-convnet-lif-bptt", backend="eager"), tiny_benchmark(steps=5),
                    n_examples=N, batch_size=BATCH)


def test_results_keep_each_runs_fooled_samples_and_they_must_add_up(bptt_result):
    """Per-run fooled flags make every derived figure checkable: a forgery consistent in every count is caught."""
    data = record_to_dict(bptt_result)
    fooled = [set(i for i, c in enumerate(a["fooled_flags"]) if c == "1") for a in data["attacks"]]
    clean = {i for i, c in enumerate(data["clean_flags"]) if c == "1"}
    assert data["robust_flags"] == "".join("1" if i in clean - set().union(*fooled) else "0" for i in range(N))
    # Call a fooled sample robust, with the headline, overestimate, digest and first-to-fool count made to match.
    sample = min(set().union(*fooled))
    first = next(k for k, f in enumerate(fooled) if sample in f)
    data["robust_flags"] = data["robust_flags"][:sample] + "1" + data["robust_flags"][sample + 1:]
    data["robust_accuracy"] += 100.0 / N
    data["overestimate"] = data["prior_accuracy"] - data["robust_accuracy"]
    data["flags_sha256"] = flags_digest(data["clean_flags"], data["robust_flags"])
    data["attacks"][first]["first_to_fool"] -= 1
    with pytest.raises(RecordError) as caught:
        parse_record(Result, data, "result.json")
    assert any("but its flags give" in p for p in caught.value.problems), caught.value.problems
    assert any("are not the clean-correct samples that no run fooled" in p for p in caught.value.problems)
    # Flags that do not match the counts are caught on their own.
    data = record_to_dict(bptt_result)
    data["attacks"][first]["fooled_flags"] = "0" * N
    with pytest.raises(RecordError, match="mark 0 samples but the run fooled"):
        parse_record(Result, data, "result.json")


def test_a_board_refuses_a_result_that_is_not_its_protocols_run(official_result, zoo, tmp_path):
    board = tmp_path / "leaderboard"
    kept = official_result.attacks[:-1]  # Square left out, the totals made to agree
    short = dataclasses.replace(official_result, attacks=kept, forward=sum(a.forward for a in kept),
                                backward=sum(a.backward for a in kept))
    write_result(short, result_path(board, "mnist-linf", VERSION, "tiny-lif"))
    with pytest.raises(ValueError, match=f"mnist-linf v{VERSION} schedules .*square"):
        regenerate(board, zoo=zoo)
    environment = dataclasses.replace(official_result.environment, seed=7)
    write_result(dataclasses.replace(official_result, environment=environment),
                 result_path(board, "mnist-linf", VERSION, "tiny-lif"))
    with pytest.raises(ValueError, match=f"ran with seed 7; mnist-linf v{VERSION} uses 0"):
        regenerate(board, zoo=zoo)


def as_result_of(result: Result, zoo, name: str) -> Result:
    """``result`` filed under card ``name`` of ``zoo`` (its card hash made to match)."""
    import hashlib

    from snnbench.cards import read_card

    card = zoo / "mnist" / f"{name}.yaml"
    weights = read_card(card).weights.sha256
    summary = dataclasses.replace(result.model_summary, card_file_sha256=hashlib.sha256(card.read_bytes()).hexdigest(),
                                  card_sha256=weights, checkpoint_sha256=weights)
    return dataclasses.replace(result, model=name, model_summary=summary)


def test_tables_check_and_the_unofficial_rule(official_result, zoo, tmp_path, capsys):
    board = tmp_path / "leaderboard"
    path = result_path(board, "mnist-linf", VERSION, "tiny-lif")
    write_result(official_result, path)
    register_tiny_model(zoo, "tiny-two", seed=1)
    write_result(as_result_of(official_result, zoo, "tiny-two"), result_path(board, "mnist-linf", VERSION, "tiny-two"))
    assert len(regenerate(board, zoo=zoo)) == 2 and regenerate(board, check=True, zoo=zoo) == []
    table = (board / "mnist-linf" / f"v{VERSION}" / "README.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("|") and "tiny-" in line]
    assert len(rows) == 2 and all(row.split("|")[1].strip() == "1" for row in rows)  # a tie shares rank 1
    assert f"[mnist-linf v{VERSION}](mnist-linf/v{VERSION}/README.md)" in (board / "README.md").read_text()

    edited = table.replace("tiny-two", "tiny-too")
    (board / "mnist-linf" / f"v{VERSION}" / "README.md").write_text(edited)
    assert main(["leaderboard", "--check", "--dir", str(board), "--zoo", str(zoo)]) == 1
    assert "differs from its regeneration" in capsys.readouterr().err
    assert main(["leaderboard", "--dir", str(board), "--zoo", str(zoo)]) == 0
    assert main(["leaderboard", "--check", "--dir", str(board), "--zoo", str(zoo)]) == 0

    unofficial = dataclasses.replace(official_result, model="tiny-three", official=False,
                                     departures=("n_examples 12 instead of the protocol's 1000",))
    write_result(unofficial, result_path(board, "mnist-linf", VERSION, "tiny-three"))
    with pytest.raises(ValueError, match="unofficial results stay off the boards"):
        regenerate(board, zoo=zoo)
    assert read_result(path).flags_sha256 == flags_digest(official_result.clean_flags, official_result.robust_flags)


def test_a_new_official_result_is_ranked_among_its_board_not_alone(tmp_path):
    from snnbench.leaderboard import board_frame, standing
    from snnbench.results import leaderboard_root, results_in

    folder = leaderboard_root() / "mnist-linf" / "v3" / "results"
    board = board_frame(tuple(results_in(folder)))
    last = board.iloc[-1]
    result = read_result(folder / f"{last['model']}.json")
    row = standing(result, folder)  # as if just written there: it replaces its own earlier file
    assert list(row["rank"]) == [f"{last['rank']} of {len(board)}"] and int(last["rank"]) > 1
    assert list(row["robust"]) == [result.robust_accuracy]
    assert list(standing(result, tmp_path / "no-board-yet")["rank"]) == ["1 of 1"]


def test_cli_evaluate_missing_fills_what_has_no_result(zoo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SNNBENCH_ZOO", str(zoo))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    import snnbench.evaluation_plan as evaluation_plan
    import snnbench.protocol as protocol_module

    tiny = dataclasses.replace(load_protocol(), benchmarks={"mnist-linf": tiny_benchmark(steps=1, queries=2)})
    monkeypatch.setattr(evaluation_plan, "load_protocol", lambda: tiny)
    monkeypatch.setattr(protocol_module, "load_protocol", lambda: tiny)
    register_tiny_model(zoo, "tiny-missing", seed=2)
    flags = ["evaluate", "--missing", "mnist-linf", "--n-examples", "4", "--batch-size", "4", "--quiet",
             "--out", str(tmp_path / "out")]
    assert main(flags) == 0
    first = capsys.readouterr().out
    cards = sorted(p.stem for p in (zoo / "mnist").glob("*.yaml"))
    # settings outside the protocol fill unofficial results, and the count says so (it said "without a result"
    # while every card had an official one)
    assert f"{len(cards)} zoo card(s), {len(cards)} without an unofficial result with these settings (" in first
    written = sorted((tmp_path / "out" / "mnist-linf" / f"v{VERSION}" / "unofficial").glob("*.json"))
    assert [p.name for p in written] == [f"{name}-n4-b4-s0.json" for name in cards]
    assert main(flags) == 0 and "0 without an unofficial result" in capsys.readouterr().out  # nothing left to do
    assert main(["evaluate", "--missing", "mnist-linf", "--model", "tiny-lif"]) == 1
    assert "not both" in capsys.readouterr().err


def test_cli_evaluate_keeps_unofficial_results_off_the_board(zoo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SNNBENCH_ZOO", str(zoo))
    monkeypatch.chdir(tmp_path)
    import snnbench.evaluation_plan as evaluation_plan
    monkeypatch.setattr(evaluation_plan, "load_protocol", lambda: dataclasses.replace(
        load_protocol(), benchmarks={"mnist-linf": tiny_benchmark()}))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    board = tmp_path / "board"
    assert main(["evaluate", "--model", "tiny-lif", "--n-examples", "8", "--batch-size", "4", "--quiet",
                 "--out", str(board)]) == 0
    out = capsys.readouterr().out
    assert "unofficial result, not ranked" in out and "tiny-lif" in out
    assert not (board / "mnist-linf" / f"v{VERSION}" / "results").exists()
    path = board / "mnist-linf" / f"v{VERSION}" / "unofficial" / "tiny-lif-n8-b4-s0.json"
    result = read_result(path)
    assert result.n_examples == 8
    assert not list((tmp_path / "cache").rglob("*.state.json"))  # the state file goes once the result is written
    # Each run's robust accuracy as it finishes, as AutoAttack logs it: on the console and in a log beside the result.
    lines = [line for line in out.splitlines() if line.split() and line.split()[0] in
             {"clean"} | {a.name for a in result.attacks}]
    assert len(lines) == 1 + len(result.attacks) and f"{result.clean_accuracy:5.1f}%" in lines[0]
    assert f"robust {result.robust_accuracy:5.1f}%" in lines[-1]  # the last run's line is the headline
    assert path.with_suffix(".log").read_text().splitlines()[1:] == lines
    header = next(line for line in out.splitlines() if "robust" in line.split() and "clean" in line.split())
    assert "rank" not in header.split()  # a lone unofficial row is not "rank 1"
    flags = ["evaluate", "--model", "tiny-lif", "--n-examples", "8", "--batch-size", "4", "--quiet", "--out", str(board)]
    assert main(flags) == 1  # never overwritten without a flag
    assert f"{path} exists" in capsys.readouterr().err and read_result(path) == result
    assert main(flags + ["--force"]) == 0 and "unofficial result" in capsys.readouterr().out


def test_cli_evaluate_takes_a_zoo_and_other_weights_as_unofficial(zoo, tmp_path, monkeypatch, capsys):
    """--zoo names the zoo (a zoo outside the repository's is a departure); --checkpoint evaluates the card's
    architecture with other weights, recorded by sha256 and named as a departure."""
    monkeypatch.delenv("SNNBENCH_ZOO", raising=False)
    monkeypatch.chdir(tmp_path)
    import snnbench.evaluation_plan as evaluation_plan
    monkeypatch.setattr(evaluation_plan, "load_protocol", lambda: dataclasses.replace(
        load_protocol(), benchmarks={"mnist-linf": tiny_benchmark(steps=1, queries=2)}))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    other = tmp_path / "other"
    _, weights = register_tiny_model(other, "tiny-lif", seed=5)  # same card name, other weights
    flags = ["evaluate", "--model", "tiny-lif", "--zoo", str(zoo), "--n-examples", "4", "--batch-size", "4",
             "--quiet", "--out", str(tmp_path / "out")]
    assert main(flags) == 0
    assert "is not in the repository's zoo" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="is not the card's"):
        assert main(flags + ["--checkpoint", str(weights), "--force"]) == 0
    out = capsys.readouterr().out
    assert "are not the card's" in out
    result = read_result(next((tmp_path / "out").rglob("tiny-lif-n4-b4-s0.json")))
    from snnbench.files import sha256_file

    assert result.model_summary.checkpoint_sha256 == sha256_file(weights) != result.model_summary.card_sha256
    assert main(["evaluate", "--missing", "mnist-linf", "--checkpoint", str(weights)]) == 1
    assert "--checkpoint goes with --model" in capsys.readouterr().err


def with_restarts(bench, **restarts):
    """``bench`` with these entries restarted (the others run once) and every allowed restart run."""
    return dataclasses.replace(bench, attacks=tuple(dataclasses.replace(a, restarts=restarts.get(a.name, 1))
                                                    for a in bench.attacks),
                               diagnostics=dataclasses.replace(bench.diagnostics, restart_gain_percent=None))


def test_restarts_run_in_rounds_on_the_survivors_and_count_marginal_gains(zoo, tiny_result, tmp_path, monkeypatch):
    bench = with_restarts(tiny_benchmark(), **{"sa-pgd-assg": 3, "apgd-dlr": 2})
    boards_check_against(monkeypatch, bench)
    result = run(zoo, bench=bench)
    names = [a.name for a in result.attacks]
    gradient = [a.name for a in bench.attacks if not a.gradient_free]
    assert names == gradient + ["sa-pgd-assg/r1", "apgd-dlr/r1", "sa-pgd-assg/r2", "square"]
    first = result.attacks[0]
    without_restarts = {k: v for k, v in record_to_dict(tiny_result.attacks[0]).items() if k != "seconds"}
    assert {k: v for k, v in record_to_dict(first).items() if k != "seconds"} == without_restarts  # same seeds
    for restart in (a for a in result.attacks if a.restart):  # on what every earlier run left standing
        assert restart.first_to_fool == restart.attacked - restart.robust
    assert result.reference_accuracy == tiny_result.reference_accuracy  # the reference is its first run alone
    # Every fooled sample is credited to exactly one run: the first to fool it.
    assert sum(a.first_to_fool for a in result.attacks) == result.clean_flags.count("1") - result.robust_flags.count("1")
    path = result_path(tmp_path, "mnist-linf", VERSION, "tiny-lif")
    write_result(dataclasses.replace(result, official=True, departures=()), path)
    regenerate(tmp_path, zoo=zoo)
    table = (tmp_path / "mnist-linf" / f"v{VERSION}" / "README.md").read_text()
    gain = max(a.first_to_fool for a in result.attacks if a.name in ("sa-pgd-assg/r2", "apgd-dlr/r1"))
    header, _, row = [line.split("|") for line in table.splitlines() if line.startswith("|")][:3]
    cells = dict(zip((h.strip() for h in header), (c.strip() for c in row)))
    assert cells["last restart"] == f"{100.0 * gain / N:.1f}"


def test_a_restart_with_another_seed_can_fool_what_the_first_run_missed():
    """Restart seeds differ from the first run's: on a fixed batch, the restarts' random starts differ."""
    from snnbench.randomness import derive_seed

    entry = load_protocol().benchmark("mnist-linf").attacks[0]
    seeds = {derive_seed(0, dataclasses.replace(entry, restarts=3).run_name(r), 0) for r in range(3)}
    assert len(seeds) == 3 and derive_seed(0, entry.run_name(0), 0) == derive_seed(0, "sa-pgd-assg", 0)


def test_gradient_free_attacks_must_come_last():
    bench = tiny_benchmark()
    square = bench.attacks[-1]
    reordered = dataclasses.replace(bench, attacks=(*bench.attacks[:2], square, *bench.attacks[2:-1]))
    problems = [message for _, message in reordered.record_problems()]
    assert any("gradient-free attacks run after every gradient attack" in p for p in problems)
    assert not [m for _, m in bench.record_problems()]
    restarts = with_restarts(bench, **{"sa-pgd-assg": 0})
    assert any("must be at least 1" in m for _, m in restarts.attacks[0].record_problems())


def test_results_record_the_gradient_mode_and_layers_each_attack_ran_on(tiny_result):
    layers = tiny_result.model_summary.spiking_layers
    assert layers == 2  # the tiny convnet's two LIF layers
    by_name = {a.name: a for a in tiny_result.attacks}
    assert (by_name["sa-pgd-assg"].gradient_mode, by_name["sa-pgd-assg"].gradient_layers) == ("assg", 2)
    assert (by_name["apgd-ce"].gradient_mode, by_name["apgd-ce-hart"].gradient_mode) == ("surrogate", "hart")
    assert (by_name["sa-pgd-assg-a80"].gradient_mode, by_name["sa-pgd-assg-a80"].gradient_layers) == ("assg", 2)
    assert (by_name["square"].gradient_mode, by_name["square"].gradient_layers) == (None, None)
    data = record_to_dict(tiny_result)
    data["attacks"][0]["gradient_layers"] = 1  # as if the reference had reached only one of two layers
    with pytest.raises(RecordError, match="the reference sa-pgd-assg ran its gradient mode on 1 of the model's 2 "
                                          "spiking layers"):
        parse_record(Result, data, "result.json")


def test_any_snnbench_model_evaluates_unofficially_under_a_name_that_is_no_card(zoo):
    from snnbench import create_model, evaluate as exported

    assert exported is evaluate  # the README's snnbench.evaluate
    torch.manual_seed(0)
    model = create_model("convnet", T=2, channels=(4, 8), neuron={"backend": "eager"})
    with pytest.raises(ValueError, match="needs a name for a model without a zoo card"):
        evaluate(model, tiny_benchmark(), n_examples=N, batch_size=BATCH, zoo=zoo)
    with pytest.raises(ValueError, match="name 'tiny-lif' is a zoo card's; a model without that card cannot be "
                                         "filed under it"):
        evaluate(model, tiny_benchmark(), name="tiny-lif", n_examples=N, batch_size=BATCH, zoo=zoo)
    with pytest.raises(TypeError, match="takes a zoo name or a snnbench.SpikingClassifier, not Sequential"):
        evaluate(torch.nn.Sequential(), tiny_benchmark(), name="x", zoo=zoo)
    result = evaluate(model, tiny_benchmark(), name="my-snn", n_examples=N, batch_size=BATCH, zoo=zoo)
    assert result.model == "my-snn" and not result.official
    assert "no model card: only a registered card makes a result official" in result.departures
    summary = result.model_summary
    assert (summary.architecture, summary.neuron, summary.card_sha256, summary.spiking_layers) == (
        "unregistered", "lif", None, 2)
    data = record_to_dict(dataclasses.replace(result, official=True, departures=()))
    with pytest.raises(RecordError, match="a result without a model card is never official"):
        parse_record(Result, data, "result.json")
    with pytest.raises(ValueError, match="evaluated under its card's name, 'tiny-lif'"):
        evaluate(load_model("tiny-lif", zoo=zoo, backend="eager"), tiny_benchmark(), name="other", zoo=zoo)


@pytest.mark.parametrize("command, flags, words", [
    ("verify", ["--budget-minutes", "0"], "--budget-minutes: must be a finite number above 0, got 0"),
    ("verify", ["--budget-minutes", "nan"], "--budget-minutes: must be a finite number above 0, got nan"),
    ("verify", ["--samples", "0"], "--samples: must be at least 1, got 0"),
    ("verify", ["--device", "bogus"], "--device: not a torch device: 'bogus'"),
] + [("evaluate", flags, words) for flags, words in [
    (["--device", "gpu0"], "--device: not a torch device: 'gpu0'"),
    (["--n-examples", "0"], "--n-examples: must be at least 1, got 0"),
    (["--n-examples", "-998"], "--n-examples: must be at least 1, got -998"),
    (["--batch-size", "-1"], "--batch-size: must be at least 1, got -1"),
    (["--batch-size", "ten"], "--batch-size: expected a whole number, got 'ten'"),
]])
def test_cli_counts_are_refused_not_defaulted(command, flags, words, capsys):
    target = ["--model", "mnist-convnet-lif-at"] if command == "evaluate" else ["result.json"]
    with pytest.raises(SystemExit) as stop:
        main([command, *target, *flags])
    assert stop.value.code == 2 and words in capsys.readouterr().err


def test_cli_verify_mixes_a_challenge_into_the_draws_and_prints_it(monkeypatch, capsys):
    """CI's `--challenge random` must reach every file's draws as one fresh text that the verdict prints, so the
    draw can be repeated; without the option the draws stay the flags' alone."""
    import snnbench.verification
    from snnbench.verification import Verification

    from snnbench.records import RecordError

    seen, downloads = [], []

    def fake(path, *, challenge=None, download=False, **kwargs):
        seen.append(challenge)
        if path == "unreadable.json":  # as read_result refuses a file that is not UTF-8 JSON
            raise RecordError(path, ["not UTF-8 text, so not a result file"])
        downloads.append(download)
        return Verification(Path(path))

    monkeypatch.setattr(snnbench.verification, "verify", fake)
    assert main(["verify", "a.json", "b.json", "--challenge", "random", "--quiet"]) == 0
    drawn = seen[0]
    assert re.fullmatch(r"[0-9a-f]{16}", drawn) and seen == [drawn, drawn]  # one challenge for every file
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert all(line.endswith(f"; challenge {drawn} (repeat with --challenge {drawn})") for line in out)
    main(["verify", "a.json", "--challenge", "random", "--quiet"])
    assert seen[-1] != drawn  # fresh each time: a submitter cannot know it in advance
    main(["verify", "a.json", "--challenge", drawn, "--quiet"])
    assert seen[-1] == drawn
    capsys.readouterr()
    main(["verify", "a.json", "--quiet"])
    assert seen[-1] is None and "challenge" not in capsys.readouterr().out
    # one file that cannot be verified fails alone, by name; the files after it are still verified
    assert main(["verify", "unreadable.json", "b.json", "--quiet", "--download"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "FAIL  unreadable.json: not UTF-8 text, so not a result file\n"
    assert captured.out.startswith("ok") and "b.json" in captured.out and downloads[-1] is True


def test_cli_evaluate_names_an_output_folder_that_is_a_file(zoo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SNNBENCH_ZOO", str(zoo))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "afile").write_text("")
    assert main(["evaluate", "--model", "tiny-lif", "--n-examples", "4", "--out", str(tmp_path / "afile")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "snnbench evaluate: error:" in err and str(tmp_path / "afile") in err


@pytest.mark.parametrize("argv, words", [
    (["leaderboard", "--show", "--check"], "--show only prints the boards: it takes neither --check nor --html"),
    (["leaderboard", "--show", "--html", "site"], "--show only prints the boards"),
    (["evaluate", "--missing", "mnist-linf", "--benchmark", "cifar10-linf-1000"], "--benchmark goes with --model"),
    (["evaluate", "--missing", "mnist-linf", "--force"], "--force goes with --model"),
])
def test_cli_options_that_would_have_no_effect_are_refused(argv, words, capsys):
    """`--show --check` printed and passed without comparing; `--missing` ignored --benchmark and --force."""
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_evaluate_refuses_bad_counts_and_non_finite_models(zoo):
    model = load_model("tiny-lif", zoo=zoo, backend="eager")
    for option in ({"n_examples": 0}, {"batch_size": 0}, {"n_examples": -998}, {"batch_size": 2.5}):
        with pytest.raises(ValueError, match=f"{next(iter(option))} must be a whole number of at least 1"):
            evaluate(model, tiny_benchmark(), zoo=zoo, **option)
    with torch.no_grad():
        next(p for p in model.parameters() if p.dim() == 4).fill_(float("nan"))
    with pytest.raises(ValueError, match="tiny-lif: 1 tensor\\(s\\) of the model are not finite \\(NaN or inf\\): "
                                         "body.0"):
        evaluate(model, tiny_benchmark(), n_examples=N, batch_size=BATCH, zoo=zoo)


def test_runs_of_other_settings_keep_their_own_state(zoo, tmp_path):
    """One folder, one state file per evaluation: a second run never deletes or reuses the first's progress."""
    states = tmp_path / "states"
    states.mkdir()
    bench = tiny_benchmark(steps=1, queries=2)
    model = load_model("tiny-lif", zoo=zoo, backend="eager")
    from snnbench.runner import EvaluationState

    seen = []
    original = EvaluationState.save

    def save_and_stop(self, path):  # interrupt each run after its first save
        original(self, path)
        seen.append(path)
        raise KeyboardInterrupt

    EvaluationState.save = save_and_stop
    try:
        for seed in (0, 1):
            with pytest.raises(KeyboardInterrupt):
                evaluate(model, bench, n_examples=N, batch_size=BATCH, seed=seed, resume=states, zoo=zoo)
    finally:
        EvaluationState.save = original
    assert len(set(seen)) == 2 and len(list(states.glob("tiny-lif-*.state.json"))) == 2
    resumed = evaluate(model, bench, n_examples=N, batch_size=BATCH, seed=0, resume=states, zoo=zoo)
    whole = evaluate(model, bench, n_examples=N, batch_size=BATCH, seed=0, zoo=zoo)
    assert _comparable(resumed) == _comparable(whole)
    assert [p.name for p in states.glob("*.state.json")] == [seen[1].name]  # seed 1's progress is still there


def test_the_state_key_follows_the_model_as_it_stands_and_the_device(zoo):
    """A model edited after loading (same card, same weights file) or another device is another evaluation:
    resuming one from the other's state mixed two models' flags (clean 000000001000 against 000000010100)."""
    from snnbench.evaluation_plan import plan_evaluation

    bench = tiny_benchmark(steps=1, queries=2)
    model = load_model("tiny-lif", zoo=zoo, backend="eager")
    plan = plan_evaluation(model, bench, n_examples=N, batch_size=BATCH, zoo=zoo)
    edited = load_model("tiny-lif", zoo=zoo, backend="eager")
    with torch.no_grad():
        next(edited.parameters()).neg_()
    assert plan_evaluation(edited, bench, n_examples=N, batch_size=BATCH, zoo=zoo).key != plan.key
    assert dataclasses.replace(plan, device="cuda").key != plan.key
    assert plan_evaluation(load_model("tiny-lif", zoo=zoo, backend="eager"), bench, n_examples=N, batch_size=BATCH,
                           zoo=zoo).key == plan.key  # and nothing that varies from load to load


def test_a_result_that_cannot_be_written_keeps_the_state(zoo, tmp_path, monkeypatch):
    """The state goes only once the result is written: a full disk at the end lost the whole evaluation."""
    from snnbench import results
    from snnbench.evaluation import run_plan
    from snnbench.evaluation_plan import plan_evaluation

    states, target = tmp_path / "states", tmp_path / "out" / "result.json"
    states.mkdir()
    plan = plan_evaluation(load_model("tiny-lif", zoo=zoo, backend="eager"), tiny_benchmark(steps=1, queries=2),
                           n_examples=N, batch_size=BATCH, zoo=zoo)
    real = results.write_result

    def disk_full(result, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(results, "write_result", disk_full)
    with pytest.raises(OSError, match="No space left"):
        run_plan(plan, resume=states, result_file=target)
    assert plan.state_file(states).exists() and not target.exists()
    monkeypatch.setattr(results, "write_result", real)
    done = run_plan(plan, resume=states, result_file=target)
    assert read_result(target) == done and not list(states.iterdir())


def test_processes_that_would_merge_different_evaluations_refuse_to_start(zoo, tmp_path):
    from snnbench.evaluation import run_plan
    from snnbench.evaluation_plan import plan_evaluation
    from snnbench.sharding import Shard

    class OtherCodeOnProcessOne(Shard):  # what all_gather_object returns when process 1 runs other code
        def gather(self, obj):
            return [obj, obj.replace("tiny-lif", "other")] if isinstance(obj, str) else [obj] * self.world

    plan = plan_evaluation(load_model("tiny-lif", zoo=zoo, backend="eager"), tiny_benchmark(steps=1, queries=2),
                           n_examples=N, batch_size=BATCH, zoo=zoo)
    with pytest.raises(ValueError, match="process\\(es\\) 1 of 2 would run another evaluation than process 0"):
        run_plan(plan, resume=tmp_path, shard=OtherCodeOnProcessOne(0, 2))
    assert not list(tmp_path.iterdir())  # refused before anything ran or was saved
    # A state of a run over two processes is named, not silently ignored, when one process resumes.
    stem = plan.state_file(tmp_path).name.removesuffix(".state.json")
    other = tmp_path / f"{stem}.rank1of2.state.json"
    other.write_text("{}")
    (tmp_path / f"{stem}x.state.json").write_text("{}")  # not this evaluation's
    assert plan.states_of_other_process_counts(tmp_path) == [other]
    assert plan.states_of_other_process_counts(tmp_path, Shard(1, 2)) == []
    with pytest.warns(RuntimeWarning, match=f"not resuming {other}: one process's share of a run over another "
                                            f"number of processes \\(1 now\\)"):
        run_plan(plan, resume=tmp_path)


def test_an_edited_card_or_a_model_changed_after_loading_is_a_departure(zoo, tmp_path, official_result):
    import shutil

    from snnbench.zoo import repository_zoo

    edited_zoo = tmp_path / "zoo"
    (edited_zoo / "mnist").mkdir(parents=True)
    for suffix in (".yaml", ".safetensors"):
        shutil.copy(repository_zoo() / "mnist" / f"mnist-convnet-lif-at{suffix}", edited_zoo / "mnist")
    card = edited_zoo / "mnist" / "mnist-convnet-lif-at.yaml"
    card.write_text(card.read_text().replace("tau: 2.0", "tau: 2.0\n      threshold: 100.0"))
    edited = evaluate(load_model("mnist-convnet-lif-at", zoo=edited_zoo, backend="eager"), tiny_benchmark(),
                      n_examples=N, batch_size=BATCH, zoo=edited_zoo)
    assert any("is not in the repository's zoo" in d for d in edited.departures), edited.departures
    model = load_model("mnist-convnet-lif-at", backend="eager")
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    changed = evaluate(model, tiny_benchmark(), n_examples=N, batch_size=BATCH)
    assert any("differ from what card mnist-convnet-lif-at builds" in d for d in changed.departures)
    assert changed.model_summary.model_sha256 != edited.model_summary.model_sha256
    # A board refuses a result whose card changed since it was produced.
    board = tmp_path / "board"
    write_result(official_result, result_path(board, "mnist-linf", VERSION, "tiny-lif"))
    card = zoo / "mnist" / "tiny-lif.yaml"
    original = card.read_text()
    try:
        card.write_text(original + "\n")
        with pytest.raises(ValueError, match="was produced with another version of .*tiny-lif.yaml"):
            regenerate(board, zoo=zoo)
    finally:
        card.write_text(original)


def test_verify_all_keeps_one_verdict_per_flags_and_reverifies_a_replaced_result(tmp_path):
    import shutil

    sys.path.insert(0, str(os.path.join(os.path.dirname(__file__), "..", "tools")))
    from verify_all import logged, sweep

    from snnbench.verification import Verification

    committed = Path(__file__).resolve().parents[1] / "leaderboard" / "mnist-linf"
    board = tmp_path / "leaderboard"
    results = board / "mnist-linf" / "v4" / "results"
    results.mkdir(parents=True)
    for name in ("mnist-convnet-lif-bptt", "mnist-convnet-lif-at"):
        shutil.copy(committed / "v4" / "results" / f"{name}.json", results)
    bptt, at = (str(results / f"{name}.json") for name in ("mnist-convnet-lif-bptt", "mnist-convnet-lif-at"))
    calls, log = [], tmp_path / "verify-all.txt"

    def check(path, budget_seconds):
        calls.append((path, budget_seconds))
        report = Verification(Path(path), batches=2, checked=["a", "b", "checks"])
        if "lif-at" in path and len(calls) > 2:
            report.problems.append("mismatch")
        return report

    assert sweep(board, log, 4, check=check, out=lambda line: None) == ([], [])
    assert sorted(calls) == [(at, 240.0), (bptt, 240.0)]
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and all(re.fullmatch(r"[0-9a-f]{12} [0-9a-f]{12} ok    .*: re-ran 2 batch\(es\) and the "
                                                r"model's checks in 0 s", line) for line in lines)
    assert sweep(board, log, 4, check=check, out=lambda line: None) == ([], []) and len(calls) == 2  # all done
    # A replaced result (other flags) is verified again; its failure is the file's latest verdict.
    shutil.copy(committed / "v3" / "results" / "mnist-convnet-lif-at.json", at)
    assert sweep(board, log, 4, check=check, out=lambda line: None) == ([at], [])
    assert len(calls) == 3 and len(logged(log)) == 3
    # A result that cannot be verified at all is a failure with its reason; a skipped one has no verdict.
    shutil.copy(committed / "v3" / "results" / "mnist-convnet-lif-bptt.json", bptt)

    def broken(path, budget_seconds):
        raise ValueError("no model card named 'x'")

    assert sweep(board, log, 4, check=broken, out=lambda line: None) == ([at, bptt], [])
    assert log.read_text().splitlines()[-1].endswith(f"FAIL  {bptt}: no model card named 'x'")
    shutil.copy(committed / "v2" / "results" / "mnist-convnet-lif-bptt.json", bptt)
    assert sweep(board, log, 4, skip=(bptt,), check=broken, out=lambda line: None) == ([at], [bptt])


def test_migration_adds_hashes_only_where_git_proves_the_card_unchanged(zoo, official_result, tmp_path):
    import shutil
    import subprocess

    sys.path.insert(0, str(os.path.join(os.path.dirname(__file__), "..", "tools")))
    from migrate_results import migrate

    repo = tmp_path / "repo"
    shutil.copytree(zoo, repo / "zoo")
    legacy = record_to_dict(official_result)
    for key in ("card_file_sha256", "model_sha256"):
        legacy["model_summary"].pop(key)
    path = result_path(repo / "leaderboard", "mnist-linf", VERSION, "tiny-lif")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(legacy, indent=2) + "\n")

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                       capture_output=True)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "result")
    done, rerun = migrate(repo / "leaderboard", write=False, zoo=repo / "zoo")
    assert len(done) == 1 and rerun == []
    card = repo / "zoo" / "mnist" / "tiny-lif.yaml"
    card.write_text(card.read_text().replace("tau: 2.0", "tau: 3.0"))
    git("commit", "-qam", "card edited after the result")
    done, rerun = migrate(repo / "leaderboard", write=True, zoo=repo / "zoo")
    assert done == [] and len(rerun) == 1 and "its card changed since the result was committed" in rerun[0]
    assert "model_sha256" not in json.loads(path.read_text())["model_summary"]  # left as it was


def _verifiable(monkeypatch, tmp_path, result: Result, name: str = "result.json"):
    """Write ``result``; make the tiny benchmark it ran the protocol version that verification re-runs."""
    real = load_protocol()
    protocol = dataclasses.replace(real, benchmarks={**real.benchmarks, "mnist-linf": tiny_benchmark(steps=5)})
    monkeypatch.setattr("snnbench.verification.load_protocol", lambda: protocol)
    return write_result(result, tmp_path / name)


@pytest.mark.slow
def test_verify_reruns_drawn_batches_and_confirms_every_flag(bptt_result, tmp_path, monkeypatch, capsys):
    from snnbench.verification import verify

    path = _verifiable(monkeypatch, tmp_path, bptt_result)
    report = verify(path, samples=N)  # every batch
    assert report.ok, report.problems
    runs = [a for a in bptt_result.attacks if not a.not_applicable and a.attacked]
    # Every clean batch, the checks before the attacks (zero gradients, determinism), every batch of every run.
    assert len(report.checked) == N // BATCH + 1 + sum(-(-a.attacked // BATCH) for a in runs)
    assert report.batches == len(report.checked) - 1  # the model's checks are not a batch
    one = verify(path)  # the default: one batch per run, drawn from the flags' sha256
    assert one.ok and len(one.checked) == 2 + len(runs)
    tight = verify(path, budget_seconds=1e-9)  # spent at once: the clean batch, the checks, one run drawn
    assert tight.ok and len(tight.checked) == 3 and len(tight.skipped) == len(runs) - 1
    assert tight.checked == verify(path, budget_seconds=1e-9).checked and "time budget" in tight.notes[-1]
    challenged = verify(path, budget_seconds=1e-9, challenge="ci")  # an honest result passes any challenge's draw
    assert challenged.ok and challenged.key == f"{bptt_result.flags_sha256}/ci" and one.key == bptt_result.flags_sha256
    assert main(["verify", str(path), "--samples", "1"]) == 0
    out = capsys.readouterr().out.splitlines()  # a line per re-run batch as it finishes, then the verdict
    assert out[0] == f"verifying {path}" and out[1].split()[:3] == ["ok", "clean", "batch"]
    assert len(out) == 2 + len(one.checked) and out[-1].startswith(
        f"ok    {path}: re-ran {len(one.checked) - 1} batch(es) and the model's checks in ")
    # A doubt the model's checks do not give is caught, and so is the zero-gradient diagnostic toggled (dropped
    # where the evaluation stated one, invented where it did not).
    doubt = Diagnostic("nondeterministic", "the same input gave different logits", True)
    invented = _verifiable(monkeypatch, tmp_path, dataclasses.replace(
        bptt_result, diagnostics=bptt_result.diagnostics + (doubt,), reliable=False), "invented.json")
    report = verify(invented)
    assert any("nondeterministic (unreliable)" in p and "but the model's checks give" in p
               for p in report.problems), report.problems
    kept = tuple(d for d in bptt_result.diagnostics if d.code != "zero-gradient")
    if len(kept) == len(bptt_result.diagnostics):
        kept += (Diagnostic("zero-gradient", "3 clean-correct samples have a zero input gradient", False),)
    toggled = _verifiable(monkeypatch, tmp_path, dataclasses.replace(
        bptt_result, diagnostics=kept, reliable=not any(d.unreliable for d in kept)), "toggled.json")
    assert any("zero-gradient" in p for p in verify(toggled).problems)


@pytest.mark.slow
def test_verify_catches_a_forgery_that_every_count_agrees_with(bptt_result, tmp_path, monkeypatch, capsys):
    """The reference 'missed' a sample prior practice also fooled: the headline is unchanged, every count and
    figure consistent, so only re-running the reference's batch shows it."""
    from snnbench.verification import verify

    data = record_to_dict(bptt_result)
    reference, prior = data["attacks"][0], data["attacks"][1]
    both = [i for i in range(N) if reference["fooled_flags"][i] == prior["fooled_flags"][i] == "1"]
    assert both, "the tiny budgets should fool some sample by both headline attacks"
    sample = both[0]
    reference["fooled_flags"] = reference["fooled_flags"][:sample] + "0" + reference["fooled_flags"][sample + 1:]
    reference["robust"] += 1
    reference["accuracy"] = 100.0 * reference["robust"] / reference["attacked"]
    reference["first_to_fool"] -= 1
    prior["first_to_fool"] += 1
    data["reference_accuracy"] += 100.0 / N
    forged = parse_record(Result, data, "forged.json")  # the schema cannot tell
    path = _verifiable(monkeypatch, tmp_path, forged)
    report = verify(path, samples=N)
    assert not report.ok and any(f"they differ on samples {sample}" in p for p in report.problems), report.problems
    assert not any("numerics may differ" in p for p in report.problems)  # same code: the result is at fault
    assert main(["verify", str(path), "--samples", str(N)]) == 1
    printed = capsys.readouterr()
    assert "FAIL" in printed.err and sum(line.split()[0] == "MISMATCH" for line in printed.out.splitlines()[1:-1]) == 1


@pytest.mark.slow
def test_verify_refuses_another_card_or_checks_a_result_without_per_run_flags_less(bptt_result, tmp_path, monkeypatch):
    import shutil

    from snnbench.verification import verify
    from snnbench.zoo import repository_zoo

    path = _verifiable(monkeypatch, tmp_path, bptt_result)
    zoo = tmp_path / "zoo"
    shutil.copytree(repository_zoo() / "mnist", zoo / "mnist")
    card = zoo / "mnist" / "mnist-convnet-lif-bptt.yaml"
    card.write_text(card.read_text() + "\n")
    report = verify(path, zoo=zoo)
    assert not report.ok and any("is not the file the result was produced with" in p for p in report.problems)
    assert report.checked == []  # another model: nothing is re-run
    card.write_text(card.read_text()[:-1])  # the card as it was; now the weights change
    weights = zoo / "mnist" / "mnist-convnet-lif-bptt.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b" ")
    with pytest.raises(RuntimeError, match="sha256"):
        verify(path, zoo=zoo)
    data = record_to_dict(bptt_result)
    for attack in data["attacks"]:
        attack.pop("fooled_flags")
        attack.pop("first_to_fool")  # early v1 files kept neither
    data["environment"].pop("source_sha256")  # as an early v1 result: from before results recorded their code
    data["protocol"] = data["environment"]["protocol"] = 1  # (only those may lack per-run flags)
    early = dataclasses.replace(tiny_benchmark(steps=5), version=1)

    def _early_verifiable(result, name):
        path = _verifiable(monkeypatch, tmp_path, result, name)
        monkeypatch.setattr("snnbench.verification.load_protocol",
                            lambda: types.SimpleNamespace(benchmark=lambda name, version=None: early))
        return path

    old = _early_verifiable(parse_record(Result, data, "old.json"), "old.json")
    report = verify(old, samples=N)  # checked less, but checked: the headline runs against the robust flags
    assert report.ok and report.notes[-1].startswith("survivors runs: not re-run"), report.problems
    # A reference that reports one sample more than it fools puts the headline above it: refused on reading.
    more = copy.deepcopy(data)
    reference = more["attacks"][0]
    reference["robust"] -= 1
    reference["accuracy"] = 100.0 * reference["robust"] / reference["attacked"]
    more["reference_accuracy"] -= 100.0 / N
    with pytest.raises(RecordError, match="robust_accuracy': is above the reference accuracy"):
        parse_record(Result, more, "more.json")
    # One sample fewer: with every batch re-run the count is known.
    more = copy.deepcopy(data)
    reference = more["attacks"][0]
    reference["robust"] += 1
    reference["accuracy"] = 100.0 * reference["robust"] / reference["attacked"]
    more["reference_accuracy"] += 100.0 / N
    inflated = _early_verifiable(parse_record(Result, more, "more.json"), "more.json")
    counted = verify(inflated, samples=N)
    assert not counted.ok and any(f"over all its batches; the result reports {reference['attacked'] - reference['robust']}"
                                  in p for p in counted.problems), counted.problems
    fooled = next(i for i, (c, r) in enumerate(zip(data["clean_flags"], data["robust_flags"])) if c == "1" and r == "0")
    data["robust_flags"] = data["robust_flags"][:fooled] + "1" + data["robust_flags"][fooled + 1:]
    data["robust_accuracy"] += 100.0 / N
    for attack in data["attacks"][:2]:  # the reference and prior practice "missed" it too (else refused on reading)
        attack["robust"] += 1
        attack["accuracy"] = 100.0 * attack["robust"] / attack["attacked"]
    data["reference_accuracy"] += 100.0 / N
    data["prior_accuracy"] += 100.0 / N
    data["overestimate"] = data["prior_accuracy"] - data["robust_accuracy"]
    data["flags_sha256"] = flags_digest(data["clean_flags"], data["robust_flags"])
    forged = _early_verifiable(parse_record(Result, data, "forged.json"), "forged.json")
    report = verify(forged, samples=N)
    assert any("that the result calls robust" in p for p in report.problems), report.problems
    assert "before results recorded their code" in report.problems[-1]  # the mismatch may be the code's


def test_a_mismatch_in_a_carried_run_names_the_earlier_result_and_its_code(tmp_path):
    """A run carried over (--reuse) was produced by the earlier result's code, not the verified result's: the
    message must name that file and that code, and the version to re-run first."""
    from snnbench.results import published_boards
    from snnbench.source import source_sha256
    from snnbench.verification import carried_code

    model = "mnist-convnet-lif-trades"
    v2 = read_result(result_path(published_boards(), "mnist-linf", 2, model))
    v3 = read_result(result_path(published_boards(), "mnist-linf", 3, model))
    label = f"mnist-linf v2 result {v2.flags_sha256[:12]}"
    here, beside = (result_path(tmp_path, "mnist-linf", k, model) for k in (3, 2))
    for path in (here, beside):
        path.parent.mkdir(parents=True)
    write_result(v3, here)

    def earlier(source):
        write_result(dataclasses.replace(v2, environment=dataclasses.replace(v2.environment, source_sha256=source)),
                     beside)
        return carried_code(v3, label, here)

    same = earlier(source_sha256())
    assert f"from the {label} ({beside.resolve()}), produced by source {source_sha256()[:12]}" in same
    assert same.endswith("this is the same code, so that result is at fault")
    other = earlier("0" * 64)
    assert "produced by source 000000000000" in other and other.endswith(
        f"(snnbench evaluate --model {model} --benchmark mnist-linf --version 2), then this one with --reuse")
    beside.unlink()  # not beside the verified file: the published board's
    assert f"({result_path(published_boards(), 'mnist-linf', 2, model)})" in carried_code(v3, label, here)
    assert carried_code(v3, "mnist-linf v2 result 000000000000", here).endswith("which code produced it is unknown")
    assert "names no result file" in carried_code(v3, "mnist-linf v2", here)


SHARD_SCRIPT = """
import json, os, sys
import torch.distributed as dist
from snnbench.sharding import process_group_from_environment
sys.path.insert(0, {tests!r})
from test_evaluation import tiny_benchmark
from snnbench.evaluation import run_plan
from snnbench.evaluation_plan import plan_evaluation
from snnbench.records import record_to_dict
from snnbench.zoo import load_model
with process_group_from_environment("cpu", init_method="file://" + {rendezvous!r}):  # as the CLI does
    plan = plan_evaluation(load_model("mnist-convnet-lif-bptt", backend="eager"), tiny_benchmark(steps=5),
                           n_examples={n}, batch_size=2)
    result = run_plan(plan, resume={state!r})
    with open({out!r} + str(dist.get_rank()), "w") as handle:
        json.dump(record_to_dict(result), handle)
    if dist.get_rank() == 1:  # rank 1 "dies" during the run before last: its state loses what came after
        path = {state!r}.replace(".json", ".rank1of2.json")
        state = json.load(open(path))
        names = list(state["attacks"])
        state["attacks"] = {{name: state["attacks"][name] for name in names[:-1]}}
        state["attacks"][names[-2]].update(done_batches=0, fooled=[], seconds=0.0, forward=0, backward=0)
        json.dump(state, open(path, "w"))
    dist.barrier()
    again = run_plan(plan, resume={state!r})  # started again: rank 0 has all, rank 1 redoes its share
    with open({out!r} + "again" + str(dist.get_rank()), "w") as handle:
        json.dump(record_to_dict(again), handle)
"""


def test_two_processes_give_the_one_process_result(tmp_path):
    """Sharded over 2 gloo processes, each batch keeps its seed: the same flags, counts and figures, also when
    one rank is restarted from a state that lost its last runs."""
    script = SHARD_SCRIPT.format(tests=os.path.dirname(__file__), n=N, state=str(tmp_path / "state.json"),
                                 out=str(tmp_path / "result."), rendezvous=str(tmp_path / "rendezvous"))
    env = {**os.environ, "WORLD_SIZE": "2", "OMP_NUM_THREADS": "1", "TORCHINDUCTOR_COMPILE_THREADS": "1"}
    logs = [open(tmp_path / f"stderr{r}", "w") for r in range(2)]  # files, not pipes: a full pipe would block a rank
    ranks = [subprocess.Popen([sys.executable, "-c", script], env={**env, "RANK": str(r)}, stderr=logs[r])
             for r in range(2)]  # a file rendezvous: no port to race for
    codes = [rank.wait(timeout=600) for rank in ranks]
    for log in logs:
        log.close()
    assert codes == [0, 0], "\n".join(f"rank {r}: {(tmp_path / f'stderr{r}').read_text()[-2000:]}" for r in range(2))
    sharded = [json.loads((tmp_path / f"result.{name}{r}").read_text()) for name in ("", "again") for r in range(2)]
    whole = record_to_dict(evaluate(load_model("mnist-convnet-lif-bptt", backend="eager"), tiny_benchmark(steps=5),
                                    n_examples=N, batch_size=2))

    def comparable(data):
        data = {k: v for k, v in data.items() if k not in ("seconds", "environment")}
        data["attacks"] = [{k: v for k, v in a.items() if k != "seconds"} for a in data["attacks"]]
        return data

    assert all(comparable(result) == comparable(whole) for result in sharded)  # also after a rank's restart
    assert sharded[0]["environment"]["processes"] == 2 and sharded[0]["robust_accuracy"] < sharded[0]["clean_accuracy"]
    # Each rank kept its own share: the reference's 6 batches, 3 each.
    for r in range(2):
        state = json.loads((tmp_path / f"state.rank{r}of2.json").read_text())
        assert state["attacks"]["sa-pgd-assg"]["done_batches"] == 3


def test_one_process_needs_no_process_group(monkeypatch):
    """Without torchrun's WORLD_SIZE the CLI's group is one process: nothing joined, nothing left behind."""
    import torch.distributed as dist

    from snnbench.sharding import Shard, process_group_from_environment

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with process_group_from_environment("cpu") as shard:
        assert shard == Shard(0, 1) and shard.gather("x") == ["x"] and not dist.is_initialized()
    assert not dist.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(ValueError, match="WORLD_SIZE is 2 but RANK is not set"):
        with process_group_from_environment("cpu"):
            pass
    assert not dist.is_initialized()


def test_every_command_has_an_example_in_its_help():
    import argparse

    from snnbench.cli import build_parser

    def commands(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield sub
                    yield from commands(sub)

    found = list(commands(build_parser()))
    assert len(found) >= 12
    for command in found:
        assert command.epilog and "snnbench " in command.epilog, f"{command.prog}: no example in --help"
