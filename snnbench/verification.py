"""``snnbench verify``: re-run a sample of a result's batches and confirm its per-sample flags, bit for bit.

A result records, per run, which samples it fooled (``fooled_flags``); its schema already checks that every
derived figure follows from them. Verification checks that they are what the registered model does: it loads
the model from its card (whose file, weights and built model must hash as the result records), rebuilds each
run's samples from the flags (every clean-correct sample, or those no earlier run fooled), and re-runs a
sample of the batches: the checks before the attacks in full (zero input gradients on every clean-correct sample
and determinism, whose diagnostics must be the result's), drawn batches of the clean pass and, for every run,
drawn batches with its own seed ``(seed, run name, batch index)``. Every sample of a re-run batch must come out
as the result says, for a stochastic model too (its noise is drawn from seeded streams, so a re-run on the same
software repeats it).

Which batches is not the caller's choice: they are drawn by a generator seeded with the result's
``flags_sha256``, so a submitter cannot steer verification to the batches they ran honestly. The flags are the
submitter's, though: one who forged a batch could edit other flags until the draw misses it. A ``challenge``
that the submitter cannot know in advance (CI draws one at random and prints it) is mixed into every draw, so
that such grinding gains nothing; the draw with a challenge is repeated by passing the same one. ``samples`` is
how many images each run's re-run covers at least (whole batches: an attack's random start is drawn per
batch); a number at least ``n_examples`` re-runs everything.

What it does not guarantee: batches it did not draw are unchecked (a result with ``m`` forged batches out of
``B`` escapes a draw of ``k`` with probability ``C(B − m, k) / C(B, k)`` per run); and a re-run on other
hardware or another torch version may differ in the last bit of a logit and so flip a sample on the margin,
which it reports as a mismatch with the sample's index. So may other code: a change to a kernel, a fused
formula or a memory layout that moves a rounding moves an attack's path near a spike threshold. A result
records the code that produced it (``environment.source_sha256``, :mod:`snnbench.source`), and a failed
verification says when the code re-running it is another (then the result is re-run, not the code
trusted). A run carried over from an earlier result (``--reuse``) was produced by that result's code: a mismatch
in it names the earlier file and its code, and the re-run begins with that version. A result from before
per-run flags (protocol v1)
is checked less: its drawn clean batches, and the reference's and prior practice's drawn batches against its robust
flags and fooled counts; its survivors runs are not re-run.
"""
from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .datasets import PathLike
from .diagnostics import OF_THE_MODEL, mismatch, model_diagnostics
from .evaluation_plan import plan_evaluation
from .leaderboard import protocol_problems
from .protocol import Benchmark, load_protocol
from .results import (CARRIED_FROM, AttackOutcome, Environment, Result, published_boards, read_result,
                      result_path)
from .runner import Runner
from .schedule import Run, samples_attacked
from .source import source_sha256
from .zoo import load_model, model_card, repository_zoo


@dataclass
class Verification:
    path: Path
    checked: list[str] = field(default_factory=list)  # what was re-run: batches, and the model's checks
    batches: int = 0  # how many of ``checked`` are re-run batches
    problems: list[str] = field(default_factory=list)  # every mismatch, one line each
    seconds: float = 0.0
    progress: Optional[Callable[[str], None]] = field(default=None, repr=False, compare=False)
    started: float = field(default_factory=time.perf_counter, repr=False, compare=False)
    budget: Optional[float] = None  # seconds; None: every drawn batch of every run
    skipped: list[str] = field(default_factory=list)  # runs left unchecked when the budget ran out
    notes: list[str] = field(default_factory=list)  # what was not re-run, and why
    carried: set[str] = field(default_factory=set)  # the earlier results of carried runs that mismatched
    key: str = ""  # what seeds the draws: the flags' sha256, then the challenge if one was given

    @property
    def ok(self) -> bool:
        return not self.problems

    def out_of_time(self) -> bool:
        return self.budget is not None and time.perf_counter() - self.started >= self.budget

    def check(self, line: str, mismatch: bool = False, batch: bool = True) -> None:
        """Record a re-run batch (or, with ``batch=False``, a check of the model), and report it as it
        happens."""
        self.checked.append(line)
        self.batches += batch
        self._tell("MISMATCH" if mismatch else "ok", line)

    def note(self, line: str) -> None:
        """Record what was not re-run."""
        self.notes.append(line)
        self._tell("skipped", line)

    def _tell(self, status: str, line: str) -> None:
        if self.progress is not None:
            self.progress(f"  {status:<8} {line}  ({time.perf_counter() - self.started:.0f} s)")


