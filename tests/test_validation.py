"""`snnbench validate`: a true card passes; each kind of broken submission is caught and every problem listed."""
from __future__ import annotations

import re

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from snnbench.cards import ModelCard
from snnbench.cli import main
from snnbench.eval_subsets import first_test_images
from snnbench.files import sha256_file
from snnbench.records import parse_record
from snnbench.validation import contract_problems, validate_card
from tiny_zoo import card_data, register_tiny_model

NOISY = {"name": "convnet", "T": 2, "options": {"channels": [4, 8]},
         "neuron": {"kind": "noisy_lif", "params": {"sigma": 0.3, "noise_at_eval": True}}}


def _edit(path, **changes):
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = data
        for key in parents:
            target = target[key]
        target[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_true_card_passes(tmp_path):
    card, _ = register_tiny_model(tmp_path)
    report = validate_card(card, backend="eager")
    assert report.ok, report.problems
    assert report.name == "tiny-lif" and report.n_examples == 20
    assert report.clean_accuracy == report.claimed_accuracy


@pytest.mark.parametrize("stochastic, inside, outside", [(False, 0.1, 0.11), (True, 1.0, 1.1)])
def test_accuracy_claim_tolerance(tmp_path, stochastic, inside, outside):
    extra = {"architecture": NOISY, "stochastic": True} if stochastic else {}
    card, _ = register_tiny_model(tmp_path, **extra)
    measured = validate_card(card, backend="eager").clean_accuracy
    _edit(card, clean_accuracy__value=measured + inside)
    assert validate_card(card, backend="eager").ok
    _edit(card, clean_accuracy__value=measured + outside)
    report = validate_card(card, backend="eager")
    assert len(report.problems) == 1
    assert report.problems[0].startswith("field 'clean_accuracy.value': the card claims")
    assert f"scores {measured:.2f}% on the first 20 mnist test images" in report.problems[0]


def test_stochastic_model_accuracy_repeats(tmp_path):
    card, _ = register_tiny_model(tmp_path, architecture=NOISY, stochastic=True)
    first, second = (validate_card(card, backend="eager") for _ in range(2))
    assert first.ok and first.clean_accuracy == second.clean_accuracy


def test_zero_input_gradients_are_caught(tmp_path):
    card, weights = register_tiny_model(tmp_path)
    state = load_file(str(weights))
    state["body.0.0.weight"].zero_()  # no first-layer input → no spikes → constant logits
    save_file(state, str(weights))
    _edit(card, weights__sha256=sha256_file(weights))
    report = validate_card(card, backend="eager")
    assert any("input gradients in eval() mode are exactly zero" in p for p in report.problems), report.problems


def test_nondeterminism_in_a_deterministic_card_is_caught():
    card = parse_record(ModelCard, card_data(), "card")
    noisy_model = parse_record(ModelCard, card_data(architecture=NOISY, stochastic=True), "card").build("eager")
    images, labels = first_test_images("mnist", 4)
    problems = list(contract_problems(noisy_model.eval(), card, images, labels))
    assert any("gave different logits twice" in p for p in problems), problems
    assert not list(contract_problems(card.build("eager").eval(), card, images, labels))


def test_every_problem_is_listed_and_dependent_checks_stop(tmp_path):
    card, _ = register_tiny_model(tmp_path)
    _edit(card, license=7, training__recipe="recipes/missing.yaml", weights__sha256="1" * 64)
    schema = validate_card(card, backend="eager")
    assert schema.problems == ["field 'license': expected a string, got 7"]
    _edit(card, license="MIT")
    later = validate_card(card, backend="eager")
    assert len(later.problems) == 2
    assert "field 'training.recipe'" in later.problems[0] and "missing.yaml does not exist" in later.problems[0]
    assert "differs from the card's" in later.problems[1]


def test_cli_models_and_validate(tmp_path, capsys):
    register_tiny_model(tmp_path, "tiny-lif")
    bad, _ = register_tiny_model(tmp_path, "tiny-bad", seed=1)
    _edit(bad, clean_accuracy__value=100.0)
    assert main(["models", "--zoo", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "tiny-bad" in table and "tiny-lif" in table and "convnet" in table and "% of 20" in table

    assert main(["validate", "tiny-lif", "--zoo", str(tmp_path), "--backend", "eager"]) == 0
    assert "ok    " in capsys.readouterr().out
    assert main(["validate", "--all", "--zoo", str(tmp_path), "--backend", "eager"]) == 1
    out, err = capsys.readouterr()
    assert "1 of 2 card(s) valid" in out and "FAIL" in err and "claims 100.00%" in err

    assert main(["validate", "--all", "--zoo", str(tmp_path / "empty")]) == 0
    assert "no model cards" in capsys.readouterr().out
    assert main(["validate", "--zoo", str(tmp_path)]) == 1
    assert "--all" in capsys.readouterr().err


def test_a_model_whose_own_code_fails_is_one_named_problem_and_the_other_cards_are_still_checked(
        tmp_path, capsys, monkeypatch):
    # SpikingJelly's SEW ResNet with a cnf it does not know raises an empty NotImplementedError at its first
    # forward pass: `validate --all` printed "error:" and stopped there.
    import snnbench.validation

    register_tiny_model(tmp_path, "tiny-lif")
    register_tiny_model(tmp_path, "tiny-broken", seed=1)
    checked = snnbench.validation.contract_problems

    def contract(model, card, images, labels):
        if card.name == "tiny-broken":
            raise NotImplementedError
        return checked(model, card, images, labels)

    monkeypatch.setattr(snnbench.validation, "contract_problems", contract)
    assert main(["validate", "--all", "--zoo", str(tmp_path), "--backend", "eager"]) == 1
    out, err = capsys.readouterr()
    assert "1 of 2 card(s) valid" in out and "ok    " in out
    assert "- the model (convnet) fails on mnist test images: NotImplementedError: (no message)" in err


def test_cli_models_reports_a_broken_card(tmp_path, capsys):
    card, _ = register_tiny_model(tmp_path)
    _edit(card, architecture__T="many")
    assert main(["models", "--zoo", str(tmp_path)]) == 1
    assert "field 'architecture.T'" in capsys.readouterr().err


def test_validate_on_a_dataset_without_bundled_images_reports_missing_data(tmp_path, capsys):
    card = tmp_path / "cifar100" / "tiny-cifar.yaml"  # CIFAR-10's first 1000 test images are bundled; CIFAR-100's not
    data = card_data("tiny-cifar", dataset="cifar100", benchmarks=["cifar100-linf"])
    data["architecture"]["options"] = {"channels": [4, 8]}
    torch.manual_seed(0)
    model = parse_record(ModelCard, data, "card").build("eager")
    card.parent.mkdir()
    save_file(model.state_dict(), str(card.with_suffix(".safetensors")))
    data["weights"] = {"file": "tiny-cifar.safetensors",
                       "sha256": sha256_file(card.with_suffix(".safetensors"))}
    card.write_text(yaml.safe_dump(data))
    report = validate_card(card, data_root=tmp_path / "no-data", backend="eager")
    assert len(report.problems) == 1 and "cannot read the evaluation images" in report.problems[0]
    assert "CIFAR100 (test) not found under data root" in report.problems[0]


def test_benchmarks_must_exist_and_match_the_dataset(tmp_path):
    card, _ = register_tiny_model(tmp_path)
    _edit(card, benchmarks=["mnist-l2", "cifar10-linf"])
    problems = validate_card(card, backend="eager").problems
    assert any("has no benchmark 'mnist-l2'" in p for p in problems)
    assert any("cifar10-linf is a cifar10 benchmark, not mnist" in p for p in problems)


def test_cli_models_shows_the_committed_robust_accuracy_stochastic_and_paper(capsys):
    from snnbench.protocol import load_protocol
    from snnbench.results import leaderboard_root, read_result, result_path

    assert main(["models", "--dataset", "mnist"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    version = load_protocol().benchmark("mnist-linf").version

    def headline(v):
        result = read_result(result_path(leaderboard_root(), "mnist-linf", v, name))
        return f"{result.robust_accuracy:.1f}%{'' if result.reliable else ' (unreliable)'}"

    for name, row in rows.items():
        have = [v for v in range(1, version + 1) if result_path(leaderboard_root(), "mnist-linf", v, name).exists()]
        if version in have:
            robust = f"{headline(version)} mnist-linf v{version}"
        else:  # none yet under the version in force: the newest older one's, labelled with its version
            robust = f"— mnist-linf v{version}" + (f" (v{max(have)}: {headline(max(have))})" if have else "")
        assert robust in row, row
    assert "yes (EoT)" in rows["mnist-convnet-lif-tgo-noise"] and " no " in rows["mnist-convnet-lif-tgo"]
    # A stochastic card's claim is one noisy pass, not the board's all-passes clean accuracy: the row says so.
    assert "of 1000, one noisy pass" in rows["mnist-convnet-lif-tgo-noise"]
    assert "noisy pass" not in rows["mnist-convnet-lif-tgo"]
    assert "trained here: Madry et al., ICLR 2018 + Liu et al., ICML 2024" in rows["mnist-convnet-lif-at-sr"]
    # Some committed result is shown, under the version in force or, until it has one, labelled with its own.
    assert main(["models"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert any(re.search(r"(\d+\.\d%( \(unreliable\))? (mnist|cifar)\S* v\d+ |\(v\d+: \d+\.\d%)", row)
               for row in rows), rows


def test_cli_models_marks_an_unreliable_headline_and_writes_epsilon_in_steps_of_1_255(capsys, monkeypatch, tmp_path):
    import dataclasses
    import shutil

    import snnbench.results as results
    from snnbench.results import Diagnostic, read_result, result_path, write_result

    from snnbench.protocol import load_protocol

    in_force = load_protocol().benchmark("cifar10-linf-1000").version
    # The newest version with both results: the one in force, or (until its board has them) the one before.
    version = max(v for v in range(1, in_force + 1) if all(
        result_path(results.published_boards(), "cifar10-linf-1000", v, name).exists()
        for name in ("cifar10-vgg11-lif-at", "cifar10-vgg11-lif-bptt")))

    def shown(headline):
        return f"{headline} cifar10-linf-1000 v{version}" if version == in_force else \
            f"— cifar10-linf-1000 v{in_force} (v{version}: {headline})"

    at, bptt = (read_result(result_path(results.published_boards(), "cifar10-linf-1000", version, name))
                for name in ("cifar10-vgg11-lif-at", "cifar10-vgg11-lif-bptt"))
    assert at.reliable and bptt.robust_accuracy == 0.0
    assert main(["models", "--dataset", "cifar10"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert shown(f"{at.robust_accuracy:.1f}%") in rows["cifar10-vgg11-lif-at"]
    assert "at ε=8/255 on cifar10-jpeg" in rows["cifar10-vgg11-lif-at"]
    assert shown("0.0%") in rows["cifar10-vgg11-lif-bptt"]
    # The same board with that row in doubt (as v2's was: Square fooled 0.7% that every gradient attack missed).
    boards = tmp_path / "leaderboard"
    shutil.copytree(results.published_boards(), boards)
    path = result_path(boards, "cifar10-linf-1000", version, "cifar10-vgg11-lif-at")
    doubt = Diagnostic("gradient-free-gain", "square fooled 4 samples", True)
    write_result(dataclasses.replace(read_result(path), diagnostics=(doubt,), reliable=False), path)
    monkeypatch.setattr(results, "published_boards", lambda: boards)
    assert main(["models", "--dataset", "cifar10"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert shown(f"{at.robust_accuracy:.1f}% (unreliable)") in rows["cifar10-vgg11-lif-at"]


@pytest.mark.parametrize("epsilon, label", [(8 / 255, "8/255"), (0.1, "0.1"), (0.03137, "0.03137"), (1.0, "1")])
def test_epsilon_label(epsilon, label):
    from snnbench.protocol import epsilon_label

    assert epsilon_label(epsilon) == label
