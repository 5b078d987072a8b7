"""Fixed evaluation subsets bundled with the package, so evaluation needs no data root and no network.

Each subset is the first ``N`` images of a dataset split, stored as uint8 images and int64 labels in a
``.safetensors`` file under ``snnbench/bundled/``; ``subsets.yaml`` beside it records its origin and sha256,
which is verified on every load.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional

import torch
import yaml
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor

from .datasets import PathLike, split_tensors
from .files import atomic_write_bytes, sha256_file

BUNDLED = Path(str(resources.files("snnbench") / "bundled"))
INDEX = BUNDLED / "subsets.yaml"


@dataclass(frozen=True)
class SubsetInfo:
    name: str
    dataset: str
    split: str
    first: int
    file: str
    sha256: str

    @property
    def path(self) -> Path:
        return BUNDLED / self.file


class SubsetIntegrityError(RuntimeError):
    """A bundled subset's bytes do not match the sha256 recorded for it."""


def _read_index() -> dict[str, SubsetInfo]:
    if not INDEX.exists():
        return {}
    with open(INDEX, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    fields = set(SubsetInfo.__dataclass_fields__) - {"name"}
    index = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or set(entry) != fields:
            raise ValueError(f"{INDEX}: subset {name!r} must have exactly the fields {', '.join(sorted(fields))}")
        index[name] = SubsetInfo(name=name, **entry)
    return index


def list_subsets() -> list[SubsetInfo]:
    return list(_read_index().values())


def subset_info(name: str) -> SubsetInfo:
    index = _read_index()
    if name not in index:
        raise ValueError(f"unknown evaluation subset {name!r}; bundled: {', '.join(index) or 'none'}")
    return index[name]


def load_eval_subset(name: str) -> tuple[Tensor, Tensor]:
    """Images ``[N, C, H, W]`` as float32 in ``[0, 1]`` and labels ``[N]`` (int64), sha256-verified."""
    info = subset_info(name)
    data = info.path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != info.sha256:
        raise SubsetIntegrityError(f"{info.path}: sha256 {digest} does not match {info.sha256} recorded in {INDEX}")
    tensors = load_safetensors(data)
    return tensors["images"].float() / 255.0, tensors["labels"]


def subset_bytes(dataset: str, split: str, first: int, root: Optional[PathLike] = None) -> bytes:
    """The ``.safetensors`` bytes of the first ``first`` images of a split, read through torchvision."""
    return tensors_bytes(*split_tensors(dataset, split, root=root, first=first))


def tensors_bytes(images: Tensor, labels: Tensor) -> bytes:
    """A subset file's bytes: uint8 ``images`` ``[N, C, H, W]`` and int64 ``labels`` ``[N]``."""
    if images.dtype != torch.uint8 or images.dim() != 4 or labels.shape != (len(images),):
        raise ValueError(f"a subset holds uint8 images [N, C, H, W] and N labels, got {images.dtype} "
                         f"{tuple(images.shape)} and labels {tuple(labels.shape)}")
    return save_safetensors({"images": images.contiguous(), "labels": labels.to(torch.int64).contiguous()})


def cifar10_test_prefix(path: PathLike, first: int) -> tuple[Tensor, Tensor]:
    """The first ``first`` official CIFAR-10 test images from a decoded prefix of ``test_batch``.

    ``path`` is an ``.npz`` with ``images`` (uint8 ``[n, 3, 32, 32]``, the official order) and ``labels``
    (uint8, the first ``n`` or more test labels), such as ``test-first-1017.npz`` of this project's shared data,
    decoded from the first 3 MiB of the official pickle. A holder of the full data set gets the same bytes
    through torchvision with :func:`subset_bytes`.
    """
    import numpy as np

    with np.load(path) as arrays:
        missing = {"images", "labels"} - set(arrays.files)
        if missing:
            raise ValueError(f"{path}: no array(s) {', '.join(sorted(missing))}")
        images, labels = arrays["images"], arrays["labels"]
    if images.dtype != np.uint8 or images.shape[1:] != (3, 32, 32) or len(images) < first or len(labels) < first:
        raise ValueError(f"{path}: expected uint8 images [>= {first}, 3, 32, 32] and >= {first} labels, got "
                         f"{images.dtype} {images.shape} and {labels.shape}")
    return torch.from_numpy(images[:first].copy()), torch.from_numpy(labels[:first].astype(np.int64))


def first_test_images(dataset: str, n: int, root: Optional[PathLike] = None,
                      download: bool = False) -> tuple[Tensor, Tensor]:
    """The first ``n`` test images (float in ``[0, 1]``) and labels: bundled when a subset covers them, else
    read through torchvision from the data root (downloaded there first when ``download``)."""
    for info in list_subsets():
        if info.dataset == dataset and info.split == "test" and info.first >= n:
            images, labels = load_eval_subset(info.name)
            return images[:n], labels[:n]
    images, labels = split_tensors(dataset, "test", root=root, download=download, first=n)
    return images.float() / 255.0, labels


def build_eval_subset(name: str, dataset: str, split: str, first: int, root: Optional[PathLike] = None,
                      tensors: Optional[tuple[Tensor, Tensor]] = None) -> SubsetInfo:
    """Write a subset file into the package and record it in the index (a maintainer's tool).

    The images come through torchvision from ``root``, or are the given uint8 ``tensors`` (for example
    :func:`cifar10_test_prefix`)."""
    file = f"{name}.safetensors"
    data = tensors_bytes(*tensors) if tensors is not None else subset_bytes(dataset, split, first, root)
    atomic_write_bytes(BUNDLED / file, data)
    info = SubsetInfo(name, dataset, split, first, file, sha256_file(BUNDLED / file))
    entries = {k: {f: getattr(v, f) for f in ("dataset", "split", "first", "file", "sha256")}
               for k, v in _read_index().items()}
    entries[name] = {f: getattr(info, f) for f in ("dataset", "split", "first", "file", "sha256")}
    header = "# Bundled evaluation subsets; written by snnbench.eval_subsets.build_eval_subset. Do not edit.\n"
    atomic_write_bytes(INDEX, (header + yaml.safe_dump(entries, sort_keys=True)).encode())
    return info
