"""This machine, with each agent in a bubblewrap sandbox (node kind ``bwrap``; docs/isolation.md).

Everything is :class:`~cortex_tui.backends.local_node.LocalNode`'s (worktrees, windows, the exit wrapper
outside the sandbox, so the exit code is written even though the run directory is read-only inside) but the
agent's command line, which runs inside the jail of :mod:`cortex_tui.backends.sandbox`. A sandbox that cannot
be made here fails the spawn: the agent never runs without it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cortex_tui.agents.base import SpawnContext
from cortex_tui.backends.local_node import LocalNode
from cortex_tui.backends.node import NodeContext, SpawnRequest, register
from cortex_tui.backends.sandbox import INSTALL_HINT, bwrap_argv, jail_for, probe
from cortex_tui.errors import PrerequisiteError

log = logging.getLogger("cortex_tui.backends")


class SandboxNode(LocalNode):
    """Sessions on this machine, each agent inside ``bwrap``."""

    def wrap(self, argv: list[str], req: SpawnRequest, ctx: SpawnContext, env: dict[str, str]) -> list[str]:
        spec = req.spec
        problem = probe(network_none=spec.network == "none")
        if problem is not None:
            raise PrerequisiteError(f"session {spec.name!r} asks for sandbox = \"bwrap\": {problem}", INSTALL_HINT)
        if not isinstance(spec.network, str):  # the layout check refuses it too: never a silent open network
            raise PrerequisiteError(f"session {spec.name!r}: a network allowlist is not supported yet",
                                    'use network = "none" or "host"')
        network = spec.network
        jail = jail_for(worktree=Path(req.rec.worktree), branch=req.rec.branch, scope=list(spec.scope),
                        enforce=spec.scope_mode == "enforce", agent=spec.agent, session_dir=ctx.session_dir,
                        env={**env}, network=network, repo=req.repo)
        if jail.narrow_warning:
            log.warning("session %s: %s", spec.name, jail.narrow_warning)
        return bwrap_argv(jail, argv)


def _make(ctx: NodeContext) -> SandboxNode:
    return SandboxNode(ctx)


register("bwrap", _make)
