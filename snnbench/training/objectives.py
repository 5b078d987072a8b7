"""The loss terms of the training recipes, each a small function of logits or of the model.

All take images in ``[0, 1]`` and the model's mean-over-time logits unless they say otherwise.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..classifier import SpikingClassifier


def tet_loss(step_logits: Tensor, y: Tensor) -> Tensor:
    """TET (Deng et al., ICLR 2022): the mean over time steps of the cross-entropy of each step's output."""
    T = step_logits.shape[0]
    return F.cross_entropy(step_logits.flatten(0, 1), y.repeat(T))


def trades_kl(clean_logits: Tensor, adv_logits: Tensor) -> Tensor:
    """``KL(f(x) ‖ f(x_adv))`` averaged over the batch, as TRADES (Zhang et al., ICML 2019) writes it."""
    return F.kl_div(F.log_softmax(adv_logits, dim=1), F.softmax(clean_logits, dim=1), reduction="batchmean")


def pairwise_confidence(logits: Tensor, y: Tensor, rival: Tensor) -> Tensor:
    """``p = e^{z_y} / (e^{z_y} + e^{z_j})`` for the true class ``y`` against class ``rival``."""
    return torch.sigmoid(logits.gather(1, y[:, None]) - logits.gather(1, rival[:, None])).squeeze(1)


def strongest_wrong_class(logits: Tensor, y: Tensor) -> Tensor:
    masked = logits.detach().clone()
    masked.scatter_(1, y[:, None], float("-inf"))
    return masked.argmax(1)


def sparsity_regulariser(model: SpikingClassifier, x: Tensor, y: Tensor, h: float,
                         noise_seed: Optional[int] = None) -> Tensor:
    """Liu et al. (ICML 2024): ``mean(d²)`` with ``d = (p(x + h·sign ∇ₓp) − p(x)) / h``.

    ``p`` is :func:`pairwise_confidence` against the strongest wrong class at ``x``; the direction
    ``sign ∇ₓp`` is a constant, both confidences carry gradients to the weights.

    A model with random streams (noisy neurons in training, a Poisson encoder) would draw other noise in the
    second pass, and ``d`` would gain ``(p_ξ₂(x) − p_ξ₁(x))/h``, a difference of noise that grows as ``h``
    shrinks. With ``noise_seed`` the model is reseeded with it before each pass, so both draw the same noise
    (common random numbers) and ``d`` is the finite difference of one function.
    """
    def forward(z: Tensor) -> Tensor:
        if noise_seed is not None:
            model.reseed(noise_seed)
        return model(z)

    x = x.detach().requires_grad_(True)
    logits = forward(x)
    rival = strongest_wrong_class(logits, y)
    p = pairwise_confidence(logits, y, rival)
    (grad,) = torch.autograd.grad(p.sum(), x, retain_graph=True)
    p_step = pairwise_confidence(forward((x + h * grad.sign()).detach()), y, rival)
    d = (p_step - p) / h
    return (d ** 2).mean()


def tgo_weight(epoch: int, epochs: int, lambda_max: float) -> float:
    """``λ(e) = λ_max·(1 − cos(πe/E))/2`` for the epoch ``e`` being trained, counted from 1 to ``E``."""
    if not 1 <= epoch <= epochs:
        raise ValueError(f"epoch must lie in [1, {epochs}], got {epoch}")
    return lambda_max * (1.0 - math.cos(math.pi * epoch / epochs)) / 2.0
