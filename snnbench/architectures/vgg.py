"""SNN VGG-11 as used by the RAT, SR and TGO line of robust-SNN work.

Conv stages ``[w, A], [2w, 4w, A], [8w, 8w, 8w, A], [8w, 8w]`` with ``w = width`` (64 in the literature:
``[64, A], [128, 256, A], [512, 512, 512, A], [512, 512]``; 3×3 convs with bias, each followed by BN and a
spiking layer; ``A`` is 2×2 average pooling), then a three-layer head
``Linear(8w·s², hidden) → spike → Linear(hidden, hidden) → spike → Linear(hidden, K)`` where ``s`` is the
spatial size after three poolings (4 for 32×32 inputs). ``hidden=0`` drops the two hidden layers and reads
out with one ``Linear(8w·s², K)``: at small widths the hidden layers receive too little current to fire
at initialisation (measured: no spike in either on CIFAR-10 at ``width=16``, ``hidden=256``) and training
stalls. A convolution costs ``∝ w²``: ``width=16`` is a
sixteenth of the literature's multiply-adds, sized for training on a CPU.
"""
from __future__ import annotations

from torch import nn

from ..layers import Flatten, TimeDistributed
from ..neurons import NeuronSpec
from .registry import register_architecture

VGG11_STAGES: tuple[tuple[int, ...], ...] = ((1,), (2, 4), (8, 8, 8), (8, 8))  # multiples of `width`
POOLED_STAGES = 3  # the last stage is not followed by pooling


@register_architecture(datasets=("cifar10", "cifar100"))
def vgg11(*, neuron: NeuronSpec, T: int, in_channels: int, num_classes: int, image_size: int,
          width: int = 64, hidden: int = 4096) -> nn.Module:
    if width < 1 or hidden < 0:
        raise ValueError(f"vgg11 needs width >= 1 and hidden >= 0, got width={width}, hidden={hidden}")
    size = image_size // 2 ** POOLED_STAGES
    if size < 1:
        raise ValueError(f"vgg11 pools three times; image_size {image_size} is too small")
    layers: list[nn.Module] = []
    channels = in_channels
    for stage_index, stage in enumerate(VGG11_STAGES):
        for multiple in stage:
            out = multiple * width
            layers += [TimeDistributed(nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out)),
                       neuron.build(T)]
            channels = out
        if stage_index < POOLED_STAGES:
            layers.append(TimeDistributed(nn.AvgPool2d(2)))
    layers.append(Flatten())
    features = channels * size * size
    if hidden:
        layers += [TimeDistributed(nn.Linear(features, hidden)), neuron.build(T),
                   TimeDistributed(nn.Linear(hidden, hidden)), neuron.build(T)]
        features = hidden
    layers.append(TimeDistributed(nn.Linear(features, num_classes)))
    return nn.Sequential(*layers)
