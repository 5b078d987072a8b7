"""Average pooling of spike maps, forward and backward each as one compiled kernel.

Why: spiking convnets pool every spike map, ``T·B`` images at a time, and ATen's CPU average pooling and
its backward (which zero-fills the whole input gradient before accumulating into it) cost more than the
convolution they sit beside. Compiled, each is one pass over memory; ``benchmarks/model_speed.py``
measures the model with and without. The plain functions below are what the kernels compile, what runs
where compilation cannot, and what the tests compare the kernels with.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .compilation import Fused
from .memory_format import dense

PoolArgs = tuple  # (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
             ceil_mode: bool, count_include_pad: bool, divisor: object) -> Tensor:
    return F.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor)


def avg_pool_backward(grad: Tensor, x: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                      padding: tuple[int, int], ceil_mode: bool, count_include_pad: bool, divisor: object) -> Tensor:
    """``∂L/∂x`` of :func:`avg_pool` (``x`` gives only the shape)."""
    return torch.ops.aten.avg_pool2d_backward(grad, x, kernel, stride, padding, ceil_mode, count_include_pad,
                                              divisor)


AVG_POOL = Fused(avg_pool, layout="batch")
AVG_POOL_BACKWARD = Fused(avg_pool_backward, layout="batch")


def pool_args(pool: nn.AvgPool2d) -> PoolArgs:
    pair = nn.modules.utils._pair
    return (pair(pool.kernel_size), pair(pool.stride if pool.stride is not None else pool.kernel_size),
            pair(pool.padding), pool.ceil_mode, pool.count_include_pad, pool.divisor_override)


class _CompiledAvgPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, args: PoolArgs) -> Tensor:
        x, ctx.memory_format = dense(x.detach())
        ctx.save_for_backward(x)
        ctx.args = args
        return AVG_POOL(x, *args)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        # The gradient in the input's memory order: one compiled kernel per order, not per combination.
        grad = grad.contiguous(memory_format=ctx.memory_format)
        return AVG_POOL_BACKWARD(grad, x, *ctx.args), None


def compiled_avg_pool(pool: nn.AvgPool2d, x: Tensor) -> Tensor:
    """``pool(x)`` for a 4-D ``x``, through the compiled kernels."""
    if x.dim() != 4:
        return pool(x)
    return _CompiledAvgPool.apply(x, pool_args(pool))
