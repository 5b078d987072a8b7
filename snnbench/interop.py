"""Models built with SpikingJelly made attackable by snnbench, keeping the model, its code and every weight.

:func:`convert` turns, in place, every SpikingJelly neuron of a model into an snnbench neuron with the same
dynamics and parameters, so that every gradient mode (ASSG, BPTR, RGA, HART, PDSG, any surrogate) reaches
it; :func:`classifier` wraps a converted network into a :class:`~snnbench.SpikingClassifier` (images in
``[0, 1]`` → logits, normalisation and ``T`` inside, fresh state on every call) that ``evaluate()`` and the
attacks take.

How a neuron is converted: its object stays where it is (so the model's own forward code, which may test
``isinstance(m, BaseNode)``, still routes it), but its class becomes a subclass of both the snnbench neuron
and its SpikingJelly class whose ``forward`` is snnbench's; its surrogate module is mapped to the same
family and sharpness and removed. SpikingJelly's parameters map one to one:

====================================  ===============================  ====================================
SpikingJelly (0.0.0.0.14, 2.x)         snnbench                          parameters
====================================  ===============================  ====================================
``MultiStepLIFNode``, ``LIFNode``       :class:`~snnbench.LIF`            tau, decay_input, v_threshold,
(``step_mode='m'``)                                                      v_reset (None: soft reset),
                                                                         detach_reset
``MultiStepIFNode``, ``IFNode``         :class:`~snnbench.IF`             v_threshold, v_reset, detach_reset
``MultiStepParametricLIFNode``,        :class:`~snnbench.neurons.        the learnt ``w`` (kept, the same
``ParametricLIFNode``                  ParametricLIF`                    parameter), decay_input, ...
====================================  ===============================  ====================================

Surrogates: ``ATan(α)`` → ``atan`` α, ``Sigmoid(α)`` → ``sigmoid`` α, ``PiecewiseQuadratic(α)`` →
``triangle`` α, ``Erf(α)`` → ``gaussian`` α√2 (the same derivative). Anything else — another surrogate, a
single-step node (used in a per-step Python loop), a node of a class not listed — stops with an error that
names it: nothing is approximated. SpikingJelly is never imported here; a model is recognised by its
classes' names and modules.
"""
from __future__ import annotations

import math
from typing import Sequence

from torch import nn

from .classifier import SpikingClassifier
from .foreign import describe, foreign_spiking_modules
from .neurons import IF, LIF, NeuronSpec, ParametricLIF, SpikingNeuron, spiking_layers
from .surrogates import Surrogate

# SpikingJelly surrogate class → (snnbench family, factor on α).
SURROGATES = {"ATan": ("atan", 1.0), "Sigmoid": ("sigmoid", 1.0), "PiecewiseQuadratic": ("triangle", 1.0),
              "Erf": ("gaussian", math.sqrt(2.0))}
# SpikingJelly neuron class → snnbench neuron class. Single-step classes count only in step_mode 'm'.
NEURONS = {"MultiStepLIFNode": LIF, "LIFNode": LIF, "MultiStepIFNode": IF, "IFNode": IF,
           "MultiStepParametricLIFNode": ParametricLIF, "ParametricLIFNode": ParametricLIF}
_ADOPTED: dict[tuple[type, type], type] = {}


class ConversionError(ValueError):
    """A module could not be converted exactly; the message names it and why."""


def _is_spikingjelly(module: nn.Module) -> bool:
    return type(module).__module__.split(".")[0] == "spikingjelly"


def map_surrogate(function: nn.Module, where: str) -> Surrogate:
    """The snnbench surrogate with the same derivative as SpikingJelly's ``function``."""
    name = type(function).__name__
    if name not in SURROGATES or not _is_spikingjelly(function):
        raise ConversionError(f"{where}: no snnbench surrogate family for {type(function).__module__}.{name}; "
                              f"convertible: {', '.join(f'SpikingJelly {n}' for n in SURROGATES)}")
    if not getattr(function, "spiking", True):
        raise ConversionError(f"{where}: {name}(spiking=False) fires its primitive function, not spikes")
    family, scale = SURROGATES[name]
    return Surrogate(family, float(function.alpha) * scale)


