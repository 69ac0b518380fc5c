"""``plan --revise RUN``: what a finished run did, as context for planning what is left.

Per session of the old run: its scope and mission head, final state and exit code, the triggers that fired,
the verify result (command, exit code, the log's tail), its review status and whether it was merged. All of
it is agent-controlled text: control characters are replaced and every field is cut to a fixed size.
"""

from __future__ import annotations

from pathlib import Path

from cortex_tui.errors import CortexError, StateError
from cortex_tui.text import visible

TAIL = 600


def _clean(s: str, n: int) -> str:
    s = visible(s, keep_newlines=True)
    return s if len(s) <= n else "…" + s[-n:]


def unique_run_name(state_dir: Path, name: str) -> str:
    """``name``, or ``name-2``, ``name-3`` … when a run of that name already exists under ``state_dir``."""
    from cortex_tui.store.files import list_runs

    taken = set(list_runs(state_dir)) if state_dir.is_dir() else set()
    if name not in taken:
        return name
    k = 2
    while f"{name[:60]}-{k}" in taken:
        k += 1
    return f"{name[:60]}-{k}"


def previous_run_context(repo: Path, run: str, state_dir: Path | None = None) -> str:
    """A text block describing run ``run`` (raises :class:`StateError` when there is no such run)."""
    from cortex_tui.layout import parse_layout
    from cortex_tui.store.files import RunStore, list_runs

    sd = (state_dir or repo / "coordination").resolve()
    state = RunStore(sd, run).load()
    if state is None:
        raise StateError(f"--revise: no run {run!r} under {sd}", f"known runs: {', '.join(list_runs(sd)) or 'none'}")
    try:
        specs = {s.name: s for s in parse_layout(state.layout_text, Path(state.layout_path)).layout.session}
    except CortexError:
        specs = {}
    try:
        from cortex_tui.review.queue import ReviewQueue

        entries = {e.session: e for e in ReviewQueue.open(repo, sd, run).entries()}
    except CortexError:
        entries = {}
    live = [r.name for r in state.sessions.values() if r.state.live]
    lines = [f"This goal was attempted before in run {run!r}. Plan ONLY what is left: redo or fix what failed or "
             "was not merged, build on what was merged (it is in the base branch now), never repeat merged work.",
             f"Previous run {run!r} (base {state.base}):"]
    if live:
        lines.append(f"(still running: {', '.join(live)} — their results are not final)")
    for name, rec in state.sessions.items():
        spec = specs.get(name)
        e = entries.get(name)
        merged = bool(e and e.merged_commit)
        lines.append(f"- session {name!r}: state {rec.state.value}, exit code {rec.exit_code}"
                     + (f", reason: {_clean(rec.reason, 200)}" if rec.reason else "")
                     + (f", review: {e.status}" if e else "") + (", MERGED" if merged else ", not merged"))
        if spec is not None:
            lines.append(f"  scope: {', '.join(spec.scope) or '(anything)'}; mission: {_clean(spec.prompt, 300)}")
        fired = sorted({t.kind for t in rec.triggers})
        if fired:
            lines.append(f"  triggers fired: {', '.join(fired)}")
        if e is not None and e.verify is not None:
            v = e.verify
            lines.append(f"  verify `{_clean(v.command, 200)}`: exit {v.exit_code}"
                         + (" (timed out)" if v.timed_out else "") + "; log tail:\n    "
                         + _clean(v.tail, TAIL).replace("\n", "\n    "))
        if rec.changed_files:
            shown = ", ".join(_clean(f, 120) for f in rec.changed_files[:10])
            lines.append(f"  changed: {shown}" + (f" (+{len(rec.changed_files) - 10} more)"
                                                  if len(rec.changed_files) > 10 else ""))
    return "\n".join(lines) + "\n"
