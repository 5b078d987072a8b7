"""Models built with SpikingJelly or snnTorch made attackable by snnbench, keeping the model, its code and every
weight.

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

A converted node's SpikingJelly attributes (``v_threshold``, ``v_reset``, ``tau``, ...) read what it runs, and
setting one is refused: its dynamics are fixed at conversion. SpikingJelly's multi-step dropout layers
(``MultiStepDropout``/``MultiStepDropout2d``, ``Dropout``/``Dropout2d`` with ``step_mode='m'``), which keep their
mask as state until ``reset_net``, are replaced by :class:`~snnbench.layers.SequenceDropout`: the same mask,
drawn the same way, at every call (the identity in ``eval()``).

Surrogates: ``ATan(α)`` → ``atan`` α, ``Sigmoid(α)`` → ``sigmoid`` α, ``PiecewiseQuadratic(α)`` →
``triangle`` α, ``Erf(α)`` → ``gaussian`` α√2 (the same derivative).

snnTorch's ``Leaky`` (``reset_mechanism`` subtract, zero or none; ``beta`` and ``threshold`` scalars or
tensors, learnable or not; graded spikes; ``init_hidden``) becomes :class:`snnbench.stepwise.SteppedLeaky`,
which runs one step per call inside the model's own per-step loop, with snnTorch's strict threshold and
delayed reset; its ``spike_grad`` ``atan(alpha)`` → ``atan`` α, ``sigmoid(slope)`` → ``sigmoid`` slope. Such a
model is attacked with the step-local modes (``surrogate``, ``assg``); BPTR, RGA, HART and PDSG need a
layer's whole series in one call and report themselves not applicable.

Anything else — another surrogate, a single-step SpikingJelly node, a per-neuron or infinite threshold,
``store_v_seq``, single-step dropout, another SpikingJelly module that keeps state between calls or an encoder,
snnTorch's ``reset_delay=False``, inhibition or state quantisation, a ``Leaky`` whose loaded
``reset_mechanism_val`` is not the reset its forward was built with, a neuron class not listed — stops with an
error that names it, before anything is changed: nothing is approximated, and nothing is left half converted. A
classifier around converted multi-step nodes refuses a call that feeds one of them other than ``T`` steps.
Neither library is imported here; a model is recognised by its classes' names and modules.
"""
from __future__ import annotations

import importlib
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from torch import Tensor, nn

from .classifier import SpikingClassifier
from .foreign import describe, foreign_spiking_modules
from .layers import SequenceDropout
from .neurons import (IF, LIF, NeuronSpec, ParametricLIF, SpikingNeuron, check_backend, check_reset,
                      spiking_layers)
from .stepwise import SteppedLeaky, SteppedNeuron, start_sequences
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


def _is_convertible_node(module: nn.Module) -> bool:
    """One of the listed neuron classes of SpikingJelly's ``neuron`` module (not a namesake elsewhere in the
    library, such as ``lynxi_exchange.LIFNode``, another neuron model)."""
    return (_is_spikingjelly(module) and type(module).__name__ in NEURONS
            and type(module).__module__.rsplit(".", 1)[-1] == "neuron")


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


def _scalar(node: nn.Module, name: str, where: str, finite: bool = True) -> float:
    value = getattr(node, name)
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise ConversionError(f"{where}: {type(node).__name__}.{name} is not one number "
                              f"({type(value).__name__}{tuple(getattr(value, 'shape', ()))}); snnbench's neurons "
                              f"take a scalar") from None
    if finite and not math.isfinite(number):
        raise ConversionError(f"{where}: {type(node).__name__}.{name} is {number}: a neuron that never fires is read "
                              f"through its membrane potential, which the converted neuron does not keep")
    return number


def _neuron_kwargs(node: nn.Module, target: type, where: str) -> dict:
    v_reset = node.v_reset
    if getattr(node, "store_v_seq", False):
        raise ConversionError(f"{where}: {type(node).__name__}(store_v_seq=True) is read through its v_seq, which "
                              f"the converted neuron does not keep")
    kwargs = dict(threshold=_scalar(node, "v_threshold", where), reset="soft" if v_reset is None else "hard",
                  v_reset=0.0 if v_reset is None else _scalar(node, "v_reset", where),
                  detach_reset=bool(node.detach_reset), surrogate=map_surrogate(node.surrogate_function, where))
    if target is LIF:
        kwargs.update(tau=_scalar(node, "tau", where), decay_input=bool(node.decay_input))
    elif target is ParametricLIF:
        kwargs.update(decay_input=bool(node.decay_input))
    return kwargs


