"""An MCP server over stdio (the official ``mcp`` SDK) so a lead agent can supervise a fleet: it speaks to the
run's supervisor through the local API, so every action takes the engine's own path and is an event with
origin ``mcp``. Register it with Claude Code: ``claude mcp add cortex -- cortex-tui mcp --repo R``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from cortex_tui.api.client import ApiClient
from cortex_tui.errors import CortexError

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
ACT = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False,
                              open_world_hint=False)
DESTRUCTIVE_TOOLS = ("stop_session", "review_decide", "integration_approve")


def needs_attention(s: dict[str, Any]) -> list[str]:
    """Why a session needs a human, from its status entry (empty: it does not)."""
    why = []
    if s["state"] == "waiting":
        why.append("waiting for approval")
    if s["state"] == "idle":
        why.append("idle: finished its turn, waiting for the next instruction")
    for t in s["triggers"]:
        if t["active"] and t["kind"] != "approval_waiting":
            why.append(f"trigger {t['kind']}")
    return why


def _brief(s: dict[str, Any]) -> dict[str, Any]:
    return {"name": s["name"], "state": s["state"], "agent": s["agent"], "node": s["node"], "branch": s["branch"],
            "reason": s["reason"], "active_triggers": [t["kind"] for t in s["triggers"] if t["active"]],
            "tokens": (s["tokens"] or {}).get("total"), "cost_usd": s["cost_usd"], "exit_code": s["exit_code"]}


def build_server(socket: Path, *, destructive: bool = True) -> MCPServer:
    mcp = MCPServer("cortex-tui", instructions=(
        "Supervise a cortex-tui run: list sessions, wait until one needs a human, then approve/deny its prompt "
        "(explicitly — never a blind Enter), send it text, or decide its review entry."))

    async def call(method: str, path: str, body: dict[str, Any] | None = None, **params: str) -> Any:
        try:
            async with ApiClient(socket, origin="mcp") as c:
                return await c.request(method, path, body, params or None)
        except CortexError as e:
            raise ToolError(e.message + (f" (hint: {e.hint})" if e.hint else "")) from e

    @mcp.tool(annotations=READ)
    async def list_sessions() -> list[dict[str, Any]]:
        """Every session of the run: state, agent, node, branch, active triggers, tokens, cost."""
        st = await call("GET", "/v1/status")
        return [_brief(s) for s in st["sessions"]]

    @mcp.tool(annotations=READ)
    async def session_detail(session: str) -> dict[str, Any]:
        """One session in full: every trigger with its evidence (prompt text, error lines, paths), usage, files."""
        detail: dict[str, Any] = await call("GET", f"/v1/sessions/{session}")
        return detail

    @mcp.tool(annotations=READ)
    async def wait_for_attention(timeout_s: float = 60.0) -> dict[str, Any]:
        """Block until some session needs a human (approval prompt, idle after its turn, silence, repeated error,
        out of scope, budget…) or ``timeout_s`` passes. Returns the sessions that need attention and why."""
        end = time.monotonic() + max(0.0, min(timeout_s, 3600.0))
        while True:
            st = await call("GET", "/v1/status")
            hits = [{**_brief(s), "why": w} for s in st["sessions"] if (w := needs_attention(s))]
            if hits or time.monotonic() >= end:
                return {"sessions": hits, "timed_out": not hits}
            await asyncio.sleep(0.25)

    @mcp.tool(annotations=ACT)
    async def approve(session: str) -> dict[str, Any]:
        """Answer the session's approval prompt with yes. Refused (an error) when it is not waiting."""
        result: dict[str, Any] = await call("POST", f"/v1/sessions/{session}/approve")
        return result

    @mcp.tool(annotations=ACT)
    async def deny(session: str) -> dict[str, Any]:
        """Answer the session's approval prompt with no. Refused (an error) when it is not waiting."""
        result: dict[str, Any] = await call("POST", f"/v1/sessions/{session}/deny")
        return result

    @mcp.tool(annotations=ACT)
    async def send(session: str, text: str) -> dict[str, Any]:
        """Type ``text`` into the session (literally), then Enter: the next instruction for an idle agent."""
        result: dict[str, Any] = await call("POST", f"/v1/sessions/{session}/send", {"text": text})
        return result

    @mcp.tool(annotations=ACT)
    async def add_task(prompt: str, name: str = "", agent: str = "", model: str = "",
                       scope: list[str] | None = None, depends_on: list[str] | None = None) -> dict[str, Any]:
        """Add a task to the live run: a new session (its own worktree and branch) started as capacity and its
        dependencies allow. Empty fields take the layout's defaults."""
        body: dict[str, Any] = {"prompt": prompt}
        for key, value in (("name", name), ("agent", agent), ("model", model)):
            if value:
                body[key] = value
        if scope:
            body["scope"] = scope
        if depends_on:
            body["depends_on"] = depends_on
        result: dict[str, Any] = await call("POST", "/v1/tasks", body)
        return result

    @mcp.tool(annotations=READ)
    async def queue() -> dict[str, Any]:
        """The task queue: pending tasks and why each waits (a free slot, a route's limit, a node's memory…),
        running, done, counts per label (type), the pool's size/min/max and its warm slots."""
        result: dict[str, Any] = await call("GET", "/v1/queue")
        return result

    @mcp.tool(annotations=READ)
    async def review_list() -> list[dict[str, Any]]:
        """The review queue: finished branches with verify result, conflicts, files and commits."""
        entries: list[dict[str, Any]] = await call("GET", "/v1/review")
        return entries

    @mcp.tool(annotations=READ)
    async def integration() -> dict[str, Any] | None:
        """The run's integration entry (the gate's last result): members merged in order, branches left out
        (conflicting), conflicting pairs, the verify verdict, the smallest failing set, and why it is stale."""
        entry: dict[str, Any] | None = await call("GET", "/v1/integration")
        return entry

    @mcp.tool(annotations=ACT)
    async def integrate(sessions: list[str] | None = None, verify: str = "") -> dict[str, Any]:
        """Run the integration gate: merge the finished branches (default: every entry awaiting a decision) in a
        scratch worktree, run verify on the combination, find the failing set. The base is not touched."""
        body: dict[str, Any] = {}
        if sessions:
            body["sessions"] = sessions
        if verify:
            body["verify"] = verify
        result: dict[str, Any] = await call("POST", "/v1/integration", body)
        return result

    if destructive:
        @mcp.tool(annotations=DESTRUCTIVE)
        async def integration_approve() -> dict[str, Any]:
            """Move the base to the kept, passing integration (a backup ref is kept first)."""
            result: dict[str, Any] = await call("POST", "/v1/integration/approve")
            return result

        @mcp.tool(annotations=DESTRUCTIVE)
        async def stop_session(session: str) -> dict[str, Any]:
            """Stop the session's agent (its worktree and branch stay)."""
            result: dict[str, Any] = await call("POST", f"/v1/sessions/{session}/stop")
            return result

        @mcp.tool(annotations=DESTRUCTIVE)
        async def review_decide(session: str, decision: Literal["approve", "reject", "request_changes"],
                                message: str = "") -> dict[str, Any]:
            """Decide a review entry: ``approve`` merges its branch into the base, ``reject`` keeps its head under
            refs/cortex/rejected/…, ``request_changes`` sends ``message`` to the session."""
            path = f"/v1/review/{session}/{decision.replace('_', '-')}"
            body = {"message": message} if decision == "request_changes" else {"reason": message}
            result: dict[str, Any] = await call("POST", path, body)
            return result

    @mcp.resource("cortex://status", mime_type="application/json")
    async def status() -> str:
        """The run's status (the shape of ``cortex-tui status --json``)."""
        import json

        return json.dumps(await call("GET", "/v1/status"), default=str)

    @mcp.resource("cortex://sessions/{session}/output", mime_type="text/plain")
    async def output(session: str) -> str:
        """The session's screen: its recent output as plain text."""
        data = await call("GET", f"/v1/sessions/{session}/screen", lines="80")
        return str(data["screen"])

    return mcp
