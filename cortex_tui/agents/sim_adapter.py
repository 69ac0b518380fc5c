"""Adapter for the bundled sim agent (the runner itself is :mod:`cortex_tui.agents.sim`)."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass

from cortex_tui.agents.base import AgentAdapter, SpawnContext
from cortex_tui.agents.sim import ASK_SUFFIX
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.selfpath import child_pythonpath


@dataclass
class SimAdapter(AgentAdapter):
    def command(self, session: ResolvedSession, ctx: SpawnContext) -> list[str]:
        if session.command:
            return ["/bin/sh", "-c", session.command]
        return [sys.executable, "-m", "cortex_tui.agents.sim", "--script-file",
                str(ctx.session_dir / "script.json"), f"--name={session.name}", *session.extra_args]

    def env(self, session: ResolvedSession, ctx: SpawnContext) -> dict[str, str]:
        env = {"CORTEX_MODEL": session.model or "sim-1"}
        if not session.command:
            env["PYTHONPATH"] = child_pythonpath(session.env.get("PYTHONPATH"))
        return env

    def prepare(self, session: ResolvedSession, ctx: SpawnContext) -> None:
        (ctx.session_dir / "script.json").write_text(json.dumps(session.script or []), encoding="utf-8")


def make() -> AgentAdapter:
    return SimAdapter(
        kind="sim",
        approval_patterns=[re.compile(r"^\? .*" + re.escape(ASK_SUFFIX) + r"\s*$")],
        exposes_usage=True,
    )