def adopt(node: nn.Module, where: str = "the module", backend: str = "compiled") -> SpikingNeuron:
    """Turn one SpikingJelly neuron, in place, into the snnbench neuron with its dynamics; returns it."""
    name = type(node).__name__
    if not _is_convertible_node(node):
        raise ConversionError(f"{where}: no snnbench neuron for {type(node).__module__}.{name}; convertible: "
                              f"{', '.join(f'SpikingJelly {n}' for n in NEURONS)}")
    target = NEURONS[name]
    reference = target(**_check_convertible(node, where), backend=backend)
    key = (target, type(node))
    if key not in _ADOPTED:
        _ADOPTED[key] = type(f"{target.__name__}From{name}", (target, type(node)), {
            "__module__": __name__, "__doc__": f"SpikingJelly's {name}, run by snnbench's {target.__name__}.",
            # SpikingJelly 2.x guards its own `backend` with a property; snnbench's names a kernel backend.
            "backend": property(lambda self: self.__dict__["_kernel_backend"],
                                lambda self, value: self.__dict__.__setitem__("_kernel_backend", value)),
            **{name: _converted_value(name, value_of) for name, value_of in _SJ_DYNAMICS.items()
               if name in vars(node) or name in getattr(node, "_memories", {})}})
    del node.surrogate_function  # its spike function is replaced; no module of another library stays inside
    for name in _SJ_DYNAMICS:  # the node's own copies (0.0.0.0.14 keeps v_threshold and v_reset among its
        # memories) would be read by nothing: its class's properties answer instead
        for held in (node.__dict__, getattr(node, "_memories", {}), getattr(node, "_memories_rv", {})):
            held.pop(name, None)
    node.__class__ = _ADOPTED[key]
    # Everything the snnbench neuron's __init__ sets, except parameters the node already holds (PLIF's w).
    _take_state(node, reference)
    return node


def _library(module: nn.Module) -> str:
    return type(module).__module__.split(".")[0]


def map_spike_grad(spike_grad, where: str) -> Surrogate:
    """The snnbench surrogate with the derivative of snnTorch's ``atan(alpha)`` or ``sigmoid(slope)``."""
    name = getattr(spike_grad, "__qualname__", type(spike_grad).__name__)
    closure = dict(zip(getattr(getattr(spike_grad, "__code__", None), "co_freevars", ()),
                       (cell.cell_contents for cell in getattr(spike_grad, "__closure__", None) or ())))
    if getattr(spike_grad, "__module__", "") == "snntorch.surrogate":
        if name == "atan.<locals>.inner":
            return Surrogate("atan", float(closure["alpha"]))
        if name == "sigmoid.<locals>.inner":
            return Surrogate("sigmoid", float(closure["slope"]))
    raise ConversionError(f"{where}: no snnbench surrogate family for snnTorch's spike_grad {name}; convertible: "
                          f"snntorch.surrogate.atan(alpha), snntorch.surrogate.sigmoid(slope)")


def adopt_leaky(node: nn.Module, where: str = "the module") -> SpikingNeuron:
    """Turn one snnTorch ``Leaky``, in place, into :class:`SteppedLeaky` (same tensors, same operations)."""
    if type(node).__name__ != "Leaky" or _library(node) != "snntorch":
        raise ConversionError(f"{where}: no snnbench neuron for {type(node).__module__}.{type(node).__name__}; "
                              f"convertible: snnTorch Leaky")
    surrogate = _check_leaky(node, where)
    key = (SteppedLeaky, type(node))
    if key not in _ADOPTED:
        _ADOPTED[key] = type("SteppedLeakyFromLeaky", (SteppedLeaky, type(node)), {
            "__module__": __name__, "__doc__": "snnTorch's Leaky, run by snnbench's SteppedLeaky."})
    reference = SteppedNeuron(surrogate)
    del node.spike_grad
    node.__class__ = _ADOPTED[key]
    _take_state(node, reference)
    return node


# SpikingJelly's attributes of a neuron's dynamics → the value the converted neuron runs (snnbench's ``dynamics``).
_SJ_DYNAMICS: dict[str, Callable[[Any], Any]] = {
    "v_threshold": lambda d: d.threshold, "v_reset": lambda d: None if d.soft_reset else d.v_reset,
    "tau": lambda d: d.tau, "decay_input": lambda d: d.decay_input, "detach_reset": lambda d: d.detach_reset}


