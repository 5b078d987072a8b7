"""Figures from result files (matplotlib, an optional dependency: ``pip install snnbench[plot]``).

Each figure is written twice, as ``<stem>.png`` and ``<stem>.svg``.

* :func:`plot_board`: clean against robust accuracy for every model of a board, with the overestimate drawn
  as a segment from the headline (worst case over the protocol) up to what prior practice reports.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .datasets import PathLike

if TYPE_CHECKING:  # pragma: no cover
    from .leaderboard import Board


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("plots need matplotlib: pip install 'snnbench[plot]' (or pip install matplotlib)") from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig, stem: PathLike) -> list[Path]:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    import matplotlib

    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    # Text as text (searchable, smaller), fixed ids and no timestamp: the same results give the same file.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "snnbench"}):
        fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    return paths


def plot_board(board: "Board", stem: PathLike) -> list[Path]:
    """Clean (x) against robust accuracy (y) for every result of ``board``: a dot at the headline, an open
    circle at prior practice's figure, and the segment between them (the overestimate, in points). Unreliable
    results are drawn in red."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    for result in sorted(board.results, key=lambda r: r.model):
        colour = "tab:blue" if result.reliable else "tab:red"
        x, low, high = result.clean_accuracy, result.robust_accuracy, result.prior_accuracy
        ax.plot([x, x], [low, high], color=colour, alpha=0.5, linewidth=2)
        ax.scatter([x], [low], color=colour, zorder=3)
        ax.scatter([x], [high], facecolor="white", edgecolor=colour, zorder=3)
        ax.annotate(result.model, (x, low), textcoords="offset points", xytext=(6, -4), fontsize=7)
    ax.set_xlabel("clean accuracy (%)")
    ax.set_ylabel("robust accuracy (%)")
    ax.set_title(f"{board.benchmark} v{board.version}: headline (dot) and prior practice (circle)")
    ax.grid(alpha=0.3)
    if any(not r.reliable for r in board.results):
        ax.text(0.01, 0.01, "red: unreliable", transform=ax.transAxes, color="tab:red", fontsize=8)
    try:
        return _save(fig, stem)
    finally:
        plt.close(fig)
