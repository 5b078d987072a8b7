"""Running an evaluation plan: clean accuracy and checks, then each run of :mod:`snnbench.schedule`, batch by
batch, with its progress in a resumable :class:`EvaluationState`.

Each batch of each run has its own seed, derived from ``(seed, run name, batch index)``, so the evaluation can
stop after any batch and resume from its state file to exactly the result of an uninterrupted run. A
stochastic model is attacked with EoT and counts as correct on an input only if it is correct in every one
of the protocol's noisy forward passes (:func:`judge`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from .classifier import SpikingClassifier
from .counting import LiveCount, counted_passes
from .evaluation_plan import EvaluationPlan
from .files import atomic_write_text
from .gradient_modes import inapplicable
from .protocol import Benchmark
from .randomness import derive_seed
from .schedule import Run, runs, samples_attacked
from .sharding import Shard

if TYPE_CHECKING:
    from .reuse import Carryover


@dataclass
class AttackProgress:
    """One run's state: which samples it attacks, how far it got, what it found."""

    samples: list[int]
    done_batches: int = 0
    fooled: list[int] = field(default_factory=list)
    seconds: float = 0.0
    forward: int = 0
    backward: int = 0
    not_applicable: Optional[str] = None  # why the attack cannot run on this model (then it sees no sample)
    gradient_layers: Optional[int] = None  # fewest spiking layers its gradient mode ran on, over its batches
    reused: Optional[str] = None  # the earlier result this run was carried over from (:mod:`snnbench.reuse`)


@dataclass
class EvaluationState:
    """Everything an evaluation has measured so far; ``attacks`` holds the runs in the order they ran."""

    key: str
    clean: Optional[list[bool]] = None
    deterministic: Optional[bool] = None
    zero_gradient: Optional[int] = None
    attacks: dict[str, AttackProgress] = field(default_factory=dict)
    clean_seconds: float = 0.0

    def save(self, path: Optional[Path]) -> None:
        if path is None:
            return
        data = {"key": self.key, "clean": self.clean, "deterministic": self.deterministic,
                "zero_gradient": self.zero_gradient, "clean_seconds": self.clean_seconds,
                "attacks": {name: vars(p) for name, p in self.attacks.items()}}
        atomic_write_text(path, json.dumps(data))

    @classmethod
    def load(cls, path: Optional[Path], key: str) -> "EvaluationState":
        if path is None or not path.exists():
            return cls(key)
        try:
            data = json.loads(path.read_text())
            if data["key"] != key:
                raise ValueError(f"{path} belongs to another evaluation (model, benchmark or settings differ); "
                                 f"delete it or evaluate without --resume")
            attacks = {name: AttackProgress(**p) for name, p in data.pop("attacks").items()}
            return cls(**data, attacks=attacks)
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{path} is not an evaluation state file ({type(err).__name__}: {err}); delete it "
                             f"to start over") from None

    def first_to_fool(self, run: Run) -> int:
        """How many samples ``run`` fooled that no run before it (in the order they ran) had fooled."""
        before: set[int] = set()
        for name, progress in self.attacks.items():
            if name == run.name:
                return len(set(progress.fooled) - before)
            before.update(progress.fooled)
        raise KeyError(f"{run.name} has not run")

    @property
    def seconds(self) -> float:
        return self.clean_seconds + sum(p.seconds for p in self.attacks.values())


@torch.no_grad()
def judge(model: SpikingClassifier, x: Tensor, y: Tensor, bench: Benchmark, seed: int, purpose: str) -> Tensor:
    """Per sample: ``model`` (in ``eval()``) classifies ``x`` correctly — for a stochastic model, in every one of
    the benchmark's ``passes`` noisy forward passes, pass ``k`` seeded by ``(seed, "judge", purpose, k)``."""
    model.eval()
    passes = bench.stochastic.passes if model.stochastic else 1
    ok = torch.ones(len(y), dtype=torch.bool, device=y.device)
    for k in range(passes):
        model.reseed(derive_seed(seed, "judge", purpose, k))
        ok &= model(x).argmax(1) == y
    return ok


