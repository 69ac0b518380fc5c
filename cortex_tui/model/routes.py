"""``[[route]]`` rules: which agent, model and node a task gets from what it is (labels, agent, paths, name,
prompt). Pure: no I/O. The first route whose ``match`` fits wins; a field the task sets itself wins over the
route, the route over ``[defaults]``; a task that names no node (and whose route names none) gets
``[pool] node``."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cortex_tui.model.layout import Layout, RouteMatch, SessionSpec

AUTO = "auto"
"""``node = "auto"``: the pool places the task on the node with the most room (engine/placement.py)."""


def _under(scope_glob: str, route_glob: str) -> bool:
    """A task's scope entry falls under a route's path glob (``src/api/*.py`` under ``src/**``)."""
    g = scope_glob.rstrip("/")
    r = route_glob.rstrip("/")
    if fnmatchcase(g, r) or fnmatchcase(g + "/x", r):
        return True
    prefix = r.removesuffix("/**").removesuffix("**")
    return bool(prefix) and not any(c in prefix for c in "*?[") and (g == prefix or g.startswith(prefix + "/"))


def matches(m: RouteMatch, spec: SessionSpec, agent: str | None) -> bool:
    """Whether ``spec`` (whose agent, with ``[defaults]`` applied, is ``agent``) fits ``m``."""
    if m.labels and not set(m.labels) & set(spec.labels):
        return False
    if m.agent is not None and m.agent != agent:
        return False
    if m.paths and not any(_under(s, p) for s in spec.scope for p in m.paths):
        return False
    if m.name is not None and not fnmatchcase(spec.name, m.name):
        return False
    return not (m.prompt is not None and re.search(m.prompt, spec.prompt) is None)


def find_route(layout: Layout, spec: SessionSpec) -> int | None:
    agent = spec.agent or layout.defaults.agent or ("shell" if spec.command else "sim")
    for i, r in enumerate(layout.route):
        if matches(r.match, spec, agent):
            return i
    return None


def apply_route(layout: Layout, spec: SessionSpec) -> tuple[SessionSpec, int | None]:
    """``spec`` with its route's settings (where it sets none itself) and the route's index."""
    i = find_route(layout, spec)
    update: dict[str, Any] = {}
    explicit = spec.model_fields_set
    if i is not None:
        r = layout.route[i]
        for key in ("agent", "model", "budget_usd"):
            if getattr(r, key) is not None and getattr(spec, key) is None:
                update[key] = getattr(r, key)
        if r.node is not None and "node" not in explicit:
            update["node"] = r.node
    if "node" not in explicit and "node" not in update and layout.pool is not None:
        update["node"] = layout.pool.node
    if not update:
        return spec, i
    return spec.model_copy(update=update), i


def node_targets(layout: Layout, wanted: str) -> list[str]:
    """The nodes ``wanted`` (a node, a group or ``auto``) may place on, this machine first."""
    if wanted == AUTO:
        return ["local", *(n.name for n in layout.node)]
    group = [n.name for n in layout.node if n.group == wanted]
    return group or [wanted]


def known_target(layout: Layout, wanted: str) -> bool:
    return wanted in ("local", AUTO) or any(n.name == wanted or n.group == wanted for n in layout.node)
