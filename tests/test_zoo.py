"""The zoo and load_model: names, strict and verified loading, and errors a user can act on."""
from __future__ import annotations

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from snnbench import list_models, load_model
from snnbench.eval_subsets import first_test_images
from snnbench.weights import (WeightsFormatError, WeightsIntegrityError, WeightsMismatchError,
                              WeightsUnavailableError)
from snnbench.zoo import UnknownModelError, model_card, zoo_root
from tiny_zoo import card_data, register_tiny_model, write_card


@pytest.fixture
def zoo(tmp_path):
    register_tiny_model(tmp_path, "tiny-lif")
    register_tiny_model(tmp_path, "tiny-if", seed=1, architecture={"name": "convnet", "T": 2, "options": {"channels": [4, 8]},
                                                           "neuron": {"kind": "if"}})
    return tmp_path


def test_list_models_by_dataset(zoo):
    write_card(zoo, card_data("tiny-cifar", dataset="cifar10"))
    assert list_models(zoo=zoo) == ["tiny-cifar", "tiny-if", "tiny-lif"]
    assert list_models("mnist", zoo=zoo) == ["tiny-if", "tiny-lif"]
    assert list_models("cifar100", zoo=zoo) == []


def test_zoo_root_order(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNBENCH_ZOO", str(tmp_path / "env"))
    assert zoo_root() == tmp_path / "env"
    assert zoo_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("SNNBENCH_ZOO")
    assert zoo_root().name == "model_zoo"


def test_unknown_name_lists_the_closest(zoo):
    with pytest.raises(UnknownModelError, match=r"no model named 'tiny-lfi'.*did you mean tiny-lif"):
        load_model("tiny-lfi", zoo=zoo)


def test_names_are_unique_across_datasets(zoo):
    write_card(zoo, card_data("tiny-lif", dataset="cifar10"))
    with pytest.raises(ValueError, match="two cards are named 'tiny-lif'"):
        list_models(zoo=zoo)


def test_load_model_restores_the_saved_weights_in_eval_mode(zoo):
    card_path, weights = zoo / "mnist" / "tiny-lif.yaml", zoo / "mnist" / "tiny-lif.safetensors"
    model = load_model("tiny-lif", zoo=zoo, backend="eager")
    assert not model.training and model.provenance.source == "file" and model.provenance.matches_card
    assert model.provenance.sha256 == model_card("tiny-lif", zoo=zoo).weights.sha256
    saved = load_file(str(weights))
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    images, _ = first_test_images("mnist", 4)
    reference = model_card("tiny-lif", zoo=zoo).build(backend="reference")
    reference.load_state_dict(saved)
    torch.testing.assert_close(model(images), reference.eval()(images))
    assert card_path.exists()


def test_tampered_weights_are_refused(zoo):
    weights = zoo / "mnist" / "tiny-lif.safetensors"
    state = load_file(str(weights))
    state["body.6.0.bias"] = state["body.6.0.bias"] + 1.0
    save_file(state, str(weights))
    with pytest.raises(WeightsIntegrityError, match="tiny-lif.safetensors.*differs from the card's.*refused"):
        load_model("tiny-lif", zoo=zoo, backend="eager")


def test_architecture_mismatch_names_the_keys(zoo):
    path = zoo / "mnist" / "tiny-lif.yaml"
    path.write_text(path.read_text().replace("- 8", "- 6"))  # second conv: 8 → 6 channels
    with pytest.raises(WeightsMismatchError) as caught:
        load_model("tiny-lif", zoo=zoo, backend="eager")
    message = str(caught.value)
    assert "body.2.1.weight: model (6, 4, 3, 3), weights (8, 4, 3, 3)" in message
    assert "body.6.0.weight: model (10, 294), weights (10, 392)" in message


def test_extra_and_missing_tensors_are_named(zoo, tmp_path):
    state = load_file(str(zoo / "mnist" / "tiny-lif.safetensors"))
    state["extra.weight"] = torch.zeros(1)
    del state["mean"]
    checkpoint = tmp_path / "edited.safetensors"
    save_file(state, str(checkpoint))
    with pytest.raises(WeightsMismatchError, match=r"missing from the weights: mean \| not in the model: extra.weight"):
        load_model("tiny-lif", zoo=zoo, checkpoint=checkpoint, backend="eager")


def test_a_users_checkpoint_loads_with_a_warning_and_is_recorded(zoo):
    other = zoo / "mnist" / "tiny-if.safetensors"  # same tensor names and shapes, other values
    with pytest.warns(UserWarning, match="is not the card's"):
        model = load_model("tiny-lif", zoo=zoo, checkpoint=other, backend="eager")
    assert model.provenance.source == "checkpoint" and not model.provenance.matches_card
    same = load_model("tiny-lif", zoo=zoo, checkpoint=zoo / "mnist" / "tiny-lif.safetensors", backend="eager")
    assert same.provenance.matches_card


def test_pickles_are_never_loaded(zoo, tmp_path):
    pickled = tmp_path / "model.pt"
    torch.save(load_model("tiny-lif", zoo=zoo, backend="eager").state_dict(), pickled)
    with pytest.raises(WeightsFormatError, match="not a safetensors file.*never unpickles"):
        load_model("tiny-lif", zoo=zoo, checkpoint=pickled, backend="eager")


def test_missing_weights_file_without_hub_copy(zoo):
    (zoo / "mnist" / "tiny-lif.safetensors").unlink()
    with pytest.raises(WeightsUnavailableError, match="does not exist and the card names no hub copy"):
        load_model("tiny-lif", zoo=zoo, backend="eager")
    with pytest.raises(WeightsUnavailableError, match="checkpoint .* does not exist"):
        load_model("tiny-if", zoo=zoo, checkpoint=zoo / "nowhere.safetensors")


def test_device_and_default_backend(zoo):
    model = load_model("tiny-lif", zoo=zoo, device="cpu")
    assert next(model.parameters()).device.type == "cpu"
    assert {layer.backend for layer in model.spiking_layers()} == {"compiled"}


def test_weights_of_another_dtype_or_not_finite_are_refused(tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    from snnbench.files import sha256_file
    from snnbench.weights import WeightsMismatchError

    card, weights = register_tiny_model(tmp_path, "tiny-cast")
    state = load_file(str(weights))
    for name, change in (("half", lambda t: t.half() if t.is_floating_point() else t),
                         ("nan", lambda t: t.clone().fill_(float("nan")) if t.dim() == 4 else t)):
        save_file({k: change(v) for k, v in state.items()}, str(weights))
        text = card.read_text()
        card.write_text(text.replace(text.split("sha256: ")[1].split()[0], sha256_file(weights)))
        words = "dtypes differ: body.0.0.weight: model torch.float32, weights torch.float16" if name == "half" \
            else "not finite \\(NaN or inf\\): body.0.0.weight"
        with pytest.raises(WeightsMismatchError, match=words):
            load_model("tiny-cast", zoo=tmp_path, backend="eager")


def test_a_card_whose_normalisation_is_not_its_weights_is_refused(zoo):
    # The normalisation buffers are set from the card when the model is built; loading the weights replaced
    # them silently, so a card could state a normalisation the evaluated model never used.
    path = zoo / "mnist" / "tiny-lif.yaml"
    card = yaml.safe_load(path.read_text())
    card["architecture"]["normalization"] = {"mean": [0.5], "std": [0.3081]}
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    with pytest.raises(WeightsMismatchError, match=r"set by the card, not learned, yet different: mean: the card's "
                                                   r"\[0\.5\], the weights' \[0\.1307\]$"):
        load_model("tiny-lif", zoo=zoo, backend="eager")


def test_a_card_the_zoo_would_not_serve_is_refused_by_name(zoo):
    """A .yml card validated but was never listed; weights in a subfolder loaded from a checkout, not from an
    installed package (which ships <dataset>/*.safetensors)."""
    from snnbench.cards import read_card
    from snnbench.records import RecordError

    card = zoo / "mnist" / "tiny-lif.yaml"
    other = card.with_suffix(".yml")
    other.write_bytes(card.read_bytes())
    with pytest.raises(RecordError, match=r"tiny-lif.yml: a model card is a .yaml file"):
        read_card(other)
    data = yaml.safe_load(card.read_text())
    data["weights"]["file"] = "weights/tiny-lif.safetensors"
    card.write_text(yaml.safe_dump(data))
    with pytest.raises(RecordError, match="field 'weights.file': must name a file beside the card"):
        read_card(card)


def test_revision_on_a_card_without_a_hub_copy_says_so(zoo):
    with pytest.raises(WeightsUnavailableError, match="revision='main' asks for a hub copy, but the card names none"):
        load_model("tiny-lif", zoo=zoo, revision="main")


def test_a_model_is_evaluated_with_the_card_it_was_loaded_from(zoo, tmp_path):
    """evaluate(load_model(name, zoo=Z)) looked the name up again in the default zoo: not found there, or
    another card of that name."""
    from snnbench.evaluation_plan import plan_evaluation
    from snnbench.protocol import load_protocol

    bench = load_protocol().benchmark("mnist-linf")
    model = load_model("tiny-lif", zoo=zoo, backend="eager")
    plan = plan_evaluation(model, bench, n_examples=4, batch_size=4)
    assert plan.subject.card.path == zoo / "mnist" / "tiny-lif.yaml" and not plan.official
    elsewhere = tmp_path / "elsewhere"
    register_tiny_model(elsewhere, "tiny-lif", seed=3)
    with pytest.raises(ValueError, match="tiny-lif: the model was built from .* but the zoo given holds"):
        plan_evaluation(model, bench, n_examples=4, batch_size=4, zoo=elsewhere)


def test_cli_names_an_unknown_dataset_or_card(capsys):
    from snnbench.cli import main

    assert main(["models", "--dataset", "MNIST"]) == 1
    assert "unknown dataset 'MNIST'; choose one of mnist" in capsys.readouterr().err
    assert main(["validate", "mnist-convnet-lif-atx"]) == 1
    assert "did you mean mnist-convnet-lif-at" in capsys.readouterr().err
