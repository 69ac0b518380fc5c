"""The engine's ReviewDesk: decisions run off the loop and are published on the engine's EventBus
(real engine, tmux, git, sim agents)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import git
from engine_helpers import make_sup, run_to_end

from cortex_tui.engine.events import Event

TWO = """
[run]
name = "desk"
[defaults]
agent = "sim"
[[session]]
name = "good"
script = ["write good.txt g", "commit good: add file"]
[[session]]
name = "meh"
script = ["write meh.txt m", "commit meh: add file"]
"""


def test_decisions_are_published_on_the_bus(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, TWO, tmp_path)
    run_to_end(sup)
    seen: list[Event] = []
    sup.subscribe(seen.append)

    async def decide() -> None:
        await sup.review.approve("good")
        await sup.review.reject("meh", reason="not needed")

    asyncio.run(decide())
    decided = [(e.session, e.data["decision"]) for e in seen if e.kind == "review" and "decision" in e.data]
    assert decided == [("good", "approve"), ("meh", "reject")]
    assert git(git_repo, "log", "-1", "--format=%s", "main").strip() == "good: add file"
    assert "not needed" in next(e.data["detail"] for e in seen if e.data.get("decision") == "reject")
    # the library recorded them in events.jsonl once each (the bus event is not written a second time)
    lines = (git_repo / "coordination/runs/desk/events.jsonl").read_text().splitlines()
    assert sum('"decision":"approve"' in ln for ln in lines) == 1
