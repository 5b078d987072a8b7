"""Fused element-wise formulas: the compiled kernel equals the plain function, and falls back to it."""
from __future__ import annotations

import pytest
import torch

from snnbench.compilation import Fused, KernelLayout
from snnbench.gradient_modes import assg_sharpness, assg_update


def _tensors(shape):
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(shape, generator=gen) + 1.0
    return h, torch.rand(shape, generator=gen) + 0.5, torch.rand(shape, generator=gen)


@pytest.mark.parametrize("shape", [(4, 3, 5), (2, 7)])
def test_compiled_assg_statistics_equal_the_plain_formula(shape):
    h, M, D = _tensors(shape)
    fused = Fused(assg_update)
    for got, want in zip(fused(h, M, D, 1.0, 0.9, 0.8, 3.1, 1.5), assg_update(h, M, D, 1.0, 0.9, 0.8, 3.1, 1.5)):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    assert fused.unavailable is None
    torch.testing.assert_close(Fused(assg_sharpness)(M, D, 3.1, 1.5), assg_sharpness(M, D, 3.1, 1.5))


def test_falls_back_to_the_plain_function_with_one_warning(monkeypatch):
    fused = Fused(assg_sharpness)

    def broken(*args, **kwargs):
        raise OSError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", broken)
    _, M, D = _tensors((3, 4))
    with pytest.warns(RuntimeWarning, match="assg_sharpness runs eagerly"):
        out = fused(M, D, 2.0, 1.5)
    torch.testing.assert_close(out, assg_sharpness(M, D, 2.0, 1.5))
    assert fused.unavailable.startswith("OSError")


def _over_time(shape, expanded):
    gen = torch.Generator().manual_seed(1)
    grad = torch.randn(shape, generator=gen)
    h = torch.randn(shape[1:], generator=gen).unsqueeze(0).expand(shape) if expanded else torch.randn(shape, generator=gen)
    return grad, h + 0.8


@pytest.mark.parametrize("expanded", [False, True])  # True: the hoisted first layer's input repeats over time
@pytest.mark.parametrize("shape", [(4, 3, 2, 5, 5), (2, 7)])
def test_compiled_backward_passes_over_time_equal_the_plain_formulas(shape, expanded):
    from snnbench.gradient_modes import bptr_backward, hart_backward, rga_backward
    from snnbench.surrogates import Surrogate

    grad, h = _over_time(shape, expanded)
    cases = [(bptr_backward, (grad, h, 1.0)), (rga_backward, (grad, h, 0.5, 1.0, 0.5, 0.2, 2.0)),
             (hart_backward, (grad, h, Surrogate("atan", 3.0), 1.0, 0.5))]
    for fn, args in cases:
        fused = Fused(fn, layout="over_time")
        got, want = fused(*args), fn(*args)
        assert got.shape == want.shape and got.is_contiguous()
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)
        assert fused.unavailable is None


def test_kernel_layouts_read_tensors_in_the_memory_order_of_the_first():
    x = torch.randn(4, 3, 5, 6, 7, generator=torch.Generator().manual_seed(3))
    last = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)  # NHWC per time step
    for kind in ("over_time", "elementwise"):
        layout = KernelLayout.of(last, kind)
        flat = layout.view(last)
        assert flat.data_ptr() == last.data_ptr() and flat.is_contiguous()  # flattened without a copy
        assert layout.restore(flat).stride() == last.stride() and torch.equal(layout.restore(flat), last)
        torch.testing.assert_close(layout.view(x), flat, rtol=0, atol=0)  # another order is copied into this one
    assert KernelLayout.of(last, "over_time").view(last).shape == (4, 3 * 5 * 6 * 7)
    with pytest.raises(ValueError, match="kind must be one of"):
        KernelLayout.of(x, "rows")


def test_fused_kernels_on_mixed_memory_orders_equal_the_plain_formula():
    from snnbench.gradient_modes import hart_backward
    from snnbench.surrogates import Surrogate

    grad, h = _over_time((4, 3, 2, 5, 5), expanded=False)
    last = grad.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    args = (Surrogate("atan", 3.0), 1.0, 0.5)
    got = Fused(hart_backward, layout="over_time")(last, h, *args)
    torch.testing.assert_close(got, hart_backward(grad, h, *args), rtol=1e-6, atol=1e-7)
    assert got.stride() == last.stride()
    M, D = torch.rand_like(h) + 0.5, torch.rand_like(h)
    for got, want in zip(Fused(assg_update)(last, M, D, 1.0, 0.9, 0.8, 3.1, 1.5),
                         assg_update(grad, M, D, 1.0, 0.9, 0.8, 3.1, 1.5)):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_a_kernel_never_runs_with_the_constants_of_another_call():
    # The sequence that once ran IF's RGA backward with a LIF leak: float guards lost across recompiles.
    from snnbench.gradient_modes import rga_backward

    fused = Fused(rga_backward, layout="over_time")
    lif = (0.5, 1.0, 0.5, 0.2, 2.0)  # leak, threshold, gain, gamma, beta
    for shape in [(4, 3, 2, 5, 5), (2, 7)]:
        for expanded in (False, True):
            fused(*_over_time(shape, expanded), *lif)
    grad = torch.ones(2, 1, 4)
    x = torch.tensor([[-0.5, 0.4, 1.0, 3.0], [-0.1, 0.8, 2.6, 3.0]]).view(2, 1, 4)
    for constants in [(1.0, 1.0, 1.0, 0.2, 2.0), lif, (0.75, 1.0, 1.0, 0.3, 1.5)]:
        torch.testing.assert_close(fused(grad, x, *constants), rga_backward(grad, x, *constants))


@pytest.mark.parametrize("pool", [torch.nn.AvgPool2d(2), torch.nn.AvgPool2d(3, 2, 1)], ids=["2x2", "3s2p1"])
def test_compiled_average_pooling_equals_the_module_forward_and_backward(pool):
    from snnbench.pooling import compiled_avg_pool

    x = (torch.rand(6, 3, 8, 10, generator=torch.Generator().manual_seed(2)) > 0.7).float()
    w = torch.randn_like(pool(x))
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    fast, plain = compiled_avg_pool(pool, xa), pool(xb)
    torch.testing.assert_close(fast, plain)
    (fast * w).sum().backward()
    (plain * w).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad)
