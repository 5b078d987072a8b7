"""Verify every committed result, sampled, and keep the verdicts: the record that ``snnbench verify`` passes on
the boards.

Usage: ``python tools/verify_all.py [--leaderboard leaderboard] [--budget-minutes 4] [--log FILE] [--skip PATH ...]``

Each result file under ``<leaderboard>/<benchmark>/v<k>/results/`` is verified as ``snnbench verify
--budget-minutes M --quiet FILE`` verifies it (its own ``M`` minutes: the clean pass, the model's checks, then
runs in an order drawn from its flags until the time is spent). As each file finishes, one line is appended to
the log: the first 12 hex digits of the file's ``flags_sha256`` and of the verifying code's source
(:func:`snnbench.source.source_sha256`), then the verdict ``snnbench verify`` prints. A file whose flags already
have a verdict in the log is skipped, so an interrupted sweep continues where it stopped and a result replaced
since (other flags) is verified again; ``--skip`` leaves files out (results about to be replaced). The exit
status is 1 when the log's latest verdict for any current file is a failure, and the files without a verdict
are listed.
"""
from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import Callable, Optional

from snnbench.cli import positive_float
from snnbench.results import read_result
from snnbench.source import source_sha256
from snnbench.verification import Verification, verdict, verify


def logged(log: Path) -> dict[tuple[str, str], str]:
    """The log's verdicts by (file, 12 digits of its flags' sha256); a later line for the same key wins."""
    found: dict[tuple[str, str], str] = {}
    for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
        flags, _code, rest = line.split(" ", 2)
        path = rest[6:].split(": ", 1)[0]  # after the 6-character status of a verdict
        found[(path, flags)] = rest
    return found


def sweep(leaderboard: Path, log: Path, budget_minutes: float, skip: tuple[str, ...] = (),
          check: Callable[..., Verification] = verify, out=print) -> tuple[list[str], list[str]]:
    """Verify every result under ``leaderboard`` that has no verdict in ``log`` yet; return the current files
    whose latest verdict is a failure, and those left without one (``skip``)."""
    files = sorted(str(p) for p in leaderboard.glob("*/v*/results/*.json"))
    keys = {path: (path, read_result(path).flags_sha256[:12]) for path in files}
    skipped = {str(Path(s)) for s in skip}
    done = logged(log)
    for path, (_, flags) in keys.items():
        if (path, flags) in done or path in skipped:
            continue
        try:
            said = verdict(check(path, budget_seconds=60.0 * budget_minutes))
        except (ValueError, OSError) as err:  # no card, weights that do not load: a failure, with its reason
            said = f"FAIL  {path}: {err}"
        line = f"{flags} {source_sha256()[:12]} {said}"
        with log.open("a", encoding="utf-8") as stream:
            stream.write(line + "\n")
        out(line)
        gc.collect()
    done = logged(log)
    failed = [path for path, key in keys.items() if key in done and done[key].startswith("FAIL")]
    missing = [path for path, key in keys.items() if key not in done]
    return failed, missing


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaderboard", type=Path, default=Path("leaderboard"))
    parser.add_argument("--budget-minutes", type=positive_float, default=4.0, help="per file (default: 4)")
    parser.add_argument("--log", type=Path, default=Path("runs") / "verify-all.txt")
    parser.add_argument("--skip", nargs="*", default=(), metavar="PATH", help="result files to leave out")
    args = parser.parse_args(argv)
    failed, missing = sweep(args.leaderboard, args.log, args.budget_minutes, tuple(args.skip))
    for path in missing:
        print(f"not verified: {path}")
    for path in failed:
        print(f"FAILED: {path}", file=sys.stderr)
    print(f"{len(failed)} failed, {len(missing)} without a verdict (log: {args.log})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
