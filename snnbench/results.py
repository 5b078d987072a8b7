"""Evaluation results: one JSON file per model and benchmark, validated against one schema, numbers as numbers.

Official results live at ``leaderboard/<benchmark>/v<protocol>/results/<model>.json``; the leaderboard
tables are generated from them and from nothing else.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, Optional

from .datasets import PathLike
from .files import atomic_write_text
from .records import COMMIT, SHA256, RecordError, parse_record, record_to_dict

Problems = Iterator[tuple[str, str]]


RESTART_SUFFIX = re.compile(r"/r([1-9][0-9]*)$")  # how a restart's run is named: "<entry>/r<restart>"


@dataclass(frozen=True)
class AttackOutcome:
    """One attack's share of the evaluation: how many samples it saw, how many it left correct."""

    name: str
    role: Literal["reference", "prior", "extra"]
    attacked: int
    robust: int
    accuracy: float  # percent of the samples it saw that stayed correct (100 when it saw none)
    seconds: float
    forward: int  # images passed forward, counting each EoT draw
    backward: int  # input gradients computed
    not_applicable: Optional[str] = None  # why the attack could not run on this model (it then saw no sample)
    restart: int = 0  # which run of the protocol's entry (0: the first; r >= 1 from a new random start)
    # Samples this run fooled that no run before it (in protocol order) had fooled: its marginal gain.
    first_to_fool: Optional[int] = None
    gradient_mode: Optional[str] = None  # how it differentiated through spikes; None when gradient-free
    gradient_layers: Optional[int] = None  # how many spiking layers that mode ran on (None: it never ran)
    # One character per sample of the benchmark: 1 where this run fooled it (absent before results kept them).
    fooled_flags: Optional[str] = None
    gradient_free: bool = False  # the protocol declares it gradient-free (it ran after every gradient attack)
    # the earlier result whose identical run this is ("<benchmark> v<k> result <flags sha256, 12 digits>"),
    # carried over by `snnbench evaluate --reuse` (snnbench.reuse); None: it ran in this evaluation
    reused: Optional[str] = None

    def record_problems(self) -> Problems:
        if not 0 <= self.robust <= self.attacked:
            yield "robust", f"must lie in [0, attacked={self.attacked}], got {self.robust}"
        for name in ("seconds", "forward", "backward"):
            if getattr(self, name) < 0:
                yield name, f"must not be negative, got {getattr(self, name)}"
        expected = 100.0 * self.robust / self.attacked if self.attacked else 100.0
        if abs(self.accuracy - expected) > 1e-6:
            yield "accuracy", f"is {self.accuracy} but robust / attacked give {expected}"
        named = RESTART_SUFFIX.search(self.name)
        if (int(named[1]) if named else 0) != self.restart:
            yield "restart", f"is {self.restart} but the run's name {self.name!r} says {int(named[1]) if named else 0}"
        if self.first_to_fool is not None and not 0 <= self.first_to_fool <= self.attacked - self.robust:
            yield "first_to_fool", (f"must lie in [0, fooled={self.attacked - self.robust}], got "
                                    f"{self.first_to_fool}")
        if self.restart < 0:
            yield "restart", f"must not be negative, got {self.restart}"
        if self.not_applicable is not None and self.attacked:
            yield "not_applicable", f"an attack that could not run attacked no sample, not {self.attacked}"
        if self.fooled_flags is not None:
            if set(self.fooled_flags) - {"0", "1"}:
                yield "fooled_flags", "must be characters 0 and 1"
            elif self.fooled_flags.count("1") != self.attacked - self.robust:
                yield "fooled_flags", (f"mark {self.fooled_flags.count('1')} samples but the run fooled "
                                       f"{self.attacked - self.robust}")


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    unreliable: bool  # False: a note that does not put the number in doubt