def verify(path: PathLike, *, samples: Optional[int] = None, zoo: Optional[PathLike] = None,
           data_root: Optional[PathLike] = None, download: bool = False, device: str = "cpu",
           progress: Optional[Callable[[str], None]] = None,
           budget_seconds: Optional[float] = None, challenge: Optional[str] = None) -> Verification:
    """Re-run the batches of result ``path`` that its flags' sha256 draws (at least ``samples`` images per run;
    default one batch) and compare every per-sample flag; ``progress`` receives one line per re-run batch.

    With ``budget_seconds`` the runs are visited in an order drawn from the flags' sha256 (so that which runs
    a short budget reaches is not the submitter's choice either) and no run is started once the budget is
    spent; at least one run is always checked, and the runs left out are listed in ``skipped``. A ``challenge``
    (any text) is mixed into every draw (:func:`draw_key`)."""
    report = Verification(Path(path), progress=progress, budget=budget_seconds)
    start = report.started
    result = read_result(path)  # the schema: derived figures, flags that add up
    report.key = draw_key(result, challenge)
    bench = load_protocol().benchmark(result.benchmark, result.protocol)
    if result.official:
        report.problems += [f"{path}: {p}" for p in protocol_problems(result)]
    zoo = repository_zoo() if zoo is None else zoo  # as the boards are checked: not $SNNBENCH_ZOO
    card = model_card(result.model, zoo=zoo)  # a result without a card has nothing to re-run
    model = load_model(result.model, zoo=zoo, device=device)
    summary = result.model_summary
    if card.path is not None and hashlib.sha256(card.path.read_bytes()).hexdigest() != summary.card_file_sha256:
        report.problems.append(f"{path}: the card {card.path} is not the file the result was produced with")
    if model.provenance.sha256 != summary.checkpoint_sha256:
        report.problems.append(f"{path}: the card's weights are not the ones the result evaluated")
    if summary.model_sha256 is not None and model.fingerprint() != summary.model_sha256:
        report.problems.append(f"{path}: the model the card builds is not the one the result evaluated")
    if report.problems:  # another model: re-running it would verify nothing
        report.seconds = time.perf_counter() - start
        return report
    batch_size = result.environment.batch_size or bench.batch_size
    plan = plan_evaluation(model, bench, n_examples=result.n_examples, batch_size=batch_size,
                           seed=result.environment.seed, device=device, zoo=zoo)
    images, labels = plan.images(data_root, download)
    runner = Runner(plan, images, labels)
    want = batch_size if samples is None else samples
    _verify_clean(runner, result, want, report)
    _verify_model_checks(runner, bench, result, report)
    if all(a.fooled_flags is not None for a in result.attacks):
        _verify_runs(runner, bench, result, want, report)
    else:
        _verify_without_run_flags(runner, bench, result, want, report)
    if report.problems and result.environment.source_sha256 != source_sha256():
        report.problems.append(f"{path}: {other_code(result)}")
    for label in sorted(report.carried):
        report.problems.append(f"{path}: {carried_code(result, label, Path(path))}")
    report.seconds = time.perf_counter() - start
    return report


def verdict(report: Verification, challenge: Optional[str] = None) -> str:
    """The one line that ``snnbench verify`` prints for a file: ``ok`` or ``FAIL``, what was re-run, the notes,
    and the challenge that repeats the draw."""
    return (f"{'ok  ' if report.ok else 'FAIL'}  {report.path}: re-ran {report.batches} batch(es)"
            + (" and the model's checks" if report.batches < len(report.checked) else "")
            + f" in {report.seconds:.0f} s"
            + "".join(f"; {note}" for note in report.notes)
            + ("" if challenge is None else f"; challenge {challenge} (repeat with --challenge {challenge})"))


def other_code(result: Result) -> str:
    """Why a mismatch may be the code's and not the result's: which code produced it, and which re-ran it."""
    return (f"the result was produced {_made_by(result.environment)}; this is source {source_sha256()[:12]}: "
            f"numerics may differ, so re-run the evaluation with this code ({_rerun(result)})")


