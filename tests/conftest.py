"""Shared fixtures: deterministic CPU runs and the optional shared MNIST folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` (byte-exact MNIST) when this checkout sits beside it; otherwise the test skips."""
    root = Path(os.environ.get("SNNBENCH_SHARED_DATA", SHARED_DATA))
    if not (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists():
        pytest.skip(f"MNIST not found under {root} (only present beside the development checkout)")
    return root


@pytest.fixture
def shared_cifar10() -> Path:
    """``../shared/data/cifar10`` (the byte-exact first 1017 test images and a JPEG copy); else the test skips."""
    root = Path(os.environ.get("SNNBENCH_SHARED_DATA", SHARED_DATA)) / "cifar10"
    if not (root / "test-first-1017.npz").exists():
        pytest.skip(f"CIFAR-10 test prefix not found under {root} (only present beside the development checkout)")
    return root
