"""The web board: a static site generated from the same result files as the Markdown tables.

``snnbench leaderboard --html DIR`` writes::

    DIR/index.html                               every board, the protocol version in force first
    DIR/<benchmark>/v<k>/index.html              one board: a sortable, filterable table
    DIR/<benchmark>/v<k>/<model>.html            one result: figures, the run-by-run breakdown, the card,
                                                 provenance, and the robust-accuracy curve
    DIR/board.css, DIR/board.js                  the only assets; no server, nothing from the internet

Rows come from :meth:`snnbench.leaderboard.Board.frame` (the same ranking and notes as the Markdown board).
Each cell carries its sort key in ``data-sort``, so the table sorts numbers as numbers, whatever it shows.

The robust-accuracy curve is the headline as the runs are added in the protocol's order (the curve AutoAttack
users read to see whether the last attacks still mattered): after run ``k``,

    robust_k = 100 / n · |{i : clean_i ∧ ¬ fooled_j(i) for every run j ≤ k}|,

from the runs' per-sample ``fooled_flags``; for results without them, ``clean − Σ_{j ≤ k} first_to_fool_j``
(the same number: each sample counts once, for the first run that fooled it).
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Optional

from .datasets import PathLike
from .files import atomic_write_text
from .leaderboard import (Board, awaiting_note, board_notes_used, find_boards, in_force, last_restart_gain,
                          most_robust, protocol_note, restart_gain_text, stochastic_note)
from .results import Result, published_boards
from .zoo import card_paths, repository_zoo

COLUMNS = (  # (column of board_frame, header, kind); kind "num" sorts numerically
    ("rank", "rank", "num"), ("model", "model", "text"), ("architecture", "architecture", "text"),
    ("neuron", "neuron", "text"), ("T", "T", "num"), ("defense", "defense", "text"), ("clean", "clean", "num"),
    ("robust", "robust", "num"), ("reference", "reference", "num"), ("prior practice", "prior practice", "num"),
    ("overestimate", "overestimate", "num"), ("last restart", "last restart", "num"),
    ("reliability", "reliability", "text"), ("minutes", "minutes", "num"), ("gradients", "input gradients", "num"),
)

HEADER_HELP = {
    "robust": "per sample, correct under every attack of the protocol (the headline)",
    "reference": ("the reference attack's first run alone (SA-PGD + ASSG, one random start, as its paper reports "
                  "it; its restarts count in robust)"),
    "prior practice": "APGD-CE through the model's training surrogate alone, as SNN robustness has been reported",
    "overestimate": "prior practice minus robust, in points",
    "last restart": "the largest share of samples, in percent, that an attack's last restart was the first to fool",
    "minutes": ("minutes spent in the clean pass, the checks and the attacks' batches (the attacks' summed over "
                "processes; start-up and loading not counted); below, the part spent by runs carried over from an "
                "older version's result (snnbench evaluate --reuse), as measured then"),
    "input gradients": ("backward passes to the input by the attacks (not the zero-gradient check's one per "
                        "clean-correct sample); below, the part spent by carried-over runs"),
}


def write_site(out: PathLike, root: Optional[PathLike] = None, zoo: Optional[PathLike] = None) -> list[Path]:
    """Write the site for every board under ``root`` (default: the checkout's leaderboard, else the boards
    installed with the package) into ``out``; results are checked as ``snnbench leaderboard`` checks them.
    Returns the files written."""
    out = Path(out)
    root = Path(root) if root is not None else published_boards()
    boards = find_boards(root, zoo)
    cards = card_paths(zoo if zoo is not None else repository_zoo())
    pages: dict[Path, str] = {out / "index.html": _index_page(boards), out / "board.css": CSS, out / "board.js": JS}
    for board in boards:
        folder = out / board.benchmark / f"v{board.version}"
        pages[folder / "index.html"] = _board_page(board)
        for result in board.results:
            card = cards.get(result.model)
            card_text = card.read_text(encoding="utf-8") if card is not None else None
            pages[folder / f"{result.model}.html"] = _model_page(board, result, card_text)
    for path, text in pages.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    return list(pages)


def robust_curve(result: Result) -> Optional[list[tuple[str, float]]]:
    """``(run name, robust accuracy after it)`` for every run in order, or None when the result records neither
    per-run flags nor first-to-fool counts."""
    n = result.n_examples
    if all(a.fooled_flags is not None for a in result.attacks):
        standing = [c == "1" for c in result.clean_flags]
        curve = []
        for attack in result.attacks:
            standing = [s and f == "0" for s, f in zip(standing, attack.fooled_flags)]
            curve.append((attack.name, 100.0 * sum(standing) / n))
        return curve
    if all(a.first_to_fool is not None for a in result.attacks):
        remaining, curve = result.clean_flags.count("1"), []
        for attack in result.attacks:
            remaining -= attack.first_to_fool
            curve.append((attack.name, 100.0 * remaining / n))
        return curve
    return None


# ---------------------------------------------------------------------------------------------- pages


def _page(title: str, body: str, depth: int) -> str:
    up = "../" * depth
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_e(title)}</title>\n<link rel=\"stylesheet\" href=\"{up}board.css\">\n"
            f"<script src=\"{up}board.js\" defer></script>\n</head>\n<body>\n"
            f"<nav><a href=\"{up}index.html\">snnbench boards</a></nav>\n{body}\n"
            "<footer>Generated by <code>snnbench leaderboard --html</code> from the result files; every figure "
            "is in the result JSON it links to.</footer>\n</body>\n</html>\n")


def _index_page(boards: list[Board]) -> str:
    rows = []
    for board in sorted(boards, key=lambda b: (b.benchmark, -b.version)):
        status = "in force" if in_force(board) else "retired"
        rows.append(f"<tr><td><a href=\"{_e(board.benchmark)}/v{board.version}/index.html\">{_e(board.benchmark)} "
                    f"v{board.version}</a></td><td>{status}</td><td data-sort=\"{len(board.results)}\">"
                    f"{len(board.results)}</td><td>{_e(most_robust(board))}</td></tr>")
    table = ("<table class=\"board\"><thead><tr><th>board</th><th>protocol</th><th data-kind=\"num\">models</th>"
             f"<th>most robust (reliable)</th></tr></thead><tbody>{''.join(rows)}</tbody></table>") if rows else \
        "<p>No boards yet.</p>"
    body = ("<h1>snnbench boards</h1>\n<p>Adversarial robustness of spiking neural networks under a fixed, "
            "versioned, seeded protocol. One board per benchmark and protocol version.</p>\n" + table)
    return _page("snnbench boards", body, 0)


def _board_page(board: Board) -> str:
    frame = board.frame()
    by_name = {r.model: r for r in board.results}
    columns = [c for c in COLUMNS if c[0] != "last restart" or c[0] in frame.columns]  # as the Markdown board
    head = "".join(f"<th data-kind=\"{kind}\"{_title(header)}>{_e(header)}</th>" for _, header, kind in columns)
    rows = []
    for record in frame.to_dict("records"):
        result = by_name[record["model"]]
        rows.append("<tr>" + "".join(_cell(column, record, result) for column, _, _ in columns) + "</tr>")
    table = (f"<div class=\"controls\"><label>filter <input id=\"filter\" type=\"search\" "
             f"placeholder=\"model, neuron, defense…\"></label> <label><input id=\"reliable-only\" "
             f"type=\"checkbox\"> reliable only</label> <span id=\"shown\"></span></div>\n"
             f"<div class=\"scroll\"><table class=\"board sortable\" id=\"board\"><thead><tr>{head}</tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table></div>") if rows else "<p>No results yet.</p>"
    stochastic = stochastic_note(board)
    body = (f"<h1>{_e(board.benchmark)} — protocol v{board.version}</h1>\n<p>{_e(protocol_note(board))}</p>\n"
            + (f"<p><b>Being filled</b>: {_e(awaiting_note(board))}</p>\n" if board.awaiting else "")
            + f"{table}\n<p class=\"legend\">Accuracies in percent; click a column to sort, again to reverse. "
            + " ".join(f"<b>{_e(k)}</b>: {_e(v)}." for k, v in HEADER_HELP.items()) + "</p>"
            + (f"\n<p class=\"legend\">{_e(stochastic)}</p>" if stochastic else "")
            + "".join(f"\n<p class=\"legend\"><b>{_e(code)}</b>: {_e(text)}.</p>" for code, text in board_notes_used(board)))
    return _page(f"{board.benchmark} v{board.version} — snnbench", body, 2)


def _model_page(board: Board, result: Result, card_text: Optional[str]) -> str:
    s = result.model_summary
    figures = [("clean", result.clean_accuracy), ("robust", result.robust_accuracy),
               ("reference", result.reference_accuracy), ("prior practice", result.prior_accuracy),
               ("overestimate", result.overestimate)]
    facts = "".join(f"<div class=\"fact\"><span>{_e(k)}</span><b>{v:.1f}</b></div>" for k, v in figures)
    # A stochastic model's clean accuracy is not the single-pass claim its card (below) states: say why.
    judged = stochastic_note(Board(board.benchmark, board.version, board.folder, (result,)))
    verdict = "reliable" if result.reliable else "UNRELIABLE"
    diagnostics = "".join(f"<li><b>{'unreliable' if d.unreliable else 'note'}</b> {_e(d.code)}: {_e(d.message)}</li>"
                          for d in result.diagnostics) or "<li>none</li>"
    runs = []
    for a in result.attacks:
        fooled_first = "—" if a.first_to_fool is None else str(a.first_to_fool)
        state = "not applicable" if a.not_applicable else "—" if not a.attacked else f"{a.accuracy:.1f}"
        accuracy_key = -1 if a.not_applicable or not a.attacked else a.accuracy
        runs.append(f"<tr><td>{_e(a.name)}</td><td>{_e(a.role or '')}</td><td>{_e(a.gradient_mode or '')}"
                    f"{' (gradient-free)' if a.gradient_free else ''}</td><td data-sort=\"{a.attacked}\">{a.attacked}"
                    f"</td><td data-sort=\"{a.robust}\">{a.robust}</td><td data-sort=\""
                    f"{-1 if a.first_to_fool is None else a.first_to_fool}\">{fooled_first}</td><td data-sort=\""
                    f"{accuracy_key}\">{state}</td><td data-sort=\"{a.seconds}\">{a.seconds:.0f}</td><td data-sort=\""
                    f"{a.backward}\">{a.backward:,}</td><td>{_e(a.reused or '')}</td></tr>")
    breakdown = ("<table class=\"board sortable\" id=\"runs\"><thead><tr><th>run</th><th>role</th><th>gradient</th>"
                 "<th data-kind=\"num\">attacked</th><th data-kind=\"num\">survived</th>"
                 "<th data-kind=\"num\" title=\"samples this run was the first to fool\">first to fool</th>"
                 "<th data-kind=\"num\">accuracy on attacked</th><th data-kind=\"num\">seconds</th>"
                 f"<th data-kind=\"num\">input gradients</th><th title=\"runs carried over from an older version's "
                 f"result (snnbench evaluate --reuse) keep the seconds and gradients measured then\">carried over from"
                 f"</th></tr></thead><tbody>{''.join(runs)}</tbody></table>")
    curve = robust_curve(result)
    plot = _curve_svg(curve, result.clean_accuracy) if curve else "<p>This result records no per-run counts.</p>"
    env = result.environment
    provenance = [("card file sha256", s.card_file_sha256), ("weights sha256 (card)", s.card_sha256),
                  ("weights sha256 (evaluated)", s.checkpoint_sha256), ("model sha256", s.model_sha256),
                  ("flags sha256", result.flags_sha256), ("snnbench", env.snnbench), ("torch", env.torch),
                  ("python", env.python), ("device", env.device), ("threads", env.threads),
                  ("processes", env.processes), ("batch size", env.batch_size), ("seed", env.seed),
                  ("date", env.date), ("source", s.source), ("stochastic", s.stochastic)]
    prov = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e('—' if v is None else v)}</code></td></tr>"
                   for k, v in provenance)
    card = f"<pre>{_e(card_text)}</pre>" if card_text is not None else "<p>No card in the zoo.</p>"
    body = (f"<h1>{_e(result.model)}</h1>\n<p>{_e(board.benchmark)} v{board.version} · {_e(s.architecture)}, "
            f"{_e(s.neuron)} neurons, T = {s.T}, defense {_e(s.defense)} · {result.n_examples} images · "
            f"{_minutes(result)} · <b class=\"{'ok' if result.reliable else 'bad'}\">{verdict}</b></p>\n"
            f"<div class=\"facts\">{facts}</div>\n" + (f"<p class=\"legend\">{_e(judged)}</p>\n" if judged else "") +
            f"<h2>Robust accuracy as the runs are added</h2>\n{plot}\n"
            f"<h2>Runs</h2>\n{breakdown}\n<h2>Diagnostics</h2>\n<ul>{diagnostics}</ul>\n<h2>Card</h2>\n{card}\n"
            f"<h2>Provenance</h2>\n<table class=\"provenance\">{prov}</table>")
    return _page(f"{result.model} — {board.benchmark} v{board.version}", body, 2)


def _cell(column: str, record: dict, result: Result) -> str:
    if column == "model":
        return (f"<td data-sort=\"{_e(result.model)}\"><a href=\"{_e(result.model)}.html\">{_e(result.model)}</a>"
                f"{_sub('stochastic') if result.model_summary.stochastic else ''}</td>")
    if column == "last restart":
        gain = last_restart_gain(result)
        return f"<td data-sort=\"{-1 if gain is None else gain}\">{restart_gain_text(result)}</td>"
    if column == "minutes":
        env = result.environment
        where = f"{env.threads} thread{'s' if env.threads != 1 else ''} × {env.processes} process" + \
            ("es" if env.processes != 1 else "")
        carried = _sub(f"{result.carried_seconds / 60:.1f} carried over") if result.carried_seconds else ""
        return f"<td data-sort=\"{result.seconds / 60}\" title=\"{where}\">{result.seconds / 60:.1f}{carried}</td>"
    if column == "gradients":
        carried = _sub(f"{result.carried_backward:,} carried over") if result.carried_backward else ""
        return f"<td data-sort=\"{result.backward}\">{result.backward:,}{carried}</td>"
    if column == "reliability":
        css = "ok" if result.reliable else "bad"
        return f"<td class=\"{css} wrap\" data-sort=\"{_e(record[column])}\">{_e(record[column])}</td>"
    value = record[column]
    if isinstance(value, float):
        return f"<td data-sort=\"{value!r}\">{value:.1f}</td>"
    return f"<td data-sort=\"{_e(value)}\">{_e(value)}</td>"


def _sub(text: str) -> str:
    """A board cell's second, smaller line (the part of a figure that carried-over runs took; a model's tag)."""
    return f"<span class=\"sub\">{_e(text)}</span>"


def _minutes(result: Result) -> str:
    """The evaluation's minutes, with the part that carried-over runs took when they ran (``--reuse``)."""
    carried = f" ({result.carried_seconds / 60:.1f} carried over)" if result.carried_seconds else ""
    return f"{result.seconds / 60:.1f} min{carried}"


