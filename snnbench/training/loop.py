"""``snnbench train``: run a recipe to weights, a model card and a training log, resumably and reproducibly.

Every random draw of step ``s`` (batch order, attack start, training noise, augmentation) comes from
seeds derived from the recipe's seed and ``s`` alone, so a run resumed from any checkpoint replays
exactly what the uninterrupted run would have done, and the same seed gives the same weights on the CPU.
The final weights are those of the last epoch: nothing is selected on the test set.
"""
from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import torch
import torch.nn.functional as F
from safetensors.torch import save as save_safetensors
from torch import Tensor
from tqdm import tqdm

from ..cards import (MAX_CLAIM_EXAMPLES, ClaimedAccuracy, ModelCard, TrainingConfig, WeightsConfig, build_model,
                     card_yaml)
from ..classifier import SpikingClassifier
from ..datasets import PathLike, split_tensors
from ..eval_subsets import first_test_images
from ..files import atomic_write_bytes, atomic_write_text, sha256_file
from ..potentials import membrane_constraint, recorded_potentials
from ..randomness import derive_seed
from ..records import record_to_dict
from ..validation import clean_accuracy
from .adversary import ascend, gaussian_start, uniform_start
from .objectives import sparsity_regulariser, tet_loss, tgo_weight, trades_kl
from .recipe import CardVariant, Recipe, read_recipe
from .retraction import retract

CHECKPOINT_EVERY = 50  # steps between resumable checkpoints (and at the end of every epoch)


@dataclass(frozen=True)
class TrainingOutcome:
    card: Path
    weights: Path
    log: Path
    seconds: float
    clean_accuracy: float  # percent, on the first `n_examples` test images
    n_examples: int


@dataclass(frozen=True)
class TrainingData:
    images: Tensor  # uint8 [N, C, H, W]
    labels: Tensor
    holdout_images: Tensor
    holdout_labels: Tensor


def train(recipe: Union[Recipe, PathLike], out_dir: PathLike, *, data_root: Optional[PathLike] = None,
          download: bool = False, data: Optional[tuple[Tensor, Tensor]] = None, resume: bool = True,
          progress: bool = True, backend: Optional[str] = None,
          stop: Optional[threading.Event] = None) -> TrainingOutcome:
    """Train ``recipe``; write ``<name>.safetensors``, ``<name>.yaml`` (the card) and ``logs/<name>.jsonl``.

    ``data`` replaces the dataset's training split (uint8 images ``[N, C, H, W]`` and labels). With
    ``resume``, a run continues from ``<name>.state.pt`` in ``out_dir`` when one is there. When ``stop`` is
    set (e.g. by a signal handler), the run saves its state after the step in progress and raises
    :class:`KeyboardInterrupt`; an interrupt inside a step keeps the last saved state (at most
    ``CHECKPOINT_EVERY`` steps back), since a half-done step cannot be saved exactly. Changes nothing
    process-wide: :func:`snnbench.allocator.retain_freed_memory` first (as ``snnbench train`` does) makes
    training on a CPU faster.
    """
    recipe = recipe if isinstance(recipe, Recipe) else read_recipe(recipe)
    out_dir = Path(out_dir)
    run = _Run(recipe, out_dir, _training_data(recipe, data, data_root, download), backend)
    if resume:
        run.restore()
    run.fit(progress, stop)
    return run.finish(data_root, download)


def _training_data(recipe: Recipe, data: Optional[tuple[Tensor, Tensor]], root: Optional[PathLike],
                   download: bool) -> TrainingData:
    images, labels = data if data is not None else split_tensors(recipe.dataset, "train", root=root,
                                                                 download=download, source=recipe.data)
    if recipe.holdout >= len(labels):
        raise ValueError(f"holdout {recipe.holdout} leaves no training images out of {len(labels)}")
    cut = len(labels) - recipe.holdout
    train_images, train_labels = images[:cut], labels[:cut]
    if recipe.train_examples is not None:
        train_images, train_labels = train_images[:recipe.train_examples], train_labels[:recipe.train_examples]
    return TrainingData(train_images, train_labels, images[cut:], labels[cut:])


