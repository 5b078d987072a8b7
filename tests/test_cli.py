import pytest

from snnbench import __version__
from snnbench.cli import main


def test_architectures_table(capsys):
    assert main(["architectures"]) == 0
    out = capsys.readouterr().out
    for name, count in [("convnet", "50,282"), ("vgg11", "61,377,034"), ("sew_resnet19", "17,222,730"),
                        ("wrn16", "2,748,902")]:
        assert name in out and count in out


def test_subsets_table_verifies_hashes(capsys, monkeypatch):
    import dataclasses

    from snnbench import eval_subsets

    assert main(["subsets"]) == 0
    assert "mnist-test-1000" in capsys.readouterr().out
    index = eval_subsets._read_index()
    wrong = {**index, "mnist-test-1000": dataclasses.replace(index["mnist-test-1000"], sha256="0" * 64)}
    monkeypatch.setattr(eval_subsets, "_read_index", lambda: wrong)  # the table must not print a bad subset
    assert main(["subsets"]) == 1
    captured = capsys.readouterr()
    assert "mnist-test-1000.safetensors: sha256" in captured.err and "0" * 64 in captured.err
    assert "mnist-test-1000" not in captured.out


def test_version_and_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        main(["frobnicate"])
    assert stop.value.code == 2


def test_an_error_without_a_message_is_named_by_its_type(capsys, monkeypatch):
    import snnbench.cli

    def fail(args):
        raise NotImplementedError  # as SpikingJelly's sew_function does for a cnf it does not know

    monkeypatch.setattr(snnbench.cli, "_protocol", fail)
    assert main(["protocol"]) == 1
    assert capsys.readouterr().err == "snnbench protocol: error: NotImplementedError (no message)\n"


def test_protocol_prints_the_benchmark_and_says_what_restarts_counts(capsys):
    import yaml

    assert main(["protocol", "mnist-linf"]) == 0
    out = capsys.readouterr().out
    assert "# an attack's `restarts` counts its runs, the first included" in out  # 20 read as 20 restarts
    entries = {a["name"]: a for a in yaml.safe_load(out)["mnist-linf"]["attacks"]}
    assert entries["sa-pgd-assg"]["restarts"] == 20 and entries["apgd-ce"]["restarts"] == 1