def _converted_value(name: str, value_of: Callable[[Any], Any]) -> property:
    """SpikingJelly's attribute ``name`` on a converted node: reads what the node runs; setting it is refused
    (the converted neuron's dynamics are fixed when it is converted: a new value would silently change nothing)."""
    def refuse(self: nn.Module, value: Any) -> None:
        raise ConversionError(f"{type(self).__name__}.{name} is fixed at conversion ({self.extra_repr()}): setting "
                              f"it to {value!r} would change nothing; convert a node built with {name}={value!r}")
    return property(lambda self: value_of(self.dynamics), refuse)


def _take_state(node: nn.Module, reference: SpikingNeuron) -> None:
    """Give an adopted node what the snnbench neuron's ``__init__`` sets (never its parameters or mode:
    the node keeps its own, such as the parametric LIF's ``w``)."""
    for attribute, value in vars(reference).items():
        if (not attribute.startswith("_") and attribute != "training") or attribute == "_constants":
            object.__setattr__(node, attribute, value)


def convert(model: nn.Module, *, backend: Optional[str] = None) -> nn.Module:
    """Convert every SpikingJelly and snnTorch neuron of ``model`` in place (see above); returns ``model``.

    Stops, naming the module, at anything it cannot convert exactly, and after converting checks that no
    spiking module outside snnbench's control is left. ``backend`` is the converted SpikingJelly layers'
    (default ``compiled``); snnTorch's ``Leaky`` layers run step by step in eager PyTorch
    (:mod:`snnbench.stepwise`), so any other ``backend`` asked of them is refused, not ignored.
    """
    if backend is not None:
        check_backend(backend)
    sj, leaky, dropouts = [], [], []
    for path, module in model.named_modules():
        if isinstance(module, SpikingNeuron):
            continue
        if _is_convertible_node(module):
            sj.append((path or "the model", module))
        elif (_is_spikingjelly(module) and type(module).__name__ in _SJ_DROPOUTS
              and type(module).__module__.rsplit(".", 1)[-1] == "layer"):
            dropouts.append((path, module))
        elif _library(module) == "snntorch" and type(module).__name__ == "Leaky":
            if backend not in (None, "eager"):
                raise ConversionError(f"{path or 'the model'}: snnTorch's Leaky runs step by step in eager PyTorch; "
                                      f"backend {backend!r} does not apply to it (convert with backend='eager')")
            leaky.append((path or "the model", module))
    # Everything is checked before anything changes: a refused model is left as it was, not half converted.
    chosen = {id(module) for _, module in sj + leaky + dropouts}
    left = [(path, m) for path, m in foreign_spiking_modules(model) if id(m) not in chosen]
    if left:
        raise ConversionError(f"cannot convert {len(left)} spiking module(s): {describe(left)}")
    replacements = [(path, _sequence_dropout(module, path)) for path, module in dropouts]
    for where, module in sj:
        _check_convertible(module, where)
    for where, module in leaky:
        _check_leaky(module, where)
    for where, module in sj:
        adopt(module, where, backend or "compiled")
    for where, module in leaky:
        adopt_leaky(module, where)
    for path, replacement in replacements:
        parent, _, name = path.rpartition(".")
        setattr(model.get_submodule(parent), name, replacement)
    return model


# SpikingJelly's dropout layers: name → channel-wise. They keep their mask as state (a memory) until reset_net,
# so they are replaced by SequenceDropout, which draws the same mask at every call (the identity in eval()).
_SJ_DROPOUTS = {"Dropout": False, "Dropout2d": True, "MultiStepDropout": False, "MultiStepDropout2d": True}


def _sequence_dropout(module: nn.Module, where: str) -> SequenceDropout:
    """The :class:`~snnbench.layers.SequenceDropout` for SpikingJelly's multi-step dropout ``module``."""
    name = type(module).__name__
    if not where:
        raise ConversionError(f"the model itself is SpikingJelly's {name}; convert a network that holds it")
    if not (name.startswith("MultiStep") or getattr(module, "step_mode", "s") == "m"):
        raise ConversionError(
            f"{where}: {name} runs one time step per call (a mask per call, kept across the steps until reset_net), "
            f"in a per-step loop snnbench cannot see; build the model with multi-step dropout (MultiStepDropout in "
            f"0.0.0.0.14, step_mode='m' in 2.x)")
    return SequenceDropout(module.p, _SJ_DROPOUTS[name]).train(module.training)


