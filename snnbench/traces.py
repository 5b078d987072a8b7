"""Convergence traces: loss and accuracy against iteration for each gradient attack of a benchmark.

AutoAttack users check that an attack has converged by watching its loss and the robust accuracy flatten out
over the iterations. Here every gradient entry of the benchmark (its first run, as the protocol runs it:
its own seed, its budgets) attacks the clean-correct samples among the first ``n`` images, and each gradient
evaluation ``t`` records

    accuracy_t = 100 · |{i : not fooled by iteration t}| / |attacked|,
    loss_t     = mean over the samples still attacked of the attack's own loss (its ``loss_label``),

where "still attacked" are the samples no earlier iteration fooled (attacks drop fooled samples, whose result
is fixed). For an attack with several passes (APGD-T's targets, SA-PGD's ``A_values``) ``t`` runs on
across them. A trace is a diagnostic on a small sample, never a board figure; it changes no attack.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from torch import Tensor

from .classifier import SpikingClassifier
from .datasets import PathLike
from .evaluation_plan import plan_evaluation
from .protocol import Benchmark, load_protocol
from .randomness import derive_seed
from .runner import judge


@dataclass
class Trace:
    """One attack's trace over the ``attacked`` samples: a value per gradient evaluation, then the final point
    as the board judges it (for a stochastic model: correct in every one of the benchmark's passes)."""

    name: str
    attacked: int
    loss_label: str = "ce"  # the attack's loss (:attr:`snnbench.attacks.core.Attack.loss_label`)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    final: Optional[float] = None  # the accuracy of the attack's output, judged as the board judges

    def record(self, loss: Tensor, logits: Tensor, y: Tensor) -> None:
        """The observer of :meth:`snnbench.attacks.core.Attack.run`: the rows it gets are the samples not fooled
        so far (attacks drop the others), so those still classified right at this iterate are the robust ones.
        Targeted losses pass ``[true, target]`` label pairs."""
        true = y if y.dim() == 1 else y[:, 0]
        robust = int((logits.argmax(1) == true).sum())
        self.loss.append(float(loss.mean()) if len(loss) else float("nan"))
        self.accuracy.append(100.0 * robust / max(1, self.attacked))


def attack_traces(model: Union[str, SpikingClassifier], benchmark: Union[str, Benchmark], *,
                  n_examples: int = 100, name: Optional[str] = None, device: str = "cpu",
                  zoo: Optional[PathLike] = None) -> list[Trace]:
    """Trace every gradient entry of ``benchmark`` (first run each) on the clean-correct samples among its
    first ``n_examples`` images, one batch."""
    bench = benchmark if isinstance(benchmark, Benchmark) else load_protocol().benchmark(benchmark)
    plan = plan_evaluation(model, bench, name=name, n_examples=n_examples, batch_size=n_examples, device=device,
                           zoo=zoo)
    images, labels = plan.images()
    net = plan.subject.model
    seed = plan.settings.seed
    correct = judge(net, images, labels, bench, seed, "clean/0")
    x, y = images[correct], labels[correct]
    eot = bench.stochastic.eot if net.stochastic else 1
    traces = []
    for entry in bench.attacks:
        if entry.gradient_free:
            continue
        attack = entry.build(bench.epsilon, derive_seed(seed, entry.name, 0), eot)
        trace = Trace(entry.name, len(y), attack.loss_label)
        run = attack.run(net, x, y, trace.record)
        survived = judge(net, run.x_adv, y, bench, seed, f"{entry.name}/trace")
        trace.final = 100.0 * int(survived.sum()) / len(y) if len(y) else 100.0
        traces.append(trace)
    return traces
