"""Codex's own session file ("rollout"): where the codex adapter reads turn state and token usage.

Codex (tested 0.171.0) appends one JSON object a line to
``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl`` while it runs. The first line is
``session_meta`` (``payload.cwd`` = the directory it was started in); then ``event_msg`` lines whose
``payload.type`` says what happened:

* ``task_started`` — a turn began (busy);
* ``token_count`` — ``payload.info.total_token_usage`` = the thread's running totals (``input_tokens``
  *including* ``cached_input_tokens``, ``output_tokens``);
* ``task_complete`` — the turn ended (idle; ``last_agent_message``);
* ``turn_aborted`` — the turn was interrupted (idle);
* ``item_completed`` with a ``CommandExecution`` item — a command ran (``status``, ``exit_code``,
  ``aggregated_output``): a failed one is an ``error`` signal for the repeated-error rule (Codex's TUI
  redraws its output in place, so the pane log holds no clean error lines);
* ``item_completed`` with a ``FileChange`` item — a patch Codex applied itself (its ``apply_patch``, which
  it also intercepts when the model runs ``apply_patch <<'EOF' …`` through its shell tool): ``changes``
  maps each path (absolute, or relative to the session's directory) to what was done; a path outside the
  worktree is ``outside`` (``status: completed``) or ``blocked`` (not applied).

Approval requests are not recorded there (the ``PermissionRequest`` hook and the screen show them,
:mod:`cortex_tui.agents.codex_hooks`). Codex's thread-title request is not
counted in ``total_token_usage`` either (a known gap of its own accounting, see docs/agents.md).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from cortex_tui.agents.base import AgentSignal
from cortex_tui.agents.jsonl_tail import JsonlTail, iso_epoch
from cortex_tui.model.state import TokenUsage

FIND_EVERY_S = 0.5
"""Looking for the rollout (a glob of the day's directory) at most this often, until it is found."""


def codex_home(env: dict[str, str]) -> Path:
    """The CODEX_HOME a session uses (its env, else ours, else ~/.codex)."""
    raw = env.get("CODEX_HOME") or os.environ.get("CODEX_HOME")
    if raw:
        return Path(raw)
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".codex"


def _int(v: object) -> int:
    return max(0, int(v)) if isinstance(v, int | float) and not isinstance(v, bool) else 0


def usage_of(total: dict[str, Any]) -> TokenUsage:
    inp = _int(total.get("input_tokens"))
    cached = min(_int(total.get("cached_input_tokens")), inp)
    return TokenUsage(input=inp - cached, cache_read=cached, output=_int(total.get("output_tokens")),
                      cache_write=_int(total.get("cache_write_input_tokens")))


def signals_of(obj: dict[str, Any], cwd: str | None = None) -> list[AgentSignal]:
    """Signals carried by one rollout line (none for lines that say nothing about state or usage); ``cwd``:
    the directory the session was started in (its worktree), against which patched paths are judged."""
    if obj.get("type") != "event_msg" or not isinstance(obj.get("payload"), dict):
        return []
    p = obj["payload"]
    kind = p.get("type")
    if kind == "task_started":
        return [AgentSignal("busy", text="turn started")]
    if kind == "token_count":
        info = p.get("info")
        total = info.get("total_token_usage") if isinstance(info, dict) else None
        if isinstance(total, dict):
            return [AgentSignal("usage", usage=usage_of(total), total=True)]
        return []
    if kind == "task_complete":
        return [AgentSignal("idle", text="turn complete")]
    if kind == "turn_aborted":
        return [AgentSignal("idle", text=f"turn aborted ({p.get('reason') or '?'})")]
    if kind == "item_completed" and isinstance(p.get("item"), dict) and p["item"].get("type") == "CommandExecution":
        return _command_signals(p["item"])
    if kind == "item_completed" and isinstance(p.get("item"), dict) and p["item"].get("type") == "FileChange":
        return _patch_signals(p["item"], cwd)
    return []


def _patch_signals(item: dict[str, Any], cwd: str | None) -> list[AgentSignal]:
    """A patch Codex applied itself (``apply_patch``, also when the model runs it as a shell command): its
    ``changes`` name the paths; one outside the worktree is ``outside`` (applied) or ``blocked`` (not)."""
    out = [AgentSignal("busy", text="patch applied")]
    changes = item.get("changes")
    if cwd is None or not isinstance(changes, dict):
        return out
    base = os.path.realpath(cwd)
    applied = item.get("status") == "completed"
    for raw in changes:
        if not isinstance(raw, str) or not raw:
            continue
        full = os.path.realpath(os.path.join(base, raw))
        if full != base and not full.startswith(base.rstrip(os.sep) + os.sep):
            out.append(AgentSignal("outside" if applied else "blocked", text=full))
    return out


def _command_signals(item: dict[str, Any]) -> list[AgentSignal]:
    code = item.get("exit_code")
    if item.get("status") != "failed" and (not isinstance(code, int) or code == 0):
        return [AgentSignal("busy", text="command finished")]
    cmd = item.get("command")
    shown = cmd[-1] if isinstance(cmd, list) and cmd and isinstance(cmd[-1], str) else str(cmd)
    out = item.get("aggregated_output")
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()] if isinstance(out, str) else []
    text = lines[-1] if lines else f"{shown} exited {code}"
    return [AgentSignal("error", text=text[:500])]


