"""The README's API is the package's: every name it imports or calls from snnbench exists."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _names() -> set[tuple[str, str]]:
    """(module, name) for every ``from snnbench[.x] import a, b`` and every ``snnbench[.x].name(`` in the README."""
    found = set()
    for module, names in re.findall(r"from (snnbench(?:\.\w+)*) import ([\w, ]+)", README):
        found |= {(module, n.strip()) for n in names.split(",") if n.strip()}
    for dotted in re.findall(r"`(snnbench(?:\.\w+)+)\(", README):
        module, _, name = dotted.rpartition(".")
        found.add((module, name))
    return found


def test_every_name_the_readme_uses_exists():
    names = _names()
    assert len(names) >= 10, names  # the README does show its API
    missing = []
    for module, name in sorted(names):
        try:
            imported = importlib.import_module(module)
        except ImportError:
            missing.append(module)
            continue
        if not hasattr(imported, name):
            missing.append(f"{module}.{name}")
    assert not missing, f"the README uses names the package does not have: {missing}"