def _multi_step(node: nn.Module, where: str) -> None:
    name = type(node).__name__
    step_mode = getattr(node, "step_mode", "m" if name.startswith("MultiStep") else "s")
    if step_mode != "m":
        raise ConversionError(
            f"{where}: {name} runs one time step per call (step_mode {step_mode!r}), in a per-step loop that "
            f"snnbench cannot see; build the model with multi-step nodes (MultiStep*Node in 0.0.0.0.14, "
            f"step_mode='m' in 2.x), which take [T, N, ...] at once")
    if getattr(node, "backend", "torch") != "torch":
        raise ConversionError(f"{where}: {name} uses backend {node.backend!r}; convert a model on the 'torch' backend")


def _neuron_kwargs(node: nn.Module, target: type, where: str) -> dict:
    v_reset = node.v_reset
    kwargs = dict(threshold=float(node.v_threshold), reset="soft" if v_reset is None else "hard",
                  v_reset=0.0 if v_reset is None else float(v_reset), detach_reset=bool(node.detach_reset),
                  surrogate=map_surrogate(node.surrogate_function, where))
    if target is LIF:
        kwargs.update(tau=float(node.tau), decay_input=bool(node.decay_input))
    elif target is ParametricLIF:
        kwargs.update(decay_input=bool(node.decay_input))
    return kwargs


def adopt(node: nn.Module, where: str = "the module", backend: str = "compiled") -> SpikingNeuron:
    """Turn one SpikingJelly neuron, in place, into the snnbench neuron with its dynamics; returns it."""
    name = type(node).__name__
    if not _is_spikingjelly(node) or name not in NEURONS:
        raise ConversionError(f"{where}: no snnbench neuron for {type(node).__module__}.{name}; convertible: "
                              f"{', '.join(f'SpikingJelly {n}' for n in NEURONS)}")
    _multi_step(node, where)
    target = NEURONS[name]
    reference = target(**_neuron_kwargs(node, target, where), backend=backend)
    key = (target, type(node))
    if key not in _ADOPTED:
        _ADOPTED[key] = type(f"{target.__name__}From{name}", (target, type(node)), {
            "__module__": __name__, "__doc__": f"SpikingJelly's {name}, run by snnbench's {target.__name__}.",
            # SpikingJelly 2.x guards its own `backend` with a property; snnbench's names a kernel backend.
            "backend": property(lambda self: self.__dict__["_kernel_backend"],
                                lambda self, value: self.__dict__.__setitem__("_kernel_backend", value))})
    del node.surrogate_function  # its spike function is replaced; no module of another library stays inside
    node.__class__ = _ADOPTED[key]
    # Everything the snnbench neuron's __init__ sets, except parameters the node already holds (PLIF's w).
    for attribute, value in vars(reference).items():
        if (not attribute.startswith("_") and attribute != "training") or attribute == "_constants":
            object.__setattr__(node, attribute, value)
    return node


def convert(model: nn.Module, *, backend: str = "compiled") -> nn.Module:
    """Convert every SpikingJelly neuron of ``model`` in place (see the module's table); returns ``model``.

    Stops, naming the module, at anything it cannot convert exactly, and after converting checks that no
    spiking module outside snnbench's control is left.
    """
    for path, module in list(model.named_modules()):
        if _is_spikingjelly(module) and type(module).__name__ in NEURONS:
            adopt(module, path or "the model", backend)
    left = foreign_spiking_modules(model)
    if left:
        raise ConversionError(f"cannot convert {len(left)} spiking module(s): {describe(left)}")
    return model


def classifier(body: nn.Module, *, T: int, num_classes: int, mean: Sequence[float] = (0.0,),
               std: Sequence[float] = (1.0,), seed: int = 0) -> SpikingClassifier:
    """A converted multi-step network as a :class:`SpikingClassifier`: the image is normalised, repeated
    over ``T`` steps (``[T, B, C, H, W]``, as SpikingJelly's multi-step models take it), and the body's
    ``[T, B, K]`` output is averaged over time. ``mean``/``std`` are the normalisation the body was trained
    with."""
    layers = spiking_layers(body)
    left = foreign_spiking_modules(body)
    if left or not layers:
        raise ConversionError(f"classifier() takes a converted network: {describe(left)} not converted"
                              if left else "classifier() takes a network with spiking layers; this one has none")
    first = layers[0].surrogate
    return SpikingClassifier(body, T=T, num_classes=num_classes, mean=mean, std=std, seed=seed,
                             neuron=NeuronSpec("lif", surrogate=first.family, alpha=float(first.alpha)))

