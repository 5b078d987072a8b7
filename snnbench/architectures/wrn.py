"""Wide ResNet-16-4 with pre-activation blocks, as in the RAT line of robust-SNN work (Ding et al. 2022).

Stem conv 3×3 (16 channels, no BN or spike after it); three stages of two blocks at 64, 128 and 256
channels (strides 1, 2, 2); a final BN → spike → global average pool → linear. A block pre-activates its
input ``a = spike(BN(x))`` and computes ``r = conv(spike(BN(conv(a))))``; its shortcut is ``x`` itself, or
``conv1×1(a)`` when the width or stride changes. The two are merged by a learnable convex combination.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..layers import GlobalAveragePool, ConvexCombination, TimeDistributed
from ..neurons import NeuronSpec
from .registry import register_architecture
from .stages import residual_stages


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False)


class PreActBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, neuron: NeuronSpec, T: int) -> None:
        super().__init__()
        self.preact = nn.Sequential(TimeDistributed(nn.BatchNorm2d(in_ch)), neuron.build(T))
        self.residual = nn.Sequential(
            TimeDistributed(_conv(in_ch, out_ch, 3, stride), nn.BatchNorm2d(out_ch)), neuron.build(T),
            TimeDistributed(_conv(out_ch, out_ch, 3, 1)),
        )
        self.projection = (TimeDistributed(_conv(in_ch, out_ch, 1, stride))
                           if (stride != 1 or in_ch != out_ch) else None)
        self.merge = ConvexCombination()

    def forward(self, x: Tensor) -> Tensor:
        a = self.preact(x)
        shortcut = x if self.projection is None else self.projection(a)
        return self.merge(shortcut, self.residual(a))


@register_architecture(datasets=("cifar10", "cifar100"))
def wrn16(*, neuron: NeuronSpec, T: int, in_channels: int, num_classes: int, image_size: int,
          widen_factor: int = 4) -> nn.Module:
    widths = (16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
    blocks_per_stage = (16 - 4) // 6  # depth 16 = stem + 3 stages × 2 blocks × 2 convs + head
    layers: list[nn.Module] = [TimeDistributed(_conv(in_channels, 16, 3, 1))]
    layers += [PreActBlock(i, o, stride, neuron, T) for i, o, stride in residual_stages(16, widths, blocks_per_stage)]
    layers += [TimeDistributed(nn.BatchNorm2d(widths[-1])), neuron.build(T), GlobalAveragePool(),
               TimeDistributed(nn.Linear(widths[-1], num_classes))]
    return nn.Sequential(*layers)