def _check_convertible(node: nn.Module, where: str) -> dict:
    """Every check :func:`adopt` makes, without changing ``node``; the snnbench neuron's arguments."""
    _multi_step(node, where)
    return _neuron_kwargs(node, NEURONS[type(node).__name__], where)


def _check_leaky(node: nn.Module, where: str) -> Surrogate:
    """Every check :func:`adopt_leaky` makes, without changing ``node``; its surrogate."""
    for flag, why in (("inhibition", "inhibition"), ("state_quant", "state quantisation"),
                      ("surrogate_disable", "surrogate_disable (no gradient at all)")):
        if getattr(node, flag, False):
            raise ConversionError(f"{where}: Leaky with {why} is not converted")
    if not getattr(node, "reset_delay", True):
        raise ConversionError(f"{where}: Leaky with reset_delay=False is not converted")
    # snnTorch binds the reset its forward applies when the layer is built; its reset_mechanism_val buffer
    # comes with a loaded state (or a later reset_mechanism=). Converted, the buffer decides: they must agree.
    applied = getattr(getattr(node, "state_function", None), "__name__", None)
    stated = {0: "_base_sub", 1: "_base_zero", 2: "_base_int"}.get(int(node.reset_mechanism_val))
    if applied is not None and applied != stated:
        names = {"_base_sub": "subtract", "_base_zero": "zero", "_base_int": "none"}
        raise ConversionError(
            f"{where}: Leaky's reset_mechanism_val says {names.get(stated, stated)!r} but its forward resets by "
            f"{names.get(applied, applied)!r} (bound when it was built; a loaded state or a later reset_mechanism= "
            f"changed only the first): rebuild it with the reset it was trained with before converting")
    return map_spike_grad(node.spike_grad, where)


def classifier(body: nn.Module, *, T: int, num_classes: int, mean: Sequence[float], std: Sequence[float],
               readout: Optional[Callable[[Any], Tensor]] = None, seed: int = 0) -> SpikingClassifier:
    """A converted network as a :class:`SpikingClassifier`; ``mean``/``std`` are the normalisation it was
    trained with, one entry per image channel (a network trained on raw ``[0, 1]`` RGB images:
    ``mean=(0.0,) * 3, std=(1.0,) * 3``). They have no default: the images' channels are not guessed.

    A multi-step network (SpikingJelly's) gets the normalised image repeated over ``T`` steps
    (``[T, B, C, H, W]``, as SpikingJelly's multi-step models take it), and its ``[T, B, K]`` output is
    averaged over time. A network with step-wise layers (snnTorch's) loops over time in its own code: it gets
    the normalised image ``[B, C, H, W]``, and ``readout`` turns whatever it returns into logits ``[B, K]``
    (for snnTorch's usual ``(spk_rec, mem_rec)``: ``lambda out: out[0].mean(0)``); ``T`` is its number of
    steps, for the record.
    """
    layers = spiking_layers(body)
    left = foreign_spiking_modules(body)
    if left or not layers:
        raise ConversionError(f"classifier() takes a converted network: {describe(left)} not converted"
                              if left else "classifier() takes a network with spiking layers; this one has none")
    first = layers[0].surrogate
    neuron = NeuronSpec("lif", surrogate=first.family, alpha=float(first.alpha))
    stepwise = [layer for layer in layers if not layer.whole_sequence]
    if stepwise and len(stepwise) != len(layers):
        raise ConversionError("classifier() takes a network whose spiking layers are all multi-step or all "
                              "step-wise, not a mix")
    if stepwise:
        if readout is None:
            raise ConversionError("a network that loops over time in its own code needs readout=: a function "
                                  "from its output to logits [B, K]")
        return LoopedClassifier(body, readout, T=T, num_classes=num_classes, mean=mean, std=std, seed=seed,
                                neuron=neuron)
    if readout is not None:
        raise ConversionError("readout= is for networks that loop over time in their own code; a multi-step "
                              "network's [T, B, K] output is averaged over time")
    for path, layer in body.named_modules():
        if type(layer) in _ADOPTED.values():
            layer.register_forward_pre_hook(_whole_sequence(path or "the body", T))
    return SpikingClassifier(body, T=T, num_classes=num_classes, mean=mean, std=std, seed=seed, neuron=neuron)


