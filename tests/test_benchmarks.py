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


def test_model_speed_script_runs_and_checks_agreement():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "model_speed.py"), "--batch", "4",
                          "--repeats", "1"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "logit difference: 0.00e+00" in run.stdout and "plain/fast" in run.stdout


def test_noisy_forward_script_times_every_case():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "noisy_forward.py"), "--batch", "4",
                          "--repeats", "1"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert all(case in run.stdout for case in ("noise off", "noise on", "counter", "randn", "torch.randn / counter"))


def test_near_threshold_script_runs_on_a_zoo_model():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "near_threshold.py"), "--delta", "0.5",
                          "--images", "20", "mnist-convnet-lif-bptt"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "mnist-convnet-lif-bptt" in run.stdout and "%" in run.stdout


def test_allocator_script_runs_both_arms():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "allocator.py"), "--batch", "4", "--repeats", "1",
                          "--rounds", "1"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "default/retained" in run.stdout and "forward pass on 4 images" in run.stdout


def test_gradient_mode_script_runs_every_mode():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gradient_modes.py"), "--batch", "4", "--repeats", "1"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    for mode in ("surrogate", "assg", "bptr", "rga", "hart"):
        assert f"{mode}:" in run.stdout