def carried_code(result: Result, label: str, path: Path) -> str:
    """Which code produced the runs that ``result`` (read from ``path``) carried over from the earlier result
    ``label`` names (``<benchmark> v<k> result <flags sha256, 12 digits>``, :class:`snnbench.reuse.Carryover`),
    looked up beside ``path`` (``<leaderboard>/<benchmark>/v<k>/results/<model>.json``) and then in the
    published boards: a mismatch in such a run is the earlier result's, or its code's, and its re-run comes
    first."""
    found = CARRIED_FROM.fullmatch(label)
    if found is None:
        return f"a mismatched run was carried over from {label!r}, which names no result file"
    benchmark, version, path = found["benchmark"], int(found["version"]), path.resolve()
    board = path.parents[3] if len(path.parents) > 3 else None  # the leaderboard the file sits in, if it does
    roots = [board] if board and path == result_path(board, result.benchmark, result.protocol, result.model) else []
    for root in roots + [published_boards()]:
        earlier = result_path(root, benchmark, version, result.model)
        if earlier.is_file() and (old := read_result(earlier)).flags_sha256.startswith(found["flags"]):
            break
    else:
        return (f"a mismatched run was carried over from the {label}, which is not on the board beside it or in "
                f"the published boards: which code produced it is unknown")
    same = old.environment.source_sha256 == source_sha256()
    return (f"a mismatched run was carried over from the {label} ({earlier}), produced {_made_by(old.environment)}"
            + ("; this is the same code, so that result is at fault" if same else
               f"; this is source {source_sha256()[:12]}: numerics may differ, so re-run that evaluation with "
               f"this code ({_rerun(old)}), then this one with --reuse"))


def _made_by(env: Environment) -> str:
    if env.source_sha256 is None:
        return f"by snnbench {env.snnbench} on {env.date}, before results recorded their code"
    return f"by source {env.source_sha256[:12]}" + (f" (git {env.revision[:12]})" if env.revision else "")


def _rerun(result: Result) -> str:
    return f"snnbench evaluate --model {result.model} --benchmark {result.benchmark} --version {result.protocol}"


def draw_key(result: Result, challenge: Optional[str] = None) -> str:
    """What seeds a verification's draws: the result's ``flags_sha256``, then ``/challenge`` when one is given."""
    return result.flags_sha256 if challenge is None else f"{result.flags_sha256}/{challenge}"


def _draw(key: str, purpose: str, batches: list[list[int]], want: int) -> list[int]:
    """Batch indices drawn by a generator seeded with ``key`` (:func:`draw_key`) and ``purpose``, until they
    cover ``want`` samples."""
    order = list(range(len(batches)))
    random.Random(f"{key}/{purpose}").shuffle(order)
    chosen, covered = [], 0
    for index in order:
        if covered >= want:
            break
        chosen.append(index)
        covered += len(batches[index])
    return sorted(chosen)


def _verify_clean(runner: Runner, result: Result, want: int, report: Verification) -> None:
    batches = runner.batches(list(range(result.n_examples)))
    for index in _draw(report.key, "clean", batches, want):
        batch = batches[index]
        got = runner.judge_clean(batch)
        wrong = [i for i, ok in zip(batch, got) if ok != (result.clean_flags[i] == "1")]
        if wrong:
            report.problems.append(f"{report.path}: clean batch {index + 1}: samples {_show(wrong)} are judged "
                                   f"otherwise than clean_flags say")
        report.check(f"clean batch {index + 1} of {len(batches)} ({len(batch)} images)", len(wrong) > 0)


def _verify_model_checks(runner: Runner, bench, result: Result, report: Verification) -> None:
    """The diagnostics that need the model (:data:`snnbench.diagnostics.OF_THE_MODEL`): zero input gradients on
    every clean-correct sample and determinism, recomputed and compared with those the result states."""
    clean = [c == "1" for c in result.clean_flags]
    zero, deterministic = runner.zero_gradients(clean), runner.deterministic()
    found = mismatch(model_diagnostics(bench, sum(clean), zero, deterministic), result.diagnostics, OF_THE_MODEL,
                     "the model's checks give")
    if found is not None:
        report.problems.append(f"{report.path}: {found}")
    report.check(f"zero gradients ({zero} of {sum(clean)} clean-correct samples) and determinism", found is not None,
                 batch=False)


def attacked_samples(result: Result, bench: Benchmark) -> list[tuple[Run, AttackOutcome, list[int], set[int]]]:
    """Per run of ``result`` (which keeps per-run flags), in its order: the run on ``bench``, its outcome, the
    samples it attacked (:func:`snnbench.schedule.samples_attacked`) and those it fooled."""
    clean = [c == "1" for c in result.clean_flags]
    fooled = [{i for i, c in enumerate(outcome.fooled_flags) if c == "1"} for outcome in result.attacks]
    runs = []
    for position, outcome in enumerate(result.attacks):
        run = Run(bench.attack(outcome.name.split("/")[0]), outcome.restart)
        runs.append((run, outcome, samples_attacked(clean, fooled[:position], run.on_clean), fooled[position]))
    return runs


