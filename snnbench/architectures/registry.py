"""The architecture registry and :func:`create_model`."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Sequence, Union

from torch import nn

from ..classifier import SpikingClassifier
from ..neurons import NeuronSpec
from .convnet import convnet
from .sew_resnet import sew_resnet19
from .vgg import vgg11
from .wrn import wrn16

BodyBuilder = Callable[..., nn.Module]

ARCHITECTURES: dict[str, BodyBuilder] = {
    "convnet": convnet,
    "vgg11": vgg11,
    "sew_resnet19": sew_resnet19,
    "wrn16": wrn16,
}

_CORE_ARGS = {"neuron", "T", "in_channels", "num_classes", "image_size"}


def list_architectures() -> list[str]:
    return sorted(ARCHITECTURES)


def _builder(name: str) -> BodyBuilder:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(list_architectures())}") from None


def architecture_options(name: str) -> dict[str, Any]:
    """The architecture's own keyword options and their defaults."""
    params = inspect.signature(_builder(name)).parameters
    return {k: p.default for k, p in params.items() if k not in _CORE_ARGS}


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
