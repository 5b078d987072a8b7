"""Training recipes: each loss term against a hand computation, RAT's constraints, reproducibility and resume."""
from __future__ import annotations

import copy
import functools
import math
import os
import signal
import threading

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from snnbench.cards import read_card
from snnbench.cli import main
from snnbench.eval_subsets import load_eval_subset
from snnbench.files import sha256_file
from snnbench.layers import ConvexCombination
from snnbench.potentials import membrane_constraint, recorded_potentials
from snnbench.records import RecordError, parse_record
from snnbench.training import Recipe, train
from snnbench.training.recipe import read_recipe
from snnbench.training import loop as training_loop
from snnbench.training.adversary import ascend, uniform_start
from snnbench.training.loop import lr_factor, training_loss
from snnbench.training.objectives import (pairwise_confidence, sparsity_regulariser, tet_loss, tgo_weight,
                                          trades_kl)
from snnbench.training.retraction import project_to_simplex, retract
from snnbench.validation import validate_card

BASE = {
    "name": "tiny", "dataset": "mnist", "benchmarks": ["mnist-linf"],
    "architecture": {"name": "convnet", "T": 2, "neuron": {"kind": "lif"}, "options": {"channels": [4, 8]}},
    "surrogate": {"family": "atan", "alpha": 2.0}, "method": "bptt", "epochs": 2, "batch_size": 40,
    "optimizer": {"name": "adam", "lr": 0.002},
}
ADVERSARY = {"epsilon": 0.1, "steps": 2, "step_size": 0.05}


def recipe(**changes) -> Recipe:
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(changes))
    return parse_record(Recipe, data, "recipe")


@pytest.fixture(scope="module")
def mnist_uint8():
    images, labels = load_eval_subset("mnist-test-1000")
    return (images[:200] * 255).round().to(torch.uint8), labels[:200]


def _model(r: Recipe):
    from snnbench.cards import build_model
    return build_model(r.architecture, r.dataset, r.surrogate, "eager")


def _batch(n=8):
    images, labels = load_eval_subset("mnist-test-1000")
    return images[:n], labels[:n]


# --- the recipe schema -------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, words", [
    ({"method": "at+pgd"}, "join distinct methods"),
    ({"method": "at+trades", "adversary": ADVERSARY, "trades": {}}, "more than one of at, rat, trades"),
    ({"method": "at"}, "field 'adversary': method 'at' needs this section"),
    ({"method": "bptt", "adversary": ADVERSARY}, "does not use this section"),
    ({"method": "rat", "adversary": ADVERSARY, "rat": {}, "optimizer": {"name": "sgd", "lr": 0.1,
                                                                        "weight_decay": 5e-4}},
     "RAT trains without weight decay"),
    ({"method": "tgo", "tgo": {"delta": 0.3, "lambda_max": 1.0}}, "TGO trains noisy-LIF neurons"),
    ({"optimizer": {"name": "lion", "lr": 0.1}}, "field 'optimizer.name'"),
    ({"epochs": 0}, "field 'epochs': must be at least 1"),
    # Options the optimiser or schedule would have ignored, and values torch refuses only at the first step.
    ({"optimizer": {"name": "adam", "lr": 0.1, "momentum": 0.5}}, "field 'optimizer.momentum': applies to sgd only"),
    ({"optimizer": {"name": "adamw", "lr": 0.1, "nesterov": True}}, "field 'optimizer.nesterov': applies to sgd"),
    ({"optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.0, "nesterov": True}}, "needs a momentum above 0"),
    ({"optimizer": {"name": "sgd", "lr": 0.1, "momentum": 1.5}}, "field 'optimizer.momentum': must lie in [0, 1)"),
    ({"schedule": {"name": "cosine", "milestones": [2]}}, "field 'schedule.milestones': applies to the multistep"),
    ({"schedule": {"name": "constant", "gamma": 0.5}}, "field 'schedule.gamma': applies to the multistep"),
    ({"schedule": {"name": "multistep"}}, "multistep needs at least one epoch"),
    ({"schedule": {"name": "multistep", "milestones": [3, 2]}}, "must be increasing epochs from 1"),
    ({"schedule": {"name": "multistep", "milestones": [1], "gamma": 0}}, "field 'schedule.gamma': must lie in"),
])
def test_recipe_mistakes_are_named(changes, words):
    with pytest.raises(RecordError, match="recipe") as caught:
        recipe(**changes)
    assert any(words in p for p in caught.value.problems), caught.value.problems


