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
