"""snnbench: an adversarial-robustness benchmark for spiking neural networks.

Public surface: load a registered model with :func:`load_model` (:func:`list_models` names them); build
new ones with :func:`create_model`; run a benchmark's protocol on either with :func:`evaluate`; choose how
attacks differentiate through spikes
with :func:`gradient_mode`; attacks in :mod:`snnbench.attacks`; the spiking layers in
:mod:`snnbench.neurons`, surrogates in :mod:`snnbench.surrogates`, data in :mod:`snnbench.datasets` and
:mod:`snnbench.eval_subsets`.
"""
from .architectures import create_model, list_architectures
from .classifier import SpikingClassifier
from .eval_subsets import load_eval_subset
from .evaluation import evaluate
from .gradient_modes import gradient_mode
from .neurons import IF, LIF, PSN, NeuronSpec, NoisyLIF, set_backend, spiking_layers
from .surrogates import Surrogate
from .zoo import list_models, load_model

__version__ = "0.1.0"

__all__ = [
    "IF", "LIF", "PSN", "NeuronSpec", "NoisyLIF", "SpikingClassifier", "Surrogate", "create_model",
    "evaluate", "gradient_mode", "list_architectures", "list_models", "load_eval_subset", "load_model", "set_backend",
    "spiking_layers", "__version__",
]
