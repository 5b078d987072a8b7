"""Channels-last activations for the fast path of convolutional spiking layers.

Why: oneDNN's CPU convolutions run on NHWC data without the reorders the NCHW path needs around every
call; on the MNIST convnet's second convolution (1000 spike maps, 32 → 64 channels) forward plus input
gradient cost about a third less (``benchmarks/channels_last.py``). The neuron and pooling kernels take
tensors in whatever memory order they come (:class:`snnbench.compilation.KernelLayout`), so the layout is
set once, at each convolution, and carried through; values never depend on it.
"""
from __future__ import annotations

import torch
from torch import Tensor


def channels_last(x: Tensor) -> Tensor:
    """``x`` in NHWC memory order (a no-op when it already is, or when it is not 4-D)."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def dense(x: Tensor) -> tuple[Tensor, torch.memory_format]:
    """``x`` dense in memory, keeping NHWC when it is NHWC, and the memory format it is in."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return x, torch.channels_last
    return x.contiguous(), torch.contiguous_format
