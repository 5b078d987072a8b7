"""The card schema: every mistake is named by file and field, unknown keys fail, a card round-trips."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from snnbench.cards import ModelCard, card_yaml, read_card
from snnbench.records import RecordError, parse_record, record_to_dict
from tiny_zoo import FAKE_COMMIT, card_data, write_card


def _problems(tmp_path: Path, data: dict) -> list[str]:
    path = write_card(tmp_path, data)
    with pytest.raises(RecordError) as caught:
        read_card(path)
    assert str(path) in str(caught.value)
    return caught.value.problems


def test_a_complete_card_reads_and_round_trips(tmp_path):
    path = write_card(tmp_path, card_data(paper={"title": "A paper", "authors": ["A. Author"], "venue": "ICLR",
                                                 "year": 2026, "url": "https://example.org/paper"}))
    card = read_card(path)
    assert card.path == path and card.architecture.T == 2 and card.architecture.options == {"channels": [4, 8]}
    assert card.paper.authors == ("A. Author",)
    assert card.training.surrogate.alpha == 2.0 and isinstance(card.training.surrogate.alpha, float)
    again = tmp_path / "copy" / "mnist" / "tiny-lif.yaml"
    again.parent.mkdir(parents=True)
    again.write_text(card_yaml(card))
    assert read_card(again) == card
    assert record_to_dict(card) == yaml.safe_load(card_yaml(card))


@pytest.mark.parametrize("change, field, words", [
    ({"architecure": {}}, "architecure", "did you mean 'architecture'"),
    ({"weights": {"sha256": "0" * 64, "file": "w.safetensors", "size": 3}}, "weights.size", "unknown field"),
    ({"architecture": {"name": "convnet", "T": "four", "neuron": {"kind": "lif"}}}, "architecture.T",
     "expected an integer, got 'four'"),
    ({"architecture": {"name": "convnet", "T": True, "neuron": {"kind": "lif"}}}, "architecture.T",
     "expected an integer, got True"),
    ({"architecture": {"name": "resnet9000", "T": 4, "neuron": {"kind": "lif"}}}, "architecture.name",
     "unknown architecture 'resnet9000'"),
    ({"architecture": {"name": "convnet", "T": 4, "neuron": {"kind": "lif"}, "options": {"depth": 3}}},
     "architecture.options", "has no option(s) depth"),
    ({"architecture": {"name": "convnet", "T": 4, "neuron": {"kind": "lif", "params": {"taux": 2.0}}}},
     "architecture.neuron", "no parameter(s) taux"),
    ({"architecture": {"name": "convnet", "T": 0, "neuron": {"kind": "lif"}}}, "architecture.T", "[1, 256]"),
    ({"architecture": {"name": "convnet", "T": 1_000_000_000, "neuron": {"kind": "lif"}}}, "architecture.T",
     "must lie in [1, 256], got 1000000000"),
    ({"name": "m" * 240}, "name", "at most 100 characters"),
    ({"weights": {"sha256": "0" * 64, "file": "../other/w.safetensors"}}, "weights.file",
     "inside the card's folder (no '..', not absolute)"),
    ({"weights": {"sha256": "0" * 64, "file": "/etc/w.safetensors"}}, "weights.file", "not absolute"),
    ({"training": {"method": "bptt", "surrogate": {"family": "atan", "alpha": 2.0}, "recipe": "../../r.yaml"}},
     "training.recipe", "inside the card's folder"),
    ({"training": {"method": "at", "surrogate": {"family": "erf", "alpha": 2.0}}}, "training.surrogate",
     "unknown surrogate family 'erf'"),
    ({"training": {"method": "at", "surrogate": {"family": "atan", "alpha": -1.0}}}, "training.surrogate",
     "must be positive"),
    ({"weights": {"sha256": "ABC"}}, "weights.sha256", "64 lowercase hexadecimal"),
    ({"weights": {"sha256": "0" * 64}}, "weights", "give a bundled 'file', a 'hub' location, or both"),
    ({"weights": {"sha256": "0" * 64, "file": "w.pt"}}, "weights.file", ".safetensors path"),
    ({"weights": {"sha256": "0" * 64, "hub": {"repo_id": "a/b", "filename": "m.safetensors", "revision": "main"}}},
     "weights.hub.revision", "40-character commit"),
    ({"clean_accuracy": {"value": 0.99, "n_examples": 5000}}, "clean_accuracy.n_examples", "[1, 1000]"),
    ({"clean_accuracy": {"value": 101, "n_examples": 10}}, "clean_accuracy.value", "percentage"),
    ({"paper": "somebody"}, "paper", "expected a mapping or 'snnbench'"),
    ({"paper": "snnbench"}, "paper", "'snnbench' means trained in this repository from a recipe, and this card "
                                     "names no training.recipe"),
    ({"paper": {"title": "t", "authors": [], "venue": "v", "year": 2026, "url": "x"}}, "paper.authors",
     "at least one author"),
    ({"stochastic": "no"}, "stochastic", "expected true or false"),
    ({"dataset": "svhn"}, "dataset", "unknown dataset 'svhn'"),
    ({"benchmarks": []}, "benchmarks", "at least one benchmark"),
])
def test_each_mistake_is_named_by_field(tmp_path, change, field, words):
    data = card_data(**change)
    if "dataset" in change:  # keep the folder rule out of this test's way
        data["dataset"] = change["dataset"]
    problems = _problems(tmp_path, data)
    assert any(p.startswith(f"field '{field}'") and words in p for p in problems), problems


def test_missing_fields_and_several_problems_are_all_listed(tmp_path):
    data = card_data()
    del data["license"], data["weights"]
    data["architecture"]["T"] = "two"
    problems = _problems(tmp_path, data)
    assert len(problems) == 3
    assert any(p.startswith("field 'license': missing") for p in problems)
    assert any(p.startswith("field 'weights': missing") for p in problems)


def test_card_location_must_match_its_name_and_dataset(tmp_path):
    path = write_card(tmp_path, card_data())
    renamed = path.with_name("other-name.yaml")
    path.rename(renamed)
    with pytest.raises(RecordError, match="'tiny-lif' must equal the file name 'other-name'"):
        read_card(renamed)
    moved = tmp_path / "cifar10" / "tiny-lif.yaml"
    moved.parent.mkdir()
    renamed.rename(moved)
    with pytest.raises(RecordError, match="must equal the folder the card is in"):
        read_card(moved)


def test_invalid_yaml_and_missing_file_name_the_file(tmp_path):
    broken = tmp_path / "mnist" / "broken.yaml"
    broken.parent.mkdir()
    broken.write_text("name: [unclosed\n")
    with pytest.raises(RecordError, match=f"{broken}: not valid YAML"):
        read_card(broken)
    with pytest.raises(FileNotFoundError, match="no such model card"):
        read_card(tmp_path / "mnist" / "absent.yaml")


def test_stochastic_flag_must_describe_the_model():
    noisy = card_data(architecture={"name": "convnet", "T": 2, "options": {"channels": [4, 8]},
                                    "neuron": {"kind": "noisy_lif", "params": {"sigma": 0.1, "noise_at_eval": True}}})
    with pytest.raises(RecordError, match="the card says False but the model it describes is stochastic"):
        parse_record(ModelCard, noisy, "card").build(backend="eager")
    poisson = card_data(stochastic=True)
    poisson["architecture"]["encoding"] = "poisson"
    poisson["architecture"]["normalization"] = {"mean": [0.0], "std": [1.0]}
    assert parse_record(ModelCard, poisson, "card").build(backend="eager").stochastic


def test_card_builds_with_its_declared_normalisation_and_hub_pin():
    data = card_data()
    data["architecture"]["normalization"] = {"mean": [0.5], "std": [0.25]}
    data["weights"]["hub"] = {"repo_id": "owner/repo", "filename": "m.safetensors", "revision": FAKE_COMMIT}
    model = parse_record(ModelCard, data, "card").build(backend="eager")
    assert model.mean.flatten().tolist() == [0.5] and model.std.flatten().tolist() == [0.25]
    assert model.training_surrogate == ("atan", 2.0) and model.T == 2


def test_the_documented_example_card_fits_the_schema():
    readme = (Path(__file__).resolve().parents[1] / "model_zoo" / "README.md").read_text()
    example = yaml.safe_load(readme.split("```yaml\n", 1)[1].split("```", 1)[0])
    card = parse_record(ModelCard, example, "model_zoo/README.md")
    assert card.training.recipe and card.weights.file and card.weights.hub and card.architecture.normalization
    assert card.build(backend="eager").T == 4


def test_yaml_that_would_explode_or_silently_lose_a_value_is_refused(tmp_path):
    alias_bomb = "license: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"l{i}: &l{i} [{', '.join([f'*{p}'] * 9)}]\n" for i, p in enumerate(["a"] + [f"l{j}" for j in range(7)]))
    path = tmp_path / "mnist" / "bomb.yaml"
    path.parent.mkdir()
    path.write_text(alias_bomb)
    with pytest.raises(RecordError, match="expands to 490,329,064 values through its aliases; at most 100,000"):
        read_card(path)
    assert len(str(pytest.raises(RecordError, read_card, path).value)) < 200  # one line (463 bytes of YAML)
    twice = tmp_path / "mnist" / "twice.yaml"
    twice.write_text("name: twice\nname: other\n")
    with pytest.raises(RecordError, match="line 2: key 'name' is given twice"):
        read_card(twice)
    unhashable = tmp_path / "mnist" / "unhashable.yaml"
    unhashable.write_text("[a, b]: 1\n")
    with pytest.raises(RecordError, match="unhashable.yaml: not valid YAML"):
        read_card(unhashable)
    latin = tmp_path / "mnist" / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(RecordError, match="latin.yaml: not UTF-8 text"):
        read_card(latin)
    folder = tmp_path / "mnist" / "folder.yaml"
    folder.mkdir()
    with pytest.raises(RecordError, match="folder.yaml: is a folder, not a model card file"):
        read_card(folder)


def test_a_weights_file_that_links_out_of_the_card_folder_is_refused(tmp_path):
    outside = tmp_path / "elsewhere.safetensors"
    outside.write_bytes(b"x")
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "w.safetensors").symlink_to(outside)
    data = card_data("linked", weights={"sha256": "0" * 64, "file": "w.safetensors"})
    path = tmp_path / "mnist" / "linked.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(RecordError, match="w.safetensors: the weights file leaves the card's folder"):
        read_card(path).bundled_weights()


@pytest.mark.parametrize("section, value, message", [
    ("options", {"channels": "ab"}, "field 'architecture.options.channels': expected a list of 2 values"),
    ("options", {"channels": [4, []]}, "field 'architecture.options.channels[1]': expected an integer, got []"),
    ("options", {"channels": [4, 8, 9]}, "field 'architecture.options.channels': expected a list of 2 values "
                                         "(an integer, an integer), got 3 values"),
    ("options", {"channels": [4, -8]}, "field 'architecture.options.channels': sizes and counts cannot be negative"),
    ("options", {"channels": [4, 0]}, "field 'architecture': a size of 0 leaves a layer without weights"),
    ("options", {"channels": [4, True]}, "field 'architecture.options.channels[1]': expected an integer, got True"),
    ("options", {"channels": [4, 10**9]}, "field 'architecture': describes 528,000,000,054 parameters, more than"),
    ("neuron", {"kind": "lif", "params": {"tau": ["x", -466, True]}},
     "field 'architecture.neuron': neuron 'lif' parameter tau: expected a number"),
    ("neuron", {"kind": "lif", "params": {"threshold": "1"}}, "parameter threshold: expected a number, got '1'"),
    ("neuron", {"kind": "lif", "params": {"detach_reset": "yes"}},
     "parameter detach_reset: expected true or false, got 'yes'"),
    ("neuron", {"kind": "noisy_lif", "params": {"sigma": 0.1, "tau": float("inf")}},
     "neuron 'noisy_lif' parameter tau: expected a finite number, got inf"),
    ("neuron", {"kind": "lif", "params": {"reset": "sfot"}}, "reset must be 'hard' or 'soft', got 'sfot'"),
    ("neuron", {"kind": "lif", "params": {"reset": "soft", "v_reset": 0.5}}, "v_reset=0.5 applies to a hard reset"),
    ("neuron", {"kind": "noisy_lif", "params": {"sigma": 0.1, "seed": 5}},
     "parameter seed: the model seeds every layer's noise stream from its own seed"),
    ("neuron", {"kind": "lif", "params": {"tau": -1}},
     "field 'architecture': does not build: membrane time constant tau must be >= 1, got -1.0"),
])
def test_a_card_value_the_model_cannot_take_is_refused_by_name_before_anything_is_built(section, value, message):
    """Neuron parameters and architecture options are typed by their constructors' annotations, sizes bounded by
    a build on the meta device: a string threshold is not converted, "yes" not read as true, a list not met as
    a TypeError in a builder, a billion channels not allocated."""
    data = card_data("edited")
    data["architecture"][section] = value
    with pytest.raises(RecordError) as caught:
        parse_record(ModelCard, data, "edited.yaml")
    assert str(caught.value).startswith("edited.yaml: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)  # one problem, one line


def test_every_architecture_option_is_annotated_and_its_default_fits():
    """The checks above read the builders' annotations: an unannotated option would go unchecked."""
    from snnbench.architectures.registry import ARCHITECTURES
    from snnbench.records import value_problems

    for name, info in ARCHITECTURES.items():
        for option, hint in info.option_hints.items():
            assert hint is not Any, f"{name}: option {option} has no annotation"
            assert value_problems(hint, list(info.options[option]) if isinstance(info.options[option], tuple)
                                  else info.options[option], option) == [], (name, option)
