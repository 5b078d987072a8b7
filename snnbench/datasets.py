"""Training and test data through ``torchvision.datasets``, or from a registered copy of a dataset as image files.

The data root is, in order: the ``root`` argument (the CLI's ``--data-dir``), the ``SNNBENCH_DATA``
environment variable, or ``~/.cache/snnbench/data`` (under ``XDG_CACHE_HOME`` when set). Nothing is
downloaded unless asked for; missing files give an error that names the root and how to fix it.

A *source* other than the official files is a copy of a dataset in torchvision's ``ImageFolder`` layout
(:data:`SOURCES`), such as ``cifar10-jpeg``: all 60,000 CIFAR-10 images re-encoded as JPEG (about quality
75). Its pixels are not the official ones, so a model trained on it says so on its card; evaluation never
reads it (it uses the bundled byte-exact subsets, :mod:`snnbench.eval_subsets`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import torch
from torch import Tensor
from torch.utils.data import Dataset

from .files import cache_dir

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about its data; mean and std are the usual per-channel statistics."""

    name: str
    torchvision_class: str
    in_channels: int
    image_size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    citation: str


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("mnist", "MNIST", 1, 28, 10, (0.1307,), (0.3081,),
                    "LeCun, Bottou, Bengio & Haffner, Gradient-based learning applied to document "
                    "recognition, Proc. IEEE 1998"),
        DatasetInfo("fashion_mnist", "FashionMNIST", 1, 28, 10, (0.2860,), (0.3530,),
                    "Xiao, Rasul & Vollgraf, Fashion-MNIST, arXiv:1708.07747, 2017"),
        DatasetInfo("cifar10", "CIFAR10", 3, 32, 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                    "Krizhevsky, Learning multiple layers of features from tiny images, 2009"),
        DatasetInfo("cifar100", "CIFAR100", 3, 32, 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
                    "Krizhevsky, Learning multiple layers of features from tiny images, 2009"),
    )
}


class DataMissingError(FileNotFoundError):
    """The dataset's files are not under the data root."""


def dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}") from None


