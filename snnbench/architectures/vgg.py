"""SNN VGG-11 as used by the RAT, SR and TGO line of robust-SNN work.

Conv stages ``[64, A], [128, 256, A], [512, 512, 512, A], [512, 512]`` (3×3 convs with bias, each followed
by BN and a spiking layer; ``A`` is 2×2 average pooling), then a three-layer head
``Linear(512·s², hidden) → spike → Linear(hidden, hidden) → spike → Linear(hidden, K)`` where ``s`` is the
spatial size after three poolings (4 for 32×32 inputs).
"""
from __future__ import annotations

from torch import nn

from ..layers import Flatten, TimeDistributed
from ..neurons import NeuronSpec

VGG11_STAGES: tuple[tuple[int, ...], ...] = ((64,), (128, 256), (512, 512, 512), (512, 512))
POOLED_STAGES = 3  # the last stage is not followed by pooling


def vgg11(*, neuron: NeuronSpec, T: int, in_channels: int, num_classes: int, image_size: int,
          hidden: int = 4096) -> nn.Module:
    size = image_size // 2 ** POOLED_STAGES
    if size < 1:
        raise ValueError(f"vgg11 pools three times; image_size {image_size} is too small")
    layers: list[nn.Module] = []
    channels = in_channels
    for stage_index, stage in enumerate(VGG11_STAGES):
        for width in stage:
            layers += [TimeDistributed(nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width)),
                       neuron.build(T)]
            channels = width
        if stage_index < POOLED_STAGES:
            layers.append(TimeDistributed(nn.AvgPool2d(2)))
    layers += [
        Flatten(),
        TimeDistributed(nn.Linear(channels * size * size, hidden)), neuron.build(T),
        TimeDistributed(nn.Linear(hidden, hidden)), neuron.build(T),
        TimeDistributed(nn.Linear(hidden, num_classes)),
    ]
    return nn.Sequential(*layers)
