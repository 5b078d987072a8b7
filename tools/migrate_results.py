"""Give committed results the hashes that official results now record, where that is provably honest.

Usage: ``python tools/migrate_results.py [--leaderboard leaderboard] [--check]``

A result written before results recorded ``card_file_sha256`` and ``model_sha256`` gains them without a re-run
only when git proves that its card has not changed since the result was committed: the card file's bytes at
the commit that last wrote the result equal its bytes now, and the card's weights are the ones the result
evaluated. Then the card's sha256 is its bytes' and the model's fingerprint is that of the model the card
builds now, which is the model that was evaluated. Any other result is listed to be re-run and left as it is.
With ``--check`` nothing is written; the exit status says whether any result still lacks the hashes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Optional

from snnbench.results import read_result
from snnbench.zoo import card_paths, load_model, repository_zoo


def git(*args: str, cwd: Path) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True).stdout


def card_unchanged_since(result: Path, card: Path, repo: Path) -> bool:
    """True when ``card``'s bytes at the commit that last wrote ``result`` equal its bytes now."""
    commit = git("log", "-1", "--format=%H", "--", str(result.relative_to(repo)), cwd=repo).decode().strip()
    if not commit or git("status", "--porcelain", "--", str(card.relative_to(repo)), cwd=repo).strip():
        return False  # the result was never committed, or the card has uncommitted changes
    try:
        then = git("show", f"{commit}:{card.relative_to(repo).as_posix()}", cwd=repo)
    except subprocess.CalledProcessError:
        return False  # the card did not exist then
    return then == card.read_bytes()


def migrate(leaderboard: Path, write: bool, zoo: Optional[Path] = None) -> tuple[list[str], list[str]]:
    repo = Path(git("rev-parse", "--show-toplevel", cwd=leaderboard).decode().strip())
    zoo = zoo or repository_zoo()
    cards = card_paths(zoo)
    done, rerun = [], []
    for path in sorted(leaderboard.glob("*/v*/results/*.json")):
        data = json.loads(path.read_text())
        summary = data["model_summary"]
        if summary.get("card_file_sha256") and summary.get("model_sha256"):
            continue
        name = data["model"]
        card = cards.get(name)
        why = None
        if card is None:
            why = "no card of that name in the repository's zoo"
        elif not card_unchanged_since(path.resolve(), card.resolve(), repo):
            why = "its card changed since the result was committed"
        else:
            model = load_model(name, zoo=zoo, backend="eager")
            if model.provenance.sha256 != summary["checkpoint_sha256"] or not model.provenance.matches_card:
                why = "the card's weights are not the ones evaluated"
        if why:
            rerun.append(f"{path}: {why}; re-run it")
            continue
        summary["card_file_sha256"] = hashlib.sha256(card.read_bytes()).hexdigest()
        summary["model_sha256"] = model.fingerprint()
        if write:
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            read_result(path)  # valid under the schema in force
        done.append(str(path))
    return done, rerun


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaderboard", type=Path, default=Path(__file__).resolve().parents[1] / "leaderboard")
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a result lacks the hashes")
    args = parser.parse_args()
    done, rerun = migrate(args.leaderboard, write=not args.check)
    for line in done:
        print(f"{'would migrate' if args.check else 'migrated'}: {line}")
    for line in rerun:
        print(line, file=sys.stderr)
    return 1 if rerun or (args.check and done) else 0


if __name__ == "__main__":
    sys.exit(main())