def build_optimizer(recipe: Recipe, model: torch.nn.Module) -> torch.optim.Optimizer:
    cfg = recipe.optimizer
    if cfg.name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.sgd_momentum,
                               weight_decay=cfg.weight_decay, nesterov=bool(cfg.nesterov))
    optimizer = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
    return optimizer(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(recipe: Recipe, step: int, steps_per_epoch: int) -> float:
    """The schedule's multiplier of the base learning rate at (0-based) ``step``."""
    schedule = recipe.schedule
    if schedule.name == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / (recipe.epochs * steps_per_epoch)))
    if schedule.name == "multistep":
        done = step // steps_per_epoch  # completed epochs
        return schedule.factor ** sum(done >= m for m in schedule.milestones)
    return 1.0


def augment(x: Tensor, recipe: Recipe, generator: torch.Generator) -> Tensor:
    """Random crops after zero padding and horizontal flips, drawn from ``generator``."""
    aug = recipe.augmentation
    if aug.random_crop_padding:
        p = aug.random_crop_padding
        padded = F.pad(x, (p, p, p, p))
        offsets = torch.randint(0, 2 * p + 1, (len(x), 2), generator=generator)
        h, w = x.shape[2:]
        x = torch.stack([padded[i, :, a:a + h, b:b + w] for i, (a, b) in enumerate(offsets.tolist())])
    if aug.horizontal_flip:
        flip = torch.rand(len(x), generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x


def training_loss(model: SpikingClassifier, recipe: Recipe, x: Tensor, y: Tensor, epoch: int,
                  generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """The recipe's loss on one batch and the logits it was computed from (for the running accuracy)."""
    parts = recipe.parts
    x_train = x
    if parts & {"at", "rat"}:
        objective = lambda z: F.cross_entropy(z, y, reduction="sum")  # noqa: E731
        x_train = ascend(model, x, objective, recipe.adversary, uniform_start(x, recipe.adversary, generator))
    if "trades" in parts:
        x_adv = _trades_examples(model, recipe, x, generator)
    tgo = "tgo" in parts
    with recorded_potentials(model) if tgo else nullcontext([]) as records:
        if "trades" in parts:
            logits = model(x)
            loss = F.cross_entropy(logits, y) + recipe.trades.beta * trades_kl(logits, model(x_adv))
        elif recipe.loss == "tet":
            steps = model.forward_steps(x_train)
            logits, loss = steps.mean(0), tet_loss(steps, y)
        else:
            logits = model(x_train)
            loss = F.cross_entropy(logits, y)
    if tgo:
        passes = len(records) // len(model.spiking_layers())
        weight = tgo_weight(epoch, recipe.epochs, recipe.tgo.lambda_max)
        loss = loss + weight * membrane_constraint(records, recipe.tgo.delta) / passes
    if "sr" in parts:
        # On the inputs trained on (adversarial ones under AT), as the authors' code does; both of its passes
        # draw the same noise (drawn last: the step's other draws are as without SR).
        noise_seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
        loss = loss + recipe.sr.lam * sparsity_regulariser(model, x_train, y, recipe.sr.h, noise_seed)
    return loss, logits


def _trades_examples(model: SpikingClassifier, recipe: Recipe, x: Tensor, generator: torch.Generator) -> Tensor:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        clean = F.softmax(model(x), dim=1)
    model.train(was_training)
    objective = lambda z: F.kl_div(F.log_softmax(z, dim=1), clean, reduction="sum")  # noqa: E731
    return ascend(model, x, objective, recipe.adversary, gaussian_start(x, recipe.adversary, generator))


class _Run:
    """One training run's state: the model, optimiser, progress and log, and how to save and restore them."""

    def __init__(self, recipe: Recipe, out_dir: Path, data: TrainingData, backend: Optional[str]) -> None:
        self.recipe, self.out_dir, self.data, self.backend = recipe, out_dir, data, backend
        with torch.random.fork_rng():  # initialise from the recipe's seed without touching the caller's RNG
            torch.manual_seed(recipe.seed)
            self.model = build_model(recipe.architecture, recipe.dataset, recipe.surrogate, backend)
        self.optimizer = build_optimizer(recipe, self.model)
        self.steps_per_epoch = math.ceil(len(data.labels) / recipe.batch_size)
        self.step = 0
        self.epoch_stats = [0.0, 0, 0]  # loss sum, correct, seen — for the epoch in progress
        self.log: list[dict] = []
        self.seconds = 0.0

    @property
    def total_steps(self) -> int:
        return self.recipe.epochs * self.steps_per_epoch

    @property
    def state_path(self) -> Path:
        return self.out_dir / f"{self.recipe.name}.state.pt"

    def fit(self, progress: bool, stop: Optional[threading.Event] = None) -> None:
        bar = tqdm(total=self.total_steps, initial=self.step, desc=self.recipe.name, unit="step",
                   disable=not progress, dynamic_ncols=True)
        started = time.perf_counter() - self.seconds
        in_step = False
        try:
            if self.step and self.step // self.steps_per_epoch > len(self.log):
                # Interrupted while its last epoch's end was scored: the state has the epoch's steps but not
                # its log row (nor the reset of its running figures); score it now, as the whole run did.
                self._end_epoch()
                self.save()
            while self.step < self.total_steps:
                in_step = True
                self._train_step()
                in_step = False
                self.seconds = time.perf_counter() - started
                bar.update(1)
                bar.set_postfix(epoch=(self.step - 1) // self.steps_per_epoch + 1,
                                loss=f"{self.epoch_stats[0] / max(self.epoch_stats[2], 1):.4f}")
                if self.step % self.steps_per_epoch == 0:
                    self._end_epoch()
                    self.save()
                elif self.step % CHECKPOINT_EVERY == 0:
                    self.save()
                if stop is not None and stop.is_set() and self.step < self.total_steps:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            if not in_step:  # every completed step is kept; the next run resumes from here
                self.save()
            raise
        finally:
            bar.close()

    def _train_step(self) -> None:
        recipe, step = self.recipe, self.step
        epoch, index = step // self.steps_per_epoch + 1, step % self.steps_per_epoch
        order = torch.randperm(len(self.data.labels), generator=_generator(recipe.seed, "order", epoch))
        batch = order[index * recipe.batch_size:(index + 1) * recipe.batch_size]
        x = augment(self.data.images[batch].float() / 255.0, recipe, _generator(recipe.seed, "augment", step))
        y = self.data.labels[batch]
        for group in self.optimizer.param_groups:
            group["lr"] = recipe.optimizer.lr * lr_factor(recipe, step, self.steps_per_epoch)
        self.model.train()
        self.model.reseed(derive_seed(recipe.seed, "noise", step))
        loss, logits = training_loss(self.model, recipe, x, y, epoch, _generator(recipe.seed, "attack", step))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if "rat" in recipe.parts:
            retract(self.model, recipe.rat.beta)
        self.epoch_stats[0] += float(loss.detach()) * len(y)
        self.epoch_stats[1] += int((logits.detach().argmax(1) == y).sum())
        self.epoch_stats[2] += len(y)
        self.step += 1

    def _end_epoch(self) -> None:
        loss_sum, correct, seen = self.epoch_stats
        epoch = self.step // self.steps_per_epoch
        record = {"epoch": epoch, "loss": loss_sum / seen, "train_accuracy": 100.0 * correct / seen,
                  "lr": self.optimizer.param_groups[0]["lr"], "seconds": round(self.seconds, 1)}
        if "tgo" in self.recipe.parts:
            record["tgo_weight"] = tgo_weight(epoch, self.recipe.epochs, self.recipe.tgo.lambda_max)
        if len(self.data.holdout_labels):
            images = self.data.holdout_images.float() / 255.0
            record["holdout_accuracy"] = clean_accuracy(self.model, images, self.data.holdout_labels)
        self.log.append(record)
        self.epoch_stats = [0.0, 0, 0]

    def save(self) -> None:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step,
                 "epoch_stats": list(self.epoch_stats), "log": json.dumps(self.log), "seconds": self.seconds,
                 "recipe": _recipe_fingerprint(self.recipe)}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.state_path, buffer.getvalue())

    def restore(self) -> None:
        if not self.state_path.exists():
            return
        state = torch.load(self.state_path, weights_only=True)
        if state["recipe"] != _recipe_fingerprint(self.recipe):
            raise ValueError(f"{self.state_path} was saved by a different recipe; delete it to start over, or "
                             f"train again with the recipe that made it")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.epoch_stats = state["step"], list(state["epoch_stats"])
        self.log, self.seconds = json.loads(state["log"]), state["seconds"]

    def finish(self, data_root: Optional[PathLike], download: bool) -> TrainingOutcome:
        recipe, model = self.recipe, self.model.eval()
        weights = self.out_dir / f"{recipe.name}.safetensors"
        atomic_write_bytes(weights, save_safetensors(model.state_dict()))
        images, labels = first_test_images(recipe.dataset, MAX_CLAIM_EXAMPLES, root=data_root, download=download)
        accuracy = clean_accuracy(model, images, labels)
        card = _card_for(recipe, model, weights, accuracy, len(labels), self.out_dir)
        card_path = self.out_dir / f"{recipe.name}.yaml"
        atomic_write_text(card_path, card_yaml(card))
        for variant in recipe.variants:
            _write_variant(card, variant, model, images, labels, self.out_dir, self.backend)
        log_path = self.out_dir / "logs" / f"{recipe.name}.jsonl"
        summary = {"name": recipe.name, "seconds": round(self.seconds, 1), "steps": self.step,
                   "clean_accuracy": accuracy, "n_examples": len(labels), "threads": torch.get_num_threads()}
        atomic_write_text(log_path, "".join(json.dumps(r) + "\n" for r in [*self.log, summary]))
        self.state_path.unlink(missing_ok=True)
        return TrainingOutcome(card_path, weights, log_path, self.seconds, accuracy, len(labels))


