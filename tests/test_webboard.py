"""The static web board: what the pages hold (fast, no browser) and what a browser does with them."""
from __future__ import annotations

import dataclasses
import re
import shutil

import pytest

from snnbench.cli import main
from snnbench.leaderboard import board_frame, find_boards
from snnbench.results import leaderboard_root
from snnbench.webboard import robust_curve, write_site


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    write_site(out)
    return out


def _rows(page: str) -> list[str]:
    """The model of every board row, in page order."""
    body = page.split("<tbody>", 1)[1]
    return re.findall(r'<tr><td data-sort="[^"]*">\d+</td><td data-sort="([^"]+)">', body)


def test_every_board_and_result_gets_a_page_ranked_as_the_markdown_board(site):
    boards = find_boards(leaderboard_root())
    assert boards, "the repository has committed results"
    for board in boards:
        folder = site / board.benchmark / f"v{board.version}"
        page = (folder / "index.html").read_text()
        assert _rows(page) == list(board_frame(board.results)["model"])
        for result in board.results:
            model = (folder / f"{result.model}.html").read_text()
            assert model.count("<tr><td>") >= len(result.attacks)  # a row per run in the breakdown
            assert result.model_summary.checkpoint_sha256 in model and result.flags_sha256 in model
    index = (site / "index.html").read_text()
    assert all(f'{b.benchmark}/v{b.version}/index.html' in index for b in boards)


def test_pages_load_nothing_from_the_internet_and_escape_what_they_show(site):
    for page in site.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r'(src|href)="(https?:)?//', text), page  # assets and links stay in the folder
        assert "<script src=" in text and "board.js" in text
    card_page = next(site.glob("mnist-linf/v1/mnist-convnet-lif-at.html")).read_text()
    assert "<pre>" in card_page and "name: mnist-convnet-lif-at" in card_page


def test_minutes_and_gradients_say_what_carried_over_runs_took_then(site):
    boards = {(b.benchmark, b.version): b for b in find_boards(leaderboard_root())}
    result = next(r for r in boards["cifar10-linf-1000", 4].results if r.model == "cifar10-vgg11-lif-at")
    carried = [a for a in result.attacks if a.reused]
    assert carried and result.carried_seconds == sum(a.seconds for a in carried) < result.seconds
    board = (site / "cifar10-linf-1000" / "v4" / "index.html").read_text()
    row = next(r for r in board.split("<tr>") if 'data-sort="cifar10-vgg11-lif-at"' in r)
    assert f"{result.seconds / 60:.1f}<span class=\"sub\">{result.carried_seconds / 60:.1f} carried over</span>" in row
    assert f"{result.backward:,}<span class=\"sub\">{result.carried_backward:,} carried over</span>" in row
    page = (site / "cifar10-linf-1000" / "v4" / "cifar10-vgg11-lif-at.html").read_text()
    assert f"{result.seconds / 60:.1f} min ({result.carried_seconds / 60:.1f} carried over)" in page
    assert page.count(f"<td>{carried[0].reused}</td>") == len(carried)  # each carried run names its source
    fresh = next(r for r in boards["mnist-linf", 1].results if not r.carried_seconds)
    v1 = (site / "mnist-linf" / "v1" / "index.html").read_text()
    assert "carried" not in next(r for r in v1.split("<tr>") if f'data-sort="{fresh.model}"' in r)


def test_the_index_names_the_best_reliable_row_and_a_result_page_says_how_noise_is_judged(site):
    from snnbench.leaderboard import Board, most_robust

    boards = {(b.benchmark, b.version): b for b in find_boards(leaderboard_root())}
    board = boards["cifar10-linf-1000", 2]  # its top row is unreliable (gradient-free gain)
    frame = board_frame(board.results)
    assert frame.iloc[0]["reliability"].startswith("unreliable")
    best = next(r for r in frame.itertuples() if r.reliability.startswith("ok"))
    assert most_robust(board) == f"{best.model} ({best.robust:.1f}%, {best.Index} unreliable row" + \
        ("s" if best.Index > 1 else "") + " above)"
    assert most_robust(Board(board.benchmark, 2, board.folder, ())) == "—"
    assert most_robust(board).replace("%", "") in (site / "index.html").read_text().replace("%", "")
    noisy = (site / "cifar10-linf-1000" / "v4" / "cifar10-vgg11-lif-tgo-noise.html").read_text()
    plain = (site / "cifar10-linf-1000" / "v4" / "cifar10-vgg11-lif-tgo.html").read_text()
    assert "all 10 noisy forward passes" in noisy and "noisy forward passes" not in plain
    bptt = (site / "cifar10-linf-1000" / "v4" / "cifar10-vgg11-lif-bptt.html").read_text()
    idle = next(r for r in bptt.split("<tr>") if r.startswith("<td>apgd-dlr</td>"))  # no survivor left: it attacked nothing
    assert '<td data-sort="0">0</td>' in idle and '<td data-sort="-1">—</td>' in idle


def test_robust_curve_ends_at_the_headline_from_flags_or_from_counts():
    boards = {(b.benchmark, b.version): b for b in find_boards(leaderboard_root())}
    result = next(r for r in boards["mnist-linf", 2].results if r.model == "mnist-convnet-lif-bptt")
    from_flags = robust_curve(result)
    assert len(from_flags) == len(result.attacks) and from_flags[-1][1] == pytest.approx(result.robust_accuracy)
    assert from_flags[0][1] == pytest.approx(100.0 * result.attacks[0].robust / result.n_examples)
    counts_only = dataclasses.replace(result, attacks=tuple(dataclasses.replace(a, fooled_flags=None)
                                                            for a in result.attacks))
    from_counts = robust_curve(counts_only)
    assert [n for n, _ in from_counts] == [n for n, _ in from_flags]
    assert [v for _, v in from_counts] == pytest.approx([v for _, v in from_flags])
    assert all(b[1] <= a[1] for a, b in zip(from_flags, from_flags[1:]))  # adding a run never raises the headline


