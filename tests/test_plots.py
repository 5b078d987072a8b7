"""Figures from the committed results."""
from __future__ import annotations

import pytest

from snnbench.cli import main
from snnbench.leaderboard import find_boards
from snnbench.results import published_boards

pytest.importorskip("matplotlib", reason="plots need matplotlib (pip install 'snnbench[plot]')")


def test_the_board_plot_names_every_model_and_is_reproducible(tmp_path, capsys):
    board = next(b for b in find_boards(published_boards()) if (b.benchmark, b.version) == ("mnist-linf", 1))
    assert main(["plot", "board", "mnist-linf", "--version", "1", "--out", str(tmp_path)]) == 0
    svg = (tmp_path / "mnist-linf-v1-board.svg").read_text()
    assert all(r.model in svg for r in board.results)
    assert (tmp_path / "mnist-linf-v1-board.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", "board", "mnist-linf", "--version", "1", "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "mnist-linf-v1-board.svg").read_text() == svg
    assert main(["plot", "board", "mnist-linf", "--version", "9", "--out", str(tmp_path)]) == 1
    assert "no results on the mnist-linf v9 board" in capsys.readouterr().err


def test_plotting_changes_nothing_process_wide(tmp_path):
    """A library call from a notebook must not pick the caller's backend or leave figures open in pyplot."""
    import sys

    import matplotlib

    from snnbench.plots import plot_board

    board = next(b for b in find_boards(published_boards()) if (b.benchmark, b.version) == ("mnist-linf", 1))
    backend = dict.__getitem__(matplotlib.rcParams, "backend")  # as set, without resolving it
    pyplot = sys.modules.get("matplotlib.pyplot")
    figures = pyplot.get_fignums() if pyplot else None
    plot_board(board, tmp_path / "board")
    assert dict.__getitem__(matplotlib.rcParams, "backend") == backend
    assert sys.modules.get("matplotlib.pyplot") is pyplot  # not imported by the plot if it was not already
    assert (pyplot.get_fignums() if pyplot else None) == figures


def test_the_epsilon_sweep_labels_every_point_with_its_epsilon(tmp_path):
    from test_evaluation import tiny_benchmark
    from tiny_zoo import register_tiny_model

    from snnbench.plots import plot_epsilon
    from snnbench.sweep import epsilon_sweep

    register_tiny_model(tmp_path / "zoo", "tiny-lif")
    bench = tiny_benchmark(steps=2)
    points = epsilon_sweep("tiny-lif", bench, [0.3, 1e-6], n_examples=8, batch_size=4, zoo=tmp_path / "zoo",
                           out=tmp_path / "results")
    assert [e for e, _, _ in points] == [1e-6, 0.3]  # ascending, whatever the order asked
    for epsilon, result, path in points:
        assert path.name == f"tiny-lif-eps{epsilon:.6g}-n8-b4-s0.json" and path.parent.name == "sweeps"
        assert not result.official and any(f"epsilon {epsilon:.6g} instead of {bench.epsilon:.6g}" in d
                                           for d in result.departures)
        assert [a.role for a in result.attacks] == ["reference", "prior"]  # the headline entries alone, once each
    tiny, wide = points[0][1], points[1][1]
    assert tiny.reference_accuracy == tiny.clean_accuracy  # a 1e-6 ball moves no decision of this model
    assert wide.robust_accuracy <= tiny.robust_accuracy
    files = plot_epsilon([(e, r) for e, r, _ in points], tmp_path / "eps", model="tiny-lif", protocol_epsilon=0.1)
    assert [f.suffix for f in files] == [".png", ".svg"] and "tiny-lif" in files[1].read_text()


def test_attack_traces_fall_monotonically_and_end_at_the_judged_output(tmp_path):
    from test_evaluation import tiny_benchmark

    from snnbench.plots import plot_traces
    from snnbench.traces import attack_traces

    bench = tiny_benchmark(steps=4)
    traces = attack_traces("mnist-convnet-lif-bptt", bench, n_examples=12)  # undefended: the attacks do fool
    assert [t.name for t in traces] == [a.name for a in bench.attacks if not a.gradient_free]
    assert traces[0].attacked >= 10 and any(t.accuracy[-1] < t.accuracy[0] for t in traces)
    for trace in traces:
        assert len(trace.loss) == len(trace.accuracy) >= 1
        # Attacks drop the samples they fooled and never return to them: the robust share can only fall.
        assert all(b <= a for a, b in zip(trace.accuracy, trace.accuracy[1:])), trace
        assert trace.final <= trace.accuracy[-1]
    # Each trace says which loss it followed; the plot gives each loss its own axis (CE and DLR differ in scale).
    by_name = {t.name: t.loss_label for t in traces}
    assert by_name["sa-pgd-assg"] == by_name["apgd-ce"] == "ce"
    assert by_name["apgd-dlr"] == "dlr" and by_name["apgd-t-assg"] == "targeted dlr"
    files = plot_traces(traces, tmp_path / "attacks", model="mnist-convnet-lif-bptt", benchmark=bench.label)
    svg = files[1].read_text()
    assert all(t.name in svg for t in traces)
    assert all(f"mean {label} loss" in svg for label in ("ce", "dlr", "targeted dlr"))


def test_board_labels_never_cover_one_another():
    from snnbench.plots import _placements

    # As lif-bptt (77.5, 0) and then lif-tgo (76.4, 0) on the CIFAR-10 board: the second label goes left of its
    # dot; a third far away stays right of its dot; a fourth between the first two goes a line lower.
    anchors = [(0.62, 0.05), (0.60, 0.05), (0.10, 0.50), (0.61, 0.05)]
    assert _placements(anchors, [0.3, 0.3, 0.3, 0.3], 0.03) == [(1, 0), (-1, 0), (1, 0), (1, 1)]
    assert _placements([(0.1, 0.5), (0.5, 0.5)], [0.3, 0.3], 0.03) == [(1, 0), (1, 0)]  # side by side
    # As lif-at (57.7, 4.1) and then lif-tgo-at (56.5, 3.9) on the CIFAR-10 v4 board: left of its dot the
    # second label would leave the axes, so it goes a line lower on the right; with no room inside on any
    # line, a label still gets a place.
    assert _placements([(0.07, 0.26), (0.02, 0.25)], [0.2, 0.23], 0.03) == [(1, 0), (1, 1)]
    assert _placements([(0.5, 0.5)], [1.2], 0.03) == [(1, 0)]
    # As lif-bptt (77.5, 0) and lif-tgo (76.4, 0) near the right edge: bptt's label would run over tgo's dot on
    # the left, so it goes a line lower; tgo's then fits left on its own line. A label never crosses another
    # model's segment (from its dot up to prior practice's circle).
    assert _placements([(0.97, 0.05), (0.92, 0.05)], [0.3, 0.3], 0.03, marker=0.01) == [(-1, 1), (-1, 0)]
    assert _placements([(0.5, 0.5), (0.3, 0.6)], [0.3, 0.3], 0.03, tops=[0.9, 0.6]) == [(1, 0), (-1, 0)]
    # Hemmed in by two segments that span the whole height, a label still gets a place (it crosses one).
    assert _placements([(0.4, 0.0), (0.5, 0.5), (0.6, 0.0)], [0.3] * 3, 0.03, tops=[1.0, 0.5, 1.0])[1] == (1, 0)


def test_board_label_placements_do_not_overlap_on_any_layout():
    import random

    from snnbench.plots import _placements

    rng = random.Random(0)
    for _ in range(50):
        anchors = [(rng.random(), rng.random() * 0.2) for _ in range(8)]  # crowded: most near the bottom
        widths = [rng.uniform(0.1, 0.4) for _ in anchors]
        boxes = []
        for (x, y), w, (side, line) in zip(anchors, widths, _placements(anchors, widths, 0.03)):
            left = x if side > 0 else x - w
            for other, right, top in boxes:
                assert not (left < right and other < left + w and abs(y - 0.03 * line - top) < 0.03)
            boxes.append((left, left + w, y - 0.03 * line))


def test_segments_at_the_same_clean_accuracy_are_drawn_side_by_side():
    from snnbench.plots import _side_by_side

    # As mnist-linf v1: lif-bptt 64.1 → 70.6 and lif-tgo-noise 70.4 → 77.5 at the same clean 98.2 read as one
    # segment 64 → 78; psn-at 82.1 → 92.0 hid if-at 90.2 → 91.4 at clean 97.5. Overlapping ones move apart,
    # one step at a time; segments that do not overlap in y, or lie a step apart in x, stay where they are.
    xs, lows, highs = [0.9, 0.9, 0.5, 0.5, 0.5, 0.2], [0.1, 0.3, 0.5, 0.6, 0.1, 0.5], [0.35, 0.6, 0.8, 0.7, 0.2, 0.6]
    assert _side_by_side(xs, lows, highs, 0.02) == [0.0, 0.02, 0.0, 0.02, 0.0, 0.0]
    assert _side_by_side([0.5, 0.5, 0.5], [0.1] * 3, [0.9] * 3, 0.02) == [0.0, 0.02, -0.02]
    assert _side_by_side([0.5, 0.53], [0.1] * 2, [0.9] * 2, 0.02) == [0.0, 0.0]
    # The markers count: dots that touch end to end are moved apart too.
    assert _side_by_side([0.5, 0.5], [0.1, 0.41], [0.4, 0.7], 0.02, marker=0.01) == [0.0, 0.02]
    assert _side_by_side([0.5, 0.5], [0.1, 0.45], [0.4, 0.7], 0.02, marker=0.01) == [0.0, 0.0]