def _write_variant(card: ModelCard, variant: CardVariant, trained: SpikingClassifier, images: Tensor,
                   labels: Tensor, out_dir: Path, backend: Optional[str] = None) -> Path:
    """A card for the same weights with the variant's neuron parameters, its accuracy measured anew (with the
    spiking layers' ``backend`` that measured the trained card's)."""
    neuron = dataclasses.replace(card.architecture.neuron,
                                 params={**card.architecture.neuron.params, **variant.neuron_params})
    architecture = dataclasses.replace(card.architecture, neuron=neuron)
    model = build_model(architecture, card.dataset, card.training.surrogate, backend)
    model.load_state_dict(trained.state_dict(), strict=True)
    accuracy = clean_accuracy(model.eval(), images, labels)
    derived = dataclasses.replace(card, name=variant.name, architecture=architecture, stochastic=model.stochastic,
                                  clean_accuracy=ClaimedAccuracy(value=accuracy, n_examples=len(labels)))
    path = out_dir / f"{variant.name}.yaml"
    atomic_write_text(path, card_yaml(derived))
    return path


def _recipe_fingerprint(recipe: Recipe) -> str:
    return json.dumps(record_to_dict(recipe), sort_keys=True)


def _generator(seed: int, *purpose: object) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, *purpose))


