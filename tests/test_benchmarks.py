"""The performance scripts must keep running (their timings are read by people, never asserted)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_neuron_benchmark_script_runs_and_checks_agreement():
    pytest.importorskip("spikingjelly")
    pytest.importorskip("snntorch")
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "neurons.py"), "--shape", "4", "8", "3", "5", "5",
                          "--repeats", "1",
                          "--backends", "reference", "eager"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    for backend in ("reference", "eager"):  # (SpikingJelly's own line compares it with itself)
        assert re.search(rf"snnbench {backend} +spikes equal: True", run.stdout), run.stdout
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


def test_near_threshold_script_takes_the_dataset():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "near_threshold.py"), "--delta", "0.5",
                          "--images", "5", "--dataset", "cifar10", "--reference", "none", "mnist-convnet-lif-bptt"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode != 0 and "expected images [B, 1, H, W]" in run.stderr  # CIFAR images, MNIST model


def test_cifar_training_cost_script_times_plain_and_adversarial_steps():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cifar_training_cost.py"), "--only", "vgg11-w8",
                          "--batch", "4", "--repeats", "1", "--threads", "1"], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    row = next(line for line in run.stdout.splitlines() if line.startswith("vgg11-w8 "))
    assert len(row.split()) == 10 and "PGD-2" in run.stdout


def test_convergence_script_adds_attacks_on_the_survivors_and_resumes(tmp_path):
    import json

    command = [sys.executable, str(ROOT / "benchmarks" / "convergence.py"), "--model", "mnist-convnet-lif-at",
               "--version", "1", "--n-examples", "6", "--results", str(tmp_path / "runs"), "--only", "apgd-ce-assg"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    record = json.loads((tmp_path / "runs" / "mnist-linf-v1" / "mnist-convnet-lif-at-first6.json").read_text())
    assert record["start"]["robust"] == len(record["start"]["robust_indices"]) >= 1
    (addition,) = record["additions"]
    assert addition["attacked"] == record["start"]["robust"] and addition["backward"] > 0
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)  # done: nothing runs again
    assert again.returncode == 0 and "apgd-ce-assg:" not in again.stdout
    report = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "convergence.py"), "--report", "--results",
                             str(tmp_path / "runs")], capture_output=True, text=True, timeout=600)
    assert report.returncode == 0, report.stderr
    assert "apgd-ce-assg" in report.stdout and (tmp_path / "convergence.png").stat().st_size > 1000


def test_spikingjelly_check_passes_with_the_pinned_release():
    pytest.importorskip("spikingjelly")
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "spikingjelly_check.py")], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SpikingJelly 0.0.0.0.14" in run.stdout and run.stdout.count(" ok") == 4


def test_interop_script_checks_agreement_on_both_libraries(tmp_path, shared_data):
    pytest.importorskip("spikingjelly")
    pytest.importorskip("snntorch")
    pytest.importorskip("torchattacks")
    import os

    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "interop.py"), "--data-dir", str(shared_data),
                          "--train-images", "256", "--images", "8"], capture_output=True, text=True, timeout=900,
                         env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("logits equal: True") == 2 and "SA-PGD-100 + ASSG (converted, 3 layers)" in run.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here: the comparison below runs instead")
def test_gpu_smoke_says_when_there_is_no_gpu():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_smoke.py")], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0 and "no CUDA device: nothing to compare" in run.stdout, run.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: CPU and GPU cannot be compared here")
def test_gpu_and_cpu_give_the_same_spikes_and_flags():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_smoke.py"), "--n-examples", "8"],
                         capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.slow
def test_gpu_smoke_compares_devices_with_its_own_checks_on_the_cpu():
    """Where no GPU is, the comparison still runs (CPU against CPU), so its checks are exercised somewhere."""
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_smoke.py"), "--against", "cpu", "--backend",
                          "eager", "--n-examples", "4", "--steps", "1"], capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "(100.0000%)" in run.stdout and "predictions equal" in run.stdout and "flags: equal" in run.stdout


def test_gloo_exit_script_counts_aborts_with_and_without_destroy():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gloo_exit.py"), "--runs", "1"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("group left alive at exit: ") and lines[0].endswith(" of 1 runs aborted")
    assert lines[1] == "group destroyed at exit: 0 of 1 runs aborted"  # what the CLI does never aborts


@pytest.mark.slow
def test_the_reference_replay_reproduces_a_committed_v2_batch_sample_for_sample():
    result = ROOT / "leaderboard" / "mnist-linf" / "v2" / "results" / "mnist-convnet-lif-bptt.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "replay_reference.py"), "mnist-convnet-lif-bptt",
                          str(result), "--batches", "3"], capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr
    line = run.stdout.strip().splitlines()[-1]
    assert line.startswith("batch 3: fooled ") and "only here [], only there []" in line, line
    assert line.endswith("fooled here but robust in the result: []"), line


def test_versions_cost_says_when_minutes_are_summed_over_processes():
    """A sharded evaluation's seconds are summed over its processes: the Cost column must say so."""
    import dataclasses
    import importlib.util

    from snnbench.results import leaderboard_root, read_result, result_path

    spec = importlib.util.spec_from_file_location("versions", ROOT / "benchmarks" / "versions.py")
    versions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(versions)
    result = read_result(result_path(leaderboard_root(), "mnist-linf", 4, "mnist-convnet-lif-bptt"))
    assert versions._cost(result).endswith(f"{result.backward:,} (1 thr.)")
    sharded = dataclasses.replace(result, environment=dataclasses.replace(result.environment, processes=2))
    assert versions._cost(sharded).endswith(f"{result.backward:,} (1 thr. × 2 proc., summed)")


