"""Review and Compare screens against real git: a run with real worktrees (test_review_support.Fleet), the
review library doing the work in thread workers, and a tiny host app pushing the screen."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_review_support import Fleet, commit_file, git
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from cortex_tui.bestof.compare import compare_run, load_comparison
from cortex_tui.engine.review_desk import ReviewDesk
from cortex_tui.model.state import TokenUsage
from cortex_tui.review.queue import ReviewQueue
from cortex_tui.ui.present.review import file_label, hunk_starts, render_diff, split_diff
from cortex_tui.ui.screens.compare import CompareScreen
from cortex_tui.ui.screens.confirm import ConfirmScreen
from cortex_tui.ui.screens.review import ReviewScreen
from cortex_tui.ui.screens.text_prompt import TextPromptScreen
from cortex_tui.ui.widgets.diff_view import DiffView
from cortex_tui.ui.widgets.file_list import FileList

SIZE = (120, 32)
SnapCompare = Callable[..., bool]
VERIFY = 'test -f ok.txt && echo "ok.txt present" || { echo "ok.txt missing"; exit 1; }'
PYTEST_VERIFY = 'test -f ok.txt && echo "2 passed in 0.01s" || { echo "1 passed, 1 failed in 0.02s"; exit 1; }'


class Host(App[None]):
    """Pushes one screen and records every notification."""

    def __init__(self, make: Callable[[], Screen[None]]) -> None:
        super().__init__()
        self.make = make
        self.notes: list[tuple[str, str]] = []

    def on_mount(self) -> None:
        self.push_screen(self.make())

    def notify(self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None,
               markup: bool = True) -> None:
        self.notes.append((message, str(severity)))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)


async def until(pilot: Pilot[None], pred: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        await pilot.pause(0.03)
    raise AssertionError(f"timed out waiting for {what or pred}")


def fleet(repo: Path, *, conflict: bool = True) -> Fleet:
    """alpha: ready (verify passes, in scope); beta: verify fails, one file out of scope; gamma: conflicts."""
    fl = Fleet(repo)
    t0 = 1_700_000_000.0
    wt = fl.add("alpha", scope=["src/**", "ok.txt"], verify=VERIFY)
    commit_file(wt, "ok.txt", "yes\n", "add ok.txt")
    commit_file(wt, "src/feature.py", "def feature():\n    return 1\n", "add feature")
    wt = fl.add("beta", scope=["src/**"], verify=VERIFY)
    commit_file(wt, "src/other.py", "x = 2\n", "add other")
    commit_file(wt, "docs/notes.md", "# notes\n", "wander into docs")
    if conflict:
        wt = fl.add("gamma", scope=["README.md"])
        commit_file(wt, "README.md", "# gamma's readme\n", "rewrite readme")
        commit_file(repo, "README.md", "# main moved on\n", "main edits readme")
    for i, name in enumerate(fl.state.sessions):
        fl.finish(name, finished_at=t0 + i)
    return fl


def review_app(fl: Fleet, send: Any = None, poll: float | None = None) -> Host:
    # no polling by default: tests count the screen's loads to know a decision's reload has landed
    return Host(lambda: ReviewScreen(ReviewDesk.offline(fl.repo, fl.state_dir, fl.run, send), fl.run,
                                     poll_interval=poll))


async def opened(pilot: Pilot[None]) -> ReviewScreen:
    screen = pilot.app.screen
    assert isinstance(screen, ReviewScreen)
    await until(pilot, lambda: screen.loaded and screen.current and screen.current in screen.diffs, what="queue")
    await pilot.pause(0.05)
    return screen


async def reloaded(pilot: Pilot[None], screen: ReviewScreen, after: int) -> None:
    await until(pilot, lambda: screen.loaded > after, what="queue reload")
    await pilot.pause(0.05)


def head(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", rev).strip()


# ---------------------------------------------------------------------------- pure presentation


def test_split_diff_by_file_and_hunks() -> None:
    diff = ("diff --git a/a b.py b/a b.py\nindex 1..2 100644\n--- a/a b.py\n+++ b/a b.py\n@@ -1 +1 @@\n-x\n+y\n"
            "@@ -9 +9 @@\n-z\n+w\ndiff --git a/c.txt b/c.txt\nnew file mode 100644\n--- /dev/null\n+++ b/c.txt\n"
            "@@ -0,0 +1 @@\n+hi\n")
    parts = split_diff(diff, ["a b.py", "c.txt"])
    assert list(parts) == ["a b.py", "c.txt"]
    assert parts["c.txt"].startswith("diff --git a/c.txt") and "+hi" in parts["c.txt"]
    assert hunk_starts(parts["a b.py"]) == (4, 7)
    rendered = render_diff(parts["a b.py"])
    assert rendered.text.plain.splitlines()[5] == "-x" and rendered.hunks == (4, 7)
    styles = {str(s.style) for s in rendered.text.spans if rendered.text.plain[s.start:s.end] == "+y"}
    assert any("green" in s for s in styles), styles  # Syntax highlighting, not plain text
    assert render_diff("", empty="nothing").text.plain == "nothing"
    cut = render_diff("\n".join(f"+{i}" for i in range(50)), max_lines=10)
    assert cut.truncated and cut.text.plain.endswith("40 more lines not shown")


# ---------------------------------------------------------------------------- review screen


async def test_queue_lists_ready_first_with_files_and_diff(git_repo: Path) -> None:
    fl = fleet(git_repo)
    app = review_app(fl)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        table = screen.table
        assert table.keys_in_order() == ["alpha", "beta", "gamma"]  # ready first, then by completion
        assert [table.cell_text(k, "verify") for k in ("alpha", "beta", "gamma")] == ["✓", "✗ 1", "–"]
        assert table.cell_text("alpha", "status") == "● ready"
        assert table.cell_text("gamma", "conflicts") == "1" and table.cell_text("alpha", "conflicts") == "0"
        assert table.cell_text("beta", "files") == "2 ⚠1"
        assert table.cell_text("alpha", "lines") == "+3 -0" and table.cell_text("alpha", "commits") == "2"
        # alpha selected: its files, the first file's diff, verify output and commits
        files = screen.query_one("#review-files", FileList)
        assert files.current_path == "ok.txt"
        diff = screen.query_one("#review-diff", DiffView)
        assert "+++ b/ok.txt" in diff.source and "feature" not in diff.source
        await pilot.press("tab", "down")  # into the file list, next file
        await until(pilot, lambda: "+++ b/src/feature.py" in diff.source, what="feature diff")
        assert "+    return 1" in diff.source and diff.hunks == (5,)  # new file: one more header line
        assert "ok.txt present" in str(screen.query_one("#review-verify").render())
        info = str(screen.query_one("#review-info").render())
        assert "add feature" in info and "add ok.txt" in info
        # beta: the out-of-scope file is marked; gamma: the conflicting path is named
        table.focus()
        await pilot.press("down")
        await until(pilot, lambda: screen.current == "beta" and "beta" in screen.diffs, what="beta")
        labels = [str(files.get_option_at_index(i).prompt) for i in range(files.option_count)]
        assert labels == [file_label(f, screen.palette).plain for f in screen.entries["beta"].files]
        assert any("docs/notes.md" in lb and "out of scope" in lb for lb in labels)
        assert not any("src/other.py" in lb and "out of scope" in lb for lb in labels)
        assert "ok.txt missing" in str(screen.query_one("#review-verify").render())
        await pilot.press("down")
        await until(pilot, lambda: screen.current == "gamma", what="gamma")
        assert "conflicts with the base (1)" in str(screen.query_one("#review-info").render())


async def test_approve_merges_into_the_base_after_confirmation(git_repo: Path) -> None:
    fl = fleet(git_repo, conflict=False)
    alpha = head(git_repo, fl.branch("alpha"))
    before = head(git_repo, "main")
    app = review_app(fl)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        assert screen.table.current_key == "alpha"
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("n")  # cancelled: nothing happens
        await pilot.pause(0.2)
        assert head(git_repo, "main") == before and fl.queue().get("alpha").status == "pending"
        n = screen.loaded
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await reloaded(pilot, screen, n)
        assert head(git_repo, "main") == alpha  # fast-forwarded in the main checkout
        assert (git_repo / "src" / "feature.py").read_text() == "def feature():\n    return 1\n"
        assert fl.queue().get("alpha").status == "approved"
        assert screen.table.cell_text("alpha", "status") == "✔ approved"
        assert screen.table.keys_in_order() == ["beta", "alpha"]  # decided entries go last
        assert any("approved alpha: fast-forward" in m for m, _ in app.notes)
        # the merged entry still shows what was approved (its recorded merge-base..head), not an empty diff
        screen.table.focus_key("alpha")
        await until(pilot, lambda: screen.current == "alpha" and "+yes" in screen.diff_view.source,
                    what="approved diff")
        assert "ok.txt" in screen.diff_view.source


async def test_squash_toggle_makes_one_commit(git_repo: Path) -> None:
    fl = fleet(git_repo, conflict=False)
    before = head(git_repo, "main")
    app = review_app(fl)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await pilot.press("s")
        assert screen.squash and "squash on" in str(screen.query_one("#review-title").render())
        n = screen.loaded
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await reloaded(pilot, screen, n)
    new = head(git_repo, "main")
    assert new != head(git_repo, fl.branch("alpha"))
    assert git(git_repo, "rev-list", "--parents", "-n1", new).split()[1:] == [before]  # one commit on top
    assert git(git_repo, "show", f"{new}:ok.txt") == "yes\n"


async def test_approve_refusal_reason_is_an_error_notification(git_repo: Path) -> None:
    fl = fleet(git_repo, conflict=False)
    (git_repo / "README.md").write_text("edited by the user, not committed\n")  # dirty base checkout
    before = head(git_repo, "main")
    app = review_app(fl)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await until(pilot, lambda: any(sev == "error" for _, sev in app.notes), what="refusal")
    errors = [m for m, sev in app.notes if sev == "error"]
    assert "uncommitted changes" in errors[0] and "README.md" in errors[0]
    assert head(git_repo, "main") == before and fl.queue().get("alpha").status == "pending"


async def test_reject_keeps_the_branch_under_a_ref(git_repo: Path) -> None:
    fl = fleet(git_repo, conflict=False)
    app = review_app(fl)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await pilot.press("down")  # beta
        await until(pilot, lambda: screen.current == "beta", what="beta")
        n = screen.loaded
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="prompt")
        await pilot.press(*"out of scope")
        await pilot.press("enter")
        await reloaded(pilot, screen, n)
        assert screen.table.cell_text("beta", "status") == "✖ rejected"
    ref = "refs/cortex/rejected/r1/beta"
    assert head(git_repo, ref) == head(git_repo, fl.branch("beta"))
    assert fl.queue().get("beta").status == "rejected"
    ev = fl.events("review")[-1]
    assert ev["session"] == "beta" and str(ev["data"]["detail"]).endswith(": out of scope")  # type: ignore[index]


async def test_request_changes_sends_the_typed_text(git_repo: Path) -> None:
    fl = fleet(git_repo, conflict=False)
    sent: list[tuple[str, str]] = []

    async def send(name: str, text: str) -> None:
        sent.append((name, text))

    app = review_app(fl, send)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="prompt")
        await pilot.press("enter")  # empty text is refused, the prompt stays
        await pilot.pause(0.1)
        assert isinstance(app.screen, TextPromptScreen) and sent == []
        n = screen.loaded
        await pilot.press(*"please add tests")
        await pilot.press("enter")
        await reloaded(pilot, screen, n)
        assert sent == [("alpha", "please add tests")]
        assert screen.table.cell_text("alpha", "status") == "↺ changes"
    e = fl.queue().get("alpha")
    assert e.status == "changes_requested" and e.decisions[-1].detail == "please add tests"


async def test_request_changes_without_a_supervisor_says_so(git_repo: Path) -> None:
    fl = fleet(git_repo, conflict=False)
    app = review_app(fl, None)
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        await pilot.press("c")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, TextPromptScreen)
    assert any(sev == "error" and "review request-changes alpha" in m for m, sev in app.notes)
    assert fl.queue().get("alpha").status == "pending"


async def test_reverify_updates_the_verify_column(git_repo: Path) -> None:
    fl = fleet(git_repo, conflict=False)
    app = review_app(fl)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await pilot.press("down")
        await until(pilot, lambda: screen.current == "beta", what="beta")
        assert screen.table.cell_text("beta", "verify") == "✗ 1"
        (fl.worktree("beta") / "ok.txt").write_text("now it exists\n")
        n = screen.loaded
        await pilot.press("v")
        await reloaded(pilot, screen, n)
        await until(pilot, lambda: screen.table.cell_text("beta", "verify") == "✓", what="verify ✓")
        assert screen.table.cell_text("beta", "status") == "● ready"
        assert "ok.txt present" in str(screen.query_one("#review-verify").render())
    assert fl.queue().get("beta").verify.exit_code == 0  # type: ignore[union-attr]


async def test_reverify_and_shell_refusals(git_repo: Path) -> None:
    fl = fleet(git_repo)
    app = review_app(fl)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        await pilot.press("exclamation_mark")  # headless: no terminal to hand over
        await until(pilot, lambda: any("needs a real terminal" in m for m, _ in app.notes), what="shell note")
        assert any(str(fl.worktree("alpha")) in m for m, _ in app.notes)
        await pilot.press("down", "down")
        await until(pilot, lambda: screen.current == "gamma", what="gamma")
        await pilot.press("v")  # gamma has no verify command
        await pilot.pause(0.1)
        assert any(sev == "error" and "gamma has no verify command" in m for m, sev in app.notes)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ReviewScreen), what="back")


async def test_new_entries_appear_while_the_screen_is_open(git_repo: Path) -> None:
    fl = fleet(git_repo, conflict=False)
    wt = fl.add("delta", scope=["src/**"])
    commit_file(wt, "src/delta.py", "d = 4\n")
    app = review_app(fl, poll=0.1)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        assert screen.table.keys_in_order() == ["alpha", "beta"]
        fl.finish("delta", finished_at=1_800_000_000.0)  # the engine queues a session that just finished
        await until(pilot, lambda: "delta" in screen.table.keys_in_order(), what="delta row")
        assert screen.table.keys_in_order() == ["alpha", "delta", "beta"]  # ready (no verify) before beta
        assert screen.table.current_key == "alpha" and screen.table.cell_text("delta", "verify") == "–"


async def test_engine_review_event_reloads_the_open_review_screen(git_repo: Path) -> None:
    """No polling: the app routes the engine's "review" event to the Review screen, which reloads."""
    from synthetic_engine import SyntheticEngine

    from cortex_tui.ui.app import CortexApp

    fl = fleet(git_repo, conflict=False)
    wt = fl.add("delta", scope=["src/**"])
    commit_file(wt, "src/delta.py", "d = 4\n")
    eng = SyntheticEngine(3, run_id=fl.run)
    eng.review = ReviewDesk.offline(fl.repo, fl.state_dir, fl.run)  # type: ignore[attr-defined]
    app = CortexApp(eng, ticking=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("V")
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen.loaded >= 1, what="review")
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and screen.poll_interval and screen.poll_interval >= 10
        assert screen.table.keys_in_order() == ["alpha", "beta"]
        fl.finish("delta", finished_at=1_800_000_000.0)
        await pilot.pause(0.3)
        assert "delta" not in screen.table.keys_in_order()  # nothing told the screen yet
        eng.publish("review", "delta", status="ready", conflicts=0, verify=None, files=1)
        await until(pilot, lambda: "delta" in screen.table.keys_in_order(), timeout=5, what="delta row")


