"""Load and validate ``layouts/*.toml``; every error names the file, the line and the field."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from cortex_tui.errors import LayoutError
from cortex_tui.model.layout import Layout, ResolvedSession, SessionSpec
from cortex_tui.model.resolve import resolve_session
from cortex_tui.model.routes import AUTO, known_target

_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*(\]\]?)\s*(?:#.*)?$")


@dataclass(frozen=True)
class LoadedLayout:
    """A validated layout plus where it came from."""

    layout: Layout
    path: Path
    text: str

    @property
    def sessions(self) -> list[ResolvedSession]:
        return [resolve_session(self.layout, s) for s in self.layout.session]


class _Locator:
    """Find the line of a field in TOML source text (tomllib keeps no positions)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        # (table name, index among arrays of that name, start line (1-based))
        self.tables: list[tuple[str, int, int]] = []
        counts: dict[str, int] = {}
        for i, line in enumerate(self.lines, 1):
            m = _HEADER.match(line)
            if not m:
                continue
            name = m.group(2).strip()
            if m.group(1) == "[[":
                idx = counts.get(name, 0)
                counts[name] = idx + 1
                self.tables.append((name, idx, i))
            else:
                self.tables.append((name, -1, i))

    def _block(self, table: str, index: int) -> tuple[int, int] | None:
        for n, (name, idx, start) in enumerate(self.tables):
            if name == table and (index < 0 or idx == index):
                end = self.tables[n + 1][2] - 1 if n + 1 < len(self.tables) else len(self.lines)
                return start, end
        return None

    def find(self, loc: tuple[int | str, ...]) -> int | None:
        if not loc:
            return None
        table = str(loc[0])
        rest = list(loc[1:])
        index = -1
        if rest and isinstance(rest[0], int):
            index = int(rest.pop(0))
        block = self._block(table, index)
        if block is None:
            return None
        start, end = block
        if not rest:
            return start
        key = str(rest[0])
        # a sub-table like [run.prices] or inline key
        key_re = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for i in range(start, end + 1):
            if key_re.match(self.lines[i - 1]):
                return i
        return start


