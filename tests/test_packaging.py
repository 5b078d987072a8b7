"""The package metadata lists every subpackage, and a wheel carries the zoo and the bundled data."""
from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def test_every_subpackage_is_listed():
    listed = set(_setup_cfg()["options"]["packages"].split())
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "snnbench").rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [options] packages in setup.cfg"


def test_the_zoo_is_installed_with_the_package():
    config = _setup_cfg()
    assert "snnbench.model_zoo = model_zoo" in config["options"]["package_dir"]
    patterns = config["options.package_data"]["snnbench.model_zoo"]
    assert "*/*.yaml" in patterns and "*/*.safetensors" in patterns


def test_the_package_never_imports_the_libraries_it_converts():
    import subprocess
    import sys

    code = ("import sys, snnbench, snnbench.interop, snnbench.cards, snnbench.evaluation, snnbench.stepwise, "
            "snnbench.foreign, snnbench.cli; "
            "print([m for m in sys.modules if m.split('.')[0] in ('spikingjelly', 'snntorch', 'torchattacks')])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
