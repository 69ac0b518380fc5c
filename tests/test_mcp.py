"""The MCP server, driven by the official SDK's own stdio client against a live detached sim run."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from conftest import git, wait_until
from engine_helpers import cli, status_json
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from registry_runs import registry_layout

LAYOUT = """
[run]
name = "mcp"
[defaults]
agent = "sim"
[[session]]
name = "asker"
script = ["say starting", "ask Drop the old table?", "say dropped", "commit drop"]
[[session]]
name = "other"
script = ["say busy", "sleep 30"]
"""


def params(repo: Path, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "cortex_tui.cli", "mcp", "--repo", str(repo),
                                                               *extra], env=dict(os.environ))


def text_of(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def test_a_lead_agent_waits_for_attention_then_approves(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "mcp.toml"
    layout.write_text(LAYOUT)
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    try:
        async def lead() -> dict[str, Any]:
            async with stdio_client(params(git_repo)) as (read, write), ClientSession(read, write) as s:
                await s.initialize()
                tools = {t.name: t for t in (await s.list_tools()).tools}
                assert {"list_sessions", "session_detail", "wait_for_attention", "approve", "deny", "send",
                        "review_list", "review_decide", "stop_session"} <= set(tools)
                assert tools["review_decide"].annotations is not None
                assert tools["review_decide"].annotations.destructive_hint is True
                assert tools["list_sessions"].annotations is not None
                assert tools["list_sessions"].annotations.read_only_hint is True
                got = await s.call_tool("wait_for_attention", {"timeout_s": 30})
                attention = json.loads(text_of(got))
                assert [x["name"] for x in attention["sessions"]] == ["asker"], attention
                assert attention["sessions"][0]["why"] == ["waiting for approval"]
                detail = json.loads(text_of(await s.call_tool("session_detail", {"session": "asker"})))
                assert any(t["evidence"].get("prompt", "").find("Drop the old table?") >= 0
                           for t in detail["triggers"])
                refused = await s.call_tool("approve", {"session": "other"})
                assert refused.is_error and "not waiting" in text_of(refused)
                done = await s.call_tool("approve", {"session": "asker"})
                assert not done.is_error, text_of(done)
                out = await s.read_resource("cortex://sessions/asker/output")
                screen = "".join(getattr(c, "text", "") for c in out.contents)
                return {"screen": screen}

        res = asyncio.run(lead())
        assert "Drop the old table?" in res["screen"]
        wait_until(lambda: {s["name"]: s["state"] for s in status_json(git_repo)["sessions"]}["asker"] == "finished",
                   timeout=60, what="asker finished after the MCP approve")
        events = [json.loads(x) for x in (git_repo / "coordination/runs/mcp/events.jsonl").read_text().splitlines()]
        assert [(e["session"], e["data"]["origin"]) for e in events
                if e["kind"] == "action" and e["data"]["action"] == "approve"] == [("asker", "mcp")]
    finally:
        cli("down", "--repo", str(git_repo), check=False)


def test_destructive_tools_can_be_turned_off(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "mcp.toml"
    layout.write_text(LAYOUT.replace('"ask Drop the old table?", ', ""))
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    try:
        async def names() -> set[str]:
            async with stdio_client(params(git_repo, "--no-destructive")) as (r, w), ClientSession(r, w) as s:
                await s.initialize()
                return {t.name for t in (await s.list_tools()).tools}

        got = asyncio.run(names())
        assert "approve" in got and "stop_session" not in got and "review_decide" not in got
    finally:
        cli("down", "--repo", str(git_repo), check=False)


GATE = registry_layout("gate", tail='[[session]]\nname = "keeper"\nscript = ["say keeps the run supervised", "sleep 300"]\n')


def test_a_lead_agent_runs_the_integration_gate_and_lands_only_a_passing_combination(git_repo: Path,
                                                                                      tmp_path: Path) -> None:
    layout = tmp_path / "gate.toml"
    layout.write_text(GATE)
    old = git(git_repo, "rev-parse", "main").strip()
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    try:
        wait_until(lambda: all(s["state"] == "finished" for s in status_json(git_repo)["sessions"]
                               if s["name"] != "keeper"), timeout=90, what="a, b and c finished")

        async def lead() -> tuple[dict[str, Any], str, dict[str, Any], dict[str, Any]]:
            async with stdio_client(params(git_repo)) as (read, write), ClientSession(read, write) as s:
                await s.initialize()
                tools = {t.name: t for t in (await s.list_tools()).tools}
                assert tools["integration"].annotations is not None
                assert tools["integration"].annotations.read_only_hint is True
                assert tools["integration_approve"].annotations is not None
                assert tools["integration_approve"].annotations.destructive_hint is True
                none = await s.call_tool("integration", {})
                assert not none.is_error and text_of(none) in ("", "null"), text_of(none)
                bad = json.loads(text_of(await s.call_tool("integrate", {})))
                refused = await s.call_tool("integration_approve", {})
                assert refused.is_error
                good = json.loads(text_of(await s.call_tool("integrate", {"sessions": ["a", "b"]})))
                kept = json.loads(text_of(await s.call_tool("integration", {})))
                done = await s.call_tool("integration_approve", {})
                assert not done.is_error, text_of(done)
                return bad, text_of(refused), good, kept

        bad, refused, good, kept = asyncio.run(lead())
        assert bad["ok"] is False and bad["failing_set"] == ["a", "c"], bad  # each passed alone; a + c do not
        assert "did not pass" in refused
        assert good["ok"] is True and good["order"] == ["a", "b"] and kept["commit"] == good["commit"]
        assert git(git_repo, "rev-parse", "main").strip() == good["commit"] != old
        assert (git_repo / "registry" / "a.txt").is_file() and not (git_repo / "registry" / "c.txt").exists()
    finally:
        cli("down", "--repo", str(git_repo), check=False)
