"""The model zoo: find cards by name, list them, and :func:`load_model` a registered SNN.

The zoo is a folder of cards, ``<zoo>/<dataset>/<name>.yaml``. It is, in order: the ``zoo`` argument,
``$SNNBENCH_ZOO``, the ``model_zoo/`` folder of a source checkout (or editable install), or the copy
installed with the package.
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Optional, Union

import torch

from .cards import ModelCard, read_card
from .classifier import SpikingClassifier
from .datasets import PathLike
from .weights import Provenance, load_state_strict, locate_weights, read_weights, warn_if_unverified

_PACKAGE = Path(__file__).resolve().parent


class UnknownModelError(ValueError):
    """No card has this name."""


def zoo_root(zoo: Optional[PathLike] = None) -> Path:
    if zoo is not None:
        return Path(zoo).expanduser()
    if os.environ.get("SNNBENCH_ZOO"):
        return Path(os.environ["SNNBENCH_ZOO"]).expanduser()
    return repository_zoo()


def repository_zoo() -> Path:
    """The zoo of this snnbench: the checkout's ``model_zoo/`` or the one installed with the package. Only its
    cards make official results."""
    checkout = _PACKAGE.parent / "model_zoo"
    return checkout if checkout.is_dir() else _PACKAGE / "model_zoo"


def card_paths(zoo: Optional[PathLike] = None) -> dict[str, Path]:
    """Every card in the zoo by model name (the file name without ``.yaml``)."""
    found: dict[str, Path] = {}
    for path in sorted(zoo_root(zoo).glob("*/*.yaml")):
        if path.stem in found:
            raise ValueError(f"two cards are named {path.stem!r}: {found[path.stem]} and {path}; names are unique "
                             f"across datasets")
        found[path.stem] = path
    return found


def list_models(dataset: Optional[str] = None, *, zoo: Optional[PathLike] = None) -> list[str]:
    """The registered model names, sorted; only ``dataset``'s when given."""
    return sorted(name for name, path in card_paths(zoo).items() if dataset is None or path.parent.name == dataset)


def model_card(name: str, *, zoo: Optional[PathLike] = None) -> ModelCard:
    """The validated card of a registered model, by name."""
    paths = card_paths(zoo)
    if name not in paths:
        close = difflib.get_close_matches(name, list(paths), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(f"no model named {name!r} in {zoo_root(zoo)}{hint} "
                                f"(`snnbench models` lists all {len(paths)})")
    return read_card(paths[name])


def load_model(name: Union[str, ModelCard], *, device: Union[str, torch.device] = "cpu",
               checkpoint: Optional[PathLike] = None, revision: Optional[str] = None,
               cache_dir: Optional[PathLike] = None, backend: Optional[str] = None,
               zoo: Optional[PathLike] = None) -> SpikingClassifier:
    """A registered model in ``eval()`` mode with its weights verified and loaded strictly.

    Weights come from ``checkpoint`` (a local ``.safetensors`` file) if given, else the card's bundled file,
    else the Hugging Face hub at the card's pinned commit (or ``revision``), cached under ``cache_dir`` or
    the hub's default cache. The card's sha256 is checked before the weights are used; a ``checkpoint`` or
    another ``revision`` is the caller's choice, so its hash is recorded in ``model.provenance`` and a
    warning says when it is not the card's. ``backend`` picks the neuron kernels ("compiled", "eager",
    "reference"); the default is the fastest.
    """
    card = name if isinstance(name, ModelCard) else model_card(name, zoo=zoo)
    model = card.build(backend)
    file = locate_weights(card, checkpoint=checkpoint, revision=revision, cache_dir=cache_dir)
    state, digest = read_weights(file)
    load_state_strict(model, state, file.location)
    matches = warn_if_unverified(file, card, digest)
    model.provenance = Provenance(card.name, file.source, file.location, digest, matches, card.path)
    return model.to(device).eval()