@dataclass(frozen=True)
class ModelSummary:
    """What a leaderboard row shows about the model, copied from its card at evaluation time."""

    architecture: str
    neuron: str
    T: int
    defense: str
    source: str  # "snnbench" or the paper's url
    stochastic: bool
    card_sha256: Optional[str]  # the weights the card pins (None: a model without a card, never official)
    checkpoint_sha256: str  # the weights evaluated
    spiking_layers: Optional[int] = None  # snnbench spiking layers (absent from results written before it was recorded)
    card_file_sha256: Optional[str] = None  # the card file's bytes as evaluated
    model_sha256: Optional[str] = None  # SpikingClassifier.fingerprint() of the evaluated model: state and neurons


@dataclass(frozen=True)
class Environment:
    protocol: int
    snnbench: str
    torch: str
    python: str
    device: str
    threads: int
    seed: int
    date: str
    batch_size: Optional[int] = None  # the batch size the runs were cut into (absent from older results)
    processes: int = 1  # how many processes shared the batches (torch.distributed); seconds are summed over them
    # The code that produced the result (snnbench.source; absent from results written before it was recorded):
    # the digest of the package's source, and the git commit it was loaded from where there was one.
    source_sha256: Optional[str] = None
    revision: Optional[str] = None

    def record_problems(self) -> Problems:
        for name in ("threads", "processes"):
            if getattr(self, name) < 1:
                yield name, f"must be at least 1, got {getattr(self, name)}"
        if self.source_sha256 is not None and not SHA256.fullmatch(self.source_sha256):
            yield "source_sha256", f"must be 64 lowercase hex digits, got {self.source_sha256!r}"
        if self.revision is not None and not COMMIT.fullmatch(self.revision.removesuffix("+dirty")):
            yield "revision", f"must be a 40-digit git commit, optionally with +dirty, got {self.revision!r}"


