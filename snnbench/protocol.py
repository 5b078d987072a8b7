"""The evaluation protocol: ``benchmarks.yaml`` read into validated :class:`Benchmark` records.

Each benchmark carries its own version. A version fixes the data (dataset, split, the evaluation subset and its sha256),
the threat model and ε, the seed and batch size, how stochastic models are attacked and judged, the
thresholds of the reliability diagnostics, and the attack list with every budget written out. Results name
the version they were produced under; a new version starts new leaderboard folders.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Optional

from . import attacks
from .attacks import Attack, GradientSpec
from .cards import dataset_problems
from .datasets import PathLike
from .eval_subsets import subset_info
from .gradient_modes import MODES
from .records import read_yaml_record, record_fields

Problems = Iterator[tuple[str, str]]

MAX_RESTARTS = 20  # runs of one entry; a bound, so that a protocol file cannot ask for an endless evaluation

# The attacks a protocol may name, by class name.
ATTACKS: dict[str, type[Attack]] = {name: getattr(attacks, name) for name in attacks.__all__
                                    if isinstance(getattr(attacks, name), type)
                                    and issubclass(getattr(attacks, name), Attack)}


@dataclass(frozen=True)
class GradientConfig:
    mode: str = "surrogate"
    params: Mapping[str, Any] = field(default_factory=dict)

    def record_problems(self) -> Problems:
        if self.mode not in MODES:
            yield "mode", f"unknown gradient mode {self.mode!r}; choose one of {', '.join(MODES)}"


@dataclass(frozen=True)
class AttackEntry:
    """One attack of the protocol.

    ``role``: ``reference`` (the strongest known attack), ``prior`` (how robustness has been reported so
    far) or ``extra``; the reference and prior accuracies are those of the entry's first run alone.
    ``samples``: ``clean`` runs on every clean-correct sample; ``survivors`` only on samples no earlier run
    has fooled. ``restarts``: how many runs the entry may have at most. Run ``r ≥ 1`` (``name/r<r>``) starts
    from a new random start (its own seeds) on the samples every earlier run left standing, in the rounds
    that :mod:`snnbench.schedule` lays out, and is reported on its own, so a reader sees what the last one
    still found.
    """

    name: str
    attack: str
    role: Literal["reference", "prior", "extra"]
    samples: Literal["clean", "survivors"]
    params: Mapping[str, Any] = field(default_factory=dict)
    gradient: Optional[GradientConfig] = None
    restarts: int = 1

    def run_name(self, restart: int) -> str:
        """How restart ``restart`` (from 0) is named in results: the entry's name, then ``name/r1``, ..."""
        return self.name if restart == 0 else f"{self.name}/r{restart}"

    @property
    def gradient_free(self) -> bool:
        return ATTACKS[self.attack].gradient_free

    def record_problems(self) -> Problems:
        if self.restarts < 1:
            yield "restarts", f"must be at least 1, got {self.restarts}"
        if self.restarts > MAX_RESTARTS:
            yield "restarts", f"must be at most {MAX_RESTARTS}, got {self.restarts}"
        if "/" in self.name:
            yield "name", f"must not contain '/' (restarts are named <name>/r<k>), got {self.name!r}"
        if self.attack not in ATTACKS:
            close = difflib.get_close_matches(self.attack, list(ATTACKS), n=1)
            yield "attack", f"unknown attack {self.attack!r}" + (f"; did you mean {close[0]}?" if close else "")
            return
        accepted = {f.name for f in fields(ATTACKS[self.attack])} - {"eps", "seed", "gradient", "eot"}
        unknown = sorted(set(self.params) - accepted)
        if unknown:
            yield "params", f"{self.attack} has no parameter(s) {', '.join(unknown)}; it takes {', '.join(sorted(accepted))}"

    def build(self, eps: float, seed: int, eot: Optional[int]) -> Attack:
        extra = {} if self.gradient is None else {
            "gradient": GradientSpec(self.gradient.mode, dict(self.gradient.params))}
        return ATTACKS[self.attack](eps=eps, seed=seed, eot=eot, **dict(self.params), **extra)


@dataclass(frozen=True)
class StochasticRule:
    """How stochastic models are attacked (``eot`` draws per gradient) and judged (correct in all ``passes``)."""

    eot: int
    passes: int

    def record_problems(self) -> Problems:
        if self.eot < 1 or self.passes < 1:
            yield "", "eot and passes must be at least 1"


