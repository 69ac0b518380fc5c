"""The bubblewrap sandbox on an ssh node (docs/isolation.md, "On ssh nodes").

The jail is the same as on this machine (:func:`cortex_tui.backends.sandbox.jail_for`), but it must be computed
from the *node's* filesystem: its worktree's ``.git`` file, the bare repo's object store and ref directories,
the agent's state directories under the node's ``HOME``. So :mod:`cortex_tui.backends.sandbox` itself (stdlib
only) is uploaded once per node and run there as the agent's command, by the node's python with ``-I -S`` (no
site-packages: it never needs cortex-tui installed on the node), with :mod:`cortex_tui.backends.sandbox_state`
beside it (the agent's own state, e.g. Claude's per-session ``CLAUDE_CONFIG_DIR``, made from the node's HOME). It
computes the jail and execs bwrap; the node's exit wrapper stays outside, as on this machine.

A network allowlist works as on this machine: :mod:`cortex_tui.backends.sandbox_proxy` and
:mod:`cortex_tui.backends.sandbox_fwd` (stdlib only too) are uploaded beside the launcher; the proxy runs in the
node's pane, outside the sandbox, as the launcher's (so bwrap's) parent, and writes its refusals into the node's
session log, which streams back and becomes ``network_refused`` events.

Whether the node's bwrap can make a sandbox is checked once per node (one round trip running a real one); a
node without it fails the spawn with its name and what to install, before anything is made there.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from cortex_tui.agents.base import SpawnContext
from cortex_tui.backends import sandbox, sandbox_fwd, sandbox_proxy, sandbox_state
from cortex_tui.backends.node import SpawnRequest
from cortex_tui.backends.remote import RemoteNode
from cortex_tui.backends.sandbox_proxy import PROXY_PORT, SOCKET
from cortex_tui.errors import PrerequisiteError
from cortex_tui.model.layout import ResolvedSession

_PROBE = ('command -v bwrap >/dev/null 2>&1 || { echo missing; exit 0; }; '
          'o=$(bwrap --die-with-parent --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp $1 true 2>&1) && '
          '{ echo ok; exit 0; }; printf "fail %s\\n" "$(printf %s "$o" | tail -n1)"')
"""Can the node's bwrap make a sandbox (``$1``: ``--unshare-net`` or empty)? ``ok``, ``missing`` or ``fail <why>``."""
_UPLOADED = (("sandbox", sandbox), ("sandbox-state", sandbox_state), ("sandbox-proxy", sandbox_proxy),
             ("sandbox-fwd", sandbox_fwd))
"""The stdlib-only modules run by the node's ``python -I -S``."""


def install_hint(node: str) -> str:
    return (f"install bubblewrap on node {node} (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
            f"bubblewrap) and check it with `cortex-tui doctor --node {node} --layout FILE`")


class NodeJail:
    """One ssh node's sandboxes: the check, the uploaded launcher, each agent's command line."""

    def __init__(self, ready: Callable[[], RemoteNode], node: str, checkout: str | None = None) -> None:
        self.ready = ready
        self.node = node
        self.checkout = checkout
        """The node's ``[[node]] checkout``: readable in the sandbox (linked includes point there)."""
        self._lock = threading.Lock()
        self._checked: dict[bool, str | None] = {}
        """Why the node cannot make a sandbox, by ``--unshare-net`` (None: it can)."""
        self._launcher: dict[str, PurePosixPath] | None = None

    def check(self, spec: ResolvedSession) -> None:
        """Raise unless the node can run ``spec``'s sandbox (one round trip per node and network mode; an allowlist
        needs ``--unshare-net`` as ``"none"`` does: its proxy runs outside, in the pane)."""
        cut = spec.network != "host"
        with self._lock:
            if cut not in self._checked:
                out = self.ready().sh(_PROBE, "--unshare-net" if cut else "", check=False).stdout.strip()
                why = None if out == "ok" else "bwrap not found on PATH" if out == "missing" else \
                    f"bwrap cannot make a sandbox there: {out.removeprefix('fail ').strip() or 'no output'}"
                self._checked[cut] = why
            why = self._checked[cut]
        if why is not None:
            raise PrerequisiteError(f"session {spec.name!r} asks for sandbox = \"bwrap\" on node {self.node}: {why}; "
                                    f"{install_hint(self.node)}", "or run the session without sandbox, or on a node "
                                    "that has bubblewrap")

    def launcher(self, rn: RemoteNode) -> dict[str, PurePosixPath]:
        """The sandbox module, the agent-state one, the allowlist proxy and its forwarder on the node (uploaded once;
        named by their content, so a new version is a new file)."""
        with self._lock:
            if self._launcher is None:
                paths = {}
                for name, mod in _UPLOADED:
                    source = Path(str(mod.__file__)).read_bytes()
                    path = rn.workdir / "lib" / f"cortex-{name}-{hashlib.sha256(source).hexdigest()[:16]}.py"
                    rn.put_file(path, source)
                    paths[name] = path
                self._launcher = paths
            return self._launcher

    def wrap(self, argv: list[str], req: SpawnRequest, ctx: SpawnContext) -> list[str]:
        """``argv`` run by the launcher on the node: it makes the jail there and execs bwrap. With a network
        allowlist the launcher is the child of the session's proxy (:mod:`~cortex_tui.backends.sandbox_proxy`, run
        by the node's python in the pane, outside the sandbox), which writes its refusals into the node's session
        log: they stream back with it and become ``network_refused`` events as on this machine."""
        rn = self.ready()
        spec = req.spec
        allowlist = spec.network if isinstance(spec.network, list) else None
        files = self.launcher(rn)
        params: dict[str, object] = {
            "worktree": str(ctx.worktree), "branch": req.rec.branch, "scope": list(spec.scope),
            "enforce": spec.scope_mode == "enforce", "agent": spec.agent, "session_dir": str(ctx.session_dir),
            "network": "none" if allowlist is not None else str(spec.network), "repo": str(rn.workdir),
            "readable": [c for c in (self.checkout,) if c], "state": str(files["sandbox-state"])}
        py = rn.node.python
        if allowlist is None:
            return [py, "-I", "-S", str(files["sandbox"]), json.dumps(params), "--", *argv]
        where = f"/tmp/cortex-net-{secrets.token_hex(8)}"  # made by the proxy (0700, refused if it exists as
        # another's); short: unix socket paths are limited to ~107 bytes
        params["allow"] = {"dir": where, "socket": SOCKET, "port": PROXY_PORT, "fwd": str(files["sandbox-fwd"])}
        return [py, "-I", "-S", str(files["sandbox-proxy"]), where, str(rn.log_path(req.rec.slug)),
                json.dumps(allowlist), "--", py, "-I", "-S", str(files["sandbox"]), json.dumps(params), "--", *argv]