class Runner:
    """Runs a plan's checks and runs on its images, keeping every step in an :class:`EvaluationState`.

    With a :class:`~snnbench.sharding.Shard` of ``W`` processes, this process runs the batches it owns of each
    run and keeps only those in its state; after each run the ranks' shares are merged, in memory, into the
    state one process would hold (every rank computes the cheap clean pass and checks in full).
    """

    def __init__(self, plan: EvaluationPlan, images: Tensor, labels: Tensor, progress: bool = False,
                 shard: Shard = Shard()) -> None:
        self.plan, self.model, self.bench = plan, plan.subject.model, plan.bench
        self.images, self.labels = images, labels
        self.progress, self.shard = progress and shard.rank == 0, shard
        self.seed = plan.settings.seed
        self.eot = self.bench.stochastic.eot if self.model.stochastic else 1

    def batches(self, indices: list[int]) -> list[list[int]]:
        size = self.plan.settings.batch_size
        return [indices[i:i + size] for i in range(0, len(indices), size)]

    def execute(self, state: EvaluationState, path: Optional[Path],
                log: Optional[Callable[[str], None]] = None,
                carry: Optional["Carryover"] = None) -> tuple[EvaluationState, list[Run]]:
        """Run everything ``state`` (this process's share, saved to ``path``) does not hold yet; return the
        merged state of all processes and the runs of the schedule, in order. ``log`` (on rank 0 only) gets the
        clean accuracy, then each run's line as it is merged: the robust accuracy after it, as AutoAttack logs.
        ``carry`` (one process only) supplies the runs an earlier result already ran, along the common prefix of
        the two schedules (:mod:`snnbench.reuse`)."""
        if carry is not None and self.shard.world > 1:
            raise ValueError("carrying runs over from an earlier result (--reuse) works in one process; run "
                             "without torchrun, or without --reuse")
        log = log if self.shard.rank == 0 else None
        if state.clean is None:
            start = time.perf_counter()
            state.clean = self._clean()
            state.deterministic = self.deterministic()
            state.zero_gradient = self.zero_gradients(state.clean)
            state.clean_seconds = time.perf_counter() - start
            state.save(path)
        merged = EvaluationState(state.key, state.clean, state.deterministic, state.zero_gradient,
                                 clean_seconds=state.clean_seconds)
        n, correct = len(self.labels), sum(state.clean)
        if log is not None:
            log(f"{'clean':<24} accuracy {100.0 * correct / n:5.1f}%  ({correct} of {n} images)")
        if carry is not None:
            carry.check_clean(state.clean)
        done = []
        for position, run in enumerate(runs(self.bench, len(self.labels), merged.first_to_fool)):
            if run.name in state.attacks and state.attacks[run.name].reused is None:
                carry = None  # resumed past the end of the common prefix
            if run.name not in state.attacks:
                reason = self._inapplicable(run)
                samples = [] if reason else self._samples_for(run, merged)
                taken = None if carry is None else carry.take(position, run, samples, self.plan.settings.batch_size)
                if taken is None:
                    carry = None  # the schedules part here: this run and every later one runs anew
                state.attacks[run.name] = taken or AttackProgress(samples=samples, not_applicable=reason)
                if taken is not None:
                    state.save(path)
            self._run(run, state, path)
            merged.attacks[run.name] = _merge(state.attacks[run.name], self.shard.gather(state.attacks[run.name]))
            done.append(run)
            if log is not None:
                log(_run_line(run, merged, correct, n))
        return merged, done

    # --- checks -----------------------------------------------------------------------------------------

    def _clean(self) -> list[bool]:
        flags = []
        for batch in self.batches(list(range(len(self.labels)))):
            flags += self.judge_clean(batch)
        with torch.no_grad():
            logits = self.model(self.images[:self.plan.settings.batch_size])
        if not bool(torch.isfinite(logits).all()):
            raise ValueError("the model's logits on the benchmark's images are not finite (NaN or inf): its "
                             "accuracy would mean nothing")
        return flags

    @torch.no_grad()
    def deterministic(self) -> bool:
        """The same input gives the same logits twice (a model declared stochastic passes by declaration)."""
        if self.model.stochastic:
            return True  # declared stochastic: nothing to check
        x = self.images[:self.plan.settings.batch_size]
        return bool(torch.equal(self.model(x), self.model(x)))

    def zero_gradients(self, clean: list[bool]) -> int:
        """How many clean-correct samples have an input gradient of exactly zero through the training surrogate."""
        indices = [i for i, ok in enumerate(clean) if ok]
        zero = 0
        self.model.eval()
        for batch in self.batches(indices):
            self.model.reseed(derive_seed(self.seed, "zero-gradient", batch[0]))
            x = self.images[batch].clone().requires_grad_(True)
            loss = F.cross_entropy(self.model(x), self.labels[batch], reduction="sum")
            (grad,) = torch.autograd.grad(loss, x)
            zero += int((grad.flatten(1).abs().amax(1) == 0).sum())
        return zero

    # --- runs -------------------------------------------------------------------------------------------

    def _inapplicable(self, run: Run) -> Optional[str]:
        """Why the run's gradient mode cannot differentiate this model; the headline attacks must apply."""
        entry = run.entry
        reason = None if entry.gradient is None else inapplicable(entry.gradient.mode, self.model)
        if reason and entry.role != "extra":
            raise ValueError(f"{self.bench.name}: the {entry.role} attack {entry.name} cannot run on this model: "
                             f"{reason}")
        return reason

    @staticmethod
    def _samples_for(run: Run, state: EvaluationState) -> list[int]:
        return samples_attacked(state.clean, (p.fooled for p in state.attacks.values()), run.on_clean)

    def _run(self, run: Run, state: EvaluationState, path: Optional[Path]) -> None:
        """This process's batches of ``run``; ``done_batches`` counts them, in order."""
        progress = state.attacks[run.name]
        batches = self.batches(progress.samples)
        mine = [index for index in range(len(batches)) if self.shard.owns(index)]
        bar = tqdm(total=sum(len(batches[i]) for i in mine), desc=run.name, unit="img", disable=not self.progress,
                   dynamic_ncols=True, initial=sum(len(batches[i]) for i in mine[:progress.done_batches]))
        for k in range(progress.done_batches, len(mine)):
            index = mine[k]
            live = LiveCount(bar, before=progress.forward) if self.progress else None
            outcome = self.attack_batch(run, batches[index], index, live)
            if outcome.layers is not None:
                progress.gradient_layers = min(outcome.layers, progress.gradient_layers or outcome.layers)
            progress.fooled += outcome.fooled
            progress.seconds += outcome.seconds
            progress.forward += outcome.forward
            progress.backward += outcome.backward
            progress.done_batches = k + 1
            state.save(path)
            bar.update(len(batches[index]))
        bar.close()

    def attack_batch(self, run: Run, batch: list[int], index: int,
                     observe: Optional[LiveCount] = None) -> "BatchOutcome":
        """Batch ``index`` of ``run`` (the samples ``batch``): attack with the batch's own seed, then judge."""
        start = time.perf_counter()
        with counted_passes(self.model, observe) as counter:
            attack = run.entry.build(self.bench.epsilon, derive_seed(self.seed, run.name, index), self.eot)
            x, y = self.images[batch], self.labels[batch]
            outcome = attack.run(self.model, x, y)
            survived = judge(self.model, outcome.x_adv, y, self.bench, self.seed, f"{run.name}/{index}")
        fooled = [i for i, ok in zip(batch, survived.tolist()) if not ok]
        layers = outcome.layers if outcome.gradient_mode is not None else None
        return BatchOutcome(fooled, counter.forward, counter.backward, time.perf_counter() - start, layers)

    def judge_clean(self, batch: list[int]) -> list[bool]:
        """Clean correctness of the samples ``batch``, judged as the clean pass judges them. The clean pass's
        purpose names the batch by its first sample, so ``batch`` must be one of :meth:`batches` of all samples."""
        return judge(self.model, self.images[batch], self.labels[batch], self.bench, self.seed,
                     f"clean/{batch[0]}").tolist()


