"""Model cards: one YAML file per registered model, read into a validated :class:`ModelCard`.

A card says everything needed to rebuild a model and judge it: the architecture and its keyword arguments,
the neuron, ``T`` and encoding; the training surrogate; whether evaluation is stochastic; where the weights
are (a file beside the card and/or a pinned Hugging Face hub commit) with their sha256; the training
recipe; the licence and paper; and the claimed clean accuracy. Cards live at
``<zoo>/<dataset>/<name>.yaml``. A model's quirk becomes a declared field here, never a branch in the loader.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Optional, Union

import torch
import yaml

from .architectures.registry import ARCHITECTURES, architecture_options, create_model
from .classifier import SpikingClassifier
from .datasets import DATASETS, SOURCES, PathLike, dataset_info
from .encoding import ENCODINGS
from .interop import BUILDERS, build_library_model, library_problems
from .neurons import NeuronSpec
from .surrogates import Surrogate
from .records import COMMIT, SHA256, RecordError, read_yaml_record, record_to_dict, value_problems

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# `snnbench validate` recomputes the claim on at most this many images of the evaluation set.
MAX_CLAIM_EXAMPLES = 1000
MAX_NAME = 100  # characters of a model name (it becomes file names)
MAX_T = 256  # time steps a card may ask for (validation runs the model; T scales its memory)
MAX_PARAMETERS = 200_000_000  # 0.8 GB of float32 weights; the zoo's largest model has 709,770

Problems = Iterator[tuple[str, str]]


def name_problems(name: str) -> Problems:
    """A model or recipe name: it becomes a file name and a leaderboard row."""
    if not NAME.match(name):
        yield "name", f"use lowercase letters, digits, '.', '_' and '-' only, got {name!r}"
    elif len(name) > MAX_NAME:
        yield "name", f"at most {MAX_NAME} characters, got {len(name)}"


def relative_path_problems(field_name: str, value: Optional[str]) -> Problems:
    """A path a card gives relative to its folder: it must stay inside (no absolute path, no '..')."""
    if value is not None and (Path(value).is_absolute() or ".." in Path(value).parts):
        yield field_name, f"must be a path inside the card's folder (no '..', not absolute), got {value!r}"


def inside(base: Path, relative: str, what: str) -> Path:
    """``base / relative``, refusing a path that leaves ``base`` (also through a symbolic link)."""
    path = base / relative
    if not path.resolve().is_relative_to(base.resolve()):
        raise RecordError(str(path), [f"the {what} leaves the card's folder (through a symbolic link)"])
    return path


def dataset_problems(dataset: str) -> Problems:
    if dataset not in DATASETS:
        yield "dataset", f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}"


def source_problems(source: Optional[str], dataset: str) -> Problems:
    """A training-data source: registered, and a copy of ``dataset``."""
    if source is None:
        return
    if source not in SOURCES:
        yield "data", f"unknown data source {source!r}; registered: {', '.join(SOURCES)}"
    elif SOURCES[source].dataset != dataset:
        yield "data", f"{source} is a copy of {SOURCES[source].dataset}, not of {dataset}"


def _value_error(make) -> Optional[str]:
    try:
        make()
    except ValueError as err:
        return str(err)
    return None


@dataclass(frozen=True)
class NeuronConfig:
    """The spiking neuron of every layer: its kind (``lif``, ``if``, ``noisy_lif``, ``psn``) and parameters."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Normalization:
    """Per-channel input statistics, when the model was trained with other than its dataset's usual ones."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def record_problems(self) -> Problems:
        if len(self.mean) != len(self.std):
            yield "std", f"has {len(self.std)} values for {len(self.mean)} mean values"
        if any(s <= 0 for s in self.std):
            yield "std", "values must be positive"


@dataclass(frozen=True)
class ArchitectureConfig:
    """A registered architecture (or an allow-listed library builder, :data:`snnbench.interop.BUILDERS`) and
    everything needed to rebuild it."""

    name: str
    T: int
    neuron: NeuronConfig
    encoding: str = "direct"
    options: Mapping[str, Any] = field(default_factory=dict)
    normalization: Optional[Normalization] = None

    def record_problems(self) -> Problems:
        if self.name in BUILDERS:  # a model that a library's own code builds (an allow-listed builder)
            for problem in library_problems(self.name, self.options, self.neuron.kind):
                field_name, _, message = problem.partition(": ")
                yield field_name, message
        elif self.name not in ARCHITECTURES:
            yield "name", (f"unknown architecture {self.name!r}; registered: {', '.join(sorted(ARCHITECTURES))}; "
                           f"built by a library: {', '.join(sorted(BUILDERS))}")
        else:
            unknown = sorted(set(self.options) - set(architecture_options(self.name)))
            if unknown:
                accepted = ", ".join(sorted(architecture_options(self.name))) or "none"
                yield "options", f"{self.name} has no option(s) {', '.join(unknown)}; it accepts {accepted}"
            yield from _option_problems(self.name, self.options)
        if not 1 <= self.T <= MAX_T:
            yield "T", f"must lie in [1, {MAX_T}], got {self.T}"
        if self.encoding not in ENCODINGS:
            yield "encoding", f"unknown encoding {self.encoding!r}; choose one of {', '.join(ENCODINGS)}"
        problem = _value_error(lambda: NeuronSpec(self.neuron.kind, self.neuron.params))
        if problem:
            yield "neuron", problem


def _option_problems(architecture: str, options: Mapping[str, Any]) -> Problems:
    """Each option as its builder annotates it, and no integer in it (a size or a count) negative; what else a
    builder refuses (a zero width, say) the build on the meta device finds (:func:`model_problems`)."""
    hints = ARCHITECTURES[architecture].option_hints
    for name, value in options.items():
        if name not in hints:
            continue
        problems = value_problems(hints[name], value, name)
        yield from ((f"options.{where}", problem) for where, problem in problems)
        numbers = value if isinstance(value, (list, tuple)) else [value]
        if not problems and any(isinstance(n, int) and not isinstance(n, bool) and n < 0 for n in numbers):
            yield f"options.{name}", f"sizes and counts cannot be negative, got {value}"


@dataclass(frozen=True)
class SurrogateConfig:
    """The surrogate gradient the model was trained with, its family and sharpness α."""

    family: str
    alpha: float

    def record_problems(self) -> Problems:
        problem = _value_error(lambda: NeuronSpec(surrogate=self.family, alpha=self.alpha))
        if problem:
            yield "", problem


@dataclass(frozen=True)
class TrainingConfig:
    """How the weights were trained: enough to read a leaderboard row, and the recipe when trained here.

    ``method`` names the defence (``bptt``, ``at``, ``rat``, ``trades``, ``tgo+at``, ...); ``epsilon`` and
    ``attack_steps`` describe adversarial training (absent for none); ``recipe`` is the recipe file's path
    relative to the card; ``data`` names the training images when they were not the official files: a
    registered copy such as ``cifar10-jpeg`` (:data:`snnbench.datasets.SOURCES`; JPEG-compressed pixels).
    """

    method: str
    surrogate: SurrogateConfig
    epochs: Optional[int] = None
    epsilon: Optional[float] = None
    attack_steps: Optional[int] = None
    recipe: Optional[str] = None
    data: Optional[str] = None

    def record_problems(self) -> Problems:
        if not self.method.strip():
            yield "method", "must not be empty"

        if self.epochs is not None and self.epochs < 1:
            yield "epochs", f"must be at least 1, got {self.epochs}"
        if self.epsilon is not None and self.epsilon < 0:
            yield "epsilon", f"must not be negative, got {self.epsilon}"
        if self.attack_steps is not None and self.attack_steps < 1:
            yield "attack_steps", f"must be at least 1, got {self.attack_steps}"
        yield from relative_path_problems("recipe", self.recipe)


@dataclass(frozen=True)
class HubFile:
    """A file in a Hugging Face hub repository, pinned to a commit so its bytes never change."""

    repo_id: str
    filename: str
    revision: str

    def record_problems(self) -> Problems:
        if not REPO_ID.match(self.repo_id):
            yield "repo_id", f"expected 'owner/name', got {self.repo_id!r}"
        if not self.filename.endswith(".safetensors"):
            yield "filename", f"weights must be a .safetensors file, got {self.filename!r}"
        if not COMMIT.match(self.revision):
            yield "revision", f"must be a full 40-character commit hash (a branch or tag can move), got {self.revision!r}"


@dataclass(frozen=True)
class WeightsConfig:
    """Where the weights are (a ``file`` relative to the card, a ``hub`` file, or both) and their sha256."""

    sha256: str
    file: Optional[str] = None
    hub: Optional[HubFile] = None

    def record_problems(self) -> Problems:
        if not SHA256.match(self.sha256):
            yield "sha256", f"expected 64 lowercase hexadecimal characters, got {self.sha256!r}"
        if self.file is None and self.hub is None:
            yield "", "give a bundled 'file', a 'hub' location, or both"
        if self.file is not None and not self.file.endswith(".safetensors"):
            yield "file", f"must be a .safetensors path relative to the card, got {self.file!r}"
        yield from relative_path_problems("file", self.file)
        if self.file is not None and ("/" in self.file or "\\" in self.file):  # packages ship <dataset>/*.safetensors
            yield "file", (f"must name a file beside the card (no folder: an installed zoo would lack it), got "
                           f"{self.file!r}")


@dataclass(frozen=True)
class Paper:
    title: str
    authors: tuple[str, ...]
    venue: str
    year: int
    url: str

    def record_problems(self) -> Problems:
        if not self.authors:
            yield "authors", "list at least one author"
        if not 1900 <= self.year <= 2100:
            yield "year", f"expected a year, got {self.year}"
        if not self.url.startswith(("https://", "http://")):
            yield "url", f"expected an http(s) address, got {self.url!r}"


@dataclass(frozen=True)
class ClaimedAccuracy:
    """Clean accuracy in percent on the first ``n_examples`` images of the benchmark's evaluation set."""

    value: float
    n_examples: int

    def record_problems(self) -> Problems:
        if not 0.0 <= self.value <= 100.0:
            yield "value", f"is a percentage in [0, 100], got {self.value}"
        if not 1 <= self.n_examples <= MAX_CLAIM_EXAMPLES:
            yield "n_examples", (f"must lie in [1, {MAX_CLAIM_EXAMPLES}] (the images `snnbench validate` "
                                 f"recomputes the claim on), got {self.n_examples}")


