"""The package metadata lists every subpackage, and a wheel carries the zoo and the bundled data."""
from __future__ import annotations

import configparser
import os
from pathlib import Path

import pytest

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


def test_the_boards_and_the_protocol_are_package_data():
    config = _setup_cfg()
    assert "snnbench.boards = leaderboard" in config["options"]["package_dir"]
    assert "*/v*/results/*.json" in config["options.package_data"]["snnbench.boards"]
    assert "benchmarks.yaml" in config["options.package_data"]["snnbench"]
    from snnbench.protocol import protocol_path

    assert protocol_path() == ROOT / "snnbench" / "benchmarks.yaml"  # inside the package: found by any install


def test_leaderboard_show_prints_every_board_and_writing_needs_a_folder(tmp_path, capsys):
    from snnbench.cli import main
    from snnbench.leaderboard import find_boards
    from snnbench.results import published_boards

    assert main(["leaderboard", "--show"]) == 0
    out = capsys.readouterr().out
    boards = find_boards(published_boards())
    assert boards and all(f"# {b.benchmark} — protocol v{b.version}" in out for b in boards)
    assert all(r.model in out for b in boards for r in b.results)
    assert main(["leaderboard", "--dir", str(tmp_path / "none")]) == 1
    assert "no leaderboard folder here" in capsys.readouterr().err and not (tmp_path / "none").exists()


@pytest.mark.slow
def test_a_wheel_installed_outside_the_checkout_lists_shows_and_evaluates(tmp_path):
    """Build the wheel from a copy of the tracked files, install it into a fresh virtualenv (its dependencies
    taken from this environment, the package only from the wheel) and, from a folder outside the checkout,
    list the zoo, show the boards and run a 10-image evaluation; then the same package with
    ``pip install --target``."""
    import shutil
    import subprocess
    import sys
    import sysconfig

    source = tmp_path / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(source)], check=True, capture_output=True, timeout=600)
    (wheel,) = wheels.glob("snnbench-*.whl")
    env_dir = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=600)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # The dependencies (torch, ...) from this environment; a path listed in a .pth file does not run that
    # folder's own .pth files, so this environment's editable snnbench stays out.
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True, timeout=600)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("SNNBENCH_ZOO", "PYTHONPATH")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")

    def snnbench(*args: str) -> str:
        run = subprocess.run([str(env_dir / "bin" / "snnbench"), *args], cwd=work, env=env, capture_output=True,
                             text=True, timeout=900)
        assert run.returncode == 0, run.stderr[-2000:]
        return run.stdout

    where = subprocess.run([str(python), "-c", "import snnbench; print(snnbench.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(site), where  # the wheel's copy, not the checkout
    assert "mnist-convnet-lif-at" in snnbench("models")
    shown = snnbench("leaderboard", "--show")
    assert "# mnist-linf — protocol v" in shown and "mnist-convnet-lif-bptt" in shown
    assert "web board:" in snnbench("leaderboard", "--html", "site")  # from the installed boards
    assert "mnist-convnet-lif-bptt" in (work / "site" / "mnist-linf" / "v1" / "index.html").read_text()
    out = snnbench("evaluate", "--model", "mnist-convnet-lif-at", "--n-examples", "10", "--batch-size", "10",
                   "--quiet")
    assert "unofficial result, not ranked" in out
    assert list((work / "snnbench-results" / "mnist-linf").glob("v*/unofficial/mnist-convnet-lif-at-n10-b10-s0.json"))
    target = tmp_path / "target"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, timeout=600)
    protocol = subprocess.run([sys.executable, "-c", "from snnbench.protocol import load_protocol, protocol_path; "
                               "load_protocol(); print(protocol_path())"], cwd=work,
                              env={**env, "PYTHONPATH": str(target)}, capture_output=True, text=True, timeout=300)
    assert protocol.returncode == 0 and protocol.stdout.startswith(str(target)), protocol.stderr[-2000:]