def test_versions_script_compares_the_committed_results_of_two_versions():
    from snnbench.protocol import load_protocol
    from snnbench.results import leaderboard_root, read_result, result_path

    def table(*flags: str) -> str:
        run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "versions.py"), "--benchmark", "mnist-linf",
                              *flags], capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        return run.stdout

    in_force = load_protocol().benchmark("mnist-linf").version
    default = table()  # the version in force against the one before it
    lines = default.splitlines()
    assert lines[0].startswith(f"| model | robust v{in_force - 1} | robust v{in_force} | change |")
    both = 0
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        model = cells[0].strip("`")
        paths = [result_path(leaderboard_root(), "mnist-linf", v, model) for v in (in_force - 1, in_force)]
        # Every column named after the new version comes from the new result, or is "—" without one.
        assert cells[5] == (f"{read_result(paths[1]).prior_accuracy:.1f}" if paths[1].exists() else "—"), model
        if all(p.exists() for p in paths):
            old, new = (read_result(p) for p in paths)
            assert cells[1:4] == [f"{old.robust_accuracy:.1f}", f"{new.robust_accuracy:.1f}",
                                  f"{new.robust_accuracy - old.robust_accuracy:+.1f}"]
            assert cells[10] == f"{new.backward / old.backward:.1f}×"
            both += 1
    # Until a new version's board has its first result, every column named after it is "—" (checked above).
    assert both >= 1 or not any(result_path(leaderboard_root(), "mnist-linf", in_force, line.split("`")[1]).exists()
                                for line in lines[2:])
    # The README's table is this output, and the history page's are the earlier versions' pairs: a new result
    # that changes one must change the page too.
    assert default.strip() in (ROOT / "README.md").read_text(encoding="utf-8"), \
        "the README's Cost table is stale: paste `python benchmarks/versions.py` over it"
    history = (ROOT / "docs" / "protocol-history.md").read_text("utf-8")
    for old_version in range(1, in_force - 1):  # the history page sets every earlier pair side by side
        flags = ("--old", str(old_version), "--new", str(old_version + 1))
        assert table(*flags).strip() in history, \
            f"docs/protocol-history.md's v{old_version + 1} against v{old_version} table is stale: paste " \
            f"`python benchmarks/versions.py {' '.join(flags)}`"
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "versions.py"), "--new", "9"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1].startswith("versions.py: ")
    assert "no version 9" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("benchmark", ["mnist-linf", "cifar10-linf-1000"])
def test_first_to_fool_script_takes_the_headline_apart_as_the_flags_do(benchmark):
    from snnbench.protocol import load_protocol
    from snnbench.results import leaderboard_root, read_result, result_path

    # The newest version with results: the one in force, or (until its board has a row) the one before.
    version = max(b.version for b in load_protocol().versions(benchmark)
                   if any((leaderboard_root() / benchmark / f"v{b.version}" / "results").glob("*.json")))
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "first_to_fool.py"), "--benchmark", benchmark,
                          "--version", str(version)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    names = header[2:-1]
    assert header[0] == f"{benchmark} v{version}" and names[:2] == ["sa-pgd-assg", "apgd-ce"] and len(lines) >= 3
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        result = read_result(result_path(leaderboard_root(), benchmark, version, cells[0].strip("`")))
        # Recount from the per-sample flags, in protocol order: a run's first fooled are the clean-correct
        # images it fooled that no earlier run had.
        fooled = [c == "0" for c in result.clean_flags]
        counts: dict[str, list] = {}
        for attack in result.attacks:
            new = [i for i, f in enumerate(attack.fooled_flags or "") if f == "1" and not fooled[i]]
            for i in new:
                fooled[i] = True
            counts.setdefault(attack.name.split("/")[0], []).append(None if attack.not_applicable else len(new))
        expected = ["n/a" if None in c else f"{c[0]} + {sum(c[1:])} ({len(c) - 1})" if len(c) > 1 else str(c[0])
                    for c in (counts[n] for n in names)]
        assert cells[2:-1] == expected, cells[0]
        assert cells[-1] == f"{fooled.count(False)} ({result.robust_accuracy:.1f}%)"
    # The README has the newest board's table, and any older board's table it or the history page keeps is
    # that board's output too.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert run.stdout.strip() in readme, (
        f"the README's first-to-fool table is stale: paste `python benchmarks/first_to_fool.py --benchmark "
        f"{benchmark} --version {version}`")
    for page in ("README.md", "docs/protocol-history.md"):
        text = (ROOT / page).read_text(encoding="utf-8")
        for older in range(1, version):
            if f"\n| {benchmark} v{older} | clean-correct |" in text:
                kept = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "first_to_fool.py"), "--benchmark",
                                       benchmark, "--version", str(older)], capture_output=True, text=True,
                                      timeout=600)
                assert kept.returncode == 0 and kept.stdout.strip() in text, (
                    f"{page}'s {benchmark} v{older} first-to-fool table is stale: paste `python "
                    f"benchmarks/first_to_fool.py --benchmark {benchmark} --version {older}`")


