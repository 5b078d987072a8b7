"""Spiking network bodies, built by name from one registry.

A body maps ``[T, B, C, H, W]`` to output-layer values ``[T, B, K]``; :func:`snnbench.create_model` wraps it
in a :class:`~snnbench.classifier.SpikingClassifier`. Every builder takes the same core arguments
(``neuron``, ``T``, ``in_channels``, ``num_classes``, ``image_size``) plus its own keyword options, and is
registered with :func:`register_architecture` (importing this package registers the built-in ones).
"""
from .registry import (ARCHITECTURES, ArchitectureInfo, architecture_info, build_body, create_model,
                       list_architectures, register_architecture)
from . import convnet, sew_resnet, vgg, wrn  # noqa: F401,E402  (each registers its architecture)

__all__ = ["ARCHITECTURES", "ArchitectureInfo", "architecture_info", "build_body", "create_model",
           "list_architectures", "register_architecture"]
