"""SEW-ResNet-19 for CIFAR-sized inputs, as evaluated in the ASSG paper (arXiv 2512.22522).

Stem: conv 3×3 (64) → BN → spike → AvgPool(3, 2, 1). Three stages of three basic blocks at 128, 256 and
512 channels (strides 1, 2, 2). A block is conv → BN → spike → conv → BN → spike, joined to its shortcut by
ADD (spike-element-wise addition, Fang et al. NeurIPS 2021); the first block of each stage changes width,
so its shortcut is conv 1×1 → BN → spike. Then global average pooling and a linear layer.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..layers import GlobalAveragePool, TimeDistributed
from ..neurons import NeuronSpec
from .registry import register_architecture
from .stages import residual_stages


def _conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int) -> TimeDistributed:
    return TimeDistributed(nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
                           nn.BatchNorm2d(out_ch))


class SEWBasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, neuron: NeuronSpec, T: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(_conv_bn(in_ch, out_ch, 3, stride), neuron.build(T),
                                      _conv_bn(out_ch, out_ch, 3, 1), neuron.build(T))
        needs_projection = stride != 1 or in_ch != out_ch
        self.shortcut = (nn.Sequential(_conv_bn(in_ch, out_ch, 1, stride), neuron.build(T))
                         if needs_projection else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return self.residual(x) + self.shortcut(x)


@register_architecture(datasets=("cifar10", "cifar100"))
def sew_resnet19(*, neuron: NeuronSpec, T: int, in_channels: int, num_classes: int, image_size: int,
                 widths: tuple[int, int, int] = (128, 256, 512), blocks: int = 3) -> nn.Module:
    layers: list[nn.Module] = [
        _conv_bn(in_channels, 64, 3, 1), neuron.build(T), TimeDistributed(nn.AvgPool2d(3, 2, 1)),
    ]
    layers += [SEWBasicBlock(i, o, stride, neuron, T) for i, o, stride in residual_stages(64, widths, blocks)]
    layers += [GlobalAveragePool(), TimeDistributed(nn.Linear(widths[-1], num_classes))]
    return nn.Sequential(*layers)
