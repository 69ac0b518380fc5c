"""Tasks added to a live run (``cortex-tui add``, the TUI's ``n``, the API, the MCP ``add_task`` tool).

An added session is a ``[[session]]`` table like the layout's own: validated the same way, resolved with the
layout's ``[defaults]``, and kept in ``state.json`` (``RunState.added``) before it is acknowledged, so a
re-attached supervisor rebuilds it. With no supervisor running, ``cortex-tui add`` appends it to the run's
``inbox.jsonl`` (fsync'd); the next supervisor takes it from there at start — nothing lost, nothing doubled
(a name already in the run is never added twice)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cortex_tui.backends import git as gitb
from cortex_tui.errors import CortexError, LayoutError, RefusedError
from cortex_tui.model.layout import Layout, ResolvedSession, SessionSpec
from cortex_tui.model.resolve import resolve_session
from cortex_tui.model.routes import known_target
from cortex_tui.model.state import RunState, SessionRecord

INBOX = "inbox.jsonl"


def parse_spec(data: dict[str, Any], where: str = "task") -> SessionSpec:
    """A ``[[session]]`` table as a SessionSpec, or a LayoutError naming the field."""
    try:
        return SessionSpec.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "session"
        raise LayoutError(f"{where}: field '{field}': {err['msg']}",
                          "the fields of a [[session]] table in a layout (README: Layouts)") from None


def check_new(spec: SessionSpec, layout: Layout, existing: set[str]) -> ResolvedSession:
    """Refuse a name already in the run or dependencies that are not; resolve with the layout's defaults."""
    if spec.name in existing:
        raise RefusedError(f"the run already has a session named {spec.name!r}", "choose another --name",
                           key_hint="choose another name (n again)")
    unknown = [d for d in spec.depends_on if d not in existing]
    if unknown:
        raise LayoutError(f"task {spec.name!r}: depends_on names sessions the run does not have: {', '.join(unknown)}",
                          "`cortex-tui status` lists them", key_hint="the dashboard lists them")
    resolved = resolve_session(layout, spec)
    if not known_target(layout, resolved.node):
        raise LayoutError(f"task {spec.name!r}: node {resolved.node!r} is not a [[node]] (or group) of the run's "
                          "layout", "local, auto, or a [[node]]'s name or group")
    return resolved


def new_record(spec: ResolvedSession, run_id: str, worktrees_root: Path, now: float) -> SessionRecord:
    slug = gitb.slugify(spec.name)
    return SessionRecord(name=spec.name, slug=slug, agent=spec.agent, node=spec.node,
                         branch=f"cortex/{run_id}/{slug}", worktree=str(worktrees_root / slug), created_at=now)


def free_name(existing: set[str], prefix: str = "task") -> str:
    n = 1
    while f"{prefix}-{n}" in existing:
        n += 1
    return f"{prefix}-{n}"


def added_specs(state: RunState) -> list[SessionSpec]:
    return [parse_spec(raw, f"state.json: added session {i + 1}") for i, raw in enumerate(state.added)]


def queue_offline(run_dir: Path, spec: SessionSpec) -> Path:
    """Append ``spec`` to the run's inbox (for the next supervisor); durable when this returns."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / INBOX
    line = (json.dumps(spec.model_dump(mode="json", exclude_defaults=True)) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        if os.fstat(fd).st_size and not _ends_with_newline(path):
            os.write(fd, b"\n")  # a torn line from a crash stays one bad line, not two
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def read_inbox(run_dir: Path) -> tuple[list[SessionSpec], list[str]]:
    """The inbox's tasks and the problems with lines that are not one (each named by line)."""
    path = run_dir / INBOX
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return [], []
    specs: list[SessionSpec] = []
    bad: list[str] = []
    for i, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            specs.append(parse_spec(json.loads(raw), f"{path}:{i}"))
        except (ValueError, CortexError) as e:
            bad.append(getattr(e, "message", None) or f"{path}:{i}: not JSON ({e})")
    return specs, bad


def clear_inbox(run_dir: Path) -> None:
    """After its tasks are in state.json (saved): the next start must not see them again."""
    try:
        (run_dir / INBOX).unlink()
    except FileNotFoundError:
        pass
