"""``evaluate()``: run a benchmark's protocol on a model and return its :class:`~snnbench.results.Result`.

Clean accuracy first; then every attack of the protocol in order, each on its samples (every clean-correct
sample, or the survivors of the attacks before it), batch by batch. Each batch of each attack has its own
seed derived from the protocol seed, so the run can stop after any batch and resume from its state file to
exactly the result of an uninterrupted run. A stochastic model is attacked with EoT and counts as correct
on an input only if it is correct in every one of the protocol's noisy forward passes.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Union

import torch
import torch.nn.functional as F
from safetensors.torch import save as save_safetensors
from torch import Tensor
from tqdm import tqdm

from .allocator import retain_freed_memory
from .cards import ModelCard, Paper, name_problems
from .classifier import SpikingClassifier
from .datasets import PathLike
from .eval_subsets import first_test_images, load_eval_subset
from .files import atomic_write_text
from .gradient_modes import inapplicable
from .neurons import spiking_layers
from .protocol import AttackEntry, Benchmark, load_protocol
from .randomness import derive_seed
from .results import AttackOutcome, Diagnostic, Environment, ModelSummary, Result, flags_digest
from .zoo import list_models, load_model, model_card, repository_zoo


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


@dataclass
class AttackProgress:
    """One attack's state: which samples it attacks, how far it got, what it found."""

    samples: list[int]
    done_batches: int = 0
    fooled: list[int] = field(default_factory=list)
    seconds: float = 0.0
    forward: int = 0
    backward: int = 0
    not_applicable: Optional[str] = None  # why the attack cannot run on this model (then it sees no sample)
    gradient_layers: Optional[int] = None  # fewest spiking layers its gradient mode ran on, over its batches


@dataclass
class EvaluationState:
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
        data = json.loads(path.read_text())
        if data["key"] != key:
            raise ValueError(f"{path} belongs to another evaluation (model, benchmark or settings differ); "
                             f"delete it or evaluate without --resume")
        attacks = {name: AttackProgress(**p) for name, p in data.pop("attacks").items()}
        return cls(**data, attacks=attacks)