@dataclass(frozen=True)
class ModelCard:
    """A registered model. ``path`` is the card file it was read from (not a field of the file)."""

    name: str
    dataset: str
    benchmarks: tuple[str, ...]
    architecture: ArchitectureConfig
    training: TrainingConfig
    stochastic: bool
    weights: WeightsConfig
    license: str
    paper: Union[Paper, Literal["snnbench"]]
    clean_accuracy: ClaimedAccuracy
    path: Optional[Path] = field(default=None, compare=False, metadata={"record": False})

    def record_problems(self) -> Problems:
        yield from name_problems(self.name)
        yield from dataset_problems(self.dataset)
        if not self.benchmarks:
            yield "benchmarks", "name at least one benchmark the model is ranked on"
        if not self.license.strip():
            yield "license", "must not be empty"
        yield from (("training." + k, m) for k, m in source_problems(self.training.data, self.dataset))
        if self.paper == "snnbench" and not self.training.recipe:  # boards and `snnbench models` say "trained here"
            yield "paper", ("'snnbench' means trained in this repository from a recipe, and this card names no "
                            "training.recipe: give the paper the model comes from ({title, authors, venue, year, url})")
        yield from model_problems(self.architecture, self.dataset, self.training.surrogate)

    def board_description(self) -> dict[str, Any]:
        """What a result's ``model_summary`` copies from the card and a board row shows: architecture, neuron
        kind, T, defense, source (the paper's url or ``snnbench``), stochastic, and the pinned weights' sha256."""
        return dict(architecture=self.architecture.name, neuron=self.architecture.neuron.kind, T=self.architecture.T,
                    defense=self.training.method,
                    source=self.paper.url if isinstance(self.paper, Paper) else "snnbench",
                    stochastic=self.stochastic, card_sha256=self.weights.sha256)

    def build(self, backend: Optional[str] = None) -> SpikingClassifier:
        """The untrained model the card describes (random weights)."""
        model = build_model(self.architecture, self.dataset, self.training.surrogate, backend)
        if model.stochastic != self.stochastic:
            raise RecordError(self.source, [
                f"field 'stochastic': the card says {self.stochastic} but the model it describes is "
                f"{'stochastic' if model.stochastic else 'deterministic'} at evaluation (noisy neurons with "
                f"noise_at_eval, or Poisson encoding, make it stochastic)"])
        return model

    @property
    def source(self) -> str:
        return str(self.path) if self.path is not None else f"card {self.name!r}"

    def bundled_weights(self) -> Optional[Path]:
        if self.weights.file is None:
            return None
        base = self.path.parent if self.path is not None else Path.cwd()
        return inside(base, self.weights.file, "weights file")

    def recipe_path(self) -> Optional[Path]:
        if self.training.recipe is None:
            return None
        base = self.path.parent if self.path is not None else Path.cwd()
        return inside(base, self.training.recipe, "recipe")


