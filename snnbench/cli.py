"""The ``snnbench`` command line."""
from __future__ import annotations

import argparse
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import yaml
from tabulate import tabulate

if TYPE_CHECKING:  # pragma: no cover
    from .protocol import Benchmark


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (0 or a negative count is refused, never defaulted)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def device_name(text: str) -> str:
    """An argparse type: a device torch knows (``cpu``, ``cuda``, ``cuda:1``, ...), as given."""
    import torch

    try:
        torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"not a torch device: {text!r} (cpu, cuda, cuda:1, ...)") from None
    return text


def _architectures(args: argparse.Namespace) -> int:
    from .architectures import architecture_info, create_model, list_architectures
    from .datasets import dataset_info

    rows = []
    for name in list_architectures():
        info = architecture_info(name)
        data = dataset_info(info.datasets[0])
        size, channels = data.image_size, data.in_channels
        model = create_model(name, in_channels=channels, image_size=size, num_classes=10,
                             neuron={"backend": "eager"})
        params = sum(p.numel() for p in model.parameters())
        options = ", ".join(f"{k}={v}" for k, v in info.options.items())
        rows.append([name, f"{params:,}", f"{channels}×{size}×{size}", ", ".join(info.datasets), options])
    print(tabulate(rows, headers=["architecture", "parameters (10 classes)", "input", "made for", "options"]))
    return 0


def _subsets(args: argparse.Namespace) -> int:
    from .eval_subsets import list_subsets, load_eval_subset

    rows = []
    for info in list_subsets():
        images, labels = load_eval_subset(info.name)  # verifies the sha256
        rows.append([info.name, info.dataset, info.split, f"first {info.first}", tuple(images.shape[1:]),
                     info.sha256[:16] + "…"])
    print(tabulate(rows, headers=["subset", "dataset", "split", "images", "shape", "sha256 (verified)"]))
    return 0


