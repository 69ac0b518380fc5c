"""Each agent in a bubblewrap sandbox, on whatever node places the session (node kind ``bwrap``;
docs/isolation.md).

:class:`SandboxNode` *wraps* a node — this machine's :class:`~cortex_tui.backends.local_node.LocalNode` or an
ssh node — and is a :class:`~cortex_tui.backends.node.Node` itself: everything is the inner node's (worktrees,
windows, the exit wrapper outside the sandbox, so the exit code is written even though the run directory is
read-only inside) but the agent's command line, which it hands to the inner node's spawn as
:attr:`~cortex_tui.backends.node.SpawnRequest.wrap`. On this machine the jail is computed here
(:mod:`cortex_tui.backends.sandbox`); on an ssh node the same module is run there by the node's python, which
computes the jail from the node's own filesystem and execs bwrap (:mod:`cortex_tui.backends.sandbox_remote`).
A sandbox that cannot be made fails the spawn: the agent never runs without it.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from cortex_tui.agents.base import AgentAdapter, KeyInput, SpawnContext
from cortex_tui.backends.local_node import LocalNode
from cortex_tui.backends.node import FinalLook, Node, NodeContext, SessionPaths, SpawnRequest, register
from cortex_tui.backends.sandbox import INSTALL_HINT, bwrap_argv, jail_for, probe
from cortex_tui.backends.sandbox_proxy import PROXY_PORT, SOCKET, socket_dir
from cortex_tui.backends.sandbox_remote import NodeJail
from cortex_tui.backends.sandbox_state import prepare_state
from cortex_tui.backends.tmux import Tmux, WindowInfo
from cortex_tui.errors import CortexError, PrerequisiteError
from cortex_tui.model.state import SessionRecord

log = logging.getLogger("cortex_tui.backends")


class SandboxNode:
    """The sessions of ``inner`` (a node), each agent inside ``bwrap`` there."""

    def __init__(self, ctx: NodeContext, inner: Node) -> None:
        self.ctx = ctx
        self.inner = inner
        self.name = inner.name
        self.polled = inner.polled
        ready = getattr(inner, "ready", None)  # an ssh node: the jail is made there
        self._remote = NodeJail(ready, inner.name, ctx.spec.checkout if ctx.spec else None) \
            if ready is not None else None

    @property
    def tmux(self) -> Tmux:
        return self.inner.tmux

    def spawn(self, req: SpawnRequest) -> None:
        remote = self._remote
        if remote is not None:
            remote.check(req.spec)  # once per node: a node without bwrap fails before anything is made
            self.inner.spawn(replace(req, wrap=lambda argv, ctx, env: remote.wrap(argv, req, ctx)))
            return
        self.inner.spawn(replace(req, wrap=lambda argv, ctx, env: self.wrap(argv, req, ctx, env)))

    def wrap(self, argv: list[str], req: SpawnRequest, ctx: SpawnContext, env: dict[str, str]) -> list[str]:
        """The agent's command line in a jail made on this machine."""
        spec = req.spec
        allowlist = spec.network if isinstance(spec.network, list) else None
        problem = probe(network_none=spec.network != "host")
        if problem is not None:
            raise PrerequisiteError(f"session {spec.name!r} asks for sandbox = \"bwrap\": {problem}", INSTALL_HINT)
        state = prepare_state(spec.agent, ctx.session_dir, env)  # e.g. Claude's CLAUDE_CONFIG_DIR
        jail = jail_for(worktree=Path(req.rec.worktree), branch=req.rec.branch, scope=list(spec.scope),
                        enforce=spec.scope_mode == "enforce", agent=spec.agent, session_dir=ctx.session_dir,
                        env={**env}, network="none" if allowlist is not None else str(spec.network), repo=req.repo)
        jail = replace(jail, writable=tuple(dict.fromkeys((*jail.writable, *state))))
        if jail.narrow_warning:
            log.warning("session %s: %s", spec.name, jail.narrow_warning)
        if allowlist is None:
            return bwrap_argv(jail, argv)
        # no network but the session's own proxy, outside the sandbox, the parent of bwrap in the agent's pane:
        # it lives as long as the agent, whatever happens to the supervisor (backends/sandbox_proxy.py)
        where = socket_dir()
        jail = replace(jail, readable_tmp=(*jail.readable_tmp, where))
        url = f"http://127.0.0.1:{PROXY_PORT}"
        for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
            env[k] = url
        env["NO_PROXY"] = env["no_proxy"] = ""
        inside = [sys.executable, "-I", "-m", "cortex_tui.backends.sandbox_fwd", str(where / SOCKET), str(PROXY_PORT),
                  "--", *argv]
        return [sys.executable, "-I", "-m", "cortex_tui.backends.sandbox_proxy", str(where), str(req.paths.log),
                json.dumps(allowlist), "--", *bwrap_argv(jail, inside)]

    # the rest is the inner node's ----------------------------------------------------------
    def stop(self, rec: SessionRecord, adapter: AgentAdapter, paths: SessionPaths) -> None:
        self.inner.stop(rec, adapter, paths)

    def cleanup(self, rec: SessionRecord, adapter: AgentAdapter, paths: SessionPaths) -> None:
        cleanup = getattr(self.inner, "cleanup", None)  # this machine's: daemons the agent left running
        if cleanup is not None:
            cleanup(rec, adapter, paths)

    def send_keys(self, pane_id: str, keys: list[KeyInput]) -> None:
        self.inner.send_keys(pane_id, keys)

    def capture(self, pane_id: str, lines: int = 200, escapes: bool = False) -> str:
        return self.inner.capture(pane_id, lines, escapes)

    def list_windows(self) -> list[WindowInfo]:
        return self.inner.list_windows()

    def attach_argv(self, window_id: str) -> list[str]:
        return self.inner.attach_argv(window_id)

    def final_look(self, rec: SessionRecord, base: str) -> FinalLook | None:
        return self.inner.final_look(rec, base)

    def fetch_back(self, repo: Path, rec: SessionRecord) -> str | None:
        return self.inner.fetch_back(repo, rec)

    def disk_usage(self, recs: list[SessionRecord]) -> dict[str, int | None]:
        return self.inner.disk_usage(recs)

    def close(self) -> None:
        """Nothing of its own (each allowlist proxy goes with its agent); the inner node is closed by whoever made
        it (it serves unsandboxed sessions too)."""
        return None


def _make(ctx: NodeContext) -> SandboxNode:
    if ctx.inner is None and ctx.spec is not None:
        raise CortexError(f"a sandbox on node {ctx.spec.name} needs that node to wrap")
    return SandboxNode(ctx, ctx.inner or LocalNode(ctx))


register("bwrap", _make)
