"""How far the JPEG copy that CIFAR-10 models train on is from the official pixels.

Usage: ``python benchmarks/jpeg_copy.py [--data-dir ../shared/data]``

Compares each of the bundled, byte-exact first 1000 CIFAR-10 test images (``cifar10-test-1000``) with its
copy in the registered JPEG set (``cifar10-jpeg``, ``<root>/cifar10/jpeg/test/<class>/<index>.jpg``, where
``<index>`` counts the images of one class in the official order) and prints the PSNR,
``10·log10(255² / MSE)`` over all pixels and channels of one image, as minimum, median and maximum. The
README's "23–39 dB" is this script's output.
"""
from __future__ import annotations

import argparse
import statistics

import torch

from snnbench.datasets import source_info
from snnbench.eval_subsets import load_eval_subset


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two uint8 images (infinite when equal)."""
    mse = float(((a.double() - b.double()) ** 2).mean())
    return float("inf") if mse == 0 else 10.0 * torch.log10(torch.tensor(255.0 ** 2 / mse)).item()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="the data root that holds cifar10/jpeg (default: $SNNBENCH_DATA)")
    args = parser.parse_args()
    official, labels = load_eval_subset("cifar10-test-1000")
    official = (official * 255).round().to(torch.uint8)  # the bundled subset is the uint8 pixels / 255
    copies, copy_labels = source_info("cifar10-jpeg").tensors("test", root=args.data_dir)
    # The copy is ordered (index within class, class): find each official image's copy by that pair.
    position = {}
    seen = [0] * 10
    for i, label in enumerate(copy_labels.tolist()):
        position[seen[label], label] = i
        seen[label] += 1
    values, seen = [], [0] * 10
    for image, label in zip(official, labels.tolist()):
        values.append(psnr(image, copies[position[seen[label], label]]))
        seen[label] += 1
    print(f"PSNR of the cifar10-jpeg copy against the byte-exact first {len(values)} CIFAR-10 test images: "
          f"min {min(values):.1f} dB, median {statistics.median(values):.1f} dB, max {max(values):.1f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
