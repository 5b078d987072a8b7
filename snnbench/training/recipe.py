"""Training recipes: one YAML file says everything a training run does, validated like a model card.

A recipe names the dataset (and, with ``data``, a registered copy of it to train on instead of the
official files, such as ``cifar10-jpeg``), the architecture (the same section as a card's), the training surrogate, the
method and its hyper-parameters, the optimiser and schedule, epochs, batch size, seed and augmentation.
``method`` is one defence or a stack of them joined by ``+``:

- ``bptt``: cross-entropy on the mean-over-time logits (``loss: tet`` for the TET loss);
- ``at``: PGD adversarial training (section ``adversary``);
- ``rat``: AT plus the orthogonal retraction of every weight after each step (section ``rat``);
- ``trades``: clean CE + β·KL(f(x) ‖ f(x_adv)) (sections ``adversary`` and ``trades``);
- ``sr``: the gradient-sparsity regulariser (section ``sr``);
- ``tgo``: the membrane-potential constraint (section ``tgo``) with noisy-LIF neurons.

Stacks such as ``tgo+at``, ``tgo+rat`` and ``at+sr`` combine them; at most one of at, rat, trades.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Optional

from ..cards import (ArchitectureConfig, SurrogateConfig, dataset_problems, model_problems, name_problems,
                     source_problems)
from ..datasets import PathLike
from ..neurons import NeuronSpec
from ..records import read_yaml_record

METHODS = ("bptt", "at", "rat", "trades", "sr", "tgo")
# Where each method comes from, for `snnbench models` (the full references are in the README's "Citing").
METHOD_PAPERS = {
    "bptt": "Neftci et al., IEEE SPM 2019",
    "at": "Madry et al., ICLR 2018",
    "rat": "Ding et al., NeurIPS 2022",
    "trades": "Zhang et al., ICML 2019",
    "sr": "Liu et al., ICML 2024",
    "tgo": "ICLR 2026, arXiv:2602.20548",
}
ADVERSARIAL = ("at", "rat", "trades")

Problems = Iterator[tuple[str, str]]


@dataclass(frozen=True)
class AdversaryConfig:
    """The inner maximisation: PGD with ``steps`` steps of ``step_size`` in the L∞ ball of radius ``epsilon``."""

    epsilon: float
    steps: int
    step_size: float
    random_start: bool = True

    def record_problems(self) -> Problems:
        if not 0 < self.epsilon <= 1:
            yield "epsilon", f"must lie in (0, 1] (images are in [0, 1]), got {self.epsilon}"
        if self.steps < 1:
            yield "steps", f"must be at least 1, got {self.steps}"
        if self.step_size <= 0:
            yield "step_size", f"must be positive, got {self.step_size}"


@dataclass(frozen=True)
class TradesConfig:
    beta: float = 6.0


@dataclass(frozen=True)
class RatConfig:
    """Orthogonal retraction ``W ← (1 + β)W − β·W·Wᵀ·W`` after every optimiser step."""

    beta: float = 0.004


@dataclass(frozen=True)
class SparsityConfig:
    """Gradient-sparsity regularisation (Liu et al., ICML 2024): ``λ·mean(d²)`` with finite-difference step ``h``."""

    lam: float
    h: float = 0.01


@dataclass(frozen=True)
class TGOConfig:
    """Membrane-potential constraint with margin ``delta``, weighted by ``λ(e) = λ_max·(1 − cos(πe/E))/2``."""

    delta: float
    lambda_max: float


@dataclass(frozen=True)
class OptimizerConfig:
    """``momentum`` (default 0.9) and ``nesterov`` (default false) are SGD's; Adam and AdamW keep their own
    betas, so a recipe that gives them either is refused rather than trained without it."""

    name: Literal["sgd", "adam", "adamw"]
    lr: float
    momentum: Optional[float] = None
    weight_decay: float = 0.0
    nesterov: Optional[bool] = None

    def record_problems(self) -> Problems:
        if self.lr <= 0:
            yield "lr", f"must be positive, got {self.lr}"
        if self.weight_decay < 0:
            yield "weight_decay", f"must not be negative, got {self.weight_decay}"
        if self.name != "sgd":
            for field in ("momentum", "nesterov"):
                if getattr(self, field) is not None:
                    yield field, f"applies to sgd only; {self.name} would ignore it (it has its own betas)"
        elif self.momentum is not None and not 0.0 <= self.momentum < 1.0:
            yield "momentum", f"must lie in [0, 1), got {self.momentum}"
        elif self.nesterov and self.sgd_momentum == 0.0:
            yield "nesterov", "needs a momentum above 0"

    @property
    def sgd_momentum(self) -> float:
        return 0.9 if self.momentum is None else self.momentum


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate factor per step: ``constant``, ``cosine`` (to 0 over the run), or ``multistep``
    (times ``gamma``, default 0.1, at each epoch in ``milestones``; only ``multistep`` takes these two)."""

    name: Literal["constant", "cosine", "multistep"] = "constant"
    milestones: tuple[int, ...] = ()
    gamma: Optional[float] = None

    def record_problems(self) -> Problems:
        if self.name != "multistep":
            for field, given in (("milestones", bool(self.milestones)), ("gamma", self.gamma is not None)):
                if given:
                    yield field, f"applies to the multistep schedule only; {self.name} would ignore it"
            return
        if not self.milestones:
            yield "milestones", "multistep needs at least one epoch to decay at"
        elif any(m < 1 for m in self.milestones) or list(self.milestones) != sorted(set(self.milestones)):
            yield "milestones", f"must be increasing epochs from 1, got {list(self.milestones)}"
        if self.gamma is not None and not 0.0 < self.gamma <= 1.0:
            yield "gamma", f"must lie in (0, 1], got {self.gamma}"

    @property
    def factor(self) -> float:
        return 0.1 if self.gamma is None else self.gamma


