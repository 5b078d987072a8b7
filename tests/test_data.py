import shutil
from pathlib import Path

import pytest
import torch

from snnbench import eval_subsets
from snnbench.datasets import DataMissingError, data_root, dataset_info, load_dataset
from snnbench.eval_subsets import SubsetIntegrityError, load_eval_subset, subset_bytes, subset_info

# The first ten labels of the MNIST test set, as published.
MNIST_TEST_FIRST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_bundled_mnist_subset_loads_without_a_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("SNNBENCH_DATA", str(tmp_path / "nothing-here"))
    images, labels = load_eval_subset("mnist-test-1000")
    assert images.shape == (1000, 1, 28, 28) and images.dtype == torch.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert labels.dtype == torch.int64 and labels[:10].tolist() == MNIST_TEST_FIRST_LABELS
    assert torch.bincount(labels, minlength=10).min() > 50  # all ten classes present
    info = subset_info("mnist-test-1000")
    assert (info.dataset, info.split, info.first) == ("mnist", "test", 1000) and len(info.sha256) == 64


def test_tampered_subset_is_refused(monkeypatch, tmp_path):
    bundled = tmp_path / "bundled"
    shutil.copytree(eval_subsets.BUNDLED, bundled)
    target = bundled / "mnist-test-1000.safetensors"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # one pixel changes
    target.write_bytes(bytes(data))
    monkeypatch.setattr(eval_subsets, "BUNDLED", bundled)
    monkeypatch.setattr(eval_subsets, "INDEX", bundled / "subsets.yaml")
    with pytest.raises(SubsetIntegrityError, match="mnist-test-1000.safetensors: sha256"):
        load_eval_subset("mnist-test-1000")


def test_unknown_subset_is_named():
    with pytest.raises(ValueError, match="unknown evaluation subset 'cifar10-test-1000'; bundled: mnist-test-1000"):
        load_eval_subset("cifar10-test-1000")


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("SNNBENCH_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("SNNBENCH_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root() == tmp_path / "cache" / "snnbench" / "data"


def test_missing_data_names_the_root(tmp_path):
    with pytest.raises(DataMissingError, match=f"MNIST \\(test\\) not found under data root {tmp_path}"):
        load_dataset("mnist", "test", root=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        load_dataset("svhn", "test", root=tmp_path)
    with pytest.raises(ValueError, match="split must be"):
        load_dataset("mnist", "val", root=tmp_path)


def test_dataset_table():
    assert dataset_info("cifar100").num_classes == 100 and dataset_info("cifar10").in_channels == 3
    assert dataset_info("mnist").image_size == 28


def test_mnist_through_torchvision_and_the_subset_rebuilds_identically(shared_data: Path):
    test = load_dataset("mnist", "test", root=shared_data)
    assert len(test) == 10_000
    image, label = test[0]
    assert image.shape == (1, 28, 28) and label == 7
    from safetensors.torch import load

    rebuilt = load(subset_bytes("mnist", "test", 1000, root=shared_data))
    images, labels = load_eval_subset("mnist-test-1000")
    assert torch.equal(rebuilt["labels"], labels)
    assert torch.equal(rebuilt["images"].float() / 255.0, images)
    torch.testing.assert_close(images[0], image)


def test_atomic_writes_replace_whole_files_with_ordinary_permissions(tmp_path):
    import os

    from snnbench.files import atomic_write_text

    target = tmp_path / "deep" / "result.json"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