def _card_for(recipe: Recipe, model: SpikingClassifier, weights: Path, accuracy: float, n_examples: int,
              card_dir: Path) -> ModelCard:
    """The card of a trained model: its recipe's architecture and training, its weights and measured accuracy."""
    adversary = recipe.adversary
    recipe_link = None
    if recipe.path is not None:
        source = recipe.path.resolve()
        if not source.is_relative_to(card_dir.resolve()):
            # A card's paths stay inside its folder: the recipe travels with the card.
            copy = card_dir / "recipes" / f"{recipe.name}.yaml"
            if copy.exists() and copy.read_bytes() != source.read_bytes():
                raise FileExistsError(f"{copy} exists and is not the recipe {source}; move one of them")
            copy.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(copy, source.read_bytes())
            source = copy.resolve()
        recipe_link = os.path.relpath(source, card_dir.resolve())
    training = TrainingConfig(method=recipe.method, surrogate=recipe.surrogate, epochs=recipe.epochs,
                              epsilon=adversary.epsilon if adversary else None,
                              attack_steps=adversary.steps if adversary else None, recipe=recipe_link,
                              data=recipe.data)
    return ModelCard(name=recipe.name, dataset=recipe.dataset, benchmarks=recipe.benchmarks,
                     architecture=recipe.architecture, training=training, stochastic=model.stochastic,
                     weights=WeightsConfig(sha256=sha256_file(weights), file=weights.name),
                     license=recipe.license, paper="snnbench",
                     clean_accuracy=ClaimedAccuracy(value=accuracy, n_examples=n_examples))
