"""The protocols as committed in benchmarks.yaml, and the schema that guards them."""
from __future__ import annotations

import copy
import dataclasses

import pytest
import yaml

from snnbench.attacks import APGD, SAPGD, Square
from snnbench.protocol import Protocol, load_protocol, protocol_path
from snnbench.records import RecordError, parse_record


def _raw() -> dict:
    return yaml.safe_load(protocol_path().read_text())


# Every benchmark's settings at its version. A change to benchmarks.yaml that can move a number changes a
# fingerprint: give that benchmark a new version (and a new board) and add the new pin here; never edit a pin.
FINGERPRINTS = {
    ("mnist-linf", 1): "37002684062be8002fa62c08fda6d942ed44cca262a670b85cba8940cb7fc0ab",
    ("cifar10-linf-1000", 1): "c34002dde12ee9cdf474d4169f5e2432c7a07d731e1f2a97b2695f145d5bc21e",
    ("cifar10-linf", 1): "348d1b60daf867257ba3f29f107be35a1515d4fe20fc9256b4807a235e24f5ed",
    ("cifar100-linf", 1): "b869b9134097d33fedec1f53c988113037c231c67ad2f9c6852fcd6d9aaac051",
    ("mnist-linf", 2): "00e8ed9648e4e1876be69ca9ef474acc6d26cb121b296703d796340315550961",
    ("cifar10-linf-1000", 2): "6245ce398b9d4f36297ce12e315313b64f77a1610a0a42736272540bf5d91350",
    ("cifar10-linf", 2): "3ff31a4c90df2bfc3fb3bf4443187f55aa7c679c736a246fb95a853342ec0ea6",
    ("cifar100-linf", 2): "0fe377aef2addbaf44a46d37f52f360e12103e9fa4adc62208bb4b1ed75257a8",
    ("cifar10-linf-1000", 3): "a5623642d0c5d381f3d2f2f505ace3a634fd41f86ca325afe1903e458f587c9c",
    ("cifar10-linf", 3): "425ffb1826bd13d18f8c7b9ba17823f94897f49a9a7cabc9e10fa6c12edee83d",
    ("cifar100-linf", 3): "ae3a06392a668658c369157dd374b5f921756dd646e60dd53e13e96d9e430a14",
    ("mnist-linf", 3): "f6047e1b0de82842a064420675006f4e6dcaba9da5814c60e570f8780726e1d1",
    ("cifar10-linf-1000", 4): "f90da9e4c9731c8ac911fee204498d60d8db605bfc623b38765369c0ed61a797",
    ("cifar10-linf", 4): "788a127ced31cb8d86e9a406facfe6cc4fd2eaf800a861b193be4bf9d32d5f88",
    ("cifar100-linf", 4): "b529d7bd4f9f46480ef26e0335ce5fd9863d9cdf49f93448044a11cc03e523dc",
    ("mnist-linf", 4): "cbd60eeb76254a87dbddfe1c97bb6934d77910f285196c608683d736c8a23a14",
    ("cifar10-linf-1000", 5): "da9fe6f624ccaa422f1207892c42cd78ad89252d0ea3bb02ff36cb5446ad4f6f",
    ("cifar10-linf", 5): "f595099ab48eac38410f96d0c75005cd7c46ee1549fbe55a40b768132176ce9b",
    ("cifar100-linf", 5): "ca10c87dda308100802555df9cc06a79717b6f27a33db9a01e8c38ee5bb18e0d",
}
BENCHMARKS = ["mnist-linf", "cifar10-linf-1000", "cifar10-linf", "cifar100-linf"]


@pytest.mark.parametrize("name", BENCHMARKS)
def test_no_benchmark_changes_without_a_new_version(name):
    """Every version, in force or retired, keeps its settings: old boards stay checkable."""
    for bench in load_protocol().versions(name):
        assert (name, bench.version) in FINGERPRINTS, f"{bench.label} has no pinned fingerprint"
        assert bench.fingerprint() == FINGERPRINTS[name, bench.version], (
            f"{bench.label}'s settings changed: a change that can move a number needs a new version of {name}")
    assert [b.version for b in load_protocol().versions(name)] == sorted(v for n, v in FINGERPRINTS if n == name)


