"""This machine, with each agent in a bubblewrap sandbox (node kind ``bwrap``; docs/isolation.md).

Everything is :class:`~cortex_tui.backends.local_node.LocalNode`'s (worktrees, windows, the exit wrapper
outside the sandbox, so the exit code is written even though the run directory is read-only inside) but the
agent's command line, which runs inside the jail of :mod:`cortex_tui.backends.sandbox`. A sandbox that cannot
be made here fails the spawn: the agent never runs without it.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path

from cortex_tui.agents.base import SpawnContext
from cortex_tui.backends.local_node import LocalNode
from cortex_tui.backends.node import NodeContext, SpawnRequest, register
from cortex_tui.backends.sandbox import INSTALL_HINT, REFUSED_MARK, bwrap_argv, jail_for, probe
from cortex_tui.backends.sandbox_proxy import PROXY_PORT, AllowProxy
from cortex_tui.backends.sandbox_state import prepare_state
from cortex_tui.errors import PrerequisiteError
from cortex_tui.private import open_private

log = logging.getLogger("cortex_tui.backends")


class SandboxNode(LocalNode):
    """Sessions on this machine, each agent inside ``bwrap``."""

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self._proxies: dict[str, AllowProxy] = {}
        """Network allowlist proxies by session (kept across its attempts, closed with the node)."""

    def wrap(self, argv: list[str], req: SpawnRequest, ctx: SpawnContext, env: dict[str, str]) -> list[str]:
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
        if allowlist is not None:  # no network but the supervisor's proxy (backends/sandbox_proxy.py)
            proxy = self._proxy(spec.name, allowlist, req.paths.log)
            jail = replace(jail, readable_tmp=(*jail.readable_tmp, proxy.dir))
            url = f"http://127.0.0.1:{PROXY_PORT}"
            for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
                env[k] = url
            env["NO_PROXY"] = env["no_proxy"] = ""
            argv = [sys.executable, "-m", "cortex_tui.backends.sandbox_fwd", str(proxy.path), str(PROXY_PORT), "--",
                    *argv]
        return bwrap_argv(jail, argv)

    def _proxy(self, name: str, allowlist: list[str], log_path: Path) -> AllowProxy:
        proxy = self._proxies.get(name)
        if proxy is not None and proxy.entries == allowlist:
            return proxy
        if proxy is not None:
            proxy.close()

        def refused(host: str, port: int) -> None:  # into the session's log: the engine makes the event
            try:
                with open_private(log_path) as f:
                    f.write(f"\n{REFUSED_MARK}{host}:{port} (not in the allowlist)\n".encode())
            except OSError as e:
                log.warning("session %s: network refused %s:%s (log not writable: %s)", name, host, port, e)
        proxy = self._proxies[name] = AllowProxy(allowlist, refused)
        return proxy

    def close(self) -> None:
        for proxy in self._proxies.values():
            proxy.close()
        self._proxies.clear()


def _make(ctx: NodeContext) -> SandboxNode:
    return SandboxNode(ctx)


register("bwrap", _make)
