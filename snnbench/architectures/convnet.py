"""A small convolutional SNN for MNIST-sized inputs that trains in minutes on a CPU."""
from __future__ import annotations

from torch import nn

from ..layers import Flatten, TimeDistributed
from ..neurons import NeuronSpec
from .registry import register_architecture


@register_architecture(datasets=("mnist", "fashion_mnist"))
def convnet(*, neuron: NeuronSpec, T: int, in_channels: int, num_classes: int, image_size: int,
            channels: tuple[int, int] = (32, 64)) -> nn.Module:
    """conv 3×3 → BN → spike → avg-pool 2 → conv 3×3 → BN → spike → avg-pool 2 → linear."""
    c1, c2 = channels
    if image_size % 4:
        raise ValueError(f"convnet halves the image twice; image_size must be a multiple of 4, got {image_size}")
    features = c2 * (image_size // 4) ** 2
    return nn.Sequential(
        TimeDistributed(nn.Conv2d(in_channels, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1)),
        neuron.build(T),
        TimeDistributed(nn.AvgPool2d(2), nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2)),
        neuron.build(T),
        TimeDistributed(nn.AvgPool2d(2)),
        Flatten(),
        TimeDistributed(nn.Linear(features, num_classes)),
    )