def test_cifar10_v3_restarts_the_targeted_attack_and_changes_nothing_else():
    protocol = load_protocol()
    v2, v3 = protocol.benchmark("cifar10-linf-1000", 2), protocol.benchmark("cifar10-linf-1000", 3)
    assert [e.name for e in v3.attacks] == [e.name for e in v2.attacks]
    changed = [(a.name, a.restarts, b.restarts) for a, b in zip(v2.attacks, v3.attacks) if a != b]
    assert changed == [("apgd-t-assg", 1, 20)]
    assert dataclasses.replace(v3, version=2, attacks=v2.attacks).fingerprint() == v2.fingerprint()
    assert protocol.benchmark("mnist-linf", 3).attacks == v3.attacks  # MNIST v3 restarts APGD-T too


@pytest.mark.parametrize("name, old, new", [("mnist-linf", 2, 3), ("cifar10-linf-1000", 3, 4),
                                            ("cifar10-linf", 3, 4), ("cifar100-linf", 3, 4)])
def test_the_two_quiet_restarts_rule_is_the_only_change_of_its_versions_but_mnists_apgd_t(name, old, new):
    protocol = load_protocol()
    before, after = protocol.benchmark(name, old), protocol.benchmark(name, new)
    assert (before.diagnostics.restart_patience, after.diagnostics.restart_patience) == (1, 2)
    changed = [(a.name, a.restarts, b.restarts) for a, b in zip(before.attacks, after.attacks) if a != b]
    assert changed == ([("apgd-t-assg", 1, 20)] if name == "mnist-linf" else [])
    same_rule = dataclasses.replace(after, version=old, diagnostics=before.diagnostics, attacks=before.attacks)
    assert same_rule.fingerprint() == before.fingerprint() and after.fingerprint() != before.fingerprint()


@pytest.mark.parametrize("name, old, new", [("mnist-linf", 3, 4), ("cifar10-linf-1000", 4, 5),
                                            ("cifar10-linf", 4, 5), ("cifar100-linf", 4, 5)])
def test_the_detached_reset_of_every_assg_entry_is_the_only_change_of_the_versions_in_force(name, old, new):
    """mnist-linf v4 and the CIFAR boards' v5: each ASSG entry passes no gradient through the reset, as the
    official ASSG code does; every other entry and setting is the version before's."""
    protocol = load_protocol()
    before, after = protocol.benchmark(name, old), protocol.benchmark(name, new)
    assert after is protocol.benchmark(name)  # in force
    assert [a.name for a in after.attacks] == [a.name for a in before.attacks]
    for a, b in zip(before.attacks, after.attacks):
        if a.gradient is not None and a.gradient.mode == "assg":
            assert "detach_reset" not in a.gradient.params and b.gradient.params.get("detach_reset") is True
            a = dataclasses.replace(a, gradient=dataclasses.replace(a.gradient, params={
                **dict(a.gradient.params), "detach_reset": True}))
        assert a == b, b.name
    assert sum(a.gradient is not None and a.gradient.mode == "assg" for a in after.attacks) == 4
    assert dataclasses.replace(after, version=old, attacks=before.attacks).fingerprint() == before.fingerprint()
    assert after.fingerprint() != before.fingerprint()


def test_retired_versions_are_found_and_unknown_ones_named():
    protocol = load_protocol()
    assert protocol.benchmark("mnist-linf", 1).version == 1 and protocol.benchmark("mnist-linf", 2).version == 2
    assert protocol.benchmark("mnist-linf", 1).attacks != protocol.benchmark("mnist-linf").attacks
    with pytest.raises(ValueError, match="mnist-linf has no version 7; the protocol knows v1, v2, v3, v4"):
        protocol.benchmark("mnist-linf", 7)
    raw = _raw()
    raw["retired"][0]["version"] = 5
    with pytest.raises(RecordError, match="not older than the version in force"):
        parse_record(Protocol, raw, "benchmarks.yaml")


