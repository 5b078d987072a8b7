"""Adversarial examples for training: the last iterate of sign-gradient ascent in the L∞ ball.

Unlike the evaluation attacks (which keep the first point that fools each sample), training wants the
point of highest loss the inner loop reaches. The model is put in ``eval()`` mode while the examples are
made (frozen batch-norm statistics, no training noise) and returned to the mode it was in.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..attacks.core import project, random_start
from ..classifier import SpikingClassifier
from .recipe import AdversaryConfig

Objective = Callable[[Tensor], Tensor]  # logits → a scalar to maximise


def ascend(model: SpikingClassifier, x: Tensor, objective: Objective, config: AdversaryConfig, start: Tensor) -> Tensor:
    """``config.steps`` steps of ``x' ← Π(x' + step_size·sign ∇ objective(model(x')))`` from ``start``."""
    was_training = model.training
    model.eval()
    try:
        x_adv = start.detach()
        for _ in range(config.steps):
            x_adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(objective(model(x_adv)), x_adv)
            x_adv = project(x_adv.detach() + config.step_size * grad.sign(), x, config.epsilon)
    finally:
        model.train(was_training)
    return x_adv.detach()


def uniform_start(x: Tensor, config: AdversaryConfig, generator: torch.Generator) -> Tensor:
    """Madry et al.'s start: uniform in the ε-ball (or ``x`` itself without ``random_start``)."""
    return random_start(x, config.epsilon, generator) if config.random_start else x


def gaussian_start(x: Tensor, config: AdversaryConfig, generator: torch.Generator) -> Tensor:
    """TRADES' start: ``x + 0.001·N(0, 1)`` (or ``x`` itself without ``random_start``)."""
    if not config.random_start:
        return x
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return project(x + 0.001 * noise, x, config.epsilon)