@dataclass(frozen=True)
class Result:
    model: str
    benchmark: str
    protocol: int
    official: bool
    departures: tuple[str, ...]  # why not official (empty when official)
    n_examples: int
    clean_accuracy: float  # percent
    robust_accuracy: float  # percent: the per-sample worst case over every attack — the headline
    reference_accuracy: float  # percent: the reference attack alone
    prior_accuracy: float  # percent: prior practice alone
    overestimate: float  # points: prior practice minus the headline
    attacks: tuple[AttackOutcome, ...]
    clean_flags: str  # one character per sample: 1 correct, 0 not
    robust_flags: str  # 1 robust under every attack, 0 not
    flags_sha256: str
    reliable: bool
    diagnostics: tuple[Diagnostic, ...]
    seconds: float
    forward: int
    backward: int
    model_summary: ModelSummary
    environment: Environment

    @property
    def early(self) -> bool:
        """An early v1 file, written before results recorded their code: it lacks each run's fooled samples,
        marginal gain, gradient mode and whether it was gradient-free (three v1 files; every later result has
        them, and the checks require them)."""
        return self.protocol == 1 and self.environment.source_sha256 is None

    @property
    def carried_seconds(self) -> float:
        """The part of ``seconds`` spent by runs carried over from an older version's result
        (:mod:`snnbench.reuse`), as they were measured then, not by this evaluation."""
        return sum(a.seconds for a in self.attacks if a.reused)

    @property
    def carried_backward(self) -> int:
        """The part of ``backward`` (input gradients) that runs carried over from an older result spent."""
        return sum(a.backward for a in self.attacks if a.reused)

    def record_problems(self) -> Problems:
        for name in ("clean_flags", "robust_flags"):
            flags = getattr(self, name)
            if len(flags) != self.n_examples or set(flags) - {"0", "1"}:
                yield name, f"must be {self.n_examples} characters of 0 and 1"
        if self.flags_sha256 != flags_digest(self.clean_flags, self.robust_flags):
            yield "flags_sha256", "does not match the flags"
        if any(r == "1" and c == "0" for c, r in zip(self.clean_flags, self.robust_flags)):
            yield "robust_flags", "a sample is robust but not clean"
        n = max(self.n_examples, 1)
        if abs(self.clean_accuracy - 100.0 * self.clean_flags.count("1") / n) > 1e-6:
            yield "clean_accuracy", "does not match clean_flags"
        if abs(self.robust_accuracy - 100.0 * self.robust_flags.count("1") / n) > 1e-6:
            yield "robust_accuracy", "does not match robust_flags"
        if abs(self.overestimate - (self.prior_accuracy - self.robust_accuracy)) > 1e-6:
            yield "overestimate", "must equal prior_accuracy - robust_accuracy"
        if self.official and self.departures:
            yield "official", "an official result has no departures from the protocol"
        if self.official and self.model_summary.card_sha256 is None:
            yield "official", "a result without a model card is never official"
        if self.official and (self.model_summary.card_file_sha256 is None or self.model_summary.model_sha256 is None):
            yield "official", "an official result records the sha256 of its card file and of the evaluated model"
        if self.official and self.model_summary.checkpoint_sha256 != self.model_summary.card_sha256:
            yield "official", "an official result evaluated the weights its card pins (checkpoint_sha256 = card_sha256)"
        if self.environment.protocol != self.protocol:
            yield "environment.protocol", (f"is {self.environment.protocol} but the result is under protocol "
                                           f"{self.protocol}")
        if self.reliable == any(d.unreliable for d in self.diagnostics):
            yield "reliable", "must be false exactly when a diagnostic marks the result unreliable"
        if not self.early:  # without them neither the headline nor the diagnostics could be re-derived
            for attack in self.attacks:
                missing = [f for f in ("fooled_flags", "first_to_fool") if getattr(attack, f) is None]
                if missing:
                    yield "attacks", f"{attack.name} lacks {' and '.join(missing)}, which every result since v2 keeps"
        for name in ("forward", "backward"):
            total = sum(getattr(a, name) for a in self.attacks)
            if getattr(self, name) != total:
                yield name, f"must be the sum of the attacks' {name} ({total})"
        spent = sum(a.seconds for a in self.attacks)
        if self.seconds < spent - 0.05 * len(self.attacks):  # each run's seconds are rounded to 0.1
            yield "seconds", f"is less than the attacks' seconds together ({spent:.1f})"
        yield from self._derived_problems()
        total = self.model_summary.spiking_layers
        for attack in self.attacks:
            if attack.role == "reference" and attack.attacked and total is not None \
                    and attack.gradient_layers != total:
                yield "attacks", (f"the reference {attack.name} ran its gradient mode on {attack.gradient_layers} "
                                  f"of the model's {total} spiking layers")


    def _derived_problems(self) -> Problems:
        """Every figure that derives from the per-attack outcomes must equal its derivation."""
        n, clean = max(self.n_examples, 1), self.clean_flags.count("1")
        runs = [a for a in self.attacks if a.not_applicable is None]
        for role, stated in (("reference", self.reference_accuracy), ("prior", self.prior_accuracy)):
            first = next((a for a in self.attacks if a.role == role and a.restart == 0), None)
            if first is None:
                yield "attacks", f"no {role} attack"
                continue
            if first.not_applicable is not None:
                yield "attacks", f"the {role} attack {first.name} must run on every model, not be not applicable"
                continue
            if first.attacked != clean:
                yield "attacks", f"the {role} attack {first.name} saw {first.attacked} samples, not the {clean} clean-correct ones"
            derived = 100.0 * (clean - (first.attacked - first.robust)) / n
            if abs(stated - derived) > 1e-6:
                yield f"{role}_accuracy", f"is {stated} but its attack's outcomes give {derived}"
            if self.robust_accuracy > stated + 1e-6:
                yield "robust_accuracy", (f"is above the {role} accuracy {stated}: the headline is the worst case over "
                                          f"every attack, that one among them")
        if runs and all(a.first_to_fool is not None for a in runs):
            derived = 100.0 * (clean - sum(a.first_to_fool for a in runs)) / n
            if abs(self.robust_accuracy - derived) > 1e-6:
                yield "robust_accuracy", f"is {self.robust_accuracy} but the attacks' first-to-fool counts give {derived}"
        if self.attacks and all(a.fooled_flags is not None for a in self.attacks):
            yield from self._flag_problems()

    def _flag_problems(self) -> Problems:
        """With every run's fooled samples recorded, the flags themselves must add up: each run fooled only
        clean-correct samples, a survivors run only samples no earlier run had fooled and it attacked all of
        those, the first-to-fool counts follow from the order, and the robust samples are exactly the clean ones
        no run fooled."""
        clean = [c == "1" for c in self.clean_flags]
        before = [False] * self.n_examples
        for a in self.attacks:
            if len(a.fooled_flags) != self.n_examples:
                yield "attacks", f"{a.name}: fooled_flags must have {self.n_examples} characters"
                return
            fooled = [c == "1" for c in a.fooled_flags]
            if any(f and not ok for f, ok in zip(fooled, clean)):
                yield "attacks", f"{a.name} fooled a sample that was not clean-correct"
            new = sum(1 for f, b in zip(fooled, before) if f and not b)
            if a.first_to_fool is not None and new != a.first_to_fool:
                yield "attacks", f"{a.name}: first_to_fool is {a.first_to_fool} but its flags give {new}"
            on_clean = a.role != "extra" and a.restart == 0
            if not on_clean and a.not_applicable is None:
                if any(f and b for f, b in zip(fooled, before)):
                    yield "attacks", f"{a.name} ran on the survivors but fooled a sample an earlier run had fooled"
                survivors = sum(1 for ok, b in zip(clean, before) if ok and not b)
                if a.attacked != survivors:
                    yield "attacks", f"{a.name} attacked {a.attacked} samples, not the {survivors} left standing"
            before = [b or f for b, f in zip(before, fooled)]
        robust = "".join("1" if ok and not b else "0" for ok, b in zip(clean, before))
        if robust != self.robust_flags:
            yield "robust_flags", "are not the clean-correct samples that no run fooled"