def test_fingerprint_sees_every_setting_but_not_the_version():
    bench = load_protocol().benchmark("mnist-linf")
    assert dataclasses.replace(bench, version=2).fingerprint() == bench.fingerprint()
    for change in ({"epsilon": 0.2}, {"seed": 1}, {"batch_size": 100}, {"attacks": bench.attacks[:-1]},
                   {"attacks": (dataclasses.replace(bench.attacks[0], params={"steps": 99}),) + bench.attacks[1:]}):
        assert dataclasses.replace(bench, **change).fingerprint() != bench.fingerprint(), change


def test_protocols_as_committed():
    protocol = load_protocol()
    assert set(protocol.benchmarks) == set(BENCHMARKS)
    assert {n: b.version for n, b in protocol.benchmarks.items()} == {
        "mnist-linf": 4, "cifar10-linf-1000": 5, "cifar10-linf": 5, "cifar100-linf": 5}
    mnist = protocol.benchmark("mnist-linf")
    assert (mnist.epsilon, mnist.subset, mnist.n_examples) == (0.1, "mnist-test-1000", 1000)
    for name in ("cifar10-linf", "cifar100-linf"):
        bench = protocol.benchmark(name)
        assert bench.epsilon == pytest.approx(8 / 255) and bench.subset is None and bench.n_examples == 10000
    small = protocol.benchmark("cifar10-linf-1000")
    assert (small.subset, small.n_examples, small.dataset) == ("cifar10-test-1000", 1000, "cifar10")
    assert small.epsilon == 8 / 255 and [a.name for a in small.attacks] == [a.name for a in mnist.attacks]
    assert all(protocol.benchmark(n).attacks == small.attacks for n in ("cifar10-linf", "cifar100-linf"))
    assert all(b.diagnostics == mnist.diagnostics for b in protocol.benchmarks.values())
    reference, prior = mnist.attacks[0], mnist.attacks[1]
    built = reference.build(0.1, 3, 1)
    assert isinstance(built, SAPGD) and built.steps == 100 and built.gradient.mode == "assg"
    built = prior.build(0.1, 3, 1)
    assert isinstance(built, APGD) and built.loss_name == "ce" and built.gradient.mode == "surrogate"
    gradients = [(a.gradient.mode, a.gradient.params.get("A")) for a in mnist.attacks if a.gradient is not None]
    assert gradients == [("assg", 0.87), ("surrogate", None), ("assg", 0.80), ("assg", 0.87), ("assg", 0.87),
                         ("surrogate", None), ("hart", None)]
    assert isinstance(mnist.attacks[-1].build(0.1, 0, 1), Square)
    assert [a.samples for a in mnist.attacks] == ["clean", "clean"] + ["survivors"] * 6
    assert [a.restarts for a in mnist.attacks] == [20, 1, 20, 20, 1, 1, 1, 1]
    assert (mnist.diagnostics.restart_gain_percent, mnist.diagnostics.restart_patience) == (0.2, 2)
    v1 = protocol.benchmark("mnist-linf", 1)
    assert [a.gradient.mode for a in v1.attacks if a.gradient] == ["assg", "surrogate", "surrogate", "bptr", "rga",
                                                                    "hart"]


@pytest.mark.parametrize("edit, words", [
    (lambda b: b["attacks"][0].update(attack="SAPDG"), "did you mean SAPGD"),
    (lambda b: b["attacks"][1]["params"].update(stepz=3), "no parameter(s) stepz"),
    (lambda b: b["attacks"][1].update(role="reference"), "exactly one reference and one prior"),
    (lambda b: b["attacks"][0].update(samples="survivors"), "run on every clean-correct sample"),
    (lambda b: b["attacks"][2].update(samples="clean"), "an extra attack runs on the survivors"),
    (lambda b: b["attacks"][2]["gradient"].update(mode="magic"), "unknown gradient mode 'magic'"),
    (lambda b: b.update(subset="mnist-test-5000"), "unknown evaluation subset"),
    (lambda b: b.update(epsilon=25), "must lie in (0, 1]"),
    (lambda b: b.update(version=0), "must be at least 1"),
    (lambda b: b["attacks"][0].update(restarts=21), "must be at most 20"),
    (lambda b: b["attacks"][-1].update(restarts=2), "gradient-free attacks run once, last"),
    (lambda b: b["diagnostics"].update(restart_gain_percent=0), "must lie in (0, 100]"),
])
def test_protocol_mistakes_are_named(edit, words):
    raw = copy.deepcopy(_raw())
    bench = raw["benchmarks"]["mnist-linf"]
    bench["attacks"] = copy.deepcopy(bench["attacks"])  # YAML anchors share one list between benchmarks
    bench["diagnostics"] = copy.deepcopy(bench["diagnostics"])
    edit(bench)
    with pytest.raises(RecordError) as caught:
        parse_record(Protocol, raw, "benchmarks.yaml")
    assert any(words in p for p in caught.value.problems), caught.value.problems


