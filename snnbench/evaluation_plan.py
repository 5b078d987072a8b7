"""What an evaluation is before anything runs: the model and its card, the benchmark, the settings, the
departures from the protocol, the key that names its state, and where its state and result go.

:func:`plan_evaluation` resolves and checks everything that can be checked without attacking: a zoo name
or a model, a card that matches, finite weights, settings within the benchmark. Everything that determines
the result is in :attr:`EvaluationPlan.key`; two evaluations with the same key give the same result.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional, Union

import torch
from safetensors.torch import save as save_safetensors
from torch import Tensor

from .cards import ModelCard, name_problems, read_card
from .classifier import SpikingClassifier
from .datasets import PathLike
from .eval_subsets import first_test_images, load_eval_subset
from .files import cache_dir
from .protocol import Benchmark, load_protocol
from .results import leaderboard_root, result_path
from .sharding import Shard
from .zoo import list_models, load_model, model_card, repository_zoo


@dataclass(frozen=True)
class Settings:
    """The settings a caller may change; any value other than the benchmark's makes a result unofficial."""

    n_examples: int
    batch_size: int
    seed: int

    @classmethod
    def of(cls, bench: Benchmark, n_examples: Optional[int] = None, batch_size: Optional[int] = None,
           seed: Optional[int] = None) -> "Settings":
        for option, value in (("n_examples", n_examples), ("batch_size", batch_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{option} must be a whole number of at least 1, got {value!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be a whole number, got {seed!r}")
        settings = cls(bench.n_examples if n_examples is None else n_examples,
                       bench.batch_size if batch_size is None else batch_size,
                       bench.seed if seed is None else seed)
        if settings.n_examples > bench.n_examples:
            raise ValueError(f"{bench.name} evaluates at most {bench.n_examples} images, not {settings.n_examples}")
        return settings

    def departures(self, bench: Benchmark) -> list[str]:
        return [f"{key} {value} instead of the protocol's {getattr(bench, key)}"
                for key, value in vars(self).items() if value != getattr(bench, key)]

    @property
    def label(self) -> str:
        """How an unofficial result's file name carries the settings: ``n<N>-b<B>-s<S>``."""
        return f"n{self.n_examples}-b{self.batch_size}-s{self.seed}"


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


@dataclass(frozen=True)
class EvaluationPlan:
    """One evaluation, decided and checked before anything runs: what is evaluated on which benchmark with which
    settings, why the result would not be official (``departures``), and on which device."""

    subject: Subject
    bench: Benchmark
    settings: Settings
    departures: tuple[str, ...]
    device: str

    @property
    def official(self) -> bool:
        return not self.departures

    @property
    def key(self) -> str:
        """Everything that determines the result: model (its name, weights file, card, and the fingerprint of
        the model as it stands: a model edited after loading is another evaluation), device, benchmark version
        and settings, code (:func:`snnbench.source.source_sha256`: an evaluation is never finished by other code
        than began it) and torch."""
        return json.dumps(self._evaluation_key + self._code_key())

    @functools.cached_property
    def _evaluation_key(self) -> list:
        """The key without the code's part, computed once per plan (the model's fingerprint hashes every
        weight); the code's part is read each time."""
        s = self.subject
        return [s.name, s.weights_sha256, s.card_sha256, s.model.fingerprint(), self.device, self.bench.name,
                self.bench.version, self.bench.fingerprint(), vars(self.settings)]

    @staticmethod
    def _code_key() -> list:
        from .source import source_sha256

        return [source_sha256(), torch.__version__]

    def state_key(self, shard: Shard = Shard()) -> str:
        """The key of one process's state: the evaluation's, and which share of its batches the process runs."""
        return self.key if shard.world == 1 else f"{self.key} {shard.label}"

    def states_of_other_code(self, folder: PathLike) -> list[Path]:
        """State files in ``folder`` of this very evaluation (model, weights, card, benchmark, settings) begun by
        other code or another torch: never resumed (their batches would mix two codes' roundings)."""
        mine = json.loads(json.dumps(self._evaluation_key))  # as a state file holds it (tuples as lists)
        found = []
        for path in sorted(Path(folder).glob(f"{self.subject.name}-*.state.json")):
            try:
                key, _ = json.JSONDecoder().raw_decode(json.loads(path.read_text())["key"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not a state file: EvaluationState.load names it if it is ever this key's
            if isinstance(key, list) and key[:len(mine)] == mine and key[len(mine):] != self._code_key():
                found.append(path)
        return found

    def states_of_other_process_counts(self, folder: PathLike, shard: Shard = Shard()) -> list[Path]:
        """State files in ``folder`` of this very evaluation left by a run over another number of processes:
        each holds one process's share of the batches, so they continue only with that many processes."""
        stem = self.state_file(folder).name.removesuffix(".state.json")
        found = []
        for path in sorted(Path(folder).glob(f"{stem}*.state.json")):
            label = re.fullmatch(rf"{re.escape(stem)}(?:\.rank\d+of(\d+))?\.state\.json", path.name)
            if label is not None and int(label.group(1) or 1) != shard.world:
                found.append(path)
        return found

    def state_file(self, resume: Optional[PathLike], shard: Shard = Shard()) -> Optional[Path]:
        """The state file: ``resume`` itself (with ``.<rank>of<W>`` before the suffix when sharded), or one file
        per key inside the folder ``resume``."""
        if resume is None:
            return None
        resume = Path(resume)
        suffix = f".{shard.label}" if shard.world > 1 else ""
        if resume.is_dir():
            digest = hashlib.sha256(self.key.encode()).hexdigest()[:16]
            return resume / f"{self.subject.name}-{digest}{suffix}.state.json"
        return resume.with_name(resume.stem + suffix + resume.suffix) if suffix else resume

    def result_file(self, out: Optional[PathLike] = None) -> Path:
        """Where the result goes. Official: ``<out or the repository's leaderboard>/<benchmark>/v<k>/results/
        <model>.json``, on the board. Unofficial: ``<out or ./snnbench-results>/<benchmark>/v<k>/unofficial/
        <model>-<settings>.json``, never on a board, its settings in the file name."""
        bench = self.bench
        if self.official:
            return result_path(leaderboard_root() if out is None else out, bench.name, bench.version,
                               self.subject.name)
        folder = Path("snnbench-results" if out is None else out) / bench.name / f"v{bench.version}" / "unofficial"
        return folder / f"{self.subject.name}-{self.settings.label}.json"

    def earlier_result_files(self, out: Optional[PathLike] = None) -> list[Path]:
        """Where this evaluation's results under the benchmark's older versions would be (the same folders and
        names as :meth:`result_file` gives each version), newest version first; they need not exist."""
        return [dataclasses.replace(self, bench=old).result_file(out)
                for old in reversed(load_protocol().versions(self.bench.name)) if old.version < self.bench.version]

    def images(self, data_root: Optional[PathLike] = None, download: bool = False) -> tuple[Tensor, Tensor]:
        """The benchmark's first ``n_examples`` images and labels, on the plan's device (a test set that is not
        bundled is read from ``data_root``, downloaded there first when ``download``)."""
        bench, n = self.bench, self.settings.n_examples
        if bench.subset is not None:
            images, labels = load_eval_subset(bench.subset)
            images, labels = images[:n], labels[:n]
        else:
            images, labels = first_test_images(bench.dataset, n, root=data_root, download=download)
        return images.to(self.device), labels.to(self.device)


def default_state_folder() -> Path:
    """Where the CLI keeps evaluation states: ``~/.cache/snnbench/evaluations`` (one file per evaluation key)."""
    folder = cache_dir("evaluations")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def plan_evaluation(model: Union[str, SpikingClassifier], benchmark: Union[str, Benchmark], *,
                    name: Optional[str] = None, n_examples: Optional[int] = None, batch_size: Optional[int] = None,
                    seed: Optional[int] = None, device: Union[str, torch.device] = "cpu",
                    zoo: Optional[PathLike] = None) -> EvaluationPlan:
    """Resolve the model and benchmark, check them, and list every departure from the protocol."""
    protocol = load_protocol()
    bench = benchmark if isinstance(benchmark, Benchmark) else protocol.benchmark(benchmark)
    subject = _subject(model, name, zoo, device)
    if subject.card is not None and subject.card.dataset != bench.dataset:
        raise ValueError(f"{subject.name} is a {subject.card.dataset} model; benchmark {bench.name} is on "
                         f"{bench.dataset}")
    settings = Settings.of(bench, n_examples, batch_size, seed)
    _check_finite(subject)
    departures = settings.departures(bench) + _card_departures(bench, subject)
    departures += _benchmark_departures(bench, protocol)
    return EvaluationPlan(subject, bench, settings, tuple(departures), str(device))


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
        loaded_from = model.provenance.card_path
        card = read_card(loaded_from) if zoo is None and loaded_from is not None else \
            model_card(model.provenance.card, zoo=zoo)
        if loaded_from is not None and card.path is not None and card.path.resolve() != Path(loaded_from).resolve():
            raise ValueError(f"{model.provenance.card}: the model was built from {loaded_from}, but the zoo given "
                             f"holds {card.path}; evaluate it with the zoo it was loaded from")
        return Subject(model.provenance.card, model, card, model.provenance.sha256)
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


def _benchmark_departures(bench: Benchmark, protocol) -> list[str]:
    """How ``bench`` differs from the registered version it carries (the version in force, or a retired one
    whose board is kept: re-running it with today's code is official there), field by field (the value itself
    for ε, which a sweep changes: a number must never carry another ε's label)."""
    if bench.name not in protocol.benchmarks:
        return [f"{bench.name} is not a benchmark of the protocol"]
    registered = next((b for b in protocol.versions(bench.name) if b.version == bench.version), None)
    if registered is None:
        registered = protocol.benchmark(bench.name)
        return [f"{bench.name} has no version {bench.version}; {registered.label} is in force"]
    if bench == registered:
        return []
    changed = [f.name for f in fields(Benchmark) if getattr(bench, f.name) != getattr(registered, f.name)]
    shown = [f"epsilon {bench.epsilon:.6g} instead of {registered.epsilon:.6g}" if name == "epsilon" else name
             for name in changed]
    return [f"the benchmark's settings are not those of {registered.label}: {', '.join(shown)}"]


def _card_departures(bench: Benchmark, subject: Subject) -> list[str]:
    card, provenance = subject.card, subject.model.provenance
    if card is None:
        return ["no model card: only a registered card makes a result official"]
    departures = []
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
