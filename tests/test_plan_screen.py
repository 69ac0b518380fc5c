"""The plan screen (ui/screens/plan.py) through Textual's Pilot, and a snapshot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_planner import APP, GOOD, make_repo
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, TextArea

from cortex_tui.layout import parse_layout
from cortex_tui.planner.checks import Limits, check_plan
from cortex_tui.planner.draft import Draft
from cortex_tui.planner.render import Meta
from cortex_tui.planner.schema import parse_plan
from cortex_tui.ui.screens.plan import PlanApp

SnapCompare = Callable[..., bool]


def make_draft(repo: Path) -> Draft:
    plan, errors = parse_plan(GOOD)
    assert plan is not None and not errors
    checked = check_plan(plan, Limits(), None)
    meta = Meta(goal="add a /health endpoint with tests and docs", model="claude-sonnet-4-5", run_name="plan-health",
                base="main", planning_line="planning: 1 request(s)", planning_usd=0.01, budget_usd=5.0)
    return Draft(checked.plan, checked.fixes, meta, repo / "layouts" / "plan.toml", repo)


@pytest.fixture
def draft(tmp_path: Path) -> Draft:
    return make_draft(make_repo(tmp_path / "shop", APP))


def status(app: PlanApp) -> str:
    return str(app.query_one("#plan-status", Static).render())


async def select(pilot: Pilot[tuple[str, str] | None], name: str) -> None:
    table = pilot.app.query_one(DataTable)
    table.move_cursor(row=table.get_row_index(name))
    await pilot.pause()
    assert isinstance(pilot.app, PlanApp) and pilot.app.selected == name


async def test_edit_scope_into_overlap_warns_then_save_returns_the_edited_layout(draft: Draft) -> None:
    app = PlanApp(draft)
    async with app.run_test(size=(120, 32)) as pilot:
        assert "valid; parallel sessions pass the independence test" in status(app)
        await select(pilot, "docs")
        app.query_one("#plan-scope", Input).value = "docs/**, src/shop/routes.py"
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert "warning:" in status(app) and "'health' and 'docs' may run at the same time" in status(app)
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.return_value is not None
    how, text = app.return_value
    assert how == "save"
    docs = parse_layout(text, draft.path).layout.session_by_name("docs")
    assert docs.scope == ["docs/**", "src/shop/routes.py"]


async def test_unknown_model_is_refused_and_start_waits_for_a_fix(draft: Draft) -> None:
    app = PlanApp(draft)
    async with app.run_test(size=(120, 32)) as pilot:
        app.query_one("#plan-model", Input).value = "gpt-99"
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.return_value is None and app.is_running
        assert "unknown model 'gpt-99'" in status(app)
        app.query_one("#plan-model", Input).value = "claude-haiku-4-5"
        await pilot.press("ctrl+r")
        await pilot.pause()
    assert app.return_value is not None and app.return_value[0] == "start"
    health = parse_layout(app.return_value[1], draft.path).layout.session_by_name("health")
    assert health.model == "claude-haiku-4-5"


async def test_prompt_edit_survives_moving_to_another_task(draft: Draft) -> None:
    app = PlanApp(draft)
    async with app.run_test(size=(120, 32)) as pilot:
        app.query_one("#plan-prompt", TextArea).text = 'Only add GET /health returning {"ok": true}.'
        await select(pilot, "docs")
        assert app.query_one("#plan-prompt", TextArea).text.startswith("Goal: Document GET /health")
        await select(pilot, "health")
        assert app.query_one("#plan-prompt", TextArea).text == 'Only add GET /health returning {"ok": true}.'
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.return_value is not None
    health = parse_layout(app.return_value[1], draft.path).layout.session_by_name("health")
    assert health.prompt == 'Only add GET /health returning {"ok": true}.'


async def test_escape_quits_without_a_layout(draft: Draft) -> None:
    app = PlanApp(draft)
    async with app.run_test(size=(120, 32)) as pilot:
        await pilot.press("escape")
        await pilot.pause()
    assert app.return_value is None


def test_plan_screen_snapshot(tmp_path: Path, snap_compare: SnapCompare) -> None:
    repo = make_repo(tmp_path / "shop", APP)  # the path is not on screen
    assert snap_compare(PlanApp(make_draft(repo)), terminal_size=(120, 32))