# How a run carried over from an earlier result names it (``AttackOutcome.reused``, :mod:`snnbench.reuse`):
# ``<benchmark> v<k> result <the first 12 digits of its flags' sha256>``.
CARRIED_FROM = re.compile(r"(?P<benchmark>\S+) v(?P<version>\d+) result (?P<flags>[0-9a-f]{12})")


def flags_digest(clean_flags: str, robust_flags: str) -> str:
    return hashlib.sha256(f"{clean_flags}\n{robust_flags}".encode()).hexdigest()


def leaderboard_root() -> Path:
    """Where official results are written: the ``leaderboard/`` of a source checkout, else ``./leaderboard``."""
    checkout = Path(__file__).resolve().parents[1] / "leaderboard"
    return checkout if checkout.is_dir() else Path.cwd() / "leaderboard"


def published_boards() -> Path:
    """Where the committed boards are read from: the checkout's ``leaderboard/``, else the copy installed with
    the package (``snnbench/boards``, read-only)."""
    checkout = Path(__file__).resolve().parents[1] / "leaderboard"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "boards"


def result_path(leaderboard: PathLike, benchmark: str, protocol: int, model: str) -> Path:
    return Path(leaderboard) / benchmark / f"v{protocol}" / "results" / f"{model}.json"


def write_result(result: Result, path: PathLike) -> Path:
    """Validate and write ``result`` as JSON, atomically."""
    parse_record(Result, record_to_dict(result), str(path))  # never write what could not be read back
    atomic_write_text(path, json.dumps(record_to_dict(result), indent=2, ensure_ascii=False) + "\n")
    return Path(path)


def read_result(path: PathLike) -> Result:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RecordError(str(path), [f"not valid JSON: {err}"]) from None
    except UnicodeDecodeError as err:
        raise RecordError(str(path), [f"not UTF-8 text, so not a result file ({err.reason} at byte {err.start})"]) \
            from None
    return parse_record(Result, data, str(path))


def results_in(folder: PathLike) -> list[Result]:
    return [read_result(p) for p in sorted(Path(folder).glob("*.json"))]