@dataclass(frozen=True)
class DiagnosticThresholds:
    """When a result is marked unreliable (fractions of the attacked samples, in percent).

    ``restart_gain_percent`` g (percent of the benchmark's samples) makes restarts converge. An entry stops
    once its last ``restart_patience`` p restarts were each the first to fool fewer than g % of the samples:
    restarts ``1 … p`` always run, and restart ``r > p`` runs unless restarts ``r − p … r − 1`` were all
    below g. A result whose entry reached its last allowed restart without meeting that rule is marked
    unreliable (one more restart would still move the headline). Unset g, every allowed restart runs and none
    is judged. ``p = 1`` (the default) stops at the first quiet restart; a larger p guards against stopping on
    one lucky quiet restart when the gains per restart are small counts that vary from restart to restart.
    """

    zero_gradient_percent: float
    square_gain_percent: float
    restart_gain_percent: Optional[float] = None
    restart_patience: int = 1

    def record_problems(self) -> Problems:
        if self.restart_gain_percent is not None and not 0 < self.restart_gain_percent <= 100:
            yield "restart_gain_percent", f"must lie in (0, 100], got {self.restart_gain_percent}"
        if self.restart_patience < 1:
            yield "restart_patience", f"must be at least 1, got {self.restart_patience}"


@dataclass(frozen=True)
class Benchmark:
    name: str
    version: int
    dataset: str
    split: Literal["test"]
    subset: Optional[str]  # a bundled subset, or None for the split's first n_examples through torchvision
    n_examples: int
    threat_model: Literal["linf"]
    epsilon: float
    seed: int
    batch_size: int
    stochastic: StochasticRule
    diagnostics: DiagnosticThresholds
    attacks: tuple[AttackEntry, ...]

    def record_problems(self) -> Problems:
        yield from dataset_problems(self.dataset)
        if self.version < 1:
            yield "version", f"must be at least 1, got {self.version}"
        if not 0 < self.epsilon <= 1:
            yield "epsilon", f"must lie in (0, 1], got {self.epsilon}"
        if self.n_examples < 1 or self.batch_size < 1:
            yield "n_examples", "n_examples and batch_size must be at least 1"
        roles = [a.role for a in self.attacks]
        if roles.count("reference") != 1 or roles.count("prior") != 1:
            yield "attacks", "name exactly one reference and one prior-practice attack"
        for a in self.attacks:
            if a.role in ("reference", "prior") and a.samples != "clean":
                yield "attacks", f"{a.name}: the reference and prior-practice attacks run on every clean-correct sample"
            if a.role == "extra" and a.samples != "survivors":
                yield "attacks", (f"{a.name}: an extra attack runs on the survivors (results judge its samples by "
                                  f"its role; samples: clean is the reference's and prior practice's)")
        if len({a.name for a in self.attacks}) != len(self.attacks):
            yield "attacks", "attack names must be unique"
        for a in self.attacks:
            if a.attack in ATTACKS and a.gradient_free and a.restarts > 1:
                yield "attacks", f"{a.name}: gradient-free attacks run once, last (restarts is for gradient attacks)"
        free = [i for i, a in enumerate(self.attacks) if a.attack in ATTACKS and a.gradient_free]
        if free and any(a.attack in ATTACKS and not a.gradient_free for a in self.attacks[free[0]:]):
            yield "attacks", (f"{self.attacks[free[0]].name}: gradient-free attacks run after every gradient attack "
                              f"(what they find that all gradient attacks missed is the gradient-masking diagnostic)")
        if self.subset is not None:
            try:
                info = subset_info(self.subset)
            except ValueError as err:
                yield "subset", str(err)
            else:
                if (info.dataset, info.split) != (self.dataset, self.split) or info.first < self.n_examples:
                    yield "subset", f"{self.subset} is not the first {self.n_examples} {self.dataset} {self.split} images"

    def attack(self, name: str) -> AttackEntry:
        return next(a for a in self.attacks if a.name == name)

    @property
    def label(self) -> str:
        """``<name> v<version>``, as boards and messages name a protocol."""
        return f"{self.name} v{self.version}"

    def fingerprint(self) -> str:
        """sha256 of every setting that can move a number: the record without its name and version, fields at
        their defaults left out (so a new field whose default keeps today's behaviour keeps the fingerprint)."""
        settings = {k: v for k, v in _settings(self).items() if k not in ("name", "version")}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _settings(record: Any) -> Any:
    """Plain data of a record with every field that equals its default left out."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        settings = {}
        for f in record_fields(type(record)):
            value = getattr(record, f.name)
            default = (f.default if f.default is not dataclasses.MISSING else
                       f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
            if default is dataclasses.MISSING or value != default:
                settings[f.name] = _settings(value)
        return settings
    if isinstance(record, Mapping):
        return {str(k): _settings(v) for k, v in record.items()}
    if isinstance(record, (list, tuple)):
        return [_settings(v) for v in record]
    return record


@dataclass(frozen=True)
class SubsetPin:
    dataset: str
    split: str
    first: int
    sha256: str


@dataclass(frozen=True)
class Protocol:
    """The benchmarks in force, and the retired versions whose boards are kept (their results are still checked
    against the settings they were produced under)."""

    subsets: Mapping[str, SubsetPin]
    benchmarks: Mapping[str, Benchmark]
    retired: tuple[Benchmark, ...] = ()
    path: Optional[Path] = field(default=None, compare=False, metadata={"record": False})

    def record_problems(self) -> Problems:
        for name, benchmark in self.benchmarks.items():
            if benchmark.name != name:
                yield f"benchmarks.{name}.name", f"must equal its key {name!r}"
            if benchmark.subset is not None and benchmark.subset not in self.subsets:
                yield f"benchmarks.{name}.subset", f"{benchmark.subset} has no sha256 pin under 'subsets'"
        seen = {(b.name, b.version) for b in self.benchmarks.values()}
        for i, old in enumerate(self.retired):
            if old.name not in self.benchmarks:
                yield f"retired[{i}].name", f"{old.name} is not a benchmark in force"
            elif old.version >= self.benchmarks[old.name].version:
                yield f"retired[{i}].version", (f"{old.label} is not older than the version in force, "
                                                f"v{self.benchmarks[old.name].version}")
            if (old.name, old.version) in seen:
                yield f"retired[{i}]", f"{old.label} is listed twice"
            seen.add((old.name, old.version))
        for name, pin in self.subsets.items():
            try:
                info = subset_info(name)
            except ValueError as err:
                yield f"subsets.{name}", str(err)
                continue
            if pin.sha256 != info.sha256:
                yield f"subsets.{name}.sha256", f"pins {pin.sha256} but the package bundles {info.sha256}"

    def benchmark(self, name: str, version: Optional[int] = None) -> Benchmark:
        """The benchmark ``name`` in force, or its retired ``version``."""
        if name not in self.benchmarks:
            raise ValueError(f"unknown benchmark {name!r}; the protocol has {', '.join(self.benchmarks)}")
        current = self.benchmarks[name]
        if version is None or version == current.version:
            return current
        for old in self.retired:
            if (old.name, old.version) == (name, version):
                return old
        raise ValueError(f"{name} has no version {version}; the protocol knows "
                         f"{', '.join(f'v{b.version}' for b in self.versions(name))}")

    def versions(self, name: str) -> list[Benchmark]:
        """Every known version of ``name``, oldest first."""
        return sorted([b for b in self.retired if b.name == name] + [self.benchmark(name)], key=lambda b: b.version)


def epsilon_label(epsilon: float) -> str:
    """``8/255`` where ε is a whole number of 8-bit intensity steps below 0.5 (as the literature writes it), else
    ``0.1``."""
    steps = epsilon * 255
    return f"{round(steps)}/255" if abs(steps - round(steps)) < 1e-6 and epsilon < 0.5 else f"{epsilon:g}"


def protocol_path() -> Path:
    """``benchmarks.yaml``, package data: the same file in a checkout, a wheel or ``pip install --target``."""
    return Path(__file__).resolve().parent / "benchmarks.yaml"


def load_protocol(path: Optional[PathLike] = None) -> Protocol:
    """The protocols in force (or the ones at ``path``), validated."""
    return read_yaml_record(Protocol, path or protocol_path(), "protocol file")