def test_replay_run_names_a_missing_run_and_a_file_without_run_flags(tmp_path):
    import json

    script = str(ROOT / "benchmarks" / "replay_run.py")
    v2 = str(ROOT / "leaderboard" / "mnist-linf" / "v2" / "results" / "mnist-convnet-lif-at.json")
    missing = subprocess.run([sys.executable, script, v2, "nope"], capture_output=True, text=True, timeout=600)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "has no run 'nope'; it has sa-pgd-assg, apgd-ce," in missing.stderr
    # A first v1 file, as written before results kept per-run flags and their code (the committed ones are being
    # re-run, so the test makes its own from a v1 result that has them).
    data = json.loads((ROOT / "leaderboard" / "mnist-linf" / "v1" / "results" / "mnist-convnet-lif-at.json").read_text())
    for attack in data["attacks"]:
        attack.pop("fooled_flags")
        attack.pop("first_to_fool")
    data["environment"].pop("source_sha256")
    data["environment"].pop("revision", None)
    v1 = tmp_path / "mnist-convnet-lif-at.json"
    v1.write_text(json.dumps(data))
    flagless = subprocess.run([sys.executable, script, str(v1), "sa-pgd-assg"], capture_output=True, text=True,
                              timeout=600)
    assert flagless.returncode == 1 and "keeps no per-run flags" in flagless.stderr


@pytest.mark.slow
def test_replay_run_reproduces_a_committed_run_sample_for_sample():
    # A run that today's numerics produced (not carried over): APGD-T's fourth restart on the CIFAR-10 AT model,
    # 43 images, the run that fooled the board's last gradient-attack sample.
    result = ROOT / "leaderboard" / "cifar10-linf-1000" / "v4" / "results" / "cifar10-vgg11-lif-at.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "replay_run.py"), str(result), "apgd-t-assg/r4"],
                         capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "only here [], only there []" in run.stdout and run.stdout.strip().endswith("same")


def test_detached_reset_script_compares_the_detached_reference_with_the_committed_runs(tmp_path):
    import json

    command = [sys.executable, str(ROOT / "benchmarks" / "detached_reset.py"), "--model", "mnist-convnet-lif-bptt",
               "--version", "3", "--n-examples", "8", "--results", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "mnist-linf-v3" / "mnist-convnet-lif-bptt-first8.json").read_text())
    assert record["gradient"] == {"mode": "assg", "params": {"A": 0.87, "detach_reset": True}}
    assert record["fooled"] == len(record["fooled_indices"]) and set(record["fooled_indices"]) <= set(range(8))
    assert record["clean"] * 100.0 / 8 - record["reference_accuracy_detached"] == pytest.approx(
        100.0 * record["fooled"] / 8)
    assert record["headline_with_both"] <= min(record["headline_committed"], record["reference_accuracy_detached"])
    assert record["backward"] > 0 and f"fooled {record['fooled']} " in done.stdout
    # A version whose reference already detaches the reset has nothing to compare: said in one line.
    again = subprocess.run(command[:4] + ["--version", "4"], capture_output=True, text=True, timeout=600)
    assert again.returncode != 0 and "mnist-linf v4's reference already detaches the reset" in again.stderr


def test_convergence_additions_detach_the_reset_where_the_version_does():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import convergence
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from snnbench.protocol import load_protocol

    v3, v4 = (load_protocol().benchmark("mnist-linf", v) for v in (3, 4))
    assert [convergence.for_version(a, v3) for a in convergence.ADDITIONS] == list(convergence.ADDITIONS)
    on_v4 = {a.label: convergence.for_version(a, v4) for a in convergence.ADDITIONS}
    # The "reset detached" additions would repeat the others on v4; every other ASSG addition detaches it there.
    assert {label for label, a in on_v4.items() if a is None} == {
        a.label for a in convergence.ADDITIONS if "reset detached" in a.label}
    for label, a in on_v4.items():
        if a is not None and a.entry.gradient is not None and a.entry.gradient.mode == "assg":
            assert a.entry.gradient.params["detach_reset"] is True and a.seed == convergence.ADDITIONS[
                [b.label for b in convergence.ADDITIONS].index(label)].seed
    assert on_v4["square 3000 queries"] == next(a for a in convergence.ADDITIONS if a.label == "square 3000 queries")