# --- loss terms by hand --------------------------------------------------------------------------

def test_tgo_weight_schedule():
    assert tgo_weight(4, 4, 2.0) == pytest.approx(2.0)
    assert tgo_weight(2, 4, 2.0) == pytest.approx(1.0)
    assert tgo_weight(1, 4, 2.0) == pytest.approx((1 - math.cos(math.pi / 4)))
    with pytest.raises(ValueError):
        tgo_weight(0, 4, 2.0)


def test_trades_kl_and_tet_by_hand():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 10, generator=gen), torch.randn(5, 10, generator=gen)
    p, q = a.softmax(1), b.softmax(1)
    assert trades_kl(a, b) == pytest.approx(float((p * (p / q).log()).sum() / 5), rel=1e-5)
    steps, y = torch.randn(3, 5, 10, generator=gen), torch.randint(0, 10, (5,), generator=gen)
    by_hand = sum(F.cross_entropy(steps[t], y) for t in range(3)) / 3
    assert tet_loss(steps, y) == pytest.approx(float(by_hand), rel=1e-6)


class _Linear(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return x.flatten(1) @ self.w


def test_sparsity_regulariser_is_the_finite_difference_of_the_pairwise_confidence():
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(6, 4, generator=gen)
    model = _Linear(w)
    x, y, h = torch.rand(3, 6, generator=gen), torch.tensor([0, 2, 3]), 0.01
    z = (x @ w).detach()
    masked = z.clone()
    masked[torch.arange(3), y] = -float("inf")
    rival = masked.argmax(1)
    p = torch.sigmoid(z[torch.arange(3), y] - z[torch.arange(3), rival]).detach()
    grad_p = (p * (1 - p))[:, None] * (w[:, y] - w[:, rival]).T  # ∇ₓ of σ(z_y − z_j) for a linear model
    z_step = (x + h * grad_p.sign()) @ w
    p_step = torch.sigmoid(z_step[torch.arange(3), y] - z_step[torch.arange(3), rival])
    by_hand = (((p_step - p) / h) ** 2).mean()
    got = sparsity_regulariser(model, x, y, h)
    assert float(got.detach()) == pytest.approx(float(by_hand), rel=1e-5)
    got.backward()
    assert model.w.grad.abs().sum() > 0  # both confidences carry gradients to the weights
    torch.testing.assert_close(pairwise_confidence(z, y, rival), p.detach())


def test_sparsity_regulariser_differences_one_function_on_a_noisy_model():
    # TGO's noisy neurons draw new noise every pass: SR's two passes must draw the same, or d = Δp/h measures
    # the noise. With h = 1e-6 no spike flips between the passes, so the same noise gives d = 0 exactly.
    r = recipe(architecture={**BASE["architecture"], "neuron": {"kind": "noisy_lif", "params": {"sigma": 0.3}}})
    model = _model(r).train()
    x, y = _batch()
    model.reseed(0)
    assert float(sparsity_regulariser(model, x, y, 1e-6, noise_seed=5).detach()) == 0.0
    model.reseed(0)
    assert float(sparsity_regulariser(model, x, y, 1e-6).detach()) > 1e3  # what it measured before


def test_tgo_loss_is_cross_entropy_plus_weighted_constraint():
    r = recipe(method="tgo", tgo={"delta": 0.4, "lambda_max": 3.0}, epochs=4,
               architecture={**BASE["architecture"], "neuron": {"kind": "noisy_lif", "params": {"sigma": 0.0}}})
    model = _model(r).train()
    x, y = _batch()
    loss, logits = training_loss(model, r, x, y, epoch=2, generator=torch.Generator())
    with recorded_potentials(model) as records:
        again = model(x)
    by_hand = F.cross_entropy(again, y) + tgo_weight(2, 4, 3.0) * membrane_constraint(records, 0.4)
    assert float(loss.detach()) == pytest.approx(float(by_hand.detach()), rel=1e-6)
    assert torch.equal(logits, again)
    loss.backward()
    assert all(layer.potential_observer is None for layer in model.spiking_layers())


def test_at_trains_on_the_last_pgd_iterate_in_eval_mode():
    r = recipe(method="at", adversary=ADVERSARY)
    model = _model(r).train()
    untouched = copy.deepcopy(model)  # a train-mode forward moves the batch-norm running statistics
    x, y = _batch()
    loss, logits = training_loss(model, r, x, y, epoch=1, generator=torch.Generator().manual_seed(5))
    assert model.training  # restored after the attack
    model = untouched
    objective = lambda z: F.cross_entropy(z, y, reduction="sum")  # noqa: E731
    start = uniform_start(x, r.adversary, torch.Generator().manual_seed(5))
    x_adv = ascend(model, x, objective, r.adversary, start)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6 and not torch.equal(x_adv, x)
    assert float(loss) == pytest.approx(float(F.cross_entropy(model(x_adv), y)), rel=1e-6)


def test_trades_loss_by_hand():
    r = recipe(method="trades", adversary=ADVERSARY, trades={"beta": 6.0})
    model = _model(r).train()
    x, y = _batch()
    loss, logits = training_loss(model, r, x, y, epoch=1, generator=torch.Generator().manual_seed(2))
    assert float(loss) > float(F.cross_entropy(logits, y))  # the KL term is positive
    assert torch.equal(logits, model(x))


# --- RAT -------------------------------------------------------------------------------------------

def test_retraction_moves_singular_values_to_one_and_keeps_the_simplex():
    torch.manual_seed(0)
    layer = nn.Linear(16, 8, bias=False)
    q, _ = torch.linalg.qr(torch.randn(16, 8))
    with torch.no_grad():
        layer.weight.copy_(q.T * torch.linspace(0.5, 1.5, 8)[:, None])
    conv = nn.Conv2d(3, 4, 3)
    combination = ConvexCombination()
    with torch.no_grad():
        combination.weight.copy_(torch.tensor([0.9, 0.4]))
    model = nn.Sequential(layer, conv, combination)
    distance = lambda w: float(torch.linalg.norm(w.detach() @ w.detach().T - torch.eye(len(w))))  # noqa: E731
    before = distance(layer.weight)
    for _ in range(10):
        retract(model, 0.05)
    assert distance(layer.weight) < 0.6 * before
    assert torch.allclose(combination.weight, torch.tensor([0.75, 0.25]))
    assert project_to_simplex(torch.tensor([2.0, -1.0, 0.0])).tolist() == [1.0, 0.0, 0.0]
    assert project_to_simplex(torch.tensor([0.2, 0.3, 0.5])).tolist() == pytest.approx([0.2, 0.3, 0.5])
    # A layer with more outputs than inputs (as the MNIST convnet's first, 32 × 9) cannot reach W·Wᵀ = I: its
    # singular values go to 1, that is WᵀW → I.
    tall = nn.Linear(9, 32, bias=False)
    for _ in range(300):
        retract(tall, 0.05)
    w = tall.weight.detach()
    assert torch.allclose(w.T @ w, torch.eye(9), atol=1e-3)
    assert float(torch.linalg.norm(w @ w.T - torch.eye(32))) == pytest.approx(23 ** 0.5, abs=1e-2)


def test_lr_schedules():
    assert lr_factor(recipe(schedule={"name": "cosine"}), 0, 10) == 1.0
    assert lr_factor(recipe(schedule={"name": "cosine"}), 10, 10) == pytest.approx(0.5)
    multistep = recipe(schedule={"name": "multistep", "milestones": [1], "gamma": 0.1}, epochs=3)
    assert [lr_factor(multistep, s, 10) for s in (9, 10, 29)] == [1.0, pytest.approx(0.1), pytest.approx(0.1)]


# --- runs ------------------------------------------------------------------------------------------

def _write_recipe(tmp_path, **changes):
    data = copy.deepcopy(BASE)
    data.update(changes)
    path = tmp_path / "recipes" / f"{data['name']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def test_training_is_reproducible_and_writes_a_valid_card(tmp_path, mnist_uint8):
    path = _write_recipe(tmp_path, method="at+sr", adversary=ADVERSARY, sr={"lam": 0.001})
    first = train(path, tmp_path / "a" / "mnist", data=mnist_uint8, backend="eager", progress=False)
    second = train(path, tmp_path / "b" / "mnist", data=mnist_uint8, backend="eager", progress=False)
    assert sha256_file(first.weights) == sha256_file(second.weights)
    card = read_card(first.card)
    assert card.training.method == "at+sr" and card.training.epsilon == 0.1 and card.training.attack_steps == 2
    # The recipe lived outside the card's folder: it is copied beside the card (a card's paths stay inside).
    assert card.training.recipe == "recipes/tiny.yaml" and card.clean_accuracy.n_examples == 1000
    assert (tmp_path / "a" / "mnist" / "recipes" / "tiny.yaml").read_bytes() == path.read_bytes()
    assert validate_card(first.card, backend="eager").ok
    log = [yaml.safe_load(line) for line in first.log.read_text().splitlines()]
    assert [r.get("epoch") for r in log[:2]] == [1, 2] and log[-1]["steps"] == 10
    assert not (tmp_path / "a" / "mnist" / "tiny.state.pt").exists()


def _saved_step(path) -> int:
    return torch.load(path, weights_only=True)["step"]


@pytest.mark.parametrize("how", ["stop", "half_step", "epoch_end"])
def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, mnist_uint8, monkeypatch, how):
    """A stop request saves after the step in progress; an interrupt inside a step keeps the last exact save;
    one while an epoch's end is being scored (the holdout) leaves that epoch's log row to the resumed run."""
    path = _write_recipe(tmp_path, method="at", adversary=ADVERSARY, holdout=40)
    whole = train(path, tmp_path / "whole", data=mnist_uint8, backend="eager", progress=False)

    real_step, real_accuracy, stop = training_loop._Run._train_step, training_loop.clean_accuracy, threading.Event()

    def interrupted_step(run):
        real_step(run)
        if run.step == 7:  # 4 steps per epoch: the last save before this ends epoch 1
            if how == "stop":
                stop.set()
            else:  # the optimiser has stepped, the step counter not yet: a half-done step
                run.step -= 1
                raise KeyboardInterrupt

    def interrupted_scoring(*args, **kwargs):  # Ctrl-C while epoch 1's holdout accuracy is measured
        raise KeyboardInterrupt

    if how == "epoch_end":
        monkeypatch.setattr(training_loop, "clean_accuracy", interrupted_scoring)
    else:
        monkeypatch.setattr(training_loop._Run, "_train_step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        train(path, tmp_path / "cut", data=mnist_uint8, backend="eager", progress=False, stop=stop)
    assert _saved_step(tmp_path / "cut" / "tiny.state.pt") == {"stop": 7, "half_step": 4, "epoch_end": 4}[how]
    monkeypatch.setattr(training_loop._Run, "_train_step", real_step)
    monkeypatch.setattr(training_loop, "clean_accuracy", real_accuracy)
    resumed = train(path, tmp_path / "cut", data=mnist_uint8, backend="eager", progress=False)
    assert sha256_file(resumed.weights) == sha256_file(whole.weights)
    epochs = lambda outcome: [{k: v for k, v in yaml.safe_load(line).items() if k != "seconds"}  # noqa: E731
                              for line in outcome.log.read_text().splitlines()[:2]]
    assert epochs(resumed) == epochs(whole)


def test_sigterm_to_the_train_command_saves_after_the_step_in_progress(tmp_path, mnist_uint8, monkeypatch, capsys):
    path = _write_recipe(tmp_path, holdout=40)
    real_step = training_loop._Run._train_step

    def step_then_signal(run):
        real_step(run)
        if run.step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(training_loop._Run, "_train_step", step_then_signal)
    monkeypatch.setattr("snnbench.training.train", functools.partial(train, data=mnist_uint8, backend="eager"))
    before = signal.getsignal(signal.SIGTERM)
    assert main(["train", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 130
    assert _saved_step(tmp_path / "out" / "tiny.state.pt") == 3
    assert "SIGTERM received" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before  # the command leaves the process's handlers as it found them


def test_a_state_from_another_recipe_is_refused(tmp_path, mnist_uint8):
    path = _write_recipe(tmp_path)
    stop = threading.Event()
    stop.set()  # saves after the first step
    with pytest.raises(KeyboardInterrupt):
        train(path, tmp_path / "out", data=mnist_uint8, backend="eager", progress=False, stop=stop)
    _write_recipe(tmp_path, epochs=3)
    with pytest.raises(ValueError, match="saved by a different recipe"):
        train(path, tmp_path / "out", data=mnist_uint8, backend="eager", progress=False)


@pytest.mark.parametrize("changes, message", [
    ({"variants": [{"name": "tiny-noisy", "neuron_params": {"noise_at_eval": "yes"}}]},
     "field 'variants[0].neuron_params': neuron 'noisy_lif' parameter noise_at_eval: expected true or false"),
    ({"architecture": {**BASE["architecture"], "options": {"channels": [4, 10**9]}}},
     "field 'architecture': describes 528,000,000,054 parameters"),
    ({"method": "trades", "tgo": None, "trades": {"beta": 6.0}, "adversary": ADVERSARY, "loss": "tet"},
     "field 'loss': TRADES trains on cross-entropy plus β·KL; loss 'tet' does not apply"),
])
def test_a_recipe_that_would_fail_only_when_training_starts_is_refused_by_name(tmp_path, changes, message):
    """What a recipe builds (the model, every variant's neuron) is checked when it is read, not hours later."""
    tgo = {"method": "tgo", "tgo": {"delta": 0.3, "lambda_max": 1.0},
           "architecture": {**BASE["architecture"], "neuron": {"kind": "noisy_lif", "params": {"sigma": 0.3}}}}
    path = _write_recipe(tmp_path, name="tiny-tgo", **{**tgo, **changes})
    with pytest.raises(RecordError) as caught:
        read_recipe(path)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)


def test_a_variant_card_shares_the_weights_and_measures_its_own_accuracy(tmp_path, mnist_uint8, monkeypatch):
    backends = []  # every model the run builds, the variant's too, with the backend `train` was given
    real = training_loop.build_model
    monkeypatch.setattr(training_loop, "build_model", lambda *a: backends.append(a[-1]) or real(*a))
    path = _write_recipe(
        tmp_path, name="tiny-tgo", method="tgo", tgo={"delta": 0.3, "lambda_max": 1.0}, epochs=1,
        architecture={**BASE["architecture"], "neuron": {"kind": "noisy_lif", "params": {"sigma": 0.3}}},
        variants=[{"name": "tiny-tgo-noisy", "neuron_params": {"noise_at_eval": True}}])
    outcome = train(path, tmp_path / "mnist", data=mnist_uint8, backend="eager", progress=False)
    assert backends == ["eager", "eager"]
    plain, noisy = read_card(outcome.card), read_card(tmp_path / "mnist" / "tiny-tgo-noisy.yaml")
    assert not plain.stochastic and noisy.stochastic
    assert noisy.weights == plain.weights and noisy.architecture.neuron.params["noise_at_eval"] is True
    for card in (plain, noisy):
        report = validate_card(card.path, backend="eager")
        assert report.ok, report.problems
