"""Figures from result files (matplotlib, an optional dependency: ``pip install snnbench[plot]``).

Each figure is written twice, as ``<stem>.png`` and ``<stem>.svg``.

* :func:`plot_board`: clean against robust accuracy for every model of a board, with the overestimate drawn
  as a segment from the headline (worst case over the protocol) up to what prior practice reports.
* :func:`plot_epsilon`: the reference's and prior practice's accuracy against ε (:mod:`snnbench.sweep`).
* :func:`plot_traces`: loss and accuracy against iteration for each gradient attack (:mod:`snnbench.traces`).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .datasets import PathLike

if TYPE_CHECKING:  # pragma: no cover
    from .leaderboard import Board
    from .results import Result
    from .traces import Trace


def _figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **subplots):
    """A figure and its axes, without pyplot: nothing process-wide changes (no backend is chosen for the
    caller, no figure is registered with a window manager), so plotting from a notebook leaves it as it was."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise RuntimeError("plots need matplotlib: pip install 'snnbench[plot]' (or pip install matplotlib)") from None
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **subplots)


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
    from matplotlib.transforms import ScaledTranslation

    fig, ax = _figure(figsize=(7.5, 5.0))
    results = sorted(board.results, key=lambda r: r.model)
    ax.update_datalim([(r.clean_accuracy, y) for r in results for y in (r.robust_accuracy, r.prior_accuracy)])
    ax.autoscale_view()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    width, height = (fig.get_size_inches() * 72) * (ax.get_position().width, ax.get_position().height)
    anchors = [((r.clean_accuracy - x0) / (x1 - x0), (r.robust_accuracy - y0) / (y1 - y0)) for r in results]
    tops = [(r.prior_accuracy - y0) / (y1 - y0) for r in results]
    # Models at the same clean accuracy whose segments overlap are drawn side by side, never as one segment.
    shifts = _side_by_side([x for x, _ in anchors], [y for _, y in anchors], tops, SHIFT_POINTS / width,
                           marker=MARKER_POINTS / height)
    for result, shift in zip(results, shifts):
        colour = "tab:blue" if result.reliable else "tab:red"
        x, low, high = result.clean_accuracy, result.robust_accuracy, result.prior_accuracy
        moved = ax.transData + ScaledTranslation(shift * width / 72, 0, fig.dpi_scale_trans)
        ax.plot([x, x], [low, high], color=colour, alpha=0.5, linewidth=2, transform=moved)
        ax.scatter([x], [high], facecolor="white", edgecolor=colour, zorder=3, transform=moved)
        ax.scatter([x], [low], color=colour, zorder=4, transform=moved)  # on top: where prior practice found no more
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    # Labels beside their dots, moved where they would cover one another (models at the same spot).
    anchors = [(x + shift, y) for (x, y), shift in zip(anchors, shifts)]
    places = _placements(anchors, [(6 + LABEL_POINTS * 0.6 * len(r.model)) / width for r in results],
                         LINE_POINTS / height, tops=tops, marker=MARKER_POINTS / width)
    for result, shift, (side, line) in zip(results, shifts, places):
        ax.annotate(result.model, (result.clean_accuracy, result.robust_accuracy), textcoords="offset points",
                    xytext=(6 * side + shift * width, -4 - LINE_POINTS * line), fontsize=LABEL_POINTS,
                    ha="left" if side > 0 else "right")
    if any(shifts):
        ax.text(0.99, 0.01, "models at the same clean accuracy are drawn side by side", transform=ax.transAxes,
                ha="right", fontsize=7, color="grey")
    ax.set_xlabel("clean accuracy (%)")
    ax.set_ylabel("robust accuracy (%)")
    ax.set_title(f"{board.benchmark} v{board.version}: headline (dot) and prior practice (circle)")
    ax.grid(alpha=0.3)
    if any(not r.reliable for r in board.results):
        ax.text(0.01, 0.01, "red: unreliable", transform=ax.transAxes, color="tab:red", fontsize=8)
    return _save(fig, stem)


LABEL_POINTS, LINE_POINTS, MARKER_POINTS = 7, 9, 4  # a label's font size, a line of labels' height, a dot's radius
SHIFT_POINTS = 7  # how far apart segments at the same clean accuracy are drawn


def _side_by_side(xs: list[float], lows: list[float], highs: list[float], step: float,
                  marker: float = 0.0) -> list[float]:
    """Horizontal shifts, in order, that keep every model's segment ``[lows[i], highs[i]]`` at ``xs[i]`` (with
    its markers, ``marker`` beyond each end) from overlapping a segment drawn before it: each takes the
    nearest of ``0, +step, −step, +2·step, …`` where no earlier segment is closer than ``step`` in x and
    overlaps it in y. Two models at the same clean accuracy whose segments overlap (say BPTT 64→71 and
    its noisy twin 70→78) would otherwise read as one segment of one model. Fractions of the axes."""
    drawn: list[tuple[float, float, float]] = []
    shifts = []
    for x, low, high in zip(xs, lows, highs):
        low, high = min(low, high) - marker, max(low, high) + marker
        for k in (n * sign for n in range(len(xs) + 1) for sign in ((1, -1) if n else (1,))):
            at = x + k * step
            if not any(abs(at - other) < step - 1e-12 and low < top and bottom < high
                       for other, bottom, top in drawn):
                break
        drawn.append((at, low, high))
        shifts.append(k * step)
    return shifts