async def test_diff_view_jumps_between_hunks(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("long", scope=["src/**"])
    commit_file(wt, "src/long.py", "".join(f"line {i}\n" for i in range(200)))
    commit_file(wt, "src/long.py", "".join(f"line {i}{' changed' if i < 40 or i == 150 else ''}\n" for i in range(200)))
    fl.finish("long")
    git(git_repo, "merge", "-q", "--ff-only", "cortex/r1/long~1")  # base has the file; two far-apart hunks left
    fl.queue().refresh()
    app = review_app(fl)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        diff = screen.diff_view
        assert len(diff.hunks) == 2 and diff.scroll_y == 0
        await pilot.press("right_square_bracket", "right_square_bracket")
        await pilot.pause(0.05)
        assert diff.hunk == 1 and diff.scroll_y > 0
        await pilot.press("left_square_bracket")
        await pilot.pause(0.05)
        assert diff.hunk == 0 and diff.scroll_y == diff.hunks[0]


# ---------------------------------------------------------------------------- compare screen


def bestof_fleet(repo: Path) -> Fleet:
    """A compared best-of run built from real worktrees: variant-3 passes in scope, variant-1 passes but
    wanders out of scope, variant-2 fails verify → ranking 3, 1, 2."""
    fl = Fleet(repo, run="bo")
    specs = {
        "variant-1": [("ok.txt", "yes\n"), ("src/feature.py", "x = 1\n"), ("docs/wander.md", "notes\n")],
        "variant-2": [("src/feature.py", "x = 2\n")],
        "variant-3": [("ok.txt", "yes\n"), ("src/feature.py", "x = 3\n")],
    }
    for name, files in specs.items():
        wt = fl.add(name, scope=["ok.txt", "src/**"], verify=PYTEST_VERIFY)
        for rel, content in files:
            commit_file(wt, rel, content, f"{name}: {rel}")
    t0 = 1_700_000_000.0
    for i, name in enumerate(specs):
        rec = fl.state.sessions[name]
        rec.exit_code = 0  # a clean exit: verify decides
        rec.started_at = t0 - 60 * (i + 2)
        rec.tokens = TokenUsage(input=1000 * (i + 1), output=250)
        rec.cost_usd = 0.01 * (i + 1)
        fl.finish(name, finished_at=t0 + i)
    cmp = compare_run(repo, fl.state_dir, "bo")
    assert cmp.ranking == ["variant-3", "variant-1", "variant-2"]
    return fl


async def compare_opened(pilot: Pilot[None]) -> CompareScreen:
    screen = pilot.app.screen
    assert isinstance(screen, CompareScreen)
    await until(pilot, lambda: screen.loaded and screen.current in screen.diffs, what="comparison")
    await pilot.pause(0.05)
    return screen


async def test_compare_real_best_of_ranking_and_pick_winner(git_repo: Path, tmp_path: Path) -> None:
    from test_bestof import best_of

    code, _out, rep = best_of(git_repo, tmp_path, "bo")
    assert code == 0 and rep["ranking"] == ["variant-3", "variant-1", "variant-2"]
    state_dir = git_repo / "coordination"
    app = Host(lambda: CompareScreen(ReviewDesk.offline(git_repo, state_dir, "bo"), "bo"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await compare_opened(pilot)
        table = screen.table
        assert table.keys_in_order() == ["variant-3", "variant-1", "variant-2"]
        assert [table.cell_text(k, "rank") for k in table.keys_in_order()] == ["1 ★", "2", "3"]
        assert table.cell_text("variant-2", "verify") == "✗ fail"
        assert table.cell_text("variant-2", "tests") == "1✓ 1✗"
        assert table.cell_text("variant-1", "scope") == "1" and table.cell_text("variant-3", "scope") == "0"
        assert table.cell_text("variant-3", "tokens") == "1.2k"
        assert "+++ b/src/feature.py" in screen.diff_view.source and "+x = 3" in screen.diff_view.source
        assert "2 passed" in str(screen.query_one("#compare-verify").render())
        await pilot.press("down")
        await until(pilot, lambda: screen.current == "variant-1" and "variant-1" in screen.diffs, what="v1")
        assert "+++ b/docs/wander.md" in screen.diff_view.source
        assert "out of scope: docs/wander.md" in str(screen.query_one("#compare-info").render())
        n = screen.loaded
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await until(pilot, lambda: screen.loaded > n, what="reload")
        await pilot.pause(0.05)
        assert [table.cell_text(k, "rank") for k in table.keys_in_order()] == ["1", "2 ★", "3"]
        assert "review queue: pending" in str(screen.query_one("#compare-info").render())
    cmp = load_comparison(git_repo, state_dir, "bo")
    assert cmp is not None and cmp.winner == "variant-1" and cmp.chosen_by != "ranking"
    statuses = {e.session: e.status for e in ReviewQueue.open(git_repo, state_dir, "bo").entries()}
    assert statuses == {"variant-1": "pending", "variant-3": "rejected", "variant-2": "rejected"}
    assert head(git_repo, "refs/cortex/bestof/bo/variant-3") == head(git_repo, "cortex/bo/variant-3")


async def test_compare_pick_winner_on_a_prepared_run(git_repo: Path) -> None:
    fl = bestof_fleet(git_repo)
    app = Host(lambda: CompareScreen(ReviewDesk.offline(git_repo, fl.state_dir, "bo"), "bo"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await compare_opened(pilot)
        assert screen.table.keys_in_order() == ["variant-3", "variant-1", "variant-2"]
        await pilot.press("w")  # already the winner: nothing to confirm
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("down", "down")
        await until(pilot, lambda: screen.current == "variant-2", what="v2")
        n = screen.loaded
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        assert "did not pass verify" in str(app.screen.query_one(".rv-modal-body").render())
        await pilot.press("y")
        await until(pilot, lambda: screen.loaded > n, what="reload")
        assert screen.table.cell_text("variant-2", "rank") == "3 ★"
    cmp = load_comparison(git_repo, fl.state_dir, "bo")
    assert cmp is not None and cmp.winner == "variant-2"
    assert fl.queue().get("variant-2").status == "pending" and fl.queue().get("variant-3").status == "rejected"


async def test_compare_without_a_comparison(git_repo: Path) -> None:
    fl = fleet(git_repo, conflict=False)
    app = Host(lambda: CompareScreen(ReviewDesk.offline(git_repo, fl.state_dir, fl.run), fl.run))
    async with app.run_test(size=SIZE) as pilot:
        screen = pilot.app.screen
        assert isinstance(screen, CompareScreen)
        await until(pilot, lambda: screen.loaded, what="load")
        assert screen.table.row_count == 0
        assert "not compared yet" in str(screen.query_one("#compare-title").render())
        await pilot.press("w")
        await pilot.pause(0.05)
    assert any("nothing to pick" in m for m, _ in app.notes)


# ---------------------------------------------------------------------------- snapshots


@pytest.fixture
def pinned_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(var, "2024-01-01T00:00:00+0000")


def test_review_screen_snapshot(git_repo: Path, pinned_dates: None, snap_compare: SnapCompare) -> None:
    fl = fleet(git_repo)

    async def settle(pilot: Pilot[None]) -> None:
        await opened(pilot)
        await pilot.pause(0.2)

    assert snap_compare(review_app(fl), terminal_size=SIZE, run_before=settle)


def test_compare_screen_snapshot(git_repo: Path, pinned_dates: None, snap_compare: SnapCompare) -> None:
    fl = bestof_fleet(git_repo)

    async def settle(pilot: Pilot[None]) -> None:
        await compare_opened(pilot)
        await pilot.pause(0.2)

    desk = ReviewDesk.offline(git_repo, fl.state_dir, "bo")
    assert snap_compare(Host(lambda: CompareScreen(desk, "bo")), terminal_size=SIZE, run_before=settle)



async def test_a_session_with_no_commits_shows_no_changes_and_is_not_counted(git_repo: Path) -> None:
    """#13 item 26: a 0-commit branch is "no changes", not "ready", and not one of the branches to review."""
    fl = fleet(git_repo, conflict=False)  # alpha ready, beta failing verify
    fl.add("idle-one", verify=None)  # finishes without committing anything
    fl.finish("idle-one", finished_at=1_700_000_100.0)
    app = review_app(fl)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot)
        title = str(screen.query_one("#review-title").render())
        assert "2 awaiting (1 ready)" in title and "1 with no changes" in title, title
        tbl = screen.table
        assert tbl.keys_in_order()[-1] == "idle-one"  # after every branch with changes
        assert tbl.cell_text("idle-one", "status") == "∅ no changes"
        assert tbl.cell_text("alpha", "status") == "● ready"
        tbl.focus_key("idle-one")
        await until(pilot, lambda: screen.current == "idle-one", what="idle-one selected")
        assert "no changes" in str(screen.query_one("#review-info").render())
        await pilot.press("a")
        await until(pilot, lambda: any("nothing to merge" in m for m, _ in app.notes), what="approve refused")
        assert not isinstance(app.screen, ConfirmScreen)
