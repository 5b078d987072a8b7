"""Protocol v1 as committed in benchmarks.yaml, and the schema that guards it."""
from __future__ import annotations

import copy

import pytest
import yaml

from snnbench.attacks import APGD, SAPGD, Square
from snnbench.protocol import Protocol, load_protocol, protocol_path
from snnbench.records import RecordError, parse_record


def _raw() -> dict:
    return yaml.safe_load(protocol_path().read_text())


def test_protocol_v1_as_committed():
    protocol = load_protocol()
    assert protocol.version == 1 and set(protocol.benchmarks) == {"mnist-linf", "cifar10-linf", "cifar100-linf"}
    mnist = protocol.benchmark("mnist-linf")
    assert (mnist.epsilon, mnist.subset, mnist.n_examples) == (0.1, "mnist-test-1000", 1000)
    for name in ("cifar10-linf", "cifar100-linf"):
        bench = protocol.benchmark(name)
        assert bench.epsilon == pytest.approx(8 / 255) and bench.subset is None and bench.n_examples == 10000
    reference, prior = mnist.attacks[0], mnist.attacks[1]
    built = reference.build(0.1, 3, 1)
    assert isinstance(built, SAPGD) and built.steps == 100 and built.gradient.mode == "assg"
    built = prior.build(0.1, 3, 1)
    assert isinstance(built, APGD) and built.loss_name == "ce" and built.gradient.mode == "surrogate"
    modes = [a.gradient.mode for a in mnist.attacks if a.gradient is not None]
    assert modes == ["assg", "surrogate", "surrogate", "bptr", "rga", "hart"]
    assert isinstance(mnist.attacks[-1].build(0.1, 0, 1), Square)
    assert [a.samples for a in mnist.attacks] == ["clean", "clean"] + ["survivors"] * 5


@pytest.mark.parametrize("edit, words", [
    (lambda b: b["attacks"][0].update(attack="SAPDG"), "did you mean SAPGD"),
    (lambda b: b["attacks"][1]["params"].update(stepz=3), "no parameter(s) stepz"),
    (lambda b: b["attacks"][1].update(role="reference"), "exactly one reference and one prior"),
    (lambda b: b["attacks"][0].update(samples="survivors"), "run on every clean-correct sample"),
    (lambda b: b["attacks"][2]["gradient"].update(mode="magic"), "unknown gradient mode 'magic'"),
    (lambda b: b.update(subset="mnist-test-5000"), "unknown evaluation subset"),
    (lambda b: b.update(epsilon=25), "must lie in (0, 1]"),
])
def test_protocol_mistakes_are_named(edit, words):
    raw = copy.deepcopy(_raw())
    bench = raw["benchmarks"]["mnist-linf"]
    bench["attacks"] = copy.deepcopy(bench["attacks"])  # YAML anchors share one list between benchmarks
    edit(bench)
    with pytest.raises(RecordError) as caught:
        parse_record(Protocol, raw, "benchmarks.yaml")
    assert any(words in p for p in caught.value.problems), caught.value.problems


def test_a_pin_that_differs_from_the_bundled_subset_is_caught():
    raw = _raw()
    raw["subsets"]["mnist-test-1000"]["sha256"] = "0" * 64
    with pytest.raises(RecordError, match="but the package bundles"):
        parse_record(Protocol, raw, "benchmarks.yaml")