def test_a_pin_that_differs_from_the_bundled_subset_is_caught():
    raw = _raw()
    raw["subsets"]["mnist-test-1000"]["sha256"] = "0" * 64
    with pytest.raises(RecordError, match="but the package bundles"):
        parse_record(Protocol, raw, "benchmarks.yaml")


def test_a_boards_protocol_line_says_which_attacks_detach_the_reset_and_whether_it_is_in_force(tmp_path):
    from snnbench.leaderboard import Board, protocol_note

    v3, v4 = (protocol_note(Board("mnist-linf", v, tmp_path, ())) for v in (3, 4))
    assert v4.startswith("L∞, ε = 0.1") and v3.startswith("Protocol v3 is no longer in force (v4 is)")
    assert "sa-pgd-assg (reset detached; up to 19 restarts), apgd-ce, sa-pgd-assg-a80 (reset detached; up to 19 " \
           "restarts), apgd-t-assg (reset detached; up to 19 restarts), apgd-dlr-assg (reset detached), apgd-dlr," in v4
    assert "reset detached" not in v3 and "sa-pgd-assg (up to 19 restarts), apgd-ce," in v3


def test_the_index_of_boards_says_which_version_is_in_force(tmp_path):
    from snnbench.leaderboard import Board, render_index

    index = render_index([Board("mnist-linf", v, tmp_path, ()) for v in (3, 4)] + [Board("mnist-l2", 1, tmp_path, ())])
    rows = {line.split("](")[0].strip("| ["): line for line in index.splitlines() if line.startswith("| [")}
    assert "| retired " in rows["mnist-linf v3"] and "| in force " in rows["mnist-linf v4"]
    assert "| unknown " in rows["mnist-l2 v1"]  # a folder of a benchmark the protocol does not know


def test_a_board_in_force_names_the_zoo_models_without_a_row_and_a_retired_one_does_not(tmp_path):
    import shutil

    from snnbench.leaderboard import find_boards, render_board
    from snnbench.results import leaderboard_root
    from snnbench.zoo import list_models, model_card

    boards = tmp_path / "leaderboard"
    for folder in ("mnist-linf/v2", "mnist-linf/v3", "mnist-linf/v4"):  # v3 carries runs over from v2
        shutil.copytree(leaderboard_root() / folder, boards / folder)
    in_force = load_protocol().benchmark("mnist-linf").version
    found = {b.version: b for b in find_boards(boards)}
    v4_rows = {r.model for r in found[4].results}
    zoo = {n for n in list_models() if "mnist-linf" in model_card(n).benchmarks}
    assert in_force == 4 and found[3].awaiting == ()
    assert set(found[4].awaiting) == zoo - v4_rows and list(found[4].awaiting) == sorted(found[4].awaiting)
    text = render_board(found[4])
    assert ("**Being filled**" in text) == bool(found[4].awaiting) and "Being filled" not in render_board(found[3])
    assert "Being filled" not in render_board(dataclasses.replace(found[4], awaiting=()))  # a whole board
    from snnbench.leaderboard import awaiting_note

    one = dataclasses.replace(found[4], results=found[4].results[:1], awaiting=("a", "b"))
    assert awaiting_note(one).startswith("1 of the zoo's 3 models for mnist-linf has a row; not evaluated under v4 "
                                         "yet: a, b (")
    assert " 2 of the zoo's 3 models for mnist-linf have a row" in " " + awaiting_note(
        dataclasses.replace(one, results=found[4].results[:2], awaiting=("a",)))
