"""Membrane potentials as data: record them during a forward pass, and measure how close they sit to threshold.

Neurons whose pre-reset potential ``H`` lies within ``δ`` of the threshold flip under the smallest
perturbation; TGO (Wang et al., ICLR 2026) trains them away from it with the hinge
``max(0, δ − |H − θ|)``, and reports how many fewer such neurons a trained model has.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor, nn

from .neurons import spiking_layers


@dataclass(frozen=True)
class Potentials:
    """One spiking layer's pre-reset potentials ``H`` ``[T, B, ...]`` in one forward pass, and its threshold."""

    layer: int
    h: Tensor
    threshold: float


@contextmanager
def recorded_potentials(model: nn.Module) -> Iterator[list[Potentials]]:
    """Collect every spiking layer's ``H`` (differentiable, not detached) during the block's forward passes."""
    layers = spiking_layers(model)
    if not layers:
        raise ValueError("the model has no spiking layers whose potentials could be recorded")
    records: list[Potentials] = []
    for index, layer in enumerate(layers):
        layer.potential_observer = _observer(records, index)
    try:
        yield records
    finally:
        for layer in layers:
            layer.potential_observer = None


def _observer(records: list[Potentials], index: int):
    def observe(h: Tensor, threshold: float) -> None:
        records.append(Potentials(index, h, threshold))
    return observe


def membrane_constraint(records: list[Potentials], delta: float) -> Tensor:
    """TGO's constraint: per layer the mean over time, batch and neurons of ``max(0, δ − |H − θ|)``, summed."""
    if not records:
        raise ValueError("no potentials were recorded; run the forward pass inside recorded_potentials()")
    return sum(torch.relu(delta - (r.h - r.threshold).abs()).mean() for r in records)


def near_threshold_counts(records: list[Potentials], delta: float) -> tuple[int, int]:
    """How many recorded potentials lie strictly within ``δ`` of their threshold, out of how many."""
    near = sum(int(((r.h - r.threshold).abs() < delta).sum()) for r in records)
    return near, sum(r.h.numel() for r in records)
