"""Property-based tests: any card, result, recipe, protocol file or command line either loads, or fails with a
short error that names the file and the field — never a traceback, never a silently accepted edit."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from snnbench.cards import ModelCard, build_model, read_card  # noqa: E402
from snnbench.cli import build_parser  # noqa: E402
from snnbench.protocol import Protocol, protocol_path  # noqa: E402
from snnbench.records import RecordError, parse_record  # noqa: E402
from snnbench.results import Result, read_result  # noqa: E402
from snnbench.training.recipe import Recipe  # noqa: E402
from tiny_zoo import card_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# derandomize: the same examples on every run (the suite is deterministic); database=None: nothing written.
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                      max_leaves=20)


def paths_of(data, prefix=()):
    """Every path to a value inside nested dicts and lists."""
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths_of(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from paths_of(value, prefix + (index,))


def replaced(data, path, value):
    data = copy.deepcopy(data)
    if not path:
        return value
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def loads_or_names_the_problem(cls, data, source="fuzzed.yaml"):
    """The record ``data`` makes, or None when it is refused with the file named and short problems."""
    try:
        return parse_record(cls, data, source)
    except RecordError as err:
        assert str(err).startswith(source) and err.problems
        assert all(len(p) < 1000 for p in err.problems)
    return None


VALID_CARD = card_data("fuzzed")
CARD_PATHS = list(paths_of(VALID_CARD))


@FUZZ
@given(path=st.sampled_from(CARD_PATHS), value=values)
def test_any_edit_of_a_card_loads_or_is_named(path, value):
    card = loads_or_names_the_problem(ModelCard, replaced(VALID_CARD, path, value))
    if card is not None:  # what loads builds: no edit is accepted here to surface as a traceback later
        try:
            card.build(backend="eager")
        except RecordError as err:  # the one check that needs the built model: `stochastic` against it
            assert "field 'stochastic'" in str(err)


@FUZZ
@given(text=st.text(max_size=300))
def test_any_card_text_loads_or_is_named(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cards") / "mnist" / "fuzzed.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    try:
        read_card(path)
    except RecordError as err:
        assert str(err).startswith(str(path))


VALID_RECIPE = yaml.safe_load((ROOT / "model_zoo" / "mnist" / "recipes" / "mnist-convnet-lif-at.yaml").read_text())


@FUZZ
@given(path=st.sampled_from(list(paths_of(VALID_RECIPE))), value=values)
def test_any_edit_of_a_recipe_loads_or_is_named(path, value):
    recipe = loads_or_names_the_problem(Recipe, replaced(VALID_RECIPE, path, value))
    if recipe is not None:  # what loads builds (training would start from it)
        build_model(recipe.architecture, recipe.dataset, recipe.surrogate, backend="eager")


VALID_PROTOCOL = yaml.safe_load(protocol_path().read_text())


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(path=st.sampled_from(list(paths_of(VALID_PROTOCOL))), value=values)  # every section, retired versions too
def test_any_edit_of_the_protocol_loads_or_is_named(path, value):
    loads_or_names_the_problem(Protocol, replaced(VALID_PROTOCOL, path, value))


RESULT_FILE = ROOT / "leaderboard" / "mnist-linf" / "v1" / "results" / "mnist-convnet-lif-bptt.json"
VALID_RESULT = json.loads(RESULT_FILE.read_text())


@FUZZ
@given(path=st.sampled_from(list(paths_of(VALID_RESULT))), value=values)
def test_any_edit_of_a_result_loads_or_is_named(path, value):
    loads_or_names_the_problem(Result, replaced(VALID_RESULT, path, value), "fuzzed.json")


def test_a_result_file_that_is_not_utf8_json_is_named(tmp_path):
    weights = tmp_path / "model.pt"  # a binary file passed where a result was meant
    weights.write_bytes(b"PK\x03\x04\x80\xff" + bytes(range(256)))
    with pytest.raises(RecordError, match=f"^{weights}: not UTF-8 text, so not a result file "
                                          f"\\(invalid start byte at byte 4\\)$"):
        read_result(weights)


# Every figure a board shows or a reader relies on: changing any one alone must be caught.
TAMPERED = [
    ("clean_accuracy",), ("robust_accuracy",), ("reference_accuracy",), ("prior_accuracy",), ("overestimate",),
    ("n_examples",), ("clean_flags",), ("robust_flags",), ("flags_sha256",), ("reliable",),
    ("attacks", 0, "attacked"), ("attacks", 0, "robust"), ("attacks", 1, "attacked"), ("attacks", 1, "robust"),
]


@pytest.mark.parametrize("path", TAMPERED, ids=lambda p: ".".join(map(str, p)))
def test_tampering_with_any_derived_figure_is_caught(path):
    read_result(RESULT_FILE)  # the committed file itself is valid
    original = VALID_RESULT
    for key in path:
        original = original[key]
    if isinstance(original, bool):
        value = not original
    elif isinstance(original, (int, float)):
        value = original + 1
    else:
        value = original[:-1] + ("0" if original[-1] != "0" else "1")
    with pytest.raises(RecordError):
        parse_record(Result, replaced(VALID_RESULT, path, value), "tampered.json")


@pytest.mark.parametrize("flag", ["--n-examples", "--batch-size"])
@pytest.mark.parametrize("n", range(-3, 4))
def test_a_count_below_one_exits_with_usage_and_any_other_is_kept(capsys, flag, n):
    parser = build_parser()
    argv = ["evaluate", "--model", "m", flag, str(n)]
    if n < 1:
        with pytest.raises(SystemExit) as stop:
            parser.parse_args(argv)
        assert stop.value.code == 2 and f"{flag}: must be at least 1, got {n}" in capsys.readouterr().err
    else:
        assert getattr(parser.parse_args(argv), flag[2:].replace("-", "_")) == n


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(argv=st.lists(st.one_of(st.sampled_from(["evaluate", "validate", "models", "train", "leaderboard",
                                                  "protocol", "--model", "--n-examples", "--batch-size", "--seed",
                                                  "--all", "--check", "0", "-1", "1e9", "x"]),
                               st.text(max_size=8)), max_size=6))
def test_any_command_line_parses_or_exits_with_usage(argv):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        assert stop.code in (0, 2)
        return
    for name in ("n_examples", "batch_size"):
        value = getattr(args, name, None)
        assert value is None or value >= 1  # never 0 or negative: they used to mean "the full protocol"


# ---- forgeries that keep every figure consistent: the boards' check must still refuse them --------------------

FORGED = "mnist-linf/v3/results/mnist-convnet-lif-at.json"  # carries its first runs over from its v2 result


def _strip_to_two_runs(data):
    """Keep the flags of the reference and prior practice only and re-derive the headline from them: the
    headline rises, every figure agrees, and files without per-run flags were not checked against them."""
    for attack in data["attacks"]:
        attack["first_to_fool"] = None
    data["attacks"][-1]["fooled_flags"] = None
    fooled = [any(a["fooled_flags"][i] == "1" for a in data["attacks"][:2]) for i in range(data["n_examples"])]
    _set_robust(data, "".join("1" if c == "1" and not f else "0" for c, f in zip(data["clean_flags"], fooled)))


def _set_robust(data, robust):
    from snnbench.results import flags_digest

    data["robust_flags"] = robust
    data["robust_accuracy"] = 100.0 * robust.count("1") / data["n_examples"]
    data["overestimate"] = data["prior_accuracy"] - data["robust_accuracy"]
    data["flags_sha256"] = flags_digest(data["clean_flags"], robust)


def _swap_roles(data):
    first, second = data["attacks"][0], data["attacks"][1]
    first["role"], second["role"] = second["role"], first["role"]
    data["reference_accuracy"], data["prior_accuracy"] = data["prior_accuracy"], data["reference_accuracy"]
    data["overestimate"] = data["prior_accuracy"] - data["robust_accuracy"]


def _relabel_carried(data, label):
    for attack in data["attacks"]:
        if attack.get("reused"):
            attack["reused"] = label


def _cheaper_carried_run(data):
    carried = next(a for a in data["attacks"] if a.get("reused"))
    carried["backward"] -= 1000
    data["backward"] -= 1000


def _edit(*path, value):
    return lambda data: replaced_in_place(data, path, value)


def replaced_in_place(data, path, value):
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@pytest.mark.parametrize("forge, words", [
    (_strip_to_two_runs, "lacks fooled_flags and first_to_fool"),
    (_swap_roles, "role is 'prior'; the protocol declares 'reference'"),
    (lambda d: [a.update(restart=0) for a in d["attacks"]], "the run's name 'sa-pgd-assg-a80/r1' says 1"),
    (_edit("attacks", 2, "seconds", value=-1.0), "must not be negative"),
    (_edit("reference_accuracy", value=float("nan")), "expected a finite number, got nan"),
    (_edit("model_summary", "T", value=1), "model_summary.T is 1 but"),
    (_edit("model_summary", "checkpoint_sha256", value="0" * 64), "evaluated the weights its card pins"),
    (_edit("environment", "batch_size", value=100), "ran in batches of 100; mnist-linf v3 uses 250"),
    (lambda d: _relabel_carried(d, "mnist-linf v2 result deadbeef0000"), "which is not on the boards"),
    (_cheaper_carried_run, "differs from run"),
], ids=["per-run-flags-dropped", "roles-swapped", "restarts-renumbered", "negative-seconds", "nan",
        "card-field", "other-weights", "batch-size", "carried-from-nowhere", "carried-run-edited"])
def test_a_consistent_forgery_is_refused_by_the_boards_check(tmp_path, forge, words):
    import shutil

    from snnbench.leaderboard import regenerate

    board = tmp_path / "leaderboard"
    shutil.copytree(ROOT / "leaderboard" / "mnist-linf", board / "mnist-linf")
    regenerate(board)  # the copy as committed passes (its index now lists one benchmark)
    path = board / FORGED
    data = json.loads(path.read_text())
    forge(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError) as caught:
        regenerate(board, check=True)
    assert str(path) in str(caught.value) and words in str(caught.value) and "\n" not in str(caught.value)


def test_a_second_folder_for_one_version_is_refused(tmp_path):
    import shutil

    from snnbench.leaderboard import regenerate

    board = tmp_path / "leaderboard"
    shutil.copytree(ROOT / "leaderboard" / "mnist-linf" / "v3", board / "mnist-linf" / "v03")
    with pytest.raises(ValueError, match="v03'?: a board's folder is named v<version>"):
        regenerate(board, check=True)