def _verify_runs(runner: Runner, bench: Benchmark, result: Result, want: int, report: Verification) -> None:
    todo = []
    for run, outcome, samples, fooled in attacked_samples(result, bench):
        reason = runner._inapplicable(run)
        if outcome.not_applicable or reason:
            if bool(outcome.not_applicable) != bool(reason):
                report.problems.append(f"{report.path}: {outcome.name} is {'not ' if reason is None else ''}"
                                       f"applicable to this model, unlike what the result says")
            continue
        todo.append((run, outcome, samples, fooled))
    for checked, (run, outcome, samples, fooled) in enumerate(_in_budget_order(report, todo)):
        if checked and report.out_of_time():
            report.skipped.append(outcome.name)
            continue
        batches = runner.batches(samples)
        for index in _draw(report.key, outcome.name, batches, want):
            _verify_batch(runner, run, outcome, batches, index, fooled, report)
    _report_skipped(report)


def _verify_without_run_flags(runner: Runner, bench, result: Result, want: int, report: Verification) -> None:
    """A result from before per-run flags (protocol v1) says which samples are robust, not who fooled the
    others. What can still be checked: the runs on every clean-correct sample (reference, prior practice) have
    known batches; every sample they fool in a re-run must be marked not robust, and each run's fooled count
    over its drawn batches cannot exceed what it reports for the whole run (and must equal it when every batch
    is drawn). Survivors runs are not re-run."""
    clean = [i for i, c in enumerate(result.clean_flags) if c == "1"]
    todo = [(Run(bench.attack(o.name.split("/")[0]), o.restart), o) for o in result.attacks if not o.not_applicable]
    todo = [(run, outcome) for run, outcome in todo if run.on_clean]
    for checked, (run, outcome) in enumerate(_in_budget_order(report, todo)):
        if checked and report.out_of_time():
            report.skipped.append(outcome.name)
            continue
        batches = runner.batches(clean)
        fooled, drawn = 0, _draw(report.key, outcome.name, batches, want)
        for index in drawn:
            got = runner.attack_batch(run, batches[index], index).fooled
            fooled += len(got)
            robust = [i for i in got if result.robust_flags[i] == "1"]
            if robust:
                report.problems.append(f"{report.path}: {outcome.name} batch {index + 1} fools samples "
                                       f"{_show(robust)} that the result calls robust")
            report.check(f"{outcome.name} batch {index + 1} of {len(batches)} ({len(batches[index])} images; no "
                         f"per-run flags: fooled samples checked against robust_flags)", len(robust) > 0)
        reported = outcome.attacked - outcome.robust
        if len(drawn) == len(batches) and fooled != reported:  # the whole run re-ran: its count is known
            report.problems.append(f"{report.path}: {outcome.name} fooled {fooled} samples over all its batches; "
                                   f"the result reports {reported}")
        elif fooled > reported:
            report.problems.append(f"{report.path}: {outcome.name} fooled {fooled} samples in the re-run batches "
                                   f"alone, more than the {reported} it reports")
    _report_skipped(report)
    report.note("survivors runs: not re-run (this result keeps no per-run fooled flags)")


def _in_budget_order(report: Verification, todo: list) -> list:
    """The protocol's order without a budget; with one, an order drawn from the flags' sha256 (and challenge)."""
    if report.budget is None:
        return todo
    order = list(todo)
    random.Random(f"{report.key}/runs").shuffle(order)
    return order


def _report_skipped(report: Verification) -> None:
    if report.skipped:
        report.note(f"{len(report.skipped)} run(s) not re-run: the time budget was spent ({_show(report.skipped)})")


def _verify_batch(runner: Runner, run: Run, outcome: AttackOutcome, batches: list[list[int]], index: int,
                  fooled: set[int], report: Verification) -> None:
    batch = batches[index]
    got = set(runner.attack_batch(run, batch, index).fooled)
    expected = fooled & set(batch)
    if got != expected:
        if outcome.reused:
            report.carried.add(outcome.reused)
        report.problems.append(
            f"{report.path}: {outcome.name} batch {index + 1}: the re-run fooled {len(got)} samples, the result "
            f"says {len(expected)}; they differ on samples {_show(sorted(got ^ expected))}")
    carried = f"; carried over from the {outcome.reused}" if outcome.reused else ""
    report.check(f"{outcome.name} batch {index + 1} of {len(batches)} ({len(batch)} images{carried})", got != expected)


def _show(indices: list[int], limit: int = 10) -> str:
    return ", ".join(map(str, indices[:limit])) + (f" and {len(indices) - limit} more" if len(indices) > limit else "")
