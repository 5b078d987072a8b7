"""Which code produced a result: the source digest and the git revision."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from snnbench.records import RecordError, parse_record
from snnbench.results import Environment
from snnbench.source import PACKAGE, git_revision, source_files, source_sha256


def _package(root):
    pkg = root / "pkg"
    (pkg / "sub" / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text("x = 1\n")
    (pkg / "sub" / "kernel.py").write_text("def f(a):\n    return a * 2\n")
    (pkg / "protocol.yaml").write_text("epsilon: 0.1\n")
    (pkg / "sub" / "__pycache__" / "kernel.cpython-311.pyc").write_bytes(b"\0compiled")
    (pkg / "notes.txt").write_text("not code\n")
    return pkg


def test_the_source_digest_follows_the_code_and_only_the_code(tmp_path):
    pkg = _package(tmp_path)
    first = source_sha256.__wrapped__(pkg)
    assert [p.name for p in source_files(pkg)] == ["__init__.py", "protocol.yaml", "kernel.py"]
    (pkg / "notes.txt").write_text("edited\n")
    (pkg / "sub" / "__pycache__" / "kernel.cpython-311.pyc").write_bytes(b"\0other")
    assert source_sha256.__wrapped__(pkg) == first  # neither data nor bytecode is code
    (pkg / "sub" / "kernel.py").write_text("def f(a):\n    return a + a\n")  # same maths, another rounding
    assert source_sha256.__wrapped__(pkg) != first
    moved = _package(tmp_path / "elsewhere")  # where the package lies does not matter, what it holds does
    assert source_sha256.__wrapped__(moved) == first
    (moved / "protocol.yaml").write_text("epsilon: 0.2\n")
    assert source_sha256.__wrapped__(moved) != first


def test_snnbench_digests_its_own_source():
    digest = source_sha256()
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert PACKAGE / "benchmarks.yaml" in source_files() and PACKAGE / "source.py" in source_files()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_git_revision_names_the_commit_and_a_dirty_tree(tmp_path):
    pkg = _package(tmp_path)
    assert git_revision(pkg) is None  # not a checkout: an installed copy

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("add", "pkg/__init__.py", "pkg/sub/kernel.py", "pkg/protocol.yaml")
    git("commit", "-qm", "code")
    head = git("rev-parse", "HEAD")
    assert git_revision(pkg) == head
    (tmp_path / "README.md").write_text("outside the package\n")
    assert git_revision(pkg) == head  # untracked and outside the package: still clean
    (pkg / "sub" / "kernel.py").write_text("changed\n")
    assert git_revision(pkg) == head + "+dirty"


@pytest.mark.parametrize("field, value, words", [
    ("source_sha256", "abc", "64 lowercase hex digits"),
    ("source_sha256", "A" * 64, "64 lowercase hex digits"),
    ("revision", "main", "40-digit git commit"),
    ("revision", "0" * 40 + "+edited", "40-digit git commit"),
])
def test_an_environment_names_a_malformed_code_record(field, value, words):
    env = {"protocol": 2, "snnbench": "0.1.0", "torch": "2", "python": "3.11", "device": "cpu", "threads": 1,
           "seed": 0, "date": "2026-11-30", "source_sha256": "0" * 64, "revision": "1" * 40 + "+dirty"}
    assert parse_record(Environment, env, "r.json").revision.endswith("+dirty")
    with pytest.raises(RecordError, match=f"{field}.*{words}"):
        parse_record(Environment, {**env, field: value}, "r.json")