def test_cli_writes_the_site(tmp_path, capsys):
    assert main(["leaderboard", "--check", "--html", str(tmp_path / "site")]) == 0
    assert "web board:" in capsys.readouterr().out and (tmp_path / "site" / "board.js").exists()


# ------------------------------------------------------------------------------------------- in a browser


def _browser():
    """A headless Chromium driven by selenium, or a skip that names what is missing."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package")
    if missing:
        pytest.skip(f"no {' or '.join(missing)}: `make test-browser` installs them (Debian's chromium and "
                    f"chromium-driver) and runs this test")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def test_the_board_sorts_and_filters_in_a_real_browser(site):
    from selenium.webdriver.common.by import By

    board = next(b for b in find_boards(leaderboard_root()) if (b.benchmark, b.version) == ("mnist-linf", 1))
    frame = board_frame(board.results)
    driver = _browser()
    try:
        driver.get((site / "mnist-linf" / "v1" / "index.html").as_uri())

        def shown() -> list[str]:
            return [row.find_elements(By.TAG_NAME, "td")[1].text.split()[0]
                    for row in driver.find_elements(By.CSS_SELECTOR, "#board tbody tr") if row.is_displayed()]

        assert shown() == list(frame["model"])  # as generated: ranked by robust accuracy
        header = next(th for th in driver.find_elements(By.CSS_SELECTOR, "#board th") if th.text == "clean")
        header.click()  # numbers sort descending first; ties keep the board's order
        by_clean = frame.sort_values("clean", ascending=False, kind="mergesort")
        assert shown() == list(by_clean["model"]) and header.get_attribute("aria-sort") == "descending"
        header.click()
        assert shown() == list(frame.sort_values("clean", ascending=True, kind="mergesort")["model"])
        driver.find_element(By.ID, "filter").send_keys("tgo")
        assert sorted(shown()) == sorted(m for m in frame["model"] if "tgo" in m)
        driver.find_element(By.ID, "filter").clear()
        driver.find_element(By.ID, "reliable-only").click()
        reliable = [m for m, r in zip(frame["model"], frame["reliability"]) if not r.startswith("unreliable")]
        assert sorted(shown()) == sorted(reliable) and len(reliable) < len(frame)
        assert driver.find_element(By.ID, "shown").text == f"{len(reliable)} of {len(frame)} shown"
    finally:
        driver.quit()


def test_a_board_names_its_stochastic_models_and_how_they_are_judged(site):
    """A stochastic model's clean accuracy on the board (correct in every noisy pass) is not its card's claim
    (one pass): 64.3% against 78.1% for cifar10-vgg11-lif-tgo-noise. Both the Markdown board and the web page
    must say which rows this holds for."""
    from snnbench.leaderboard import stochastic_note
    from snnbench.protocol import load_protocol

    seen = 0
    for board in find_boards(leaderboard_root()):
        names = [r.model for r in board.results if r.model_summary.stochastic]
        markdown = (leaderboard_root() / board.benchmark / f"v{board.version}" / "README.md").read_text()
        page = (site / board.benchmark / f"v{board.version}" / "index.html").read_text()
        note = stochastic_note(board)
        if not names:
            assert note == "" and "Stochastic (" not in markdown and "Stochastic (" not in page
            continue
        seen += 1
        passes = load_protocol().benchmark(board.benchmark, board.version).stochastic.passes
        assert all(name in note for name in names) and f"all {passes} noisy forward passes" in note
        assert note in markdown and note in page
    assert seen >= 2  # mnist-linf v1 and cifar10-linf-1000 v3 hold one


def test_rows_that_carry_runs_of_a_result_without_recorded_code_say_so():
    from snnbench.leaderboard import UNRECORDED_CODE, _board_notes

    boards = find_boards(leaderboard_root())
    placed = {(b.benchmark, b.version, r.model): r for b in boards for r in b.results}
    noted = 0
    for board in boards:
        frame = board.frame().set_index("model")
        for result in board.results:
            label = next((a.reused for a in result.attacks if a.reused), None)
            expected = ()
            if label is not None:
                benchmark, version, _, flags = label.split()
                source = placed[benchmark, int(version[1:]), result.model]  # every carried run's source is on a board
                assert source.flags_sha256.startswith(flags)
                expected = (UNRECORDED_CODE,) if source.environment.source_sha256 is None else ()
                # The same rows, had the source recorded its code, carry no note.
                recorded = dataclasses.replace(source, environment=dataclasses.replace(
                    source.environment, source_sha256="0" * 64))
                assert _board_notes(result, {**placed, (benchmark, int(version[1:]), result.model): recorded}) == ()
            assert board.notes.get(result.model, ()) == expected, result.model
            assert (UNRECORDED_CODE in frame.loc[result.model, "reliability"]) == bool(expected)
            noted += bool(expected)
        assert (UNRECORDED_CODE in (leaderboard_root() / board.benchmark / f"v{board.version}" / "README.md")
                .read_text()) == any(board.notes.values())
    assert noted == sum(len(b.notes) for b in boards)