def _run_line(run: Run, merged: EvaluationState, correct: int, n: int) -> str:
    """``run``'s log line: the robust accuracy once it has run (the headline so far), and what it did."""
    progress = merged.attacks[run.name]
    if progress.not_applicable:
        return f"{run.name:<24} not applicable: {progress.not_applicable}"
    fooled = {i for p in merged.attacks.values() for i in p.fooled}
    return (f"{run.name:<24} robust {100.0 * (correct - len(fooled)) / n:5.1f}%  (attacked {len(progress.samples)}, "
            f"first to fool {merged.first_to_fool(run)}, {progress.seconds:.0f} s"
            f"{f'; carried over from the {progress.reused}' if progress.reused else ''})")


def _merge(mine: AttackProgress, shares: list[AttackProgress]) -> AttackProgress:
    """One run's progress over all processes (``shares`` in rank order; just ``[mine]`` in one process): the
    samples fooled in any share, in the order of the run's samples, and the costs summed."""
    if len(shares) == 1:
        return mine
    fooled = set().union(*(share.fooled for share in shares))
    layers = [share.gradient_layers for share in shares if share.gradient_layers is not None]
    return AttackProgress(samples=list(mine.samples), done_batches=sum(share.done_batches for share in shares),
                          fooled=[i for i in mine.samples if i in fooled],
                          seconds=sum(share.seconds for share in shares),
                          forward=sum(share.forward for share in shares),
                          backward=sum(share.backward for share in shares),
                          not_applicable=mine.not_applicable, gradient_layers=min(layers) if layers else None,
                          reused=mine.reused)


@dataclass(frozen=True)
class BatchOutcome:
    fooled: list[int]  # the batch's samples the attack fooled
    forward: int
    backward: int
    seconds: float
    layers: Optional[int]  # spiking layers the gradient mode ran on (None: gradient-free)
