"""The architecture registry, :func:`register_architecture` and :func:`create_model`.

An architecture is a body builder registered with its configuration as data, the way timm registers models::

    @register_architecture(datasets=("cifar10", "cifar100"))
    def vgg11(*, neuron, T, in_channels, num_classes, image_size, width=64, hidden=4096): ...

Every builder takes the core arguments (``neuron``, ``T``, ``in_channels``, ``num_classes``, ``image_size``)
as keywords, plus options of its own with defaults (annotated: a card's options are checked against the
annotations, and every integer in them is a size or a count, never negative); ``datasets`` names the data
sets it is made for (the first gives its default input). A card names a registered architecture and its
options; it never names code to import, so a new architecture comes into snnbench by pull request, as a
module of this package.
"""
from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from torch import nn

from ..classifier import SpikingClassifier
from ..datasets import dataset_info
from ..neurons import NeuronSpec

BodyBuilder = Callable[..., nn.Module]

CORE_ARGUMENTS = ("neuron", "T", "in_channels", "num_classes", "image_size")


@dataclass(frozen=True)
class ArchitectureInfo:
    """A registered body builder: its name, the data sets it is made for, and its options with defaults."""

    name: str
    builder: BodyBuilder
    datasets: tuple[str, ...]

    @property
    def options(self) -> dict[str, Any]:
        params = inspect.signature(self.builder).parameters
        return {k: p.default for k, p in params.items() if k not in CORE_ARGUMENTS}

    @property
    def option_hints(self) -> dict[str, Any]:
        """The type each option is annotated with (``Any`` where it is not)."""
        hints = typing.get_type_hints(self.builder)
        return {k: hints.get(k, Any) for k in self.options}

    @property
    def summary(self) -> str:
        return (inspect.getdoc(self.builder) or inspect.getdoc(inspect.getmodule(self.builder)) or "").splitlines()[0]


ARCHITECTURES: dict[str, ArchitectureInfo] = {}


def register_architecture(*, datasets: Sequence[str], name: Optional[str] = None) -> Callable[[BodyBuilder], BodyBuilder]:
    """Register a body builder under ``name`` (default: the function's name); returns it unchanged."""

    def register(builder: BodyBuilder) -> BodyBuilder:
        key = name or builder.__name__
        if key in ARCHITECTURES:
            raise ValueError(f"architecture {key!r} is registered already (by {ARCHITECTURES[key].builder.__module__})")
        params = inspect.signature(builder).parameters
        missing = [a for a in CORE_ARGUMENTS if a not in params]
        if missing:
            raise TypeError(f"architecture {key!r}: a builder takes the core arguments {', '.join(CORE_ARGUMENTS)}; "
                            f"{builder.__qualname__} lacks {', '.join(missing)}")
        no_default = [k for k, p in params.items() if k not in CORE_ARGUMENTS and p.default is inspect.Parameter.empty]
        if no_default:
            raise TypeError(f"architecture {key!r}: options need defaults (configuration as data); "
                            f"{', '.join(no_default)} has none")
        if not datasets:
            raise ValueError(f"architecture {key!r}: name at least one dataset it is made for")
        for dataset in datasets:
            dataset_info(dataset)  # a known dataset
        ARCHITECTURES[key] = ArchitectureInfo(key, builder, tuple(datasets))
        return builder

    return register


def list_architectures() -> list[str]:
    return sorted(ARCHITECTURES)


def architecture_info(name: str) -> ArchitectureInfo:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(list_architectures())}") from None


def _builder(name: str) -> BodyBuilder:
    return architecture_info(name).builder


def architecture_options(name: str) -> dict[str, Any]:
    """The architecture's own keyword options and their defaults."""
    return architecture_info(name).options


def build_body(name: str, *, neuron: NeuronSpec, T: int, in_channels: int, num_classes: int, image_size: int,
               **options: Any) -> nn.Module:
    unknown = sorted(set(options) - set(architecture_options(name)))
    if unknown:
        raise ValueError(f"architecture {name!r} has no option(s) {', '.join(unknown)}; "
                         f"it accepts {', '.join(sorted(architecture_options(name))) or 'none'}")
    return _builder(name)(neuron=neuron, T=T, in_channels=in_channels, num_classes=num_classes,
                          image_size=image_size, **options)


def create_model(name: str, *, neuron: Union[NeuronSpec, Mapping[str, Any], None] = None, T: int = 4,
                 in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,), encoding: str = "direct",
                 seed: int = 0, **options: Any) -> SpikingClassifier:
    """Build a :class:`SpikingClassifier` with a registered body.

    ``neuron`` is a :class:`NeuronSpec` or its fields as a mapping (``{"kind": "lif", "params": {"tau": 2.0},
    "surrogate": "atan", "alpha": 2.0}``); remaining keyword arguments are the architecture's own options.
    """
    spec = neuron if isinstance(neuron, NeuronSpec) else NeuronSpec(**dict(neuron or {}))
    if len(mean) not in (1, in_channels):
        raise ValueError(f"mean has {len(mean)} values for {in_channels} input channels")
    mean = tuple(mean) * (in_channels // len(mean))
    std = tuple(std) * (in_channels // len(std))
    body = build_body(name, neuron=spec, T=T, in_channels=in_channels, num_classes=num_classes,
                      image_size=image_size, **options)
    return SpikingClassifier(body, T=T, num_classes=num_classes, neuron=spec, mean=mean, std=std,
                             encoding=encoding, seed=seed)