def _curve_svg(curve: list[tuple[str, float]], clean: float, width: int = 760, height: int = 260) -> str:
    """A step chart of robust accuracy after each run, drawn as inline SVG (no plotting library, no asset)."""
    left, right, top, bottom = 48, 90, 12, 110
    w, h = width - left - right, height - top - bottom
    points = [("clean", clean)] + curve
    low = max(0.0, min(v for _, v in points) - 5.0)
    high = min(100.0, clean + 2.0)
    high = max(high, low + 1.0)

    def x(i: int) -> float:
        return left + w * i / max(1, len(points) - 1)

    def y(v: float) -> float:
        return top + h * (high - v) / (high - low)

    path = " ".join(f"{'M' if i == 0 else 'L'}{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(points))
    ticks = "".join(f"<text x=\"{left - 6}\" y=\"{y(t) + 4:.1f}\" text-anchor=\"end\">{t:.0f}</text>"
                    f"<line x1=\"{left}\" x2=\"{left + w}\" y1=\"{y(t):.1f}\" y2=\"{y(t):.1f}\" class=\"grid\"/>"
                    for t in _ticks(low, high))
    labels = "".join(f"<text transform=\"translate({x(i):.1f},{top + h + 8}) rotate(50)\">{_e(name)}</text>"
                     f"<circle cx=\"{x(i):.1f}\" cy=\"{y(v):.1f}\" r=\"2.5\"><title>{_e(name)}: {v:.1f}%</title>"
                     f"</circle>" for i, (name, v) in enumerate(points))
    return (f"<svg class=\"curve\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" "
            f"role=\"img\" aria-label=\"robust accuracy after each run\">{ticks}"
            f"<path d=\"{path}\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\"/>{labels}</svg>")


def _ticks(low: float, high: float) -> list[float]:
    span = high - low
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50) if span / s <= 6)
    first = int(low // step + 1) * step
    return [float(t) for t in range(first, int(high) + 1, step)]


def _title(header: str) -> str:
    return f" title=\"{_e(HEADER_HELP[header])}\"" if header in HEADER_HELP else ""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


CSS = """body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1600px; padding: 0 1em; color: #222; }
nav { margin-bottom: 1em; } footer { margin-top: 2em; color: #666; font-size: 12px; }
table.board { border-collapse: collapse; width: 100%; }
table.board th, table.board td { padding: 4px 8px; border-bottom: 1px solid #ddd; text-align: left; white-space: nowrap; }
table.board th { background: #f3f3f3; position: sticky; top: 0; white-space: normal; vertical-align: bottom; }
table.board .sub { display: block; color: #666; font-size: 12px; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " ▲"; }
table.sortable th[aria-sort="descending"]::after { content: " ▼"; }
td[data-sort] { font-variant-numeric: tabular-nums; }
.ok { color: #176317; } .bad { color: #a11; font-weight: bold; }
.controls { margin: 0.5em 0; } #shown { margin-left: 1em; color: #666; }
.scroll { overflow-x: auto; } table.board td.wrap { white-space: normal; min-width: 11em; } .legend { color: #444; font-size: 13px; }
.facts { display: flex; gap: 1.5em; margin: 1em 0; } .fact span { display: block; color: #666; font-size: 12px; }
.fact b { font-size: 22px; } svg.curve { color: #1f5fa8; font-size: 11px; } svg.curve .grid { stroke: #e5e5e5; }
table.provenance th { text-align: left; padding-right: 1em; font-weight: normal; color: #555; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
"""

JS = """// Sorting and filtering for snnbench's static boards; no dependencies, works from file://.
(function () {
  function key(cell, kind) {
    var raw = cell.getAttribute('data-sort');
    if (raw === null) raw = cell.textContent;
    if (kind === 'num') { var v = parseFloat(raw); return isNaN(v) ? -Infinity : v; }
    return raw.toLowerCase();
  }
  function sortBy(table, index) {
    var th = table.tHead.rows[0].cells[index];
    var kind = th.getAttribute('data-kind') || 'text';
    var descending = th.getAttribute('aria-sort') !== 'descending';
    if (th.getAttribute('aria-sort') === null) descending = kind === 'num';
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (row, i) { return [key(row.cells[index], kind), i, row]; });
    rows.sort(function (a, b) {
      if (a[0] < b[0]) return descending ? 1 : -1;
      if (a[0] > b[0]) return descending ? -1 : 1;
      return a[1] - b[1];
    });
    rows.forEach(function (r) { body.appendChild(r[2]); });
  }
  function filter(table) {
    var text = document.getElementById('filter').value.toLowerCase();
    var reliable = document.getElementById('reliable-only').checked;
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var ok = row.textContent.toLowerCase().indexOf(text) >= 0;
      if (reliable) ok = ok && !row.querySelector('td.bad');
      row.hidden = !ok;
      if (ok) shown += 1;
    });
    document.getElementById('shown').textContent = shown + ' of ' + table.tBodies[0].rows.length + ' shown';
  }
  document.addEventListener('DOMContentLoaded', function () {
    Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
        th.addEventListener('click', function () { sortBy(table, i); });
      });
    });
    var board = document.getElementById('board');
    if (board && document.getElementById('filter')) {
      document.getElementById('filter').addEventListener('input', function () { filter(board); });
      document.getElementById('reliable-only').addEventListener('change', function () { filter(board); });
      filter(board);
    }
  });
})();
"""
