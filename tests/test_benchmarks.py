"""The performance scripts must keep running (their timings are read by people, never asserted)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_neuron_benchmark_script_runs_and_checks_agreement():
    pytest.importorskip("spikingjelly")
    pytest.importorskip("snntorch")
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "neurons.py"), "--shape", "4", "8", "3", "5", "5",
                          "--repeats", "1",
                          "--backends", "reference", "eager"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "spikes equal: True" in run.stdout
    assert "vs SpikingJelly:" in run.stdout
