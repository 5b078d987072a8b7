"""Spiking modules that snnbench does not control, found so that nothing is ever silently not attacked.

snnbench differentiates through spikes by installing a backward path on its own spiking layers
(:class:`snnbench.neurons.SpikingNeuron`). A neuron module of another library fires through its own spike
function, which no gradient mode reaches: an attack would run through that library's fixed surrogate (or,
in SpikingJelly 0.0.0.0.14's multi-step ``eval()``, through no gradient at all) while claiming ASSG. So every
gradient mode refuses a model that holds one, naming it.

Recognised without importing either library (snnbench never imports them):

* SpikingJelly's neurons and surrogate modules, 0.0.0.0.14 (``spikingjelly.clock_driven``) and 2.x
  (``spikingjelly.activation_based``): any class whose ancestry holds ``BaseNode`` or
  ``SurrogateFunctionBase`` from a ``spikingjelly`` module;
* snnTorch's neurons (``Leaky``, ``Synaptic``, ``Lapicque``, ``Alpha``, ``RLeaky``, ...): ancestry holding
  ``SpikingNeuron`` from an ``snntorch`` module;
* anything else that carries a spike function of its own: an attribute ``surrogate_function``, ``spike_grad``
  or ``spike_fn``;
* spike functions of either library called by a module of the model's own (a hand-written neuron that fires
  through ``spikingjelly...surrogate.atan.apply``): no module shows them, so the attacks look for them in the
  backward graph of their first gradient (:func:`foreign_spike_functions`) and refuse the model there;
* SpikingJelly modules that keep state between calls (a ``MemoryModule`` with registered memories, such as
  ``SynapseFilter`` or ``NeuNorm``: snnbench starts every call from fresh state and would not reset them, so
  one image would give other logits on every call) and its encoders (``PoissonEncoder`` draws from the global
  generator, ``LatencyEncoder`` keeps state): the model would not be the one the user evaluates.
"""
from __future__ import annotations

from torch import Tensor, nn

from .neurons import SpikingNeuron

LIBRARY_BASES = {
    "spikingjelly": ("BaseNode", "SurrogateFunctionBase"),
    "snntorch": ("SpikingNeuron",),
}
SPIKE_FUNCTION_ATTRIBUTES = ("surrogate_function", "spike_grad", "spike_fn")


def _is_foreign(module: nn.Module) -> bool:
    if isinstance(module, SpikingNeuron):
        return False
    for cls in type(module).__mro__:
        library = cls.__module__.split(".")[0]
        if cls.__name__ in LIBRARY_BASES.get(library, ()):
            return True
    parts = type(module).__module__.split(".")
    if parts[0] == "spikingjelly" and (getattr(module, "_memories", None) or "encoding" in parts):
        return True  # state kept between calls, or an encoder (random or stateful)
    return any(hasattr(module, name) for name in SPIKE_FUNCTION_ATTRIBUTES)


def foreign_spiking_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(path, module)`` of every spiking module of ``model`` that snnbench does not control, outermost only
    (a SpikingJelly node's own surrogate module is not listed again)."""
    found: list[tuple[str, nn.Module]] = []
    for path, module in model.named_modules():
        if any(path.startswith(outer + ".") or outer == "" for outer, _ in found):
            continue
        if _is_foreign(module):
            found.append((path, module))
    return found


def foreign_spike_functions(output: Tensor) -> list[str]:
    """The autograd functions of SpikingJelly or snnTorch in ``output``'s backward graph (``module.Class``, sorted):
    the spike functions that code of the model's own calls, which no gradient mode reaches."""
    found: set[str] = set()
    seen: set = set()
    stack = [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        function = getattr(node, "_forward_cls", None)  # set on the nodes of custom autograd functions
        if function is not None and function.__module__.split(".")[0] in LIBRARY_BASES:
            found.add(f"{function.__module__}.{function.__qualname__}")
        stack.extend(parent for parent, _ in node.next_functions)
    return sorted(found)


def describe(modules: list[tuple[str, nn.Module]], most: int = 4) -> str:
    """``features.2 (spikingjelly.clock_driven.neuron.LIFNode), ...`` — at most ``most``, then a count."""
    named = [f"{path or '<the model itself>'} ({type(m).__module__}.{type(m).__qualname__})"
             for path, m in modules[:most]]
    more = f" and {len(modules) - most} more" if len(modules) > most else ""
    return ", ".join(named) + more


class ForeignSpikingModules(ValueError):
    """The model holds spiking modules that snnbench's gradient modes cannot reach."""


class NoSpikingLayers(ValueError):
    """A gradient mode was asked for on a model without any snnbench spiking layer."""


def check_controllable(model: nn.Module, mode: str) -> int:
    """The number of snnbench spiking layers ``mode`` will be installed on; raises when that would leave
    spiking modules of ``model`` uncontrolled, or when there is no spiking layer for a spiking mode."""
    foreign = foreign_spiking_modules(model)
    if foreign:
        raise ForeignSpikingModules(
            f"gradient mode {mode!r} cannot reach {len(foreign)} spiking module(s) that snnbench does not "
            f"control: {describe(foreign)}. Convert a SpikingJelly or snnTorch model with "
            f"snnbench.interop.convert(model); rebuild any other with snnbench's spiking layers (snnbench.LIF, "
            f"snnbench.IF, snnbench.create_model)")
    layers = sum(isinstance(m, SpikingNeuron) for m in model.modules())
    if layers == 0 and mode != "none":
        raise NoSpikingLayers(
            f"{type(model).__name__} has no snnbench spiking layer, so gradient mode {mode!r} would change "
            f"nothing. If it spikes through code of its own, snnbench cannot attack it faithfully; if it is not "
            f"a spiking network, use gradient mode 'none' (GradientSpec('none'))")
    if layers and mode == "none":
        raise ValueError(f"gradient mode 'none' is for networks without spikes; {type(model).__name__} has "
                         f"{layers} spiking layer(s): choose how to differentiate them ('surrogate', 'assg', ...)")
    return layers
