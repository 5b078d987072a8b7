"""Spiking network bodies, built by name from one registry.

A body maps ``[T, B, C, H, W]`` to output-layer values ``[T, B, K]``; :func:`snnbench.create_model` wraps it
in a :class:`~snnbench.classifier.SpikingClassifier`. Every builder takes the same core arguments
(``neuron``, ``T``, ``in_channels``, ``num_classes``, ``image_size``) plus its own keyword options.
"""
from .registry import ARCHITECTURES, build_body, create_model, list_architectures

__all__ = ["ARCHITECTURES", "build_body", "create_model", "list_architectures"]