def _whole_sequence(where: str, T: int) -> Callable[[nn.Module, tuple], None]:
    """A pre-hook that refuses a call with other than ``T`` steps: SpikingJelly's multi-step node keeps its
    potential from call to call until ``reset_net``, the converted one runs a whole sequence from fresh state
    in every call, so a model that feeds a node a chunk or one step at a time would silently differ."""
    def check(module: nn.Module, args: tuple) -> None:
        steps = args[0].shape[0] if args and isinstance(args[0], Tensor) and args[0].dim() else None
        if steps != T:
            raise ConversionError(
                f"{where} ({type(module).__name__}) received {steps} time step(s) in one call, not the "
                f"classifier's T = {T}: SpikingJelly's node keeps its potential between calls, the converted one "
                f"starts every call from fresh state, so a model that feeds a node a chunk or one step at a time "
                f"cannot be converted")
    return check


class LoopedClassifier(SpikingClassifier):
    """A :class:`SpikingClassifier` around a network that loops over time in its own code (snnTorch style):
    ``readout(body(normalised images))`` → logits, every step-wise layer told first that a sequence begins."""

    def __init__(self, body: nn.Module, readout: Callable[[Any], Tensor], **kwargs: Any) -> None:
        super().__init__(body, **kwargs)
        self.readout = readout

    def forward(self, x: Tensor) -> Tensor:
        start_sequences(self.body)
        layers = spiking_layers(self.body)
        for layer in layers:
            if hasattr(layer, "reset_mem"):  # snnTorch's hidden state (init_hidden) starts from 0
                layer.reset_mem()
        logits = self.readout(self.body(self._normalise(x)))
        ran = {layer.step_index for layer in layers if isinstance(layer, SteppedNeuron)}
        if ran != {self.T}:  # T is recorded in every result: it must be what the network's own loop ran
            raise ValueError(f"the network's step-wise layers ran {', '.join(map(str, sorted(ran)))} step(s) in one "
                             f"call, but classifier() was given T = {self.T}")
        if logits.dim() != 2 or logits.shape[0] != x.shape[0]:
            raise ValueError(f"readout must give logits [B, K] = [{x.shape[0]}, {self.num_classes}], got "
                             f"{tuple(logits.shape)}")
        return logits

    def forward_steps(self, x: Tensor) -> Tensor:
        raise NotImplementedError("a network that loops over time in its own code has no [T, B, K] output of "
                                  "snnbench's; call the model for its logits")

    reference_steps = forward_steps



# ---- models that a card builds with a library's own code ---------------------------------------------------


@dataclass(frozen=True)
class LibraryBuilder:
    """A model builder of an installed library that a card may name as its architecture.

    This table is the allow-list: a card names an entry, never a module, so nothing else is ever imported.
    The card's ``neuron`` section (an snnbench kind and parameters) and training surrogate become the
    library's neuron class and arguments; the card's ``options`` are the builder's other keyword arguments.
    The built model is converted (:func:`convert`) and wrapped (:func:`classifier`). ``choices``: options a
    card must give, with the values the builder accepts (SpikingJelly's SEW ResNets take any ``cnf`` and fail
    only at the first forward pass, with an empty ``NotImplementedError``).
    """

    name: str
    module: str
    function: str
    neuron_argument: str
    neurons: Mapping[str, str]  # snnbench neuron kind → class in ``neuron_module``
    neuron_module: str
    surrogate_module: str
    datasets: tuple[str, ...]
    choices: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def import_builder(self) -> Callable[..., nn.Module]:
        library = self.module.split(".")[0]
        try:
            module = importlib.import_module(self.module)
        except ImportError:
            raise ConversionError(f"architecture {self.name!r} is built by {library}, which is not installed here "
                                  f"(pip install {library})") from None
        return getattr(module, self.function)

    def options(self) -> set[str]:
        """The builder's keyword arguments a card may set (those snnbench sets itself excluded)."""
        params = inspect.signature(self.import_builder()).parameters
        return set(params) - {self.neuron_argument, "T", "num_classes", "pretrained", "progress", "kwargs"}