def _fmt_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _session_label(data: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    if len(loc) >= 2 and loc[0] in ("session", "node") and isinstance(loc[1], int):
        items = data.get(str(loc[0]))
        if isinstance(items, list) and loc[1] < len(items) and isinstance(items[loc[1]], dict):
            name = items[loc[1]].get("name")
            if isinstance(name, str):
                return f" ({loc[0]} {name!r})"
    return ""


def parse_layout(text: str, path: Path) -> LoadedLayout:
    """Validate layout source ``text``; raise :class:`LayoutError` naming file, line and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _TOML_POS.search(msg)
        where = f"{path}:{m.group(1)}" if m else str(path)
        raise LayoutError(f"{where}: invalid TOML: {_TOML_POS.sub('', msg).strip()}") from None
    loc8 = _Locator(text)
    if "run" not in data:
        raise LayoutError(f"{path}:1: field 'run': missing [run] table", "add e.g. [run] name = \"my-run\"")
    try:
        layout = Layout.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = tuple(err["loc"])
            line = loc8.find(loc)
            where = f"{path}:{line}" if line else str(path)
            field = _fmt_loc(loc)
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            elif err["type"] == "missing":
                msg = "required field is missing"
            msg = msg.removeprefix("Value error, ")
            problems.append(f"{where}: field '{field}'{_session_label(data, loc)}: {msg}")
        raise LayoutError("\n".join(problems)) from None
    layout, origin = expand_variants(layout)
    _check_semantics(layout, path, loc8, origin)
    return LoadedLayout(layout=layout, path=path, text=text)


def expand_variants(layout: Layout) -> tuple[Layout, list[int]]:
    """Expand ``variants = N`` sessions into ``<name>-1`` … ``<name>-N`` (best-of fan-out).

    A ``[bestof]`` table with a ``task`` and no ``[[session]]`` stands for one session ``variant`` with
    ``variants = n`` and that task as its prompt. ``[bestof] agents``/``models`` cycle over the variants
    of sessions that set no agent/model themselves. ``depends_on`` naming an expanded session means all
    its variants. Returns the expanded layout and, per expanded session, the index of its ``[[session]]``
    table in the file (for error lines). Layouts without variants come back unchanged.
    """
    bo = layout.bestof
    sessions = list(layout.session)
    if not sessions and bo is not None and bo.task:
        sessions = [SessionSpec(name="variant", prompt=bo.task, variants=bo.n)]
    if all(s.variants == 1 for s in sessions) and sessions == layout.session:
        return layout, list(range(len(sessions)))
    groups = {s.name: [f"{s.name}-{k}" for k in range(1, s.variants + 1)] for s in sessions if s.variants > 1}
    out: list[SessionSpec] = []
    origin: list[int] = []
    for i, s in enumerate(sessions):
        deps = [d for dep in s.depends_on for d in groups.get(dep, [dep])]
        if s.variants == 1:
            out.append(s.model_copy(update={"depends_on": deps}))
            origin.append(i)
            continue
        for k in range(s.variants):
            update: dict[str, Any] = {"name": f"{s.name}-{k + 1}", "variants": 1, "depends_on": deps}
            if bo is not None and bo.agents and s.agent is None:
                update["agent"] = bo.agents[k % len(bo.agents)]
            if bo is not None and bo.models and s.model is None:
                update["model"] = bo.models[k % len(bo.models)]
            out.append(s.model_copy(update=update))
            origin.append(i)
    return layout.model_copy(update={"session": out}), origin


def _check_semantics(layout: Layout, path: Path, loc8: _Locator, origin: list[int] | None = None) -> None:
    def fail(loc: tuple[int | str, ...], msg: str, hint: str | None = None) -> None:
        if origin is not None and len(loc) >= 2 and loc[0] == "session" and isinstance(loc[1], int):
            loc = ("session", origin[loc[1]], *loc[2:])  # variants: point at the [[session]] they came from
        line = loc8.find(loc)
        where = f"{path}:{line}" if line else str(path)
        raise LayoutError(f"{where}: field '{_fmt_loc(loc)}': {msg}", hint)

    if not layout.session and layout.pool is None:
        fail(("run",), "the layout declares no [[session]]",
             "add at least one [[session]] table (or a [pool] that `cortex-tui add` fills)")
    seen: dict[str, int] = {}
    for i, s in enumerate(layout.session):
        if s.name in seen:
            fail(("session", i, "name"), f"duplicate session name {s.name!r} (also session[{seen[s.name]}])")
        seen[s.name] = i
    node_names: set[str] = set()
    for i, n in enumerate(layout.node):
        if n.name in node_names:
            fail(("node", i, "name"), f"duplicate node name {n.name!r}")
        node_names.add(n.name)
    for i, s in enumerate(layout.session):
        for dep in s.depends_on:
            if dep not in seen:
                fail(("session", i, "depends_on"), f"session {s.name!r} depends on unknown session {dep!r}")
            if dep == s.name:
                fail(("session", i, "depends_on"), f"session {s.name!r} depends on itself")
        r = resolve_session(layout, s)
        if not known_target(layout, r.node):
            fail(("session", i, "node"), f"session {s.name!r} runs on unknown node {r.node!r}",
                 "declare it in a [[node]] table (or its group), or use node = \"local\" or \"auto\"")
        if r.agent == "shell" and not s.command:
            fail(("session", i, "command"), f"session {s.name!r} has agent 'shell' but no command")
        if r.agent == "sim" and s.script is None and not s.command:
            fail(("session", i, "script"), f"session {s.name!r} has agent 'sim' but no script",
                 'e.g. script = ["say hello", "exit 0"]')
        _check_runtime(layout, i, s, r, fail)
        if s.script is not None:
            from cortex_tui.agents.sim import parse_step

            for j, step in enumerate(s.script):
                try:
                    parse_step(step)
                except ValueError as e:
                    fail(("session", i, "script"), f"step {j + 1} {step!r}: {e}")
    _check_pool(layout, fail)
    cycle = find_cycle({s.name: list(s.depends_on) for s in layout.session})
    if cycle:
        idx = seen[cycle[0]]
        fail(("session", idx, "depends_on"), "dependency cycle: " + " -> ".join(cycle))


def _check_runtime(layout: Layout, i: int, s: SessionSpec, r: ResolvedSession,
                   fail: Callable[[tuple[int | str, ...], str, str | None], None]) -> None:
    """``env`` placeholders, ``include`` paths, and what needs this machine (docs/isolation.md)."""
    from cortex_tui.backends.session_env import placeholder_problems

    for key, value in r.env.items():
        for problem in placeholder_problems(value, r.ports):
            where: tuple[int | str, ...] = ("session", i, "env") if key in (s.env or {}) else ("defaults", "env")
            fail(where, f"{key}: {problem}", None)
    for inc in r.include:
        p = PurePosixPath(inc)
        if not inc or p.is_absolute() or ".." in p.parts or inc.startswith("~"):
            where = ("session", i, "include") if s.include is not None else ("defaults", "include")
            fail(where, f"include {inc!r} must be a path relative to the repo, without '..'", None)
    # an ssh node's bwrap is checked there, once per node, at the first sandboxed spawn (backends/sandbox_remote.py)
    if r.sandbox == "bwrap" and r.node in ("local", AUTO):
        from cortex_tui.backends.sandbox import INSTALL_HINT, probe

        why = probe(network_none=r.network != "host")
        if why is not None:
            fail(("session", i, "sandbox") if s.sandbox is not None else ("defaults", "sandbox"),
                 f"session {s.name!r} asks for sandbox = \"bwrap\": {why}", INSTALL_HINT)
    if isinstance(r.network, list):
        for entry in r.network:
            if not re.match(r"^(\*\.)?[A-Za-z0-9_.\-\[\]:]+$", entry) or entry.startswith(":"):
                fail(("session", i, "network") if s.network is not None else ("defaults", "network"),
                     f"network entry {entry!r}: expected host, host:port or *.domain", None)
    if r.network != "host" and r.sandbox == "none":
        fail(("session", i, "network"), f"session {s.name!r}: network = {r.network!r} needs sandbox = \"bwrap\"",
             'add sandbox = "bwrap" (the network policy is enforced by the sandbox)')


def _check_pool(layout: Layout, fail: Callable[..., None]) -> None:
    """``[pool]`` and ``[[route]]`` values that each parse but make no sense together."""
    pool = layout.pool
    groups = {n.group for n in layout.node if n.group}
    for i, n in enumerate(layout.node):
        if n.group is not None and (n.group in ("local", AUTO) or any(m.name == n.group for m in layout.node)):
            fail(("node", i, "group"), f"group {n.group!r} is also a node name (or 'local'/'auto')")
    if pool is not None:
        if pool.size is not None and (pool.min is not None or pool.max is not None):
            fail(("pool", "size"), "give either size (fixed slots) or min/max (autoscaled), not both")
        if pool.min is not None and pool.max is not None and pool.min > pool.max:
            fail(("pool", "min"), f"min ({pool.min}) is above max ({pool.max})")
        if pool.min is not None and pool.max is None:
            fail(("pool", "min"), "min needs a max (the most slots the pool may grow to)")
        if not known_target(layout, pool.node):
            fail(("pool", "node"), f"unknown node or group {pool.node!r}", "a [[node]] name, its group, local or auto")
    for i, r in enumerate(layout.route):
        if r.node is not None and not known_target(layout, r.node):
            fail(("route", i, "node"), f"route sends tasks to unknown node or group {r.node!r}",
                 f"known: local, auto{''.join(', ' + x for x in sorted({n.name for n in layout.node} | groups))}")


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """Return one dependency cycle as a path ``[a, b, ..., a]``, or None."""
    color: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        color[n] = 1
        stack.append(n)
        for m in graph.get(n, []):
            if color.get(m) == 1:
                return [*stack[stack.index(m):], m]
            if color.get(m) is None:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        color[n] = 2
        return None

    for n in graph:
        if color.get(n) is None:
            found = visit(n)
            if found:
                return found
    return None


def load_layout(path: str | Path) -> LoadedLayout:
    """Read and validate a layout file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LayoutError(f"{p}: layout file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LayoutError(f"{p}: cannot read layout: {e}") from None
    return parse_layout(text, p)


def demo_layout_text() -> str:
    """The embedded default layout (the sim-agent demo)."""
    return resources.files("cortex_tui").joinpath("data/demo.toml").read_text(encoding="utf-8")
