"""``evaluate()``: run a benchmark's protocol on a model and return its :class:`~snnbench.results.Result`.

Three parts with one job each: :mod:`snnbench.evaluation_plan` resolves and checks what is evaluated and
where its state and result go, :mod:`snnbench.runner` runs the checks and the runs of
:mod:`snnbench.schedule` batch by batch with resumable state, and :mod:`snnbench.summary` turns the
finished state into the result.
"""
from __future__ import annotations

import platform
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Union

import torch

from .classifier import SpikingClassifier
from .datasets import PathLike
from .evaluation_plan import EvaluationPlan, plan_evaluation
from .protocol import Benchmark
from .results import Environment, Result
from .runner import EvaluationState, Runner
from .sharding import Shard
from .summary import summarize

if TYPE_CHECKING:
    from .reuse import Carryover


def evaluate(model: Union[str, SpikingClassifier], benchmark: Union[str, Benchmark], *,
             name: Optional[str] = None, n_examples: Optional[int] = None, batch_size: Optional[int] = None,
             device: Union[str, torch.device] = "cpu", seed: Optional[int] = None,
             resume: Optional[PathLike] = None, fresh: bool = False, data_root: Optional[PathLike] = None,
             download: bool = False, progress: bool = False, zoo: Optional[PathLike] = None,
             log: Optional[Callable[[str], None]] = None, reuse: Union[bool, PathLike] = False) -> Result:
    """Evaluate ``model`` on ``benchmark`` (like RobustBench's ``benchmark()``).

    ``model`` is a zoo name, a model from :func:`snnbench.load_model`, or any :class:`SpikingClassifier`
    (from :func:`snnbench.create_model` or built by hand) together with a ``name`` for the result. The protocol
    reads the rest from the model: its spiking layers' own surrogates are the training surrogate that prior
    practice differentiates with, and ``model.stochastic`` says whether it is attacked with EoT. Only a zoo
    card makes a result official; a model without one gets an unofficial result, and its name may not be a
    card's. ``n_examples``, ``batch_size`` and ``seed`` default to the protocol's; any other value makes the
    result unofficial. ``resume`` is a state file, or a folder that holds one state file per evaluation (named
    by a digest of everything that determines the result: model, weights, card, the model's fingerprint,
    device, benchmark version and settings, snnbench's source and torch's version), so that runs of other
    settings never touch each other's progress, and an evaluation is only ever finished by the code that began
    it (a state of other code is named in a warning, and the evaluation starts over).
    Progress is saved there after every batch, and a run that finds its state continues where the last one
    stopped; ``fresh`` discards this evaluation's state first. A folder keeps only unfinished evaluations. A
    test set that is not bundled is read from ``data_root`` (default: ``$SNNBENCH_DATA`` or the cache),
    downloaded there first when ``download``.
    ``log`` receives a line per run as it finishes (``log=print`` prints them): the robust accuracy after it.
    ``reuse`` carries runs over from an earlier result of the same model and settings (:mod:`snnbench.reuse`):
    ``True`` takes the model's result under the newest older version of the benchmark in the repository's
    leaderboard (none found: every run runs), a path takes that result file.
    Changes nothing process-wide: on a CPU, :func:`snnbench.allocator.retain_freed_memory` first (as
    ``snnbench evaluate`` does) makes attacks faster.
    """
    plan = plan_evaluation(model, benchmark, name=name, n_examples=n_examples, batch_size=batch_size, seed=seed,
                           device=device, zoo=zoo)
    carry = None
    if reuse is not False:
        from .reuse import for_plan

        found = for_plan(plan, None if reuse is True else reuse)
        carry = None if found is None else found[0]
    return run_plan(plan, resume=resume, fresh=fresh, data_root=data_root, download=download, progress=progress,
                    log=log, reuse=carry)


