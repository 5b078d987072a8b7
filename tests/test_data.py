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
    with pytest.raises(ValueError, match="unknown evaluation subset 'cifar100-test-1000'; bundled: "
                                         "cifar10-test-1000, mnist-test-1000"):
        load_eval_subset("cifar100-test-1000")


# Published facts of the official CIFAR-10 test set: its first ten labels (cat, ship, ship, airplane, frog, frog,
# automobile, frog, cat, automobile) and the first pixel of image 0.
CIFAR10_TEST_FIRST_LABELS = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
# sha256 of the raw uint8 bytes of the first 1000 official test images [1000, 3, 32, 32] (../shared/data/cifar10).
CIFAR10_TEST_1000_PIXELS_SHA256 = "f167149948fc8fe0b9a76ba86421e987817f98b63761ba9415c5d42664d51f03"


def test_bundled_cifar10_subset_is_the_official_first_1000_test_images(monkeypatch, tmp_path):
    import hashlib

    from safetensors.torch import load

    monkeypatch.setenv("SNNBENCH_DATA", str(tmp_path / "nothing-here"))
    images, labels = load_eval_subset("cifar10-test-1000")
    assert images.shape == (1000, 3, 32, 32) and labels[:10].tolist() == CIFAR10_TEST_FIRST_LABELS
    assert (images[0, :, 0, 0] * 255).tolist() == [158.0, 112.0, 49.0]
    raw = load(subset_info("cifar10-test-1000").path.read_bytes())
    assert raw["images"].dtype == torch.uint8
    assert hashlib.sha256(raw["images"].numpy().tobytes()).hexdigest() == CIFAR10_TEST_1000_PIXELS_SHA256
    assert torch.bincount(labels, minlength=10).min() >= 80


def test_cifar10_subset_rebuilds_identically_from_the_shared_prefix(shared_cifar10: Path):
    prefix = eval_subsets.cifar10_test_prefix(shared_cifar10 / "test-first-1017.npz", 1000)
    rebuilt = eval_subsets.tensors_bytes(*prefix)
    assert rebuilt == subset_info("cifar10-test-1000").path.read_bytes()


def test_a_subset_file_holds_uint8_images_and_matching_labels():
    with pytest.raises(ValueError, match="a subset holds uint8 images"):
        eval_subsets.tensors_bytes(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="and N labels"):
        eval_subsets.tensors_bytes(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64))


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


CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_image_folder(root: Path, per_class: int = 3, size: int = 32) -> dict:
    """A lossless (PNG) stand-in for the JPEG copy: ``<root>/cifar10/jpeg/train/<class>/NNNN.png``."""
    from PIL import Image
    import numpy as np

    pixels = {}
    for label, name in enumerate(CLASSES):
        folder = root / "cifar10" / "jpeg" / "train" / name
        folder.mkdir(parents=True)
        for index in range(per_class):
            value = np.full((size, size, 3), 10 * label + index, dtype=np.uint8)
            value[0, 0] = (label, index, 255)
            Image.fromarray(value).save(folder / f"{index:04d}.png")
            pixels[index, label] = value
    return pixels


def test_image_folder_copy_is_read_in_index_then_class_order(tmp_path):
    from snnbench.datasets import split_tensors

    pixels = write_image_folder(tmp_path)
    images, labels = split_tensors("cifar10", "train", root=tmp_path, source="cifar10-jpeg")
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == list(range(10)) * 3  # image 0 of every class, then image 1, ...
    for position, (index, label) in enumerate((i, c) for i in range(3) for c in range(10)):
        assert torch.equal(images[position], torch.from_numpy(pixels[index, label]).permute(2, 0, 1))
    first, first_labels = split_tensors("cifar10", "train", root=tmp_path, source="cifar10-jpeg", first=12)
    assert torch.equal(first, images[:12]) and first_labels.tolist() == labels[:12].tolist()
    assert torch.bincount(labels[-10:], minlength=10).tolist() == [1] * 10  # a holdout from the end is balanced


def test_image_folder_copy_errors_name_the_folder_or_file(tmp_path):
    from snnbench.datasets import split_tensors

    with pytest.raises(DataMissingError, match=f"no folder {tmp_path}/cifar10/jpeg/train"):
        split_tensors("cifar10", "train", root=tmp_path, source="cifar10-jpeg")
    with pytest.raises(ValueError, match="source 'cifar10-jpeg' is a copy of cifar10, not of mnist"):
        split_tensors("mnist", "train", root=tmp_path, source="cifar10-jpeg")
    with pytest.raises(ValueError, match="unknown data source 'svhn-png'; registered: cifar10-jpeg"):
        split_tensors("cifar10", "train", root=tmp_path, source="svhn-png")
    write_image_folder(tmp_path)
    with pytest.raises(ValueError, match="has only 30 images, fewer than 31"):
        split_tensors("cifar10", "train", root=tmp_path, source="cifar10-jpeg", first=31)
    gap = tmp_path / "cifar10" / "jpeg" / "train" / "dog" / "0001.png"
    gap.rename(gap.with_name("0007.png"))
    with pytest.raises(ValueError, match="dog/0007.png: index 7 but class 'dog' has 3 images numbered from 0"):
        split_tensors("cifar10", "train", root=tmp_path, source="cifar10-jpeg")
    (gap.with_name("0007.png")).rename(gap.with_name("0001 (copy).png"))  # a stray copy: named, not int()'s error
    with pytest.raises(ValueError, match=r"dog/0001 \(copy\).png: images of the JPEG copy are named by their index"):
        split_tensors("cifar10", "train", root=tmp_path, source="cifar10-jpeg")


def test_image_folder_copy_refuses_images_of_another_size(tmp_path):
    from snnbench.datasets import split_tensors

    write_image_folder(tmp_path, per_class=1, size=28)
    with pytest.raises(ValueError, match="airplane/0000.png: 28×28 pixels, cifar10 images are 32×32"):
        split_tensors("cifar10", "train", root=tmp_path, source="cifar10-jpeg")


def test_the_shared_jpeg_copy_matches_the_byte_exact_test_images(shared_cifar10: Path):
    """Class ``c``'s image ``k`` of the JPEG copy is the official test image that is the ``k``-th of class ``c``."""
    from snnbench.datasets import split_tensors

    exact, exact_labels = eval_subsets.cifar10_test_prefix(shared_cifar10 / "test-first-1017.npz", 200)
    jpeg, jpeg_labels = split_tensors("cifar10", "test", root=shared_cifar10.parent, source="cifar10-jpeg", first=50)
    for position in range(50):  # image `position // 10` of class `position % 10`
        label, index = position % 10, position // 10
        official = torch.nonzero(exact_labels == label).flatten()[index]
        error = (jpeg[position].float() - exact[official].float()).pow(2).mean()
        assert jpeg_labels[position] == label and 10 * torch.log10(255 ** 2 / error) > 20  # PSNR in dB
