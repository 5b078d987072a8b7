"""The ``snnbench`` command line."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from tabulate import tabulate


def _architectures(args: argparse.Namespace) -> int:
    from .architectures import create_model, list_architectures
    from .architectures.registry import architecture_options

    rows = []
    for name in list_architectures():
        size, channels = (28, 1) if name == "convnet" else (32, 3)
        model = create_model(name, in_channels=channels, image_size=size, num_classes=10,
                             neuron={"backend": "eager"})
        params = sum(p.numel() for p in model.parameters())
        options = ", ".join(f"{k}={v}" for k, v in architecture_options(name).items())
        rows.append([name, f"{params:,}", f"{channels}×{size}×{size}", options])
    print(tabulate(rows, headers=["architecture", "parameters (10 classes)", "input", "options"]))
    return 0


def _subsets(args: argparse.Namespace) -> int:
    from .eval_subsets import list_subsets, load_eval_subset

    rows = []
    for info in list_subsets():
        images, labels = load_eval_subset(info.name)  # verifies the sha256
        rows.append([info.name, info.dataset, info.split, f"first {info.first}", tuple(images.shape[1:]),
                     info.sha256[:16] + "…"])
    print(tabulate(rows, headers=["subset", "dataset", "split", "images", "shape", "sha256 (verified)"]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="snnbench", description="Adversarial robustness benchmark for SNNs.")
    parser.add_argument("--version", action="version", version=f"snnbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("architectures", help="list the registered architectures").set_defaults(run=_architectures)
    commands.add_parser("subsets", help="list and verify the bundled evaluation subsets").set_defaults(run=_subsets)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"snnbench {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
