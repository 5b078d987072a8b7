"""Tiny models registered in a temporary zoo: real cards and real weights, small enough to load in milliseconds."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Optional

import torch
import yaml
from safetensors.torch import save_file

from snnbench.cards import ModelCard
from snnbench.eval_subsets import first_test_images
from snnbench.files import sha256_file
from snnbench.records import parse_record
from snnbench.validation import clean_accuracy

N_CLAIM = 20
FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def card_data(name: str = "tiny-lif", **changes: Any) -> dict:
    """A complete card as plain data; ``changes`` replace top-level fields."""
    data = {
        "name": name,
        "dataset": "mnist",
        "benchmarks": ["mnist-linf"],
        "architecture": {"name": "convnet", "T": 2, "neuron": {"kind": "lif", "params": {"tau": 2.0}},
                         "options": {"channels": [4, 8]}},
        "training": {"method": "bptt", "surrogate": {"family": "atan", "alpha": 2.0}, "epochs": 1},
        "stochastic": False,
        "weights": {"sha256": "0" * 64, "file": f"{name}.safetensors"},
        "license": "MIT",
        "paper": {"title": "A tiny model for snnbench's tests", "authors": ["snnbench"], "venue": "tests",
                  "year": 2026, "url": "https://example.org/tiny"},
        "clean_accuracy": {"value": 0.0, "n_examples": N_CLAIM},
    }
    data.update(copy.deepcopy(changes))
    return data


def write_card(zoo: Path, data: dict) -> Path:
    path = zoo / data["dataset"] / f"{data['name']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def register_tiny_model(zoo: Path, name: str = "tiny-lif", *, seed: int = 0, hub: Optional[dict] = None,
                        bundle: bool = True, **changes: Any) -> tuple[Path, Path]:
    """Build a random tiny model, save its weights and a card whose sha256 and accuracy claim are true.

    Returns the card's path and the weights' path (beside the card; deleted from there when not ``bundle``).
    """
    data = card_data(name, **changes)
    card = parse_record(ModelCard, data, "tiny card")
    torch.manual_seed(seed)
    model = card.build(backend="eager").eval()
    weights = zoo / data["dataset"] / f"{name}.safetensors"
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), str(weights))
    images, labels = first_test_images(card.dataset, N_CLAIM)
    data["weights"] = {"sha256": sha256_file(weights)}
    if bundle:
        data["weights"]["file"] = weights.name
    if hub is not None:
        data["weights"]["hub"] = hub
    data["clean_accuracy"]["value"] = clean_accuracy(model, images, labels)
    path = write_card(zoo, data)
    if not bundle:
        moved = weights.with_name(weights.name + ".upload")
        weights.rename(moved)
        weights = moved
    return path, weights