def _placements(anchors: list[tuple[float, float]], widths: list[float], height: float,
                tops: Optional[list[float]] = None, marker: float = 0.0) -> list[tuple[int, int]]:
    """Where each label goes, in order, so that it covers no label placed before it and no other model's dot
    or segment: ``(side, line)`` with side ``1`` right of its anchor and ``-1`` left of it, line ``0`` level
    with it and ``k`` that many lines lower (negative: higher). Tried nearest first: right, left, then a line
    lower, a line higher, and so on, where a place that leaves the axes' width counts as two lines away.
    Anchors, widths, the line ``height`` and the ``marker`` radius are fractions of the axes; a label
    spans its width beside the anchor and one line height around its ``y``; model ``i``'s segment runs from
    its anchor up to ``tops[i]`` (default: the anchor alone). Where dots and segments leave no room on any line
    tried, a label may cross them, never another label."""
    tops = [y for _, y in anchors] if tops is None else tops
    placed: list[tuple[float, float, float]] = []
    chosen = []
    lines = [k for n in range(len(anchors) + 1) for k in ((n, -n) if n else (0,))]
    for i, ((x, y), w) in enumerate(zip(anchors, widths)):
        def left_of(side: int) -> float:
            return x if side > 0 else x - w

        def clear_of_labels(line: int, side: int) -> bool:
            left, level = left_of(side), y - line * height
            return not any(left < right and other < left + w and abs(level - top) < height
                           for other, right, top in placed)

        def clear_of_models(line: int, side: int) -> bool:
            left, level = left_of(side), y - line * height
            return not any(j != i and left - marker < dx < left + w + marker
                           and low - marker - height / 2 < level < high + marker + height / 2
                           for j, ((dx, low), high) in enumerate(zip(anchors, tops)))

        def cost(place: tuple[int, int]) -> int:
            left = left_of(place[1])
            return abs(place[0]) + (0 if 0.0 <= left and left + w <= 1.0 else 2)

        places = [(line, side) for line in lines for side in (1, -1) if clear_of_labels(line, side)]
        # Where other models' dots and segments leave no room on any line tried, a label may cross them.
        line, side = min([p for p in places if clear_of_models(*p)] or places, key=cost)
        left = left_of(side)
        placed.append((left, left + w, y - line * height))
        chosen.append((side, line))
    return chosen


def plot_epsilon(points: "list[tuple[float, Result]]", stem: PathLike, *, model: str,
                 protocol_epsilon: Optional[float] = None) -> list[Path]:
    """Accuracy against ε for the reference, prior practice and their per-sample worst case (``points``: ε and
    the sweep's result at it); a dashed line marks the protocol's ε. The gap between prior practice and the
    reference at a given ε is how much prior practice overestimates there."""
    points = sorted(points, key=lambda p: p[0])
    fig, ax = _figure(figsize=(6.5, 4.2))
    eps = [0.0] + [e for e, _ in points]
    clean = points[0][1].clean_accuracy
    for label, figure, style in (("prior practice (APGD-CE, training surrogate)", "prior_accuracy", "o--"),
                                 ("reference (SA-PGD + ASSG)", "reference_accuracy", "s-"),
                                 ("both (per-sample worst case)", "robust_accuracy", "k:")):
        ax.plot(eps, [clean] + [getattr(r, figure) for _, r in points], style, label=label, markersize=4)
    if protocol_epsilon is not None:
        ax.axvline(protocol_epsilon, color="grey", linestyle="--", linewidth=1)
        ax.text(protocol_epsilon, ax.get_ylim()[1], " protocol ε", va="top", fontsize=8, color="grey")
    n = points[0][1].n_examples
    ax.set_xlabel("ε (L∞, pixels in [0, 1])")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{model}: accuracy against ε ({n} images, unofficial)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, stem)


def plot_traces(traces: "list[Trace]", stem: PathLike, *, model: str, benchmark: str) -> list[Path]:
    """Panels over gradient evaluations: the accuracy at each attack's current iterate (the samples it has
    not fooled, in percent of those it attacked; a star marks its output as the board judges it), then one
    panel per loss (cross-entropy, DLR, targeted DLR: scales that one axis cannot share) with the mean loss
    over the samples each attack still attacks. Flat tails mean the budget sufficed."""
    losses = list(dict.fromkeys(t.loss_label for t in traces))  # in the order the attacks first use them
    fig, axes = _figure(1 + len(losses), 1, figsize=(7.5, 3.5 + 2.2 * len(losses)), sharex=True, squeeze=False)
    top, panels = axes[0, 0], {label: axes[1 + i, 0] for i, label in enumerate(losses)}
    for trace in traces:
        steps = range(1, len(trace.accuracy) + 1)
        (line,) = top.plot(steps, trace.accuracy, label=trace.name, linewidth=1.2)
        if trace.final is not None:
            top.plot([len(trace.accuracy)], [trace.final], "*", color=line.get_color(), markersize=9)
        panels[trace.loss_label].plot(steps, trace.loss, color=line.get_color(), linewidth=1.0)
    attacked = traces[0].attacked if traces else 0
    top.set_ylabel(f"accuracy,\n% of {attacked} attacked", fontsize=8)
    for label, ax in panels.items():
        ax.set_ylabel(f"mean {label} loss,\nsamples still attacked", fontsize=8)
    axes[-1, 0].set_xlabel("gradient evaluation (iteration; targeted attacks run on across targets)")
    top.set_title(f"{model} on {benchmark}: attack convergence (first run of each gradient attack)", fontsize=10)
    for ax in axes[:, 0]:
        ax.grid(alpha=0.3)
    top.legend(fontsize=7, ncol=2)
    return _save(fig, stem)