@dataclass(frozen=True)
class AugmentationConfig:
    random_crop_padding: int = 0
    horizontal_flip: bool = False


@dataclass(frozen=True)
class CardVariant:
    """A second card for the same weights, with other neuron parameters at evaluation.

    For example TGO's model evaluated with its noise on (``neuron_params: {noise_at_eval: true}``): the
    weights are shared, the card (and its measured clean accuracy) is its own.
    """

    name: str
    neuron_params: Mapping[str, Any]

    def record_problems(self) -> Problems:
        yield from name_problems(self.name)


@dataclass(frozen=True)
class Recipe:
    name: str
    dataset: str
    architecture: ArchitectureConfig
    surrogate: SurrogateConfig
    method: str
    epochs: int
    batch_size: int
    optimizer: OptimizerConfig
    seed: int = 0
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: Literal["ce", "tet"] = "ce"
    adversary: Optional[AdversaryConfig] = None
    trades: Optional[TradesConfig] = None
    rat: Optional[RatConfig] = None
    sr: Optional[SparsityConfig] = None
    tgo: Optional[TGOConfig] = None
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    data: Optional[str] = None  # a registered copy of the dataset to train on (snnbench.datasets.SOURCES)
    holdout: int = 0  # the last `holdout` training images are kept out of training, for validation
    train_examples: Optional[int] = None  # train on the first N (after the holdout is set aside)
    benchmarks: tuple[str, ...] = ()  # written into the card
    variants: tuple[CardVariant, ...] = ()
    license: str = "MIT"
    path: Optional[Path] = field(default=None, compare=False, metadata={"record": False})

    @property
    def parts(self) -> frozenset[str]:
        return frozenset(self.method.split("+"))

    def record_problems(self) -> Problems:
        yield from name_problems(self.name)
        yield from dataset_problems(self.dataset)
        yield from source_problems(self.data, self.dataset)
        yield from self._method_problems()
        if self.epochs < 1:
            yield "epochs", f"must be at least 1, got {self.epochs}"
        if self.batch_size < 1:
            yield "batch_size", f"must be at least 1, got {self.batch_size}"
        if self.holdout < 0 or (self.train_examples is not None and self.train_examples < 1):
            yield "holdout", "holdout must be >= 0 and train_examples >= 1"
        yield from model_problems(self.architecture, self.dataset, self.surrogate)
        neuron = self.architecture.neuron
        for index, variant in enumerate(self.variants):  # each variant's card has the neuron it makes
            try:
                NeuronSpec(neuron.kind, {**neuron.params, **variant.neuron_params})
            except ValueError as err:
                yield f"variants[{index}].neuron_params", str(err)

    def _method_problems(self) -> Problems:
        parts = self.method.split("+")
        unknown = [p for p in parts if p not in METHODS]
        if unknown or len(set(parts)) != len(parts):
            yield "method", f"{self.method!r}: join distinct methods from {', '.join(METHODS)} with '+'"
            return
        if "bptt" in parts and len(parts) > 1:
            yield "method", "bptt is plain training; stack the other methods without it"
        if sum(p in ADVERSARIAL for p in parts) > 1:
            yield "method", f"{self.method!r} combines more than one of {', '.join(ADVERSARIAL)}"
        needs = {"adversary": any(p in ADVERSARIAL for p in parts), "trades": "trades" in parts,
                 "rat": "rat" in parts, "sr": "sr" in parts, "tgo": "tgo" in parts}
        for section, needed in needs.items():
            given = getattr(self, section) is not None
            if needed and not given:
                yield section, f"method {self.method!r} needs this section"
            if given and not needed:
                yield section, f"method {self.method!r} does not use this section; remove it"
        if "trades" in parts and self.loss != "ce":
            yield "loss", f"TRADES trains on cross-entropy plus β·KL; loss {self.loss!r} does not apply"
        if "rat" in parts and self.optimizer.weight_decay != 0:
            yield "optimizer.weight_decay", "RAT trains without weight decay (the retraction regularises); set 0"
        if "tgo" in parts and self.architecture.neuron.kind != "noisy_lif":
            yield "architecture.neuron.kind", "TGO trains noisy-LIF neurons (kind: noisy_lif, params: {sigma: ...})"


def read_recipe(path: PathLike) -> Recipe:
    """The recipe at ``path``, validated; :class:`RecordError` names the file and every bad field."""
    return read_yaml_record(Recipe, path, "recipe")
