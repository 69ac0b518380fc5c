"""Claude Code hook command: ``python -m cortex_tui.hook --events FILE [--root DIR] [--scope-file FILE --enforce]``.

Claude Code runs it on every hook event with the event's JSON on stdin. It appends one line
``{"source": "claude-code", "ts": ..., "event": <hook_event_name>, "payload": {...}}`` to the events file
(``O_APPEND``, one ``write``) and prints nothing (stdout of some hooks becomes model context).

In enforce mode, a ``PreToolUse`` of a file-writing tool (Edit, Write, MultiEdit, NotebookEdit) whose
target — made relative to ``--root`` (the worktree; default: the payload's ``cwd``) — is outside the
scope globs is refused: exit code 2 with the reason on stderr (Claude Code blocks the tool and shows
the reason to the model), and a ``blocked`` event is recorded in the same write.

This runs on every tool call: it imports only the standard library it needs (the scope matcher only
when a write must be checked) and never fails the agent because of its own errors.
"""

from __future__ import annotations

import json
import os
import sys
import time

SOURCE = "claude-code"
WRITE_TOOLS = {"Edit": "file_path", "Write": "file_path", "MultiEdit": "file_path", "NotebookEdit": "notebook_path"}
MAX_STR = 2000
"""Longer strings in payloads (file contents, tool output) are cut: the supervisor needs facts, not files."""


def _trim(v: object, depth: int = 0) -> object:
    if isinstance(v, str):
        return v if len(v) <= MAX_STR else v[:MAX_STR] + f"…[{len(v) - MAX_STR} more chars]"
    if depth > 6:
        return "…"
    if isinstance(v, dict):
        return {k: _trim(x, depth + 1) for k, x in v.items()}
    if isinstance(v, list):
        return [_trim(x, depth + 1) for x in v[:200]]
    return v


def _parse_args(argv: list[str]) -> dict[str, str | bool]:
    opts: dict[str, str | bool] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--enforce":
            opts["enforce"] = True
        elif a in ("--events", "--scope-file", "--root") and i + 1 < len(argv):
            opts[a[2:]] = argv[i + 1]
            i += 1
        else:
            raise SystemExit(f"cortex_tui.hook: unknown argument {a!r}")
        i += 1
    return opts


def relative_target(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` (both resolved, symlinks too); None when it lies outside ``root``."""
    full = os.path.realpath(os.path.join(root, path))
    base = os.path.realpath(root)
    if full == base:
        return ""
    if not full.startswith(base.rstrip(os.sep) + os.sep):
        return None
    return os.path.relpath(full, base).replace(os.sep, "/")


def check_write(payload: dict[str, object], scope: list[str], root: str) -> str | None:
    """The reason to block this PreToolUse, or None when it is allowed."""
    tool = payload.get("tool_name")
    if not isinstance(tool, str) or tool not in WRITE_TOOLS:
        return None
    tool_input = payload.get("tool_input")
    target = tool_input.get(WRITE_TOOLS[tool]) if isinstance(tool_input, dict) else None
    if not isinstance(target, str) or not target:
        return None
    rel = relative_target(target, root)
    if rel is None:
        return (f"{target} is outside this session's worktree {root}: refused; edit only files in scope: "
                f"{', '.join(scope) or '(all)'} [cortex-tui]")
    if not scope:
        return None
    from cortex_tui.scope import in_scope

    if in_scope(rel, scope):
        return None
    return f"{rel} is outside this session's scope ({', '.join(scope)}): refused; change only files in scope [cortex-tui]"


def _target_path(payload: dict[str, object], root: str) -> str | None:
    """The refused write's target, resolved (symlinks too): the evidence's ``path``."""
    tool_input = payload.get("tool_input")
    tool = payload.get("tool_name")
    key = WRITE_TOOLS.get(tool) if isinstance(tool, str) else None
    target = tool_input.get(key) if key and isinstance(tool_input, dict) else None
    if not isinstance(target, str) or not target:
        return None
    return os.path.realpath(os.path.join(root, target))


def main(argv: list[str]) -> int:
    opts = _parse_args(argv)
    events = opts.get("events")
    try:
        payload = json.loads(sys.stdin.read() or "{}")
    except ValueError:
        payload = {"unparsed": True}
    if not isinstance(payload, dict):
        payload = {"value": payload}
    name = payload.get("hook_event_name") or "unknown"
    now = time.time()
    lines = [{"source": SOURCE, "ts": now, "event": name, "payload": _trim(payload)}]
    reason: str | None = None
    cwd = payload.get("cwd")
    root = str(opts.get("root") or (cwd if isinstance(cwd, str) else os.getcwd()))
    if opts.get("enforce") and name == "PreToolUse":
        try:
            scope: list[str] = []
            if isinstance(opts.get("scope-file"), str):
                with open(str(opts["scope-file"]), encoding="utf-8") as f:
                    scope = [str(g) for g in json.load(f)]
            reason = check_write(payload, scope, root)
        except (OSError, ValueError) as e:  # a broken scope file must not let writes through silently
            reason = f"refused: cortex-tui cannot check scope ({e})"
        if reason:
            lines.append({"source": SOURCE, "ts": now, "event": "blocked", "payload": {
                "tool_name": payload.get("tool_name"), "tool_input": _trim(payload.get("tool_input")),
                "path": _target_path(payload, root), "reason": reason, "session_id": payload.get("session_id")}})
    if isinstance(events, str):
        data = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode("utf-8")
        try:
            fd = os.open(events, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size  # a line cut off by a crash: start a new one (as store.append_line)
                os.write(fd, data if not size or os.pread(fd, 1, size - 1) == b"\n" else b"\n" + data)
            finally:
                os.close(fd)
        except OSError as e:
            sys.stderr.write(f"cortex-tui hook: cannot write {events}: {e}\n")
    if reason:
        sys.stderr.write(reason + "\n")
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except SystemExit:
        raise
    except Exception as e:  # never break the agent on our own bug
        sys.stderr.write(f"cortex-tui hook: {e!r}\n")
        sys.exit(0)
