"""Building blocks that connect stateless layers to the time-major ``[T, B, ...]`` layout."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .memory_format import channels_last
from .pooling import compiled_avg_pool


class TimeDistributed(nn.Sequential):
    """Runs stateless layers (conv, BN, pooling, linear) on ``[T·B, ...]`` and restores ``[T, B, ...]``.

    Batch normalisation therefore pools its statistics over time and batch, as in SpikingJelly's
    ``SeqToANNContainer``. Three fast paths compute the same function for less (attacks run the model
    thousands of times in eval mode): a convolution followed by a batch norm that uses its running
    statistics is run as one convolution with the normalisation folded into its weights, one pass over the
    activations fewer forward and backward; convolutions take and give channels-last activations
    (:mod:`snnbench.memory_format`); and average pooling runs as compiled kernels (:mod:`snnbench.pooling`).
    """

    # False runs every layer in turn (the plain reference the fast paths are tested against).
    fast_paths: bool = True

    def forward(self, x: Tensor) -> Tensor:
        T, B = x.shape[:2]
        y = self.images(x.flatten(0, 1))
        return y.reshape(T, B, *y.shape[1:])

    def images(self, x: Tensor) -> Tensor:
        """The layers on a batch of images ``[N, ...]``, through the fast paths."""
        if not self.fast_paths:
            return super().forward(x)
        layers = list(self)
        index = 0
        while index < len(layers):
            layer = layers[index]
            following = layers[index + 1] if index + 1 < len(layers) else None
            if isinstance(layer, nn.Conv2d):
                folds = _folds_into_conv(following)
                x = channels_last(x)
                x = channels_last(conv_with_folded_norm(layer, following, x) if folds else layer(x))
                index += 2 if folds else 1
            elif isinstance(layer, nn.AvgPool2d):
                x = compiled_avg_pool(layer, x)
                index += 1
            else:
                x = layer(x)
                index += 1
        return x

    @property
    def per_image(self) -> bool:
        """True when each output image depends on its input image alone: no batch norm is taking batch
        statistics (in training, batch norm pools over time and batch, so repeated inputs count T times)."""
        return not any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in self)


def _folds_into_conv(layer: Optional[nn.Module]) -> bool:
    return (isinstance(layer, nn.BatchNorm2d) and not layer.training and layer.track_running_stats
            and layer.running_mean is not None and layer.affine)


def conv_with_folded_norm(conv: nn.Conv2d, norm: nn.BatchNorm2d, x: Tensor) -> Tensor:
    """``norm(conv(x))`` for a batch norm on running statistics, as a single convolution.

    Differentiable in every parameter: the folded weights are computed from them on each call.
    """
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    weight = conv.weight * scale.view(-1, *([1] * (conv.weight.dim() - 1)))
    shift = -norm.running_mean if conv.bias is None else conv.bias - norm.running_mean
    bias = norm.bias + shift * scale
    return conv._conv_forward(x, weight, bias)


class Flatten(nn.Module):
    """``[T, B, ...] → [T, B, features]``."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2)


class SequenceDropout(nn.Module):
    """Dropout with one mask for the whole sequence ``[T, B, ...]``, the identity in ``eval()``.

    SpikingJelly's multi-step ``Dropout`` (``channel_wise=False``) and ``Dropout2d`` (``True``): the mask is
    ``F.dropout`` (or ``F.dropout2d``) of ones shaped like one step, ``[B, ...]``, drawn as SpikingJelly draws it,
    and multiplies every step. SpikingJelly keeps its mask until ``reset_net``; this layer draws it at every call,
    which is where every call of an snnbench model starts its neurons from fresh state too.
    """

    def __init__(self, p: float = 0.5, channel_wise: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability p must lie in [0, 1), got {p}")
        self.p, self.channel_wise = float(p), bool(channel_wise)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        drop = torch.nn.functional.dropout2d if self.channel_wise else torch.nn.functional.dropout
        return x * drop(torch.ones_like(x[0]), self.p, training=True)

    def extra_repr(self) -> str:
        return f"p={self.p}, channel_wise={self.channel_wise}"


class GlobalAveragePool(nn.Module):
    """``[T, B, C, H, W] → [T, B, C]``."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(3, 4))


class ConvexCombination(nn.Module):
    """``w₀·a + w₁·b`` with learnable weights on the simplex (initially ½, ½).

    Merges a residual branch with its shortcut in WRN blocks (the RAT line of work). RAT recipes project the
    weights back onto the simplex after every step (:func:`snnbench.training.retraction.retract`), so there
    they stay a convex combination; other methods train them as two free branch weights (weight decay, if any,
    applies to them too).
    """

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((2,), 0.5))

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.weight[0] * a + self.weight[1] * b