def evaluate(model: Union[str, SpikingClassifier], benchmark: Union[str, Benchmark], *,
             name: Optional[str] = None, n_examples: Optional[int] = None, batch_size: Optional[int] = None,
             device: Union[str, torch.device] = "cpu", seed: Optional[int] = None,
             resume: Optional[PathLike] = None, fresh: bool = False, data_root: Optional[PathLike] = None,
             progress: bool = False, zoo: Optional[PathLike] = None) -> Result:
    """Evaluate ``model`` on ``benchmark`` (like RobustBench's ``benchmark()``).

    ``model`` is a zoo name, a model from :func:`snnbench.load_model`, or any :class:`SpikingClassifier`
    (from :func:`snnbench.create_model` or built by hand) together with a ``name`` for the result. The protocol
    reads the rest from the model: its spiking layers' own surrogates are the training surrogate that prior
    practice differentiates with, and ``model.stochastic`` says whether it is attacked with EoT. Only a zoo
    card makes a result official; a model without one gets an unofficial result, and its name may not be a
    card's. ``n_examples``, ``batch_size`` and ``seed`` default to the protocol's; any other value makes the
    result unofficial. ``resume`` is a state file, or a folder that holds one state file per evaluation (named
    by a digest of everything that determines the result: model, weights, card, benchmark version and
    settings, snnbench's version), so that runs of other settings never touch each other's progress.
    Progress is saved there after every batch, and a run that finds its state continues where the last one
    stopped; ``fresh`` discards this evaluation's state first. A folder keeps only unfinished evaluations. Calls :func:`snnbench.allocator.retain_freed_memory`.
    """
    retain_freed_memory()
    protocol = load_protocol()
    bench = benchmark if isinstance(benchmark, Benchmark) else protocol.benchmark(benchmark)
    subject = _subject(model, name, zoo, device)
    model = subject.model
    if subject.card is not None and subject.card.dataset != bench.dataset:
        raise ValueError(f"{subject.name} is a {subject.card.dataset} model; benchmark {bench.name} is on "
                         f"{bench.dataset}")
    for option, value in (("n_examples", n_examples), ("batch_size", batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{option} must be a whole number of at least 1, got {value!r}")
    settings = {"n_examples": bench.n_examples if n_examples is None else n_examples,
                "batch_size": bench.batch_size if batch_size is None else batch_size,
                "seed": bench.seed if seed is None else seed}
    _check_finite(subject)
    departures = _departures(bench, subject, settings)
    if bench.name not in protocol.benchmarks or bench != protocol.benchmark(bench.name):
        departures.append(f"the benchmark's settings are not those of {bench.label} in force")
    images, labels = _benchmark_data(bench, settings["n_examples"], data_root)
    images, labels = images.to(device), labels.to(device)
    run = _Evaluation(model, bench, settings, images, labels, progress)
    from . import __version__

    key = json.dumps([subject.name, subject.weights_sha256, subject.card_sha256, bench.name, bench.version,
                      bench.fingerprint(), settings, __version__])
    state_path = state_file(resume, subject.name, key)
    if fresh and state_path is not None:
        state_path.unlink(missing_ok=True)
    state = EvaluationState.load(state_path, key)
    run.execute(state, state_path)
    seconds = state.clean_seconds + sum(p.seconds for p in state.attacks.values())
    result = run.result(state, subject, bench.version, departures, seconds, str(device))
    if resume is not None and Path(resume).is_dir():
        state_path.unlink(missing_ok=True)  # done: a folder keeps only unfinished evaluations
    return result


def state_file(resume: Optional[PathLike], name: str, key: str) -> Optional[Path]:
    """The state file of the evaluation ``key``: ``resume`` itself, or inside the folder ``resume``."""
    if resume is None:
        return None
    resume = Path(resume)
    if resume.is_dir():
        return resume / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.state.json"
    return resume


@dataclass(frozen=True)
class Subject:
    """What a result is about: a zoo card's model, or a model without a card that the caller named."""

    name: str
    model: SpikingClassifier
    card: Optional[ModelCard]
    weights_sha256: str  # the evaluated weights

    @property
    def card_sha256(self) -> Optional[str]:
        """sha256 of the card file's bytes (None without a card)."""
        if self.card is None or self.card.path is None:
            return None
        return hashlib.sha256(self.card.path.read_bytes()).hexdigest()

    @property
    def registered_fingerprint(self) -> Optional[str]:
        """The fingerprint of the model as its card builds it with the card's weights, loaded afresh."""
        if self.card is None or self.card.path is None:
            return None
        return load_model(self.card.name, zoo=self.card.path.parent.parent, backend="eager").fingerprint()


def _subject(model: Union[str, SpikingClassifier], name: Optional[str], zoo: Optional[PathLike],
             device: Union[str, torch.device]) -> Subject:
    if isinstance(model, str):
        if name is not None and name != model:
            raise ValueError(f"name {name!r}: a zoo model's results carry its card's name, {model!r}")
        model = load_model(model, device=device, zoo=zoo)
    if not isinstance(model, SpikingClassifier):
        raise TypeError(f"evaluate() takes a zoo name or a snnbench.SpikingClassifier, not {type(model).__name__}; "
                        f"build the model with snnbench.create_model or snnbench's spiking layers")
    model = model.to(device).eval()
    if model.provenance is not None:
        if name is not None and name != model.provenance.card:
            raise ValueError(f"name {name!r}: a model from load_model() is evaluated under its card's name, "
                             f"{model.provenance.card!r}")
        return Subject(model.provenance.card, model, model_card(model.provenance.card, zoo=zoo),
                       model.provenance.sha256)
    if name is None:
        raise ValueError("evaluate() needs a name for a model without a zoo card: evaluate(model, benchmark, "
                         "name='my-snn')")
    if name in list_models(zoo=zoo):
        raise ValueError(f"name {name!r} is a zoo card's; a model without that card cannot be filed under it. "
                         f"Choose another name, or load the card's model with load_model({name!r})")
    name_problem = next(name_problems(name), None)
    if name_problem:
        raise ValueError(f"name: {name_problem[1]}")
    digest = hashlib.sha256(save_safetensors({k: v.detach().cpu().contiguous()
                                              for k, v in model.state_dict().items()})).hexdigest()
    return Subject(name, model, None, digest)


def _check_finite(subject: Subject) -> None:
    """A model with NaN or infinite weights never spikes and would look robust: refuse it, as validate does."""
    bad = [name for name, tensor in subject.model.state_dict().items()
           if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if bad:
        raise ValueError(f"{subject.name}: {len(bad)} tensor(s) of the model are not finite (NaN or inf): "
                         f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}")


def _departures(bench: Benchmark, subject: Subject, settings: dict) -> list[str]:
    departures = [f"{key} {value} instead of the protocol's {getattr(bench, key)}"
                  for key, value in settings.items() if value != getattr(bench, key)]
    card, provenance = subject.card, subject.model.provenance
    if card is None:
        departures.append("no model card: only a registered card makes a result official")
        return departures
    if card.path is None or card.path.resolve().parent.parent != repository_zoo().resolve():
        departures.append(f"the card {card.path} is not in the repository's zoo ({repository_zoo()})")
    if not provenance.matches_card:
        departures.append(f"weights {provenance.sha256[:12]}… are not the card's")
    elif subject.model.fingerprint() != subject.registered_fingerprint:
        departures.append(f"the model's state or neurons differ from what card {card.name} builds with its "
                          f"weights (changed after load_model)")
    if bench.name not in card.benchmarks:
        departures.append(f"the card does not rank {card.name} on {bench.name}")
    return departures


def _benchmark_data(bench: Benchmark, n: int, data_root: Optional[PathLike]) -> tuple[Tensor, Tensor]:
    if n > bench.n_examples:
        raise ValueError(f"{bench.name} evaluates at most {bench.n_examples} images, not {n}")
    if bench.subset is not None:
        images, labels = load_eval_subset(bench.subset)
        return images[:n], labels[:n]
    return first_test_images(bench.dataset, n, root=data_root)


class _Evaluation:
    def __init__(self, model: SpikingClassifier, bench: Benchmark, settings: dict, images: Tensor, labels: Tensor,
                 progress: bool) -> None:
        self.model, self.bench, self.settings = model, bench, settings
        self.images, self.labels, self.progress = images, labels, progress
        self.stochastic = model.stochastic
        self.eot = bench.stochastic.eot if self.stochastic else 1

    @property
    def seed(self) -> int:
        return self.settings["seed"]

    def batches(self, indices: list[int]) -> list[list[int]]:
        size = self.settings["batch_size"]
        return [indices[i:i + size] for i in range(0, len(indices), size)]

    # --- judging -------------------------------------------------------------------------------------

    def correct(self, x: Tensor, y: Tensor, purpose: str) -> Tensor:
        """Per sample: correct on ``x`` (in every noisy pass, for a stochastic model)."""
        return judge(self.model, x, y, self.bench, self.seed, purpose)

    # --- the run -----------------------------------------------------------------------------------------

    def execute(self, state: EvaluationState, path: Optional[Path]) -> None:
        if state.clean is None:
            start = time.perf_counter()
            state.clean = self._clean()
            state.deterministic = self._deterministic()
            state.zero_gradient = self._zero_gradients(state.clean)
            state.clean_seconds = time.perf_counter() - start
            state.save(path)
        for entry, restart in self.runs():
            name = entry.run_name(restart)
            if name not in state.attacks:
                reason = self._inapplicable(entry)
                samples = [] if reason else self._samples_for(entry, restart, state)
                state.attacks[name] = AttackProgress(samples=samples, not_applicable=reason)
            self._run_attack(entry, name, state, path)

    def runs(self) -> list[tuple[AttackEntry, int]]:
        """Every run of the protocol in order: each attack entry, each of its restarts."""
        return [(entry, restart) for entry in self.bench.attacks for restart in range(entry.restarts)]

    def _inapplicable(self, entry: AttackEntry) -> Optional[str]:
        """Why the entry's gradient mode cannot differentiate this model; the headline attacks must apply."""
        reason = None if entry.gradient is None else inapplicable(entry.gradient.mode, self.model)
        if reason and entry.role != "extra":
            raise ValueError(f"{self.bench.name}: the {entry.role} attack {entry.name} cannot run on this model: "
                             f"{reason}")
        return reason

    def _clean(self) -> list[bool]:
        flags = []
        for batch in self.batches(list(range(len(self.labels)))):
            flags += self.correct(self.images[batch], self.labels[batch], f"clean/{batch[0]}").tolist()
        with torch.no_grad():
            logits = self.model(self.images[:self.settings["batch_size"]])
        if not bool(torch.isfinite(logits).all()):
            raise ValueError("the model's logits on the benchmark's images are not finite (NaN or inf): its "
                             "accuracy would mean nothing")
        return flags

    @torch.no_grad()
    def _deterministic(self) -> bool:
        if self.stochastic:
            return True  # declared stochastic: nothing to check
        x = self.images[:self.settings["batch_size"]]
        return bool(torch.equal(self.model(x), self.model(x)))

    def _zero_gradients(self, clean: list[bool]) -> int:
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

    def _samples_for(self, entry: AttackEntry, restart: int, state: EvaluationState) -> list[int]:
        if restart > 0:  # what the previous restart of this entry left standing
            previous = state.attacks[entry.run_name(restart - 1)]
            fooled = set(previous.fooled)
            return [i for i in previous.samples if i not in fooled]
        clean = [i for i, ok in enumerate(state.clean) if ok]
        if entry.samples == "clean":
            return clean
        fooled = {i for p in state.attacks.values() for i in p.fooled}
        return [i for i in clean if i not in fooled]

    def _run_attack(self, entry: AttackEntry, name: str, state: EvaluationState, path: Optional[Path]) -> None:
        progress = state.attacks[name]
        batches = self.batches(progress.samples)
        bar = tqdm(total=len(progress.samples), desc=name, unit="img", disable=not self.progress,
                   dynamic_ncols=True, initial=sum(len(b) for b in batches[:progress.done_batches]))
        for index in range(progress.done_batches, len(batches)):
            batch = batches[index]
            start = time.perf_counter()
            live = LiveCount(bar, before=progress.forward) if self.progress else None
            with counted_passes(self.model, live) as counter:
                attack = entry.build(self.bench.epsilon, derive_seed(self.seed, name, index), self.eot)
                x, y = self.images[batch], self.labels[batch]
                run = attack.run(self.model, x, y)
                survived = self.correct(run.x_adv, y, f"{name}/{index}")
            if run.gradient_mode is not None:
                progress.gradient_layers = min(run.layers, progress.gradient_layers or run.layers)
            progress.fooled += [i for i, ok in zip(batch, survived.tolist()) if not ok]
            progress.seconds += time.perf_counter() - start
            progress.forward += counter.forward
            progress.backward += counter.backward
            progress.done_batches = index + 1
            state.save(path)
            bar.update(len(batch))
        bar.close()

    # --- the result --------------------------------------------------------------------------------------

    def result(self, state: EvaluationState, subject: Subject, version: int, departures: list[str], seconds: float,
               device: str) -> Result:
        n = len(self.labels)
        clean = state.clean
        runs = self.runs()
        fooled_by = {entry.run_name(r): set(state.attacks[entry.run_name(r)].fooled) for entry, r in runs}
        robust = worst_case(clean, fooled_by.values())

        def alone(role: str) -> float:  # every restart of the entry with that role
            return percent(worst_case(clean, [fooled_by[e.run_name(r)] for e, r in runs if e.role == role]))

        clean_flags = "".join("1" if ok else "0" for ok in clean)
        robust_flags = "".join("1" if ok else "0" for ok in robust)
        outcomes, before = [], set()
        for entry, restart in runs:
            fooled = fooled_by[entry.run_name(restart)]
            outcomes.append(self._outcome(entry, restart, state.attacks[entry.run_name(restart)],
                                          len(fooled - before)))
            before |= fooled
        outcomes = tuple(outcomes)
        robust_accuracy, prior = percent(robust), alone("prior")
        diagnostics = tuple(self._diagnostics(state, outcomes, robust_accuracy > percent(clean)))
        return Result(
            model=subject.name, benchmark=self.bench.name, protocol=version, official=not departures,
            departures=tuple(departures), n_examples=n, clean_accuracy=percent(clean),
            robust_accuracy=robust_accuracy, reference_accuracy=alone("reference"), prior_accuracy=prior,
            overestimate=round(prior - robust_accuracy, 10), attacks=outcomes, clean_flags=clean_flags,
            robust_flags=robust_flags, flags_sha256=flags_digest(clean_flags, robust_flags),
            reliable=not any(d.unreliable for d in diagnostics), diagnostics=diagnostics, seconds=round(seconds, 1),
            forward=sum(o.forward for o in outcomes), backward=sum(o.backward for o in outcomes),
            model_summary=_summary(subject), environment=self._environment(version, device))

    @staticmethod
    def _outcome(entry: AttackEntry, restart: int, progress: AttackProgress, first_to_fool: int) -> AttackOutcome:
        attacked, fooled = len(progress.samples), len(progress.fooled)
        return AttackOutcome(name=entry.run_name(restart), role=entry.role, attacked=attacked,
                             robust=attacked - fooled,
                             accuracy=100.0 * (attacked - fooled) / attacked if attacked else 100.0,
                             seconds=round(progress.seconds, 1), forward=progress.forward, backward=progress.backward,
                             not_applicable=progress.not_applicable, restart=restart, first_to_fool=first_to_fool,
                             gradient_mode=None if entry.gradient_free else (
                                 entry.gradient.mode if entry.gradient else "surrogate"),
                             gradient_layers=progress.gradient_layers)

    def _diagnostics(self, state: EvaluationState, outcomes: tuple[AttackOutcome, ...],
                     robust_above_clean: bool) -> Iterator[Diagnostic]:
        limits, attacked = self.bench.diagnostics, max(sum(state.clean), 1)
        zero = 100.0 * state.zero_gradient / attacked
        if zero >= limits.zero_gradient_percent:
            yield Diagnostic("zero-gradient", f"{zero:.1f}% of the clean-correct samples have an input gradient of "
                             f"exactly zero through the training surrogate", True)
        elif state.zero_gradient:
            yield Diagnostic("zero-gradient", f"{state.zero_gradient} clean-correct samples have a zero input "
                             f"gradient through the training surrogate", False)
        # Gradient-free attacks run after every gradient attack (Benchmark checks it), so what they are the
        # first to fool, every gradient attack missed.
        for (entry, _), outcome in zip(self.runs(), outcomes):
            if entry.gradient_free and outcome.first_to_fool:
                gain = 100.0 * outcome.first_to_fool / attacked
                yield Diagnostic("gradient-free-gain", f"{outcome.name} fooled {outcome.first_to_fool} "
                                 f"samples ({gain:.1f}%) that every gradient attack missed: a sign of gradient "
                                 f"masking", gain > limits.square_gain_percent)
        for outcome in outcomes:
            if outcome.not_applicable:
                yield Diagnostic("not-applicable", f"{outcome.name} did not run: {outcome.not_applicable}", False)
        if self.stochastic and self.eot == 1:
            yield Diagnostic("no-eot", "a stochastic model was attacked without EoT", True)
        if not state.deterministic:
            yield Diagnostic("nondeterministic", "the same input gave different logits on a model whose card "
                             "says it is deterministic", True)
        if robust_above_clean:  # cannot happen by construction; a guard against a broken aggregation
            yield Diagnostic("robust-above-clean", "robust accuracy exceeds clean accuracy", True)

    def _environment(self, version: int, device: str) -> Environment:
        from . import __version__
        return Environment(protocol=version, snnbench=__version__, torch=torch.__version__,
                           python=platform.python_version(), device=device, threads=torch.get_num_threads(),
                           seed=self.seed, date=datetime.now(timezone.utc).strftime("%Y-%m-%d"))


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


def worst_case(clean: list[bool], fooled: Iterable[set[int]]) -> list[bool]:
    """Per sample: correct on the clean input and fooled by none of the attacks (sets of sample indices)."""
    every = set().union(*fooled)
    return [ok and i not in every for i, ok in enumerate(clean)]


def percent(flags: list[bool]) -> float:
    return 100.0 * sum(flags) / len(flags)


def _summary(subject: Subject) -> ModelSummary:
    card, model = subject.card, subject.model
    layers = spiking_layers(model)
    if card is None:
        return ModelSummary(architecture="unregistered",
                            neuron="+".join(sorted({type(layer).__name__.lower() for layer in layers})) or "none",
                            T=model.T, defense="unknown", source="no card", stochastic=model.stochastic,
                            card_sha256=None, checkpoint_sha256=subject.weights_sha256, spiking_layers=len(layers),
                            model_sha256=model.fingerprint())
    source = card.paper.url if isinstance(card.paper, Paper) else "snnbench"
    return ModelSummary(architecture=card.architecture.name, neuron=card.architecture.neuron.kind,
                        T=card.architecture.T, defense=card.training.method, source=source,
                        stochastic=card.stochastic, card_sha256=card.weights.sha256,
                        checkpoint_sha256=subject.weights_sha256, spiking_layers=len(layers),
                        card_file_sha256=subject.card_sha256, model_sha256=model.fingerprint())