def _models(args: argparse.Namespace) -> int:
    from .datasets import dataset_info
    from .protocol import load_protocol
    from .records import RecordError
    from .zoo import card_paths, model_card

    if args.dataset is not None:
        dataset_info(args.dataset)  # an unknown dataset is named, not answered with "no model cards"
    protocol = load_protocol()
    rows, failures = [], []
    for name, path in card_paths(args.zoo).items():
        if args.dataset is not None and path.parent.name != args.dataset:
            continue
        try:
            rows.append(_model_row(model_card(name, zoo=args.zoo), protocol))
        except (RecordError, FileNotFoundError, ValueError) as err:
            failures.append(str(err))
    if rows:
        print(tabulate(rows, headers=["model", "dataset", "architecture", "neuron", "T", "training", "stochastic",
                                      "clean (claimed)", "robust (board in force)", "paper"], floatfmt=".2f"))
    else:
        print(f"no model cards{' for ' + args.dataset if args.dataset else ''} in {_zoo_name(args.zoo)}")
    for failure in failures:
        print(f"snnbench models: invalid card: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _model_row(card, protocol) -> list:
    from .protocol import epsilon_label
    from .results import published_boards, read_result, result_path
    from .training.recipe import METHOD_PAPERS

    training = card.training
    method = training.method if training.epsilon is None else f"{training.method} ε={epsilon_label(training.epsilon)}"
    if training.data is not None:
        method += f" on {training.data}"
    robust = []
    for benchmark in card.benchmarks:  # the committed official result under each board's version in force
        version = protocol.benchmark(benchmark).version
        path = result_path(published_boards(), benchmark, version, card.name)
        if path.exists():
            robust.append(f"{_headline(read_result(path))} {benchmark} v{version}")
            continue
        # None yet under the version in force: the newest retired one's, labelled with its version.
        older = [path for b in protocol.versions(benchmark) if b.version < version
                 and (path := result_path(published_boards(), benchmark, b.version, card.name)).exists()]
        newest = read_result(older[-1]) if older else None
        robust.append(f"— {benchmark} v{version}" + (f" (v{newest.protocol}: {_headline(newest)})" if newest else ""))
    claimed = f"{card.clean_accuracy.value:.2f}% of {card.clean_accuracy.n_examples}"
    if card.stochastic:  # validate's seeded single pass, not the board's all-passes accuracy
        claimed += ", one noisy pass"
    if card.paper == "snnbench":
        paper = "trained here: " + " + ".join(METHOD_PAPERS.get(m, m) for m in training.method.split("+"))
    else:
        paper = f"{card.paper.authors[0]}{' et al.' if len(card.paper.authors) > 1 else ''}, {card.paper.venue} " \
                f"{card.paper.year}"
    return [card.name, card.dataset, card.architecture.name, card.architecture.neuron.kind, card.architecture.T,
            method, "yes (EoT)" if card.stochastic else "no", claimed, "; ".join(robust), paper]


def _headline(result) -> str:
    """The robust accuracy, marked when the result's diagnostics put it in doubt (an upper bound the board flags)."""
    return f"{result.robust_accuracy:.1f}%{'' if result.reliable else ' (unreliable)'}"


def _zoo_name(zoo) -> str:
    from .zoo import zoo_root

    return str(zoo_root(zoo))


def _validate(args: argparse.Namespace) -> int:
    from .validation import validate_card
    from .zoo import card_paths, model_card

    paths = card_paths(args.zoo)
    # A name that is neither a card nor a file: model_card's error, with the closest names.
    targets = list(paths.values()) if args.all else [
        paths[c] if c in paths else c if Path(c).exists() else model_card(c, zoo=args.zoo).path for c in args.cards]
    if not targets:
        if args.all:
            print(f"no model cards in {_zoo_name(args.zoo)}")
            return 0
        raise ValueError("name the cards to validate (paths or model names), or pass --all")
    failed = 0
    for target in targets:
        report = validate_card(target, data_root=args.data_dir, download=args.download, backend=args.backend,
                               cache_dir=args.cache_dir)
        if report.ok:
            print(f"ok    {report.card}: clean accuracy {report.clean_accuracy:.2f}% on {report.n_examples} images "
                  f"(claimed {report.claimed_accuracy:.2f}%), {report.seconds:.1f} s")
        else:
            failed += 1
            print(f"FAIL  {report.card}:", file=sys.stderr)
            for problem in report.problems:
                print(f"        - {problem}", file=sys.stderr)
    print(f"{len(targets) - failed} of {len(targets)} card(s) valid")
    return 1 if failed else 0


def _train(args: argparse.Namespace) -> int:
    from .allocator import retain_freed_memory
    from .training import train

    retain_freed_memory()  # training runs on the CPU; the allocator setting is the process's

    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        if stop.is_set():  # a second signal stops at once, keeping the last saved state
            raise KeyboardInterrupt
        stop.set()
        print(f"\nsnnbench train: {signal.Signals(signum).name} received; saving after the step in progress "
              "(send it again to stop at once)", file=sys.stderr)

    in_main_thread = threading.current_thread() is threading.main_thread()  # only it may install handlers
    previous = ({sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
                if in_main_thread else {})
    try:
        outcome = train(args.recipe, args.out, data_root=args.data_dir, download=args.download,
                        resume=not args.restart, progress=not args.quiet, backend=args.backend, stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"trained in {outcome.seconds / 60:.1f} min: clean accuracy {outcome.clean_accuracy:.2f}% on the first "
          f"{outcome.n_examples} test images\n  card    {outcome.card}\n  weights {outcome.weights}\n"
          f"  log     {outcome.log}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from torch import device as torch_device

    from .allocator import retain_freed_memory
    from .sharding import process_group_from_environment

    if (args.model is None) == (args.missing is None):
        raise ValueError("name a model with --model, or a benchmark with --missing (not both)")
    if torch_device(args.device).type == "cpu":
        retain_freed_memory()  # the allocator setting is the process's, so the entry point makes it
    with process_group_from_environment(args.device) as shard:  # under torchrun: this process's share
        return _evaluate_shard(args, shard)


def _evaluate_shard(args: argparse.Namespace, shard) -> int:
    from .evaluation_plan import plan_evaluation
    from .leaderboard import regenerate
    from .protocol import load_protocol
    from .results import leaderboard_root
    from .zoo import list_models, model_card

    if args.checkpoint is not None and args.model is None:
        raise ValueError("--checkpoint goes with --model (the card whose architecture the weights fit)")
    if args.download and shard.world > 1:  # every process would write the same files at once
        raise ValueError(f"--download under torchrun ({shard.world} processes): download the test set once first "
                         f"(one process: snnbench evaluate ... --download, or snnbench validate CARD --download)")
    if args.model is not None:
        name = args.benchmark or model_card(args.model, zoo=args.zoo).benchmarks[0]
        result = _evaluate_one(args, args.model, load_protocol().benchmark(name, args.version), shard)
        if result is not None and result.official:
            regenerate(leaderboard_root() if args.out is None else Path(args.out))
            print("tables regenerated")
        return 0
    for option, given in (("--benchmark", args.benchmark), ("--force", args.force)):
        if given:
            raise ValueError(f"{option} goes with --model: --missing names its benchmark and evaluates only cards "
                             f"without a result")
    bench = load_protocol().benchmark(args.missing, args.version)
    cards = [name for name in list_models(zoo=args.zoo) if bench.name in model_card(name, zoo=args.zoo).benchmarks]
    plans = {name: plan_evaluation(name, bench, n_examples=args.n_examples, batch_size=args.batch_size,
                                   seed=args.seed, device=args.device, zoo=args.zoo) for name in cards}
    missing = [name for name, plan in plans.items() if not plan.result_file(args.out).exists()]
    # Settings outside the protocol (--n-examples, --seed, ...) fill unofficial results, never the board.
    departures = sorted({d for plan in plans.values() for d in plan.departures})
    what = "a result" if not departures else f"an unofficial result with these settings ({'; '.join(departures)})"
    if shard.rank == 0:
        print(f"{bench.label}: {len(cards)} zoo card(s), {len(missing)} without {what}: {', '.join(missing) or '-'}")
    results = [_evaluate_one(args, name, bench, shard) for name in missing]
    if any(result is not None and result.official for result in results):
        regenerate(leaderboard_root() if args.out is None else Path(args.out))
        print("tables regenerated")
    return 0


def _evaluate_one(args: argparse.Namespace, model: str, benchmark: "Benchmark", shard):
    """Evaluate one model; rank 0 writes and prints the result (None on other ranks)."""
    from datetime import datetime, timezone

    from .evaluation import run_plan
    from .evaluation_plan import default_state_folder, plan_evaluation
    from .leaderboard import board_frame, standing

    subject = model
    if args.checkpoint is not None:  # the card's architecture with other weights: recorded, and unofficial
        from .zoo import load_model

        subject = load_model(model, zoo=args.zoo, checkpoint=args.checkpoint, device=args.device)
    plan = plan_evaluation(subject, benchmark, name=model, n_examples=args.n_examples, batch_size=args.batch_size,
                           seed=args.seed, device=args.device, zoo=args.zoo)
    target = plan.result_file(args.out)
    if not plan.official and target.exists() and not args.force:
        raise ValueError(f"{target} exists (an earlier unofficial result with these settings): pass --force to "
                         f"overwrite it, or --out DIR to write elsewhere")
    log_file = target.with_suffix(".log")  # beside the result: each run's robust accuracy as it finishes
    if shard.rank == 0:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a", encoding="utf-8") as handle:
            handle.write(f"# {model} on {plan.bench.label}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
                         f"{' (resumed where a state exists)' if args.resume else ''}\n")

    def log(line: str) -> None:
        print(line, flush=True)
        with log_file.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    carry = None
    if args.reuse:
        from .reuse import for_plan

        found = for_plan(plan, out=args.out)
        if found is None:
            log(f"--reuse: no earlier result of {model} with per-run flags under an older version of "
                f"{plan.bench.name}; every run runs")
        else:
            carry, source = found
            log(f"--reuse: runs that {source} already ran carry over (its {len(carry.outcomes)} runs, as far as the "
                f"two schedules agree)")
    result = run_plan(plan, resume=default_state_folder(), fresh=not args.resume, data_root=args.data_dir,
                      download=args.download, progress=not args.quiet, shard=shard, log=log, reuse=carry,
                      result_file=target)
    if shard.rank != 0:  # every rank holds the same result; rank 0 wrote it
        return None
    frame = board_frame((result,)).drop(columns="rank")  # an unofficial row has no place on a board, so no rank
    if result.official:
        try:
            frame = standing(result, target.parent)
        except ValueError as err:  # another result in the folder does not validate: rank unknown, said so
            log(f"rank not computed: {err}")
    print()
    print(tabulate(frame.values.tolist(), headers=list(frame.columns), floatfmt=".1f", showindex=False))
    carried = f" ({result.carried_seconds / 60:.1f} of them carried over by --reuse)" if result.carried_seconds else ""
    print(f"\n{result.n_examples} images, {result.seconds / 60:.1f} min{carried}")
    for diagnostic in result.diagnostics:
        print(f"{'UNRELIABLE' if diagnostic.unreliable else 'note'}: {diagnostic.message}")
    if result.official:
        print(f"official result: {target} (log: {log_file.name})")
    else:
        print(f"unofficial result, not ranked ({'; '.join(result.departures)}): {target} (log: {log_file.name})")
    return result


def _leaderboard(args: argparse.Namespace) -> int:
    from .leaderboard import find_boards, regenerate, render_board
    from .results import leaderboard_root, published_boards

    if args.show and (args.check or args.html):
        raise ValueError("--show only prints the boards: it takes neither --check nor --html")
    if args.show:  # read-only: the boards of this checkout, or the ones installed with the package
        root = Path(args.dir) if args.dir else published_boards()
        boards = find_boards(root, args.zoo)
        if not boards:
            print(f"no boards in {root}")
        for board in boards:
            print(render_board(board).split("\n", 1)[1])  # without the "generated" comment
        return 0
    root = Path(args.dir) if args.dir else leaderboard_root()
    if args.html and not root.is_dir() and not args.dir:  # an installed package: the site of the shipped boards
        if args.check:
            raise ValueError(f"{root}: no leaderboard folder here, so --check has nothing to compare (the boards "
                             f"installed with the package are read-only)")
        from .webboard import write_site

        pages = write_site(args.html, published_boards(), zoo=args.zoo)
        print(f"web board: {len(pages)} files in {args.html} (open {Path(args.html) / 'index.html'})")
        return 0
    if not root.is_dir():
        raise ValueError(f"{root}: no leaderboard folder here (official results are written to one); "
                         f"`snnbench leaderboard --show` prints the boards installed with snnbench, --dir names "
                         f"another folder")
    stale = regenerate(root, check=args.check, zoo=args.zoo)
    if args.check and stale:
        for path in stale:
            print(f"snnbench leaderboard --check: {path} differs from its regeneration", file=sys.stderr)
        print("run `snnbench leaderboard` and commit the tables", file=sys.stderr)
        return 1
    print(f"{len(stale)} table(s) {'would change' if args.check else 'written'}" if stale else "tables up to date")
    if args.html:
        from .webboard import write_site

        pages = write_site(args.html, root, zoo=args.zoo)
        print(f"web board: {len(pages)} files in {args.html} (open {Path(args.html) / 'index.html'})")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from .verification import verdict, verify

    failed = 0
    budget = None if args.budget_minutes is None else 60.0 * args.budget_minutes / len(args.results)
    challenge = secrets.token_hex(8) if args.challenge == "random" else args.challenge
    for path in args.results:
        if not args.quiet:
            print(f"verifying {path}")
        try:
            report = verify(path, samples=args.samples, zoo=args.zoo, data_root=args.data_dir, device=args.device,
                            progress=None if args.quiet else print, budget_seconds=budget, challenge=challenge,
                            download=args.download)
        except (ValueError, OSError) as err:  # this file cannot be verified; the others still are
            print(f"FAIL  {err}" if str(err).startswith(str(path)) else f"FAIL  {path}: {err}", file=sys.stderr)
            failed += 1
            continue
        for problem in report.problems:
            print(f"FAIL  {problem}", file=sys.stderr)
        print(verdict(report, challenge))
        failed += not report.ok
    return 1 if failed else 0


def _plot_board(args: argparse.Namespace) -> int:
    from .leaderboard import find_boards
    from .plots import plot_board
    from .protocol import load_protocol
    from .results import published_boards

    root = Path(args.dir) if args.dir else published_boards()
    version = args.version or load_protocol().benchmark(args.benchmark).version
    board = next((b for b in find_boards(root, args.zoo) if (b.benchmark, b.version) == (args.benchmark, version)),
                 None)
    if board is None or not board.results:
        raise ValueError(f"no results on the {args.benchmark} v{version} board in {root}")
    paths = plot_board(board, Path(args.out) / f"{args.benchmark}-v{version}-board")
    print("written: " + ", ".join(map(str, paths)))
    return 0


def _plot_epsilon(args: argparse.Namespace) -> int:
    from .plots import plot_epsilon
    from .protocol import load_protocol
    from .sweep import epsilon_sweep
    from .zoo import model_card

    bench = load_protocol().benchmark(args.benchmark or model_card(args.model, zoo=args.zoo).benchmarks[0])
    epsilons = args.epsilons or [round(bench.epsilon * f, 6) for f in (0.25, 0.5, 0.75, 1.0, 1.5)]
    points = epsilon_sweep(args.model, bench, epsilons, n_examples=args.n_examples, batch_size=args.batch_size,
                           device=args.device, zoo=args.zoo, out=args.results, log=print)
    paths = plot_epsilon([(e, r) for e, r, _ in points], Path(args.out) / f"{args.model}-{bench.name}-epsilon",
                         model=args.model, protocol_epsilon=bench.epsilon)
    print("written: " + ", ".join(map(str, paths)))
    return 0


def _plot_attacks(args: argparse.Namespace) -> int:
    from .plots import plot_traces
    from .protocol import load_protocol
    from .traces import attack_traces
    from .zoo import model_card

    bench = load_protocol().benchmark(args.benchmark or model_card(args.model, zoo=args.zoo).benchmarks[0])
    traces = attack_traces(args.model, bench, n_examples=args.n_examples, device=args.device, zoo=args.zoo)
    for trace in traces:
        print(f"{trace.name:<20} {len(trace.accuracy)} gradient evaluations, accuracy {trace.accuracy[0]:.1f}% → "
              f"{trace.accuracy[-1]:.1f}% (output judged: {trace.final:.1f}%)" if trace.accuracy else
              f"{trace.name:<20} nothing to attack")
    paths = plot_traces(traces, Path(args.out) / f"{args.model}-{bench.name}-attacks", model=args.model,
                        benchmark=bench.label)
    print("written: " + ", ".join(map(str, paths)))
    return 0


def _model_figure_arguments(parser: argparse.ArgumentParser, images: str) -> None:
    """The arguments of every figure about one model."""
    parser.add_argument("model")
    parser.add_argument("--benchmark", help="default: the first benchmark on the model's card")
    parser.add_argument("--n-examples", type=positive_int, default=100, help=f"{images} (default 100)")
    parser.add_argument("--device", default="cpu", type=device_name)
    parser.add_argument("--zoo", help="the model-zoo folder (default: $SNNBENCH_ZOO or the repository's)")
    parser.add_argument("--out", default="snnbench-plots", help="folder for the figure (default: snnbench-plots)")


def _epsilons(text: str) -> list[float]:
    """An argparse type: comma-separated radii in (0, 1], such as ``0.02,0.05,0.1``."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not values or any(not 0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"every ε must lie in (0, 1], got {text!r}")
    return values


def _protocol(args: argparse.Namespace) -> int:
    from .protocol import load_protocol
    from .records import record_to_dict

    protocol = load_protocol()
    names = [args.benchmark] if args.benchmark else list(protocol.benchmarks)
    print(f"# {', '.join(protocol.benchmark(n).label for n in names)} ({protocol.path})")
    # The field's name is the file's (renaming it would change every benchmark's settings); its meaning:
    print("# an attack's `restarts` counts its runs, the first included: 20 is the first run and up to 19 new "
          "random starts, 1 a single run")
    print(yaml.safe_dump({n: record_to_dict(protocol.benchmark(n)) for n in names}, sort_keys=False,
                         allow_unicode=True), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="snnbench", description="Adversarial robustness benchmark for SNNs.")
    parser.add_argument("--version", action="version", version=f"snnbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("architectures", help="list the registered architectures",
                        epilog="example: snnbench architectures").set_defaults(run=_architectures)
    commands.add_parser("subsets", help="list and verify the bundled evaluation subsets",
                        epilog="example: snnbench subsets").set_defaults(run=_subsets)

    models = commands.add_parser("models", help="list the registered models (the model zoo)",
                                 epilog="examples: snnbench models; snnbench models --dataset cifar10")
    models.add_argument("--dataset", help="only this dataset's models")
    models.add_argument("--zoo", help="the model-zoo folder (default: $SNNBENCH_ZOO or the repository's model_zoo)")
    models.set_defaults(run=_models)

    validate = commands.add_parser("validate", help="check model cards before they join the zoo",
                                   epilog="examples: snnbench validate model_zoo/mnist/mnist-convnet-lif-at.yaml; "
                                          "snnbench validate --all (what CI runs)")
    validate.add_argument("cards", nargs="*", metavar="CARD", help="card files or registered model names")
    validate.add_argument("--all", action="store_true", help="validate every card in the zoo")
    validate.add_argument("--zoo", help="the model-zoo folder (default: $SNNBENCH_ZOO or the repository's model_zoo)")
    validate.add_argument("--data-dir", help="data root for test images that are not bundled (default: $SNNBENCH_DATA)")
    validate.add_argument("--download", action="store_true", help="download test images that are not there")
    validate.add_argument("--backend", choices=["compiled", "eager", "reference"], help="neuron kernels to run")
    validate.add_argument("--cache-dir", help="Hugging Face cache for hub weights (default: the hub's own)")
    validate.set_defaults(run=_validate)

    train = commands.add_parser("train", help="train a model from a recipe: weights, card and log",
                                epilog="example: snnbench train model_zoo/mnist/recipes/mnist-convnet-lif-at.yaml "
                                       "--out my_zoo/mnist (resumes from its saved state; --restart starts over)")
    train.add_argument("recipe", help="the recipe YAML file")
    train.add_argument("--out", required=True, help="folder for <name>.safetensors, <name>.yaml and logs/")
    train.add_argument("--data-dir", help="data root (default: $SNNBENCH_DATA or ~/.cache/snnbench/data)")
    train.add_argument("--download", action="store_true", help="download the dataset if it is not there")
    train.add_argument("--restart", action="store_true", help="ignore a saved state and start from scratch")
    train.add_argument("--backend", choices=["compiled", "eager", "reference"], help="neuron kernels to run")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser(
        "evaluate", help="run the benchmark protocol on a registered model",
        epilog="examples: snnbench evaluate --model mnist-convnet-lif-at; snnbench evaluate --missing mnist-linf "
               "--resume (every card without a result under the version in force); torchrun --nproc-per-node 4 "
               "-m snnbench evaluate --model NAME (the batches spread over 4 processes, the same result)")
    evaluate.add_argument("--model", help="a registered model (`snnbench models`)")
    evaluate.add_argument("--missing", metavar="BENCHMARK",
                          help="evaluate every zoo card that ranks on BENCHMARK and has no result for its version "
                               "(--version, default: the one in force)")
    evaluate.add_argument("--benchmark", help="default: the first benchmark on the model's card")
    evaluate.add_argument("--version", type=positive_int,
                          help="a retired protocol version whose board is kept (default: the version in force)")
    evaluate.add_argument("--zoo", help="the model-zoo folder (default: $SNNBENCH_ZOO or the repository's "
                                        "model_zoo; only the repository's cards give official results)")
    evaluate.add_argument("--checkpoint", help="the card's architecture with these weights (.safetensors; "
                                               "recorded by sha256, unofficial unless they are the card's)")
    evaluate.add_argument("--n-examples", type=positive_int, help="fewer images than the protocol's (unofficial)")
    evaluate.add_argument("--batch-size", type=positive_int, help="another batch size (unofficial)")
    evaluate.add_argument("--device", default="cpu", type=device_name)
    evaluate.add_argument("--seed", type=int, help="another seed (unofficial)")
    evaluate.add_argument("--out", help="where results go (default: the repository's leaderboard/; unofficial "
                                        "results: ./snnbench-results/)")
    evaluate.add_argument("--resume", action="store_true", help="continue an interrupted evaluation")
    evaluate.add_argument("--reuse", action="store_true",
                          help="carry over the runs that the model's result under an older version of the "
                               "benchmark already ran, as far as the two versions' schedules agree (marked in "
                               "the result; one process)")
    evaluate.add_argument("--force", action="store_true",
                          help="overwrite an earlier unofficial result with the same settings")
    evaluate.add_argument("--data-dir", help="data root for test sets that are not bundled")
    evaluate.add_argument("--download", action="store_true",
                          help="download a test set that is not bundled (torchvision)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    evaluate.set_defaults(run=_evaluate)

    board = commands.add_parser(
        "leaderboard", help="regenerate the leaderboard tables from the result files",
        epilog="examples: snnbench leaderboard --show (print every board, also from an installed package); "
               "snnbench leaderboard --check (CI); snnbench leaderboard --html site/ (then open site/index.html)")
    board.add_argument("--show", action="store_true", help="print the boards (read-only)")
    board.add_argument("--check", action="store_true", help="exit 1 if a committed table differs from its regeneration")
    board.add_argument("--html", metavar="DIR", help="also write the boards as a static web site into DIR")
    board.add_argument("--dir", help="the leaderboard folder (default: the repository's)")
    board.add_argument("--zoo", help="the zoo whose cards the results must match (default: the repository's)")
    board.set_defaults(run=_leaderboard)

    verify = commands.add_parser(
        "verify", help="re-run a sample of a result's batches and confirm its per-sample flags",
        description="Recompute the checks before the attacks, re-run batches of the clean pass and of every "
                    "attack run drawn from the result's flags' sha256 and --challenge (not chosen by the "
                    "submitter), and compare every per-sample flag bit for bit.",
        epilog="example: snnbench verify leaderboard/mnist-linf/v2/results/mnist-convnet-lif-at.json --samples 250")
    verify.add_argument("results", nargs="+", metavar="RESULT", help="result JSON files")
    verify.add_argument("--samples", type=positive_int,
                        help="images to re-run per attack at least, in whole batches (default: one batch)")
    verify.add_argument("--zoo", help="the zoo holding the result's card (default: the repository's)")
    verify.add_argument("--data-dir", help="data root for test sets that are not bundled")
    verify.add_argument("--download", action="store_true",
                        help="download a test set that is not bundled (torchvision)")
    verify.add_argument("--device", default="cpu", type=device_name)
    verify.add_argument("--budget-minutes", type=positive_float,
                        help="time for all files together (split evenly): runs are visited in an order drawn "
                             "from the flags, and none starts after a file's share is spent (at least one does)")
    verify.add_argument("--challenge", metavar="TEXT",
                        help="mixed into every draw, so that a submitter who forged a batch cannot edit other flags "
                             "until the draw misses it; 'random' draws one from the OS (CI does) and prints it")
    verify.add_argument("--quiet", action="store_true", help="no line per re-run batch, only the verdict")
    verify.set_defaults(run=_verify)

    plot = commands.add_parser(
        "plot", help="figures from the results (PNG and SVG; needs matplotlib)",
        epilog="examples: snnbench plot board mnist-linf; snnbench plot epsilon mnist-convnet-lif-at; snnbench "
               "plot attacks mnist-convnet-lif-at")
    plots = plot.add_subparsers(dest="figure", required=True)
    board_plot = plots.add_parser("board", help="clean vs robust accuracy of every model on a board, with the "
                                                "overestimate (prior practice minus headline) drawn",
                                  epilog="example: snnbench plot board mnist-linf --version 1 --out docs/plots")
    board_plot.add_argument("benchmark")
    board_plot.add_argument("--version", type=positive_int, help="the protocol version (default: in force)")
    board_plot.add_argument("--dir", help="the leaderboard folder (default: the repository's or the installed one)")
    board_plot.add_argument("--zoo", help="the zoo whose cards the results must match (default: the repository's)")
    board_plot.add_argument("--out", default="snnbench-plots", help="folder for the files (default: snnbench-plots)")
    board_plot.set_defaults(run=_plot_board)
    eps_plot = plots.add_parser(
        "epsilon", help="accuracy against ε under the reference and prior practice alone (a quick sweep of "
                        "unofficial results)",
        epilog="example: snnbench plot epsilon mnist-convnet-lif-at --epsilons 0.02,0.05,0.1,0.15 --n-examples 100")
    _model_figure_arguments(eps_plot, "images per point")
    eps_plot.add_argument("--epsilons", type=_epsilons, help="comma-separated radii (default: ¼, ½, ¾, 1 and 1½ "
                                                             "times the benchmark's ε)")
    eps_plot.add_argument("--batch-size", type=positive_int)
    eps_plot.add_argument("--results", help="where the sweep's unofficial results go (default: ./snnbench-results)")
    eps_plot.set_defaults(run=_plot_epsilon)
    attacks_plot = plots.add_parser(
        "attacks", help="loss and accuracy against iteration for each gradient attack of the protocol (AutoAttack "
                        "users' convergence check)",
        epilog="example: snnbench plot attacks mnist-convnet-lif-at --n-examples 100")
    _model_figure_arguments(attacks_plot, "first images")
    attacks_plot.set_defaults(run=_plot_attacks)

    protocol = commands.add_parser("protocol", help="print the protocol in force",
                                   epilog="examples: snnbench protocol; snnbench protocol cifar10-linf-1000")
    protocol.add_argument("benchmark", nargs="?")
    protocol.set_defaults(run=_protocol)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"snnbench {args.command}: interrupted (a training run resumes from its saved state)", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as err:  # OSError names its path: a full disk, a file for a folder
        message = str(err) or f"{type(err).__name__} (no message)"  # e.g. a library's bare NotImplementedError
        print(f"snnbench {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
