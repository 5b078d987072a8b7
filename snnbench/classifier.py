"""The model contract: :class:`SpikingClassifier` wraps a spiking body into an image classifier."""
from __future__ import annotations

import hashlib
import re
from typing import Sequence

import torch
from torch import Tensor, nn

from .encoding import DirectEncoding, PoissonEncoding, make_encoding
from .layers import TimeDistributed
from .neurons import NeuronSpec, spiking_layers
from .randomness import layer_seed


class SpikingClassifier(nn.Module):
    """Images ``[B, C, H, W]`` in ``[0, 1]`` → logits ``[B, K]``.

    Inside: normalisation (buffers) → encoding over ``T`` steps → body on ``[T, B, ...]`` → readout, the
    mean over time of the output layer. Every call starts from fresh neuron state, and input gradients flow
    through the surrogates in ``eval()`` mode, so the module can be attacked like any classifier.
    """

    # Buffers set from the configuration (the card's normalisation), never learned: weights loaded into the
    # model must hold the same values (snnbench.weights.load_state_strict), or the card would say one thing and
    # the evaluated model do another.
    CONFIGURED_BUFFERS = ("mean", "std")

    def __init__(self, body: nn.Module, *, T: int, num_classes: int, neuron: NeuronSpec,
                 mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,), encoding: str = "direct",
                 seed: int = 0) -> None:
        super().__init__()
        if T < 1:
            raise ValueError(f"T must be >= 1, got {T}")
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ValueError(f"mean {tuple(mean)} and std {tuple(std)} must have equal length and std > 0")
        self.T = T
        self.num_classes = num_classes
        self.neuron = neuron
        self.encoding_name = encoding
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.encoder = make_encoding(encoding, T)
        if isinstance(self.encoder, PoissonEncoding) and (any(m != 0 for m in mean) or any(s != 1 for s in std)):
            raise ValueError("Poisson encoding draws spikes from raw intensities in [0, 1]; "
                             "give it no normalisation (mean 0, std 1)")
        self.body = body
        # Set by snnbench.load_model: which card and which weights (sha256) this model was loaded from.
        self.provenance = None
        self.reseed(seed)

    @property
    def stochastic(self) -> bool:
        """True when two evaluations of the same input can differ (noise at evaluation, Poisson input)."""
        return any(getattr(m, "stochastic", False) for m in self.modules() if m is not self)

    @property
    def training_surrogate(self) -> tuple[str, float]:
        """The surrogate family and sharpness the model was trained with."""
        return self.neuron.surrogate, self.neuron.alpha

    def reseed(self, seed: int) -> None:
        """Restart every random stream (encoder, noisy neurons) from ``seed``; each gets its own seed."""
        streams = [m for m in self.modules() if hasattr(m, "reseed") and m is not self]
        for index, module in enumerate(streams):
            module.reseed(layer_seed(seed, index))

    def spiking_layers(self) -> list[nn.Module]:
        return spiking_layers(self)

    def forward(self, x: Tensor) -> Tensor:
        steps = self.forward_steps(x)
        if steps.dim() != 3 or tuple(steps.shape) != (self.T, x.shape[0], self.num_classes):
            # e.g. a converted body that averages over time itself ([B, K]: the mean below would be over the
            # batch) or returns batch-first [B, T, K]: wrong logits, or an error far from the cause
            raise ValueError(f"the body must return the output layer at every time step, [T, B, K] = "
                             f"[{self.T}, {x.shape[0]}, {self.num_classes}]; it returned {tuple(steps.shape)}")
        return steps.mean(0)

    def forward_steps(self, x: Tensor) -> Tensor:
        """The output layer at every time step, ``[T, B, K]``; :meth:`forward` is its mean over time.

        With direct encoding every step sees the same image, so stateless per-image layers at the head of
        the body run once on ``[B, ...]`` and their output is repeated over time (its gradient sums over
        time), instead of running ``T`` times on copies.
        """
        x = self._normalise(x)
        layers = list(self.body) if isinstance(self.body, nn.Sequential) else [self.body]
        head = layers[0]
        if isinstance(self.encoder, DirectEncoding) and isinstance(head, TimeDistributed) and head.per_image:
            once = head.images(x)
            h = once.unsqueeze(0).expand(self.T, *once.shape)
            for layer in layers[1:]:
                h = layer(h)
            return h
        return self.body(self.encoder(x))

    def reference_steps(self, x: Tensor) -> Tensor:
        """:meth:`forward_steps` the plain way — encode, then every layer in turn, nothing folded, compiled or hoisted."""
        folding = [m for m in self.body.modules() if isinstance(m, TimeDistributed)]
        for module in folding:
            module.fast_paths = False
        try:
            return self.body(self.encoder(self._normalise(x)))
        finally:
            for module in folding:
                del module.fast_paths  # back to the class default

    def _normalise(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.mean.shape[1]:
            raise ValueError(f"expected images [B, {self.mean.shape[1]}, H, W] in [0, 1], "
                             f"got a tensor of shape {tuple(x.shape)}")
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"T={self.T}, num_classes={self.num_classes}, encoding={self.encoding_name}"

    def fingerprint(self) -> str:
        """sha256 of what the model computes: every tensor of its state (weights and buffers: name, dtype,
        shape, bytes), ``T``, the encoding, and each spiking layer's class and configuration (its kernel
        backend and its noise stream's current seed aside: neither is what the model is)."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.state_dict().items()):
            tensor = tensor.detach().cpu().contiguous()
            digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
            digest.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else
                          tensor.view(torch.int16).numpy().tobytes())
        # Neither the kernel backend nor where a noise stream stands (reseeded by every attack) is part of it.
        layers = [f"{type(m).__name__}({re.sub(r', (backend=[a-z]+|seed=-?[0-9]+)', '', m.extra_repr())})"
                  for m in spiking_layers(self)]
        digest.update(f"T={self.T}|encoding={self.encoding_name}|{';'.join(layers)}".encode())
        return digest.hexdigest()