def model_problems(arch: ArchitectureConfig, dataset: str, surrogate: SurrogateConfig) -> Problems:
    """The model an architecture section describes, built without memory (on PyTorch's meta device): it must
    build, and within :data:`MAX_PARAMETERS`, before anything builds it for real (validation and training run
    it). A library's builder (:data:`snnbench.interop.BUILDERS`) is checked by :mod:`snnbench.interop`."""
    if arch.name not in ARCHITECTURES:
        return
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "initializing zero-element tensors": reported below
            model = build_model(arch, dataset, surrogate, backend="eager")
    except (ValueError, TypeError, RuntimeError) as err:
        yield "architecture", f"does not build: {' '.join(str(err).split())[:300]}"
        return
    empty = next((name for name, p in model.named_parameters() if p.numel() == 0), None)
    if empty is not None:
        yield "architecture", f"a size of 0 leaves a layer without weights ({empty}); sizes must be at least 1"
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_PARAMETERS:
        yield "architecture", (f"describes {count:,} parameters, more than the {MAX_PARAMETERS:,} a card may ask "
                               f"for (validation builds and runs it)")


def build_model(arch: ArchitectureConfig, dataset: str, surrogate: SurrogateConfig,
                backend: Optional[str] = None) -> SpikingClassifier:
    """The model an architecture section describes for ``dataset``, trained with ``surrogate``."""
    info = dataset_info(dataset)
    normalization = arch.normalization or Normalization(info.mean, info.std)
    extra = {} if backend is None else {"backend": backend}
    if arch.name in BUILDERS:
        if arch.encoding != "direct":
            raise RecordError(arch.name, [f"field 'encoding': {arch.name} takes the image at every step (direct)"])
        return build_library_model(arch.name, neuron_kind=arch.neuron.kind, neuron_params=arch.neuron.params,
                                   surrogate=Surrogate(surrogate.family, surrogate.alpha), T=arch.T,
                                   num_classes=info.num_classes, mean=normalization.mean, std=normalization.std,
                                   options=arch.options, **extra)
    neuron = NeuronSpec(arch.neuron.kind, arch.neuron.params, surrogate=surrogate.family, alpha=surrogate.alpha,
                        **extra)
    return create_model(arch.name, neuron=neuron, T=arch.T, in_channels=info.in_channels,
                        num_classes=info.num_classes, image_size=info.image_size, mean=normalization.mean,
                        std=normalization.std, encoding=arch.encoding, **arch.options)


def read_card(path: PathLike) -> ModelCard:
    """The card at ``<zoo>/<dataset>/<name>.yaml``, validated; :class:`RecordError` lists every problem."""
    if Path(path).suffix != ".yaml":  # the zoo lists <dataset>/*.yaml: a .yml card would validate, never be served
        raise RecordError(str(path), [f"a model card is a .yaml file (the zoo lists <zoo>/<dataset>/*.yaml), not "
                                      f"{Path(path).suffix or 'a file without suffix'}"])
    card = read_yaml_record(ModelCard, path, "model card")
    path = card.path
    problems = []
    if card.name != path.stem:
        problems.append(f"field 'name': {card.name!r} must equal the file name {path.stem!r}")
    if card.dataset != path.parent.name:
        problems.append(f"field 'dataset': {card.dataset!r} must equal the folder the card is in "
                        f"({path.parent.name!r}); cards live at <zoo>/<dataset>/<name>.yaml")
    if problems:
        raise RecordError(str(path), problems)
    return card


def card_yaml(card: ModelCard) -> str:
    """The card as YAML text that :func:`read_card` reads back to an equal card."""
    return yaml.safe_dump(record_to_dict(card), sort_keys=False, allow_unicode=True)
