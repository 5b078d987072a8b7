"""Counting the work an attack does: images passed forward and input gradients computed through a model."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from tqdm import tqdm

from .classifier import SpikingClassifier


@dataclass
class PassCounter:
    forward: int = 0
    backward: int = 0


@contextlib.contextmanager
def counted_passes(model: SpikingClassifier,
                   observe: Optional[Callable[[PassCounter], None]] = None) -> Iterator[PassCounter]:
    """Count images passed forward and input gradients computed through ``model`` inside the block.

    ``observe`` is called with the counter after every forward pass.
    """
    counter = PassCounter()

    def on_forward(module, args):
        counter.forward += len(args[0])
        if observe is not None:
            observe(counter)

    def on_backward(module, grad_input, grad_output):
        if grad_input[0] is not None:
            counter.backward += len(grad_input[0])

    handles = [model.register_forward_pre_hook(on_forward), model.register_full_backward_hook(on_backward)]
    try:
        yield counter
    finally:
        for handle in handles:
            handle.remove()


class LiveCount:
    """Shows the images passed forward so far on a progress bar, at most once per ``interval`` seconds.

    The bar itself advances one batch at a time, and a batch of Square on a stochastic model runs for minutes.
    """

    def __init__(self, bar: tqdm, before: int = 0, interval: float = 1.0) -> None:
        self.bar, self.before, self.interval = bar, before, interval
        self.shown_at = time.monotonic()

    def __call__(self, counter: PassCounter) -> None:
        now = time.monotonic()
        if now - self.shown_at >= self.interval:
            self.shown_at = now
            self.bar.set_postfix_str(f"{self.before + counter.forward:,} images forward")
