"""A session's runtime environment: its reserved TCP ports and the ``{placeholders}`` of its ``env`` values.

``ports = N`` reserves N free TCP ports for a session, kept for its life (they live in its record), distinct
across the run's sessions. They are exported as ``PORT`` (the first) and ``CORTEX_PORT_1..N``, and ``env``
values may name them: ``{port}`` (the first), ``{port2}`` … ``{portN}``, besides ``{session}``, ``{worktree}``
and ``{run}``. ``{{`` and ``}}`` are literal braces. An unknown placeholder is a layout error
(:func:`placeholder_problems`, checked by ``cortex_tui.layout``).
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections.abc import Iterable, Mapping

PORT_RANGE = (20000, 32000)
WORKTREE_LATER = "\x00cortex-worktree\x00"
"""What ``{worktree}`` renders to for a session whose node decides its worktree at spawn (an ssh node): the
node puts its path in with :func:`fill_worktree`. A NUL never comes from a layout's env (no env value holds one)."""


def fill_worktree(env: Mapping[str, str], worktree: str) -> dict[str, str]:
    """``env`` with the node's worktree path where ``{worktree}`` was rendered as :data:`WORKTREE_LATER`."""
    return {k: v.replace(WORKTREE_LATER, worktree) for k, v in env.items()}
"""Ports are picked here: below Linux's ephemeral range (32768+), so outgoing connections do not take them."""

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_PORT_N = re.compile(r"^port([1-9][0-9]*)$")


def placeholder_problems(value: str, ports: int) -> list[str]:
    """What is wrong with the placeholders of one ``env`` value (empty: nothing)."""
    problems: list[str] = []
    for m in _PLACEHOLDER.finditer(value):
        name = m.group(1)
        if name is None or name in ("session", "worktree", "run"):
            continue
        n = 1 if name == "port" else (int(pm.group(1)) if (pm := _PORT_N.match(name)) else None)
        if n is None:
            problems.append(f"unknown placeholder {{{name}}} (known: {{port}}, {{port2}}…, {{session}}, "
                            "{worktree}, {run}; write {{ and }} for literal braces)")
        elif n > ports:
            problems.append(f"{{{name}}} needs ports = {n} or more (the session has ports = {ports})")
    rest = _PLACEHOLDER.sub("", value)
    if "{" in rest or "}" in rest:
        problems.append("unbalanced brace (write {{ and }} for literal braces)")
    return problems


def render(value: str, *, ports: list[int], session: str, worktree: str, run: str) -> str:
    """``value`` with its placeholders filled (they were checked when the layout was loaded)."""
    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok in ("{{", "}}"):
            return tok[0]
        name = m.group(1)
        if name == "session":
            return session
        if name == "worktree":
            return worktree
        if name == "run":
            return run
        n = 1 if name == "port" else int(name[4:])
        return str(ports[n - 1])
    return _PLACEHOLDER.sub(sub, value)


def session_env(env: Mapping[str, str], *, ports: list[int], session: str, worktree: str,
                run: str) -> dict[str, str]:
    """The session's ``env`` rendered, plus ``PORT`` and ``CORTEX_PORT_1..N`` when it has ports."""
    out = {k: render(v, ports=ports, session=session, worktree=worktree, run=run) for k, v in env.items()}
    if ports:
        out.setdefault("PORT", str(ports[0]))
        for i, p in enumerate(ports, 1):
            out[f"CORTEX_PORT_{i}"] = str(p)
    return out


def port_free(port: int) -> bool:
    """Nothing listens on (or holds) ``port`` on any local address, IPv4 or IPv6."""
    for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue  # no IPv6 here
        try:
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def allocate(n: int, *, key: str, taken: Iterable[int]) -> list[int]:
    """``n`` free ports, none in ``taken`` (the run's other sessions' ports).

    The search starts at a place derived from ``key`` (run and session), so a session asks for the same
    ports again after a restart when they are still free. Raises ``OSError`` when the range is full.
    """
    if n <= 0:
        return []
    lo, hi = PORT_RANGE
    span = hi - lo
    start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % span
    busy = set(taken)
    out: list[int] = []
    for i in range(span):
        p = lo + (start + i) % span
        if p in busy or not port_free(p):
            continue
        out.append(p)
        if len(out) == n:
            return out
    raise OSError(f"no {n} free TCP ports in {lo}-{hi}")


class PortBook:
    """The ports of a run's sessions. Sessions spawn in threads: the lock covers picking *and* holding, so
    two sessions never get the same port."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, list[int]] = {}

    def reserve(self, name: str, n: int, *, key: str, current: list[int],
                others: Iterable[list[int]]) -> list[int]:
        """``current`` when it already holds ``n`` ports (stable for the session's life), else ``n`` new ones
        that no other session of the run holds (``others``: their records' ports)."""
        with self._lock:
            if n <= 0:
                self._held.pop(name, None)
                return []
            if len(current) == n:
                self._held[name] = list(current)
                return current
            taken = [p for ps in others for p in ps]
            taken += [p for other, ps in self._held.items() if other != name for p in ps]
            got = allocate(n, key=key, taken=taken)
            self._held[name] = got
            return got