def run_plan(plan: EvaluationPlan, *, resume: Optional[PathLike] = None, fresh: bool = False,
             data_root: Optional[PathLike] = None, download: bool = False, progress: bool = False,
             shard: Optional[Shard] = None,
             log: Optional[Callable[[str], None]] = None, reuse: Optional["Carryover"] = None,
             result_file: Optional[PathLike] = None) -> Result:
    """Run ``plan`` (from :func:`~snnbench.evaluation_plan.plan_evaluation`) to its result; ``resume``,
    ``fresh``, ``data_root``, ``download``, ``progress`` and ``log`` as for :func:`evaluate`; ``reuse`` the runs to
    carry over (:func:`snnbench.reuse.for_plan`). ``result_file`` (:meth:`EvaluationPlan.result_file`): the result
    is validated and written there before the state is deleted, so that no failure loses a finished evaluation.

    ``shard`` (default: the initialised ``torch.distributed`` group, else one process) spreads the runs'
    batches over processes (:mod:`snnbench.sharding`); every process must call this with the same plan (the
    processes compare their plans' keys first and refuse to start otherwise), each keeps its own state file,
    and each returns the same result, equal to one process's but for the seconds (summed over processes) and
    the environment; process 0 writes ``result_file``."""
    shard = Shard.current() if shard is None else shard
    _same_plan_everywhere(plan, shard)
    images, labels = plan.images(data_root, download)
    state_path = plan.state_file(resume, shard)
    if fresh and state_path is not None:
        state_path.unlink(missing_ok=True)
    elif resume is not None and Path(resume).is_dir() and not state_path.exists():
        for other in plan.states_of_other_code(resume):
            warnings.warn(f"snnbench: not resuming {other}: begun by other code (snnbench source or torch), so "
                          f"{plan.subject.name} on {plan.bench.label} starts over", RuntimeWarning, stacklevel=2)
        for other in plan.states_of_other_process_counts(resume, shard):
            warnings.warn(f"snnbench: not resuming {other}: one process's share of a run over another number of "
                          f"processes ({shard.world} now), which only that many processes continue; "
                          f"{plan.subject.name} on {plan.bench.label} starts over", RuntimeWarning, stacklevel=2)
    state = EvaluationState.load(state_path, plan.state_key(shard))
    merged, done = Runner(plan, images, labels, progress, shard).execute(state, state_path, log, reuse)
    result = summarize(plan, merged, done, environment(plan, shard))
    if result_file is not None:
        _write_on_rank_zero(result, Path(result_file), shard)
    if resume is not None and Path(resume).is_dir():
        state_path.unlink(missing_ok=True)  # done: a folder keeps only unfinished evaluations
    return result


def _same_plan_everywhere(plan: EvaluationPlan, shard: Shard) -> None:
    """Processes that would merge different evaluations (another model, card, setting, code or torch on one
    machine) refuse before anything runs, naming the processes that differ from process 0."""
    keys = shard.gather(plan.key)
    differ = [rank for rank, key in enumerate(keys) if key != keys[0]]
    if differ:
        raise ValueError(f"process(es) {', '.join(map(str, differ))} of {shard.world} would run another evaluation "
                         f"than process 0 ({plan.subject.name} on {plan.bench.label} here): every process needs "
                         f"the same model, card, settings, device, snnbench source and torch")


def _write_on_rank_zero(result: Result, path: Path, shard: Shard) -> None:
    """Process 0 writes the result; every process learns whether it did, so that none deletes its state when
    the result was not written (a full disk, a result that does not validate)."""
    from .results import write_result

    error = None
    if shard.rank == 0:
        try:
            write_result(result, path)
        except (OSError, ValueError) as err:
            error = err
    failed = shard.gather(None if error is None else f"{type(error).__name__}: {error}")[0]
    if error is not None:
        raise error
    if failed is not None:
        raise RuntimeError(f"process 0 could not write the result {path} ({failed}); every process keeps its state")


def environment(plan: EvaluationPlan, shard: Shard = Shard()) -> Environment:
    """Where and when the evaluation ran."""
    from . import __version__
    from .source import git_revision, source_sha256

    return Environment(protocol=plan.bench.version, snnbench=__version__, torch=torch.__version__,
                       python=platform.python_version(), device=plan.device, threads=torch.get_num_threads(),
                       processes=shard.world,
                       seed=plan.settings.seed, date=datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                       batch_size=plan.settings.batch_size, source_sha256=source_sha256(),
                       revision=git_revision())