def line_time(obj: dict[str, Any]) -> float | None:
    """When Codex wrote a rollout line (its ``timestamp``, ISO 8601 UTC), epoch seconds; None if unreadable."""
    return iso_epoch(obj.get("timestamp"))


def day_dirs(base: Path, since: float) -> list[Path]:
    """``sessions/YYYY/MM/DD`` directories a rollout begun after ``since`` can be in (local or UTC dates, from
    ``since`` to now): never a glob over every day's rollouts."""
    days = set()
    for t in (since - 5, time.time()):
        for st in (time.localtime(t), time.gmtime(t)):
            days.add(time.strftime("%Y/%m/%d", st))
    if since <= 0:  # restored from a checkpoint without a start time: today and yesterday
        for st in (time.localtime(time.time() - 86400), time.gmtime(time.time() - 86400)):
            days.add(time.strftime("%Y/%m/%d", st))
    return [base / d for d in sorted(days) if (base / d).is_dir()]


@dataclass
class RolloutTail(JsonlTail):
    """Finds the rollout of the session started in ``cwd`` (after ``since``) and reads it incrementally."""

    marker: ClassVar[bytes] = b'"event_msg"'

    def _find(self) -> Path | None:
        now = time.monotonic()
        if now - self._last_find < FIND_EVERY_S:
            return None
        self._last_find = now
        base = self.home / "sessions"
        if not base.is_dir():
            return None
        cands = []
        for f in (f for d in day_dirs(base, self.since) for f in d.glob("rollout-*.jsonl")):
            try:
                st = f.stat()
            except OSError:
                continue
            if st.st_mtime >= self.since - 5:
                cands.append((st.st_mtime, f))
        want = os.path.realpath(self.cwd)
        for _, f in sorted(cands, reverse=True):
            try:
                with open(f, "rb") as fh:
                    first = json.loads(fh.readline() or b"{}")
            except (OSError, ValueError):
                continue
            cwd = first.get("payload", {}).get("cwd") if isinstance(first, dict) else None
            if isinstance(cwd, str) and os.path.realpath(cwd) == want:
                return f
        return None

    quiet_before: float = 0.0
    """Busy lines Codex recorded before this time (epoch s) are only progress: a ``PermissionRequest`` hook
    was heard then, and the rollout (read in other watcher batches, or first found after the hook's line)
    may still hold the turn's ``task_started`` — which must not end a waiting the hook just raised."""

    def signals_of(self, obj: dict[str, Any]) -> list[AgentSignal]:
        sigs = signals_of(obj, self.cwd)
        if self.quiet_before and sigs and (at := line_time(obj)) is not None and at < self.quiet_before:
            return [AgentSignal("progress", text=s.text) if s.kind == "busy" else s for s in sigs]
        return sigs

    def checkpoint(self) -> dict[str, Any]:
        return {"path": str(self.path) if self.path else None, "offset": self.offset - len(self._partial)}
