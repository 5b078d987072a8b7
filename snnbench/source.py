"""Which code this is: a digest of snnbench's own source, and the git commit it was loaded from.

A result is reproducible bit for bit by the code that produced it; a later change to a kernel, a fused
formula or a memory layout may move a floating-point rounding, and with it an attack's path near a spike
threshold. So a result records :func:`source_sha256` (and :func:`git_revision` where there is one), an
evaluation's resumable state is keyed by it (a run is never finished by other code than the one that began
it), and ``snnbench verify`` names it when a re-run disagrees.

    source_sha256 = sha256 over the package's ``*.py`` and ``*.yaml`` files in sorted path order, each as
                    ``<path relative to the package>\\0<bytes>\\0``

It covers the code and the protocol file, not the bundled data, the boards or the zoo (their files are
pinned by their own sha256).
"""
from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path
from typing import Optional

PACKAGE = Path(__file__).resolve().parent
SOURCE_SUFFIXES = (".py", ".yaml")


def source_files(package: Path = PACKAGE) -> list[Path]:
    """The files :func:`source_sha256` reads, in the order it reads them."""
    return sorted((p for p in package.rglob("*") if p.suffix in SOURCE_SUFFIXES and p.is_file()
                   and "__pycache__" not in p.parts and "boards" not in p.relative_to(package).parts),
                  key=lambda p: p.relative_to(package).as_posix())


@functools.cache
def source_sha256(package: Path = PACKAGE) -> str:
    """The digest of the code in ``package`` (snnbench's, by default), as the module docstring defines it.

    Cached per process: the code a process runs is the code it imported, even if the files change later."""
    digest = hashlib.sha256()
    for path in source_files(package):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def git_revision(package: Path = PACKAGE) -> Optional[str]:
    """The commit of the git checkout holding ``package``, with ``+dirty`` when the package's tracked files
    differ from it; None for an installed copy, or where git is missing or fails."""
    root = package.parent
    if not (root / ".git").exists():
        return None
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20,
                                  check=True).stdout.strip()

        head = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", package.name)
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if len(head) == 40 else None
