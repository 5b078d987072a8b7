"""The counter-based Gaussian stream of noisy neurons: its compiled kernel equals the plain definition,
draws are reproducible and independent, and the numbers are standard normal."""
import math

import pytest
import torch
from scipy import stats

from snnbench.randomness import (COUNTER_NORMAL, CounterStream, _mix64_tensor, _signed, counter_normal, mix64)


def _key(seed: int = 0, draw: int = 0) -> torch.Tensor:
    return torch.tensor(CounterStream(seed).key(draw), dtype=torch.int64)


def test_tensor_mix_equals_the_integer_definition():
    # Catches an arithmetic instead of logical shift, or a multiplier that lost its top bit.
    values = [0, 1, 2**63 - 1, 2**63, 2**64 - 1, 0x9E3779B97F4A7C15, 123456789]
    got = _mix64_tensor(torch.tensor([_signed(v) for v in values], dtype=torch.int64)).tolist()
    assert got == [_signed(mix64(v)) for v in values]


def test_the_generator_keeps_its_values():
    # Results of stochastic models depend on these numbers: a change to the generator must be deliberate.
    assert CounterStream(0).key(0) == -2152535657050944081
    torch.testing.assert_close(counter_normal(torch.empty(4), _key()),
                               torch.tensor([0.36824709, 0.83356881, -0.67856109, -0.87455159]))


def test_compiled_kernel_equals_the_plain_definition():
    flat, key = torch.empty(10_007), _key(7, 3)  # an odd size exercises the kernel's tail
    got = COUNTER_NORMAL(flat, key, 0.3)
    assert COUNTER_NORMAL.unavailable is None
    torch.testing.assert_close(got, counter_normal(flat, key, 0.3), rtol=1e-5, atol=1e-6)
    # A new key is a new value, not a recompilation that could go stale.
    torch.testing.assert_close(COUNTER_NORMAL(flat, _key(7, 4), 0.3), counter_normal(flat, _key(7, 4), 0.3),
                               rtol=1e-5, atol=1e-6)


def test_draws_are_reproducible_and_independent():
    x = torch.zeros(4, 64, 100)
    stream = CounterStream(11)
    first, second = stream.normal_like(x), stream.normal_like(x)
    assert stream.draws == 2
    stream.reseed(11)
    assert torch.equal(stream.normal_like(x), first)
    assert torch.equal(stream.normal_like(x), second)
    other = CounterStream(12).normal_like(x)
    n = x.numel()
    for a, b in [(first, second), (first, other)]:
        correlation = torch.corrcoef(torch.stack([a.view(-1), b.view(-1)]))[0, 1]
        assert abs(correlation) < 6 / math.sqrt(n)
    # Neighbouring positions are independent too.
    flat = first.view(-1)
    assert abs(torch.corrcoef(torch.stack([flat[:-1], flat[1:]]))[0, 1]) < 6 / math.sqrt(n)


def test_noise_takes_the_shape_and_dtype_of_its_input_whatever_its_memory_format():
    x = torch.zeros(2 * 3, 5, 4, 4).contiguous(memory_format=torch.channels_last).view(2, 3, 5, 4, 4)
    noise = CounterStream(2).normal_like(x.double(), std=0.5)
    assert noise.shape == x.shape and noise.dtype == torch.float64
    expected = counter_normal(torch.empty(x.numel()), _key(2, 0), 0.5).double().view(x.shape)
    torch.testing.assert_close(noise, expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(CounterStream(2).normal_like(x.contiguous().double(), std=0.5), noise)


@pytest.mark.parametrize("draw", [0, 1])
def test_the_numbers_are_standard_normal(draw):
    n = 1 << 20
    z = COUNTER_NORMAL(torch.empty(n), _key(5, draw)).double()
    assert abs(z.mean().item()) < 5 / math.sqrt(n)
    assert abs(z.var().item() - 1.0) < 5 * math.sqrt(2 / n)
    ks = stats.kstest(z.numpy(), "norm")
    assert ks.pvalue > 1e-3, ks
    # The tails (the only part Box–Muller's 24-bit inputs could bend): P(|z| > 3) = 0.0027.
    beyond = (z.abs() > 3).double().mean().item()
    assert abs(beyond - 0.0026998) < 5 * math.sqrt(0.0027 / n)
    assert z.abs().max().item() <= math.sqrt(48 * math.log(2)) + 1e-5