def data_root(root: Optional[PathLike] = None) -> Path:
    """The data root: ``root``, else ``$SNNBENCH_DATA``, else the user cache folder."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("SNNBENCH_DATA"):
        return Path(os.environ["SNNBENCH_DATA"]).expanduser()
    return cache_dir("data")


def load_dataset(name: str, split: str, *, root: Optional[PathLike] = None, download: bool = False,
                 transform: Optional[Callable] = None) -> Dataset:
    """The ``train`` or ``test`` split of ``name`` as a torchvision dataset of ``(image, label)``.

    ``transform`` defaults to ``ToTensor()`` (images in ``[0, 1]``); normalisation lives in the model.
    """
    import torchvision
    from torchvision import transforms

    info = dataset_info(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = data_root(root)
    cls = getattr(torchvision.datasets, info.torchvision_class)
    try:
        return cls(str(path), train=split == "train", download=download,
                   transform=transform if transform is not None else transforms.ToTensor())
    except RuntimeError as err:
        if download or "not found" not in str(err).lower():
            raise
        raise DataMissingError(
            f"{info.torchvision_class} ({split}) not found under data root {path}. Point --data-dir or "
            f"SNNBENCH_DATA at a folder that holds it in torchvision's layout, or pass download=True "
            f"(--download) on a machine with internet.") from None


def split_tensors(name: str, split: str, *, root: Optional[PathLike] = None, download: bool = False,
                  first: Optional[int] = None, source: Optional[str] = None) -> tuple[Tensor, Tensor]:
    """A whole split (or its first ``first`` images) in memory: uint8 ``[N, C, H, W]`` and int64 labels.

    ``source`` names a registered copy (:data:`SOURCES`) to read instead of the official files.
    """
    if source is not None:
        copy = source_info(source)
        if copy.dataset != name:
            raise ValueError(f"source {source!r} is a copy of {copy.dataset}, not of {name}")
        return copy.tensors(split, root=root, first=first)
    source = load_dataset(name, split, root=root, download=download)
    images = torch.as_tensor(source.data[:first])
    if images.dim() == 3:  # MNIST-like: [N, H, W] → [N, 1, H, W]
        images = images.unsqueeze(1)
    else:  # CIFAR-like: [N, H, W, C] → [N, C, H, W]
        images = images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(source.targets[:first], dtype=torch.int64)
    if first is not None and len(labels) != first:
        raise ValueError(f"{name} {split} has only {len(labels)} images, fewer than {first}")
    return images.contiguous().to(torch.uint8), labels


@dataclass(frozen=True)
class ImageFolderCopy:
    """A copy of a dataset as image files: ``<root>/<folder>/<split>/<class>/<index>.<ext>``.

    Class folders sort in the dataset's label order (so ``torchvision.datasets.ImageFolder`` gives the official
    labels) and ``<index>`` counts the images of one class in the official order, from 0. The official order
    *across* classes is not recoverable from such a copy, so :meth:`tensors` orders images by (index within
    class, class): image 0 of every class, then image 1 of every class, and so on. Any ``10·k`` consecutive
    images then hold ``k`` of each class, and a holdout cut from the end (a recipe's ``holdout``) is balanced.
    """

    name: str
    dataset: str
    folder: str
    description: str

    def path(self, split: str, root: Optional[PathLike] = None) -> Path:
        return data_root(root) / self.folder / split

    def tensors(self, split: str, *, root: Optional[PathLike] = None,
                first: Optional[int] = None) -> tuple[Tensor, Tensor]:
        """uint8 images ``[N, C, H, W]`` and int64 labels, in the order above (decoded with PIL)."""
        import numpy as np
        from PIL import Image
        from torchvision.datasets import ImageFolder

        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        info = dataset_info(self.dataset)
        folder = self.path(split, root)
        if not folder.is_dir():
            raise DataMissingError(f"{self.name} ({split}) not found: no folder {folder}. Point --data-dir or "
                                   f"SNNBENCH_DATA at the folder that holds {self.folder}/{split}/<class>/")
        listing = ImageFolder(str(folder), loader=lambda p: p)
        if len(listing.classes) != info.num_classes:
            raise ValueError(f"{folder}: {len(listing.classes)} class folders, {self.dataset} has {info.num_classes}")
        unnumbered = next((p for p, _ in listing.samples if not Path(p).stem.isdigit()), None)
        if unnumbered is not None:
            raise ValueError(f"{unnumbered}: images of the JPEG copy are named by their index within the class "
                             f"(0000.jpg, 0001.jpg, ... from 0); remove or rename this file")
        ordered = sorted(((int(Path(p).stem), label, p) for p, label in listing.samples), key=lambda s: s[:2])
        per_class = torch.bincount(torch.tensor([label for _, label, _ in ordered]), minlength=info.num_classes)
        for index, label, p in ordered:
            if index >= per_class[label]:
                raise ValueError(f"{p}: index {index} but class {listing.classes[label]!r} has "
                                 f"{int(per_class[label])} images numbered from 0")
        ordered = ordered[:first]
        shape = (info.image_size, info.image_size, info.in_channels)
        images = np.empty((len(ordered), *shape), dtype=np.uint8)
        for i, (_, _, p) in enumerate(ordered):
            with Image.open(p) as image:
                pixels = np.asarray(image.convert("RGB" if info.in_channels == 3 else "L"))
            if pixels.shape[:2] != shape[:2]:
                raise ValueError(f"{p}: {pixels.shape[1]}×{pixels.shape[0]} pixels, {self.dataset} images are "
                                 f"{shape[1]}×{shape[0]}")
            images[i] = pixels.reshape(shape)
        if first is not None and len(ordered) != first:
            raise ValueError(f"{self.name} {split} has only {len(ordered)} images, fewer than {first}")
        labels = torch.tensor([label for _, label, _ in ordered], dtype=torch.int64)
        return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels


SOURCES: dict[str, ImageFolderCopy] = {
    copy.name: copy
    for copy in (
        ImageFolderCopy("cifar10-jpeg", "cifar10", "cifar10/jpeg",
                        "the CIFAR-10 images re-encoded as JPEG (about quality 75, lossy): not the official pixels"),
    )
}


def source_info(name: str) -> ImageFolderCopy:
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown data source {name!r}; registered: {', '.join(SOURCES)}") from None
