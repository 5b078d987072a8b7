"""RAT's weight constraints (Ding et al., NeurIPS 2022), applied after every optimiser step.

Every convolution and linear weight, reshaped to ``out × rest``, takes one step of the orthogonal
retraction ``W ← (1 + β)W − β·W·Wᵀ·W``. With ``W = UΣVᵀ`` this is ``σ ← σ + βσ(1 − σ²)`` for each singular
value, which moves every non-zero one toward 1 and so bounds each layer's Lipschitz constant: the rows
become orthonormal (``W·Wᵀ → I``) when ``out ≤ rest``, the columns (``WᵀW → I``) when ``out > rest``, as for
a first convolution with more channels than ``in × k × k``. Convex-combination weights go back onto the
probability simplex.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..layers import ConvexCombination


@torch.no_grad()
def retract(model: nn.Module, beta: float) -> None:
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            w = module.weight.view(module.weight.shape[0], -1)
            w.copy_((1.0 + beta) * w - beta * (w @ w.T @ w))
        elif isinstance(module, ConvexCombination):
            module.weight.copy_(project_to_simplex(module.weight))


def project_to_simplex(v: Tensor) -> Tensor:
    """The Euclidean projection of ``v`` onto ``{w : w ≥ 0, Σw = 1}`` (sort-based, Duchi et al. 2008)."""
    u, _ = torch.sort(v, descending=True)
    cumulative = u.cumsum(0) - 1.0
    index = torch.arange(1, len(v) + 1, device=v.device, dtype=v.dtype)
    rho = int((u - cumulative / index > 0).nonzero().max())
    theta = cumulative[rho] / (rho + 1)
    return (v - theta).clamp_min(0.0)
