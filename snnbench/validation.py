"""``snnbench validate``: the checks a submitted model card must pass before it joins the zoo.

In order, each needing the one before: the card fits the schema; its recipe file exists if it names one;
the weights resolve and match their sha256; the model builds and the weights load strictly; the model
contract holds (images ``[B, C, H, W]`` in ``[0, 1]`` → finite logits ``[B, K]``, the same input gives the
same logits unless the card says stochastic, input gradients in ``eval()`` mode are non-zero); and the
clean accuracy recomputed on the claim's images equals the claim (within 0.1 point, or 1 point for a
stochastic model). Every problem found is reported, not only the first.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .cards import ModelCard, read_card
from .classifier import SpikingClassifier
from .datasets import PathLike
from .eval_subsets import first_test_images
from .protocol import load_protocol
from .records import RecordError
from .weights import WeightsError
from .zoo import load_model

# How far a recomputed clean accuracy may be from the card's claim, in percentage points: one image in a
# thousand for a deterministic model; draws of noise move a stochastic model's accuracy further.
TOLERANCE = {False: 0.1, True: 1.0}
CONTRACT_BATCH = 8
ACCURACY_SEED = 0


@dataclass
class ValidationReport:
    card: str
    problems: list[str] = field(default_factory=list)
    name: Optional[str] = None
    clean_accuracy: Optional[float] = None  # percent, recomputed
    claimed_accuracy: Optional[float] = None
    n_examples: Optional[int] = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_card(path: PathLike, *, data_root: Optional[PathLike] = None, download: bool = False,
                  backend: Optional[str] = None, cache_dir: Optional[PathLike] = None) -> ValidationReport:
    """Run every check on the card at ``path``; the report lists every problem found.

    Test images not bundled with the package are read from ``data_root`` (downloaded when ``download``).
    """
    start = time.perf_counter()
    report = ValidationReport(card=str(path))
    try:
        _run_checks(Path(path), report, data_root=data_root, download=download, backend=backend,
                    cache_dir=cache_dir)
    finally:
        report.seconds = time.perf_counter() - start
    return report


def _run_checks(path: Path, report: ValidationReport, *, data_root: Optional[PathLike], download: bool,
                backend: Optional[str], cache_dir: Optional[PathLike]) -> None:
    try:
        card = read_card(path)
    except RecordError as err:
        report.problems.extend(err.problems)
        return
    except FileNotFoundError as err:
        report.problems.append(str(err))
        return
    report.name, report.claimed_accuracy = card.name, card.clean_accuracy.value
    report.problems.extend(benchmark_problems(card))
    recipe = card.recipe_path()
    if recipe is not None and not recipe.is_file():
        report.problems.append(f"field 'training.recipe': {recipe} does not exist")
    try:
        model = load_model(card, backend=backend, cache_dir=cache_dir)
    except (RecordError, WeightsError, ValueError) as err:
        report.problems.append(str(err))
        return
    try:
        images, labels = first_test_images(card.dataset, card.clean_accuracy.n_examples, root=data_root,
                                           download=download)
    except (FileNotFoundError, ValueError) as err:
        report.problems.append(f"cannot read the evaluation images to check the model: {err}")
        return
    try:
        report.problems.extend(contract_problems(model, card, images[:CONTRACT_BATCH], labels[:CONTRACT_BATCH]))
        accuracy = clean_accuracy(model, images, labels)
    except Exception as err:  # the model's own code (a library's builder) failed on real images: this card's problem
        report.problems.append(f"the model ({card.architecture.name}) fails on {card.dataset} test images: "
                               f"{type(err).__name__}: {str(err) or '(no message)'}")
        return
    report.clean_accuracy, report.n_examples = accuracy, len(labels)
    tolerance = TOLERANCE[card.stochastic]
    if abs(accuracy - card.clean_accuracy.value) > tolerance + 1e-9:
        report.problems.append(
            f"field 'clean_accuracy.value': the card claims {card.clean_accuracy.value:.2f}% but the model scores "
            f"{accuracy:.2f}% on the first {len(labels)} {card.dataset} test images (tolerance {tolerance} points)")


def benchmark_problems(card: ModelCard) -> Iterator[str]:
    """The card's benchmarks must exist in the protocol in force and be on the card's dataset."""
    protocol = load_protocol()
    for name in card.benchmarks:
        if name not in protocol.benchmarks:
            yield (f"field 'benchmarks': the protocol has no benchmark {name!r}; it has "
                   f"{', '.join(protocol.benchmarks)}")
        elif protocol.benchmarks[name].dataset != card.dataset:
            yield f"field 'benchmarks': {name} is a {protocol.benchmarks[name].dataset} benchmark, not {card.dataset}"


def contract_problems(model: SpikingClassifier, card: ModelCard, images: Tensor, labels: Tensor) -> Iterator[str]:
    """Departures from the model contract on a small batch of real images."""
    model.eval()
    with torch.no_grad():
        logits = model(images)
        again = model(images)
    expected = (len(images), model.num_classes)
    if tuple(logits.shape) != expected:
        yield f"the model returns logits of shape {tuple(logits.shape)} for {len(images)} images; expected {expected}"
        return
    if not torch.isfinite(logits).all():
        yield "the model returns non-finite logits on clean test images"
    if not card.stochastic and not torch.equal(logits, again):
        yield ("the same input gave different logits twice although the card says the model is deterministic "
               "(field 'stochastic')")
    x = images.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), labels), x)
    if not torch.isfinite(grad).all():
        yield "input gradients in eval() mode are not finite"
    elif not grad.abs().sum() > 0:
        yield ("input gradients in eval() mode are exactly zero on clean test images: attacks cannot use them; "
               "check that no layer detaches the input or drops surrogate gradients in eval()")


def clean_accuracy(model: SpikingClassifier, images: Tensor, labels: Tensor, batch_size: int = 250) -> float:
    """Accuracy in percent; a stochastic model draws its noise from a fixed seed, so the figure repeats."""
    model.eval()
    model.reseed(ACCURACY_SEED)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            batch = images[start:start + batch_size]
            correct += int((model(batch).argmax(1) == labels[start:start + batch_size]).sum())
    return 100.0 * correct / len(labels)