_SJ = "spikingjelly.clock_driven"
_SJ_NEURONS = {"lif": "MultiStepLIFNode", "if": "MultiStepIFNode", "plif": "MultiStepParametricLIFNode"}
_SEW_CONNECTIONS = ("ADD", "AND", "IAND")  # sew_resnet.sew_function: x + y, x·y, x·(1 − y)
BUILDERS: dict[str, LibraryBuilder] = {b.name: b for b in (
    LibraryBuilder("spikingjelly.sew_resnet18", f"{_SJ}.model.sew_resnet", "multi_step_sew_resnet18",
                   "multi_step_neuron", _SJ_NEURONS, f"{_SJ}.neuron", f"{_SJ}.surrogate", ("cifar10", "cifar100"),
                   {"cnf": _SEW_CONNECTIONS}),
    LibraryBuilder("spikingjelly.sew_resnet34", f"{_SJ}.model.sew_resnet", "multi_step_sew_resnet34",
                   "multi_step_neuron", _SJ_NEURONS, f"{_SJ}.neuron", f"{_SJ}.surrogate", ("cifar10", "cifar100"),
                   {"cnf": _SEW_CONNECTIONS}),
    LibraryBuilder("spikingjelly.spiking_resnet18", f"{_SJ}.model.spiking_resnet", "multi_step_spiking_resnet18",
                   "multi_step_neuron", _SJ_NEURONS, f"{_SJ}.neuron", f"{_SJ}.surrogate", ("cifar10", "cifar100")),
)}
# snnbench surrogate family → SpikingJelly class and the factor that turns snnbench's α into its alpha.
_SJ_SURROGATES = {family: (cls, 1.0 / scale) for cls, (family, scale) in SURROGATES.items()}


def library_problems(name: str, options: Mapping[str, Any], neuron_kind: str) -> list[str]:
    """What is wrong with a card's architecture section that names a library builder (empty when nothing)."""
    builder = BUILDERS[name]
    if neuron_kind not in builder.neurons:
        return [f"neuron: {name} takes neurons of kind {', '.join(builder.neurons)}, not {neuron_kind!r}"]
    try:
        accepted = builder.options()
    except ConversionError as err:
        return [str(err)]
    unknown = sorted(set(options) - accepted)
    problems = [f"options: {name} has no option(s) {', '.join(unknown)}; it accepts {', '.join(sorted(accepted))}"] \
        if unknown else []
    for option, values in builder.choices.items():
        if option not in options:
            problems.append(f"options: {name} needs {option}, one of {', '.join(map(str, values))}")
        elif options[option] not in values:
            problems.append(f"options: {name}'s {option} must be one of {', '.join(map(str, values))}, got "
                            f"{options[option]!r}")
    return problems


def build_library_model(name: str, *, neuron_kind: str, neuron_params: Mapping[str, Any], surrogate: Surrogate,
                        T: int, num_classes: int, mean: Sequence[float], std: Sequence[float],
                        options: Mapping[str, Any], backend: str = "compiled") -> SpikingClassifier:
    """The model ``BUILDERS[name]`` builds with the library's own code, converted and wrapped."""
    builder = BUILDERS[name]
    problems = library_problems(name, options, neuron_kind)
    if problems:
        raise ConversionError(f"architecture {name!r}: " + "; ".join(problems))
    build = builder.import_builder()
    neuron_class = getattr(importlib.import_module(builder.neuron_module), builder.neurons[neuron_kind])
    if surrogate.family not in _SJ_SURROGATES:
        raise ConversionError(f"architecture {name!r}: SpikingJelly has no surrogate of family {surrogate.family!r}; "
                              f"choose one of {', '.join(_SJ_SURROGATES)}")
    surrogate_class, factor = _SJ_SURROGATES[surrogate.family]
    function = getattr(importlib.import_module(builder.surrogate_module), surrogate_class)(
        alpha=float(surrogate.alpha) * factor)
    params = dict(neuron_params)
    kwargs = {"v_threshold": float(params.pop("threshold", 1.0)), "detach_reset": params.pop("detach_reset", False),
              "surrogate_function": function}
    reset, v_reset = params.pop("reset", "hard"), float(params.pop("v_reset", 0.0))
    try:
        check_reset(reset, v_reset)
    except ValueError as err:
        raise ConversionError(f"architecture {name!r}: {err}") from None
    kwargs["v_reset"] = None if reset == "soft" else v_reset
    kwargs.update(params)  # tau, decay_input, init_tau: the same names in SpikingJelly
    body = build(T=T, num_classes=num_classes, **{builder.neuron_argument: neuron_class}, **options, **kwargs)
    return classifier(convert(body, backend=backend), T=T, num_classes=num_classes, mean=mean, std=std)
