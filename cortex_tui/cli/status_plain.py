"""``status --json`` from the run's files with the stdlib only: ``state.json`` and ``review.json`` checked
against tables of the models' fields, and shaped as :func:`cortex_tui.store.status.status_dict` and
:func:`~cortex_tui.store.status.add_review` shape them — without importing pydantic (its import and the build
of the state and review models were ~200 ms of a ~250 ms call at 100 sessions).

This is a reader of what the engine writes (``model_dump_json`` of the models), not a second validator: it
answers only when every field has exactly the JSON type the model's field holds (so the model would read it
as is: no coercion, no error), and otherwise returns None — the models read the file then
(:func:`cortex_tui.cli.status_fast.status_data`), and they print what they always printed, their error for a
corrupt file included. Also None: a state file of a version without per-session budgets (the layout is
parsed then), a string with a ``\\u`` surrogate escape (the models' JSON parser and ``json`` differ there).
Anything that changes state reads it with the models; nothing here writes.

The tables mirror ``model/state.py`` and ``review/models.py`` field by field, in their order, with their
defaults; ``tests/test_status_plain.py`` checks them against the models (a field added there and not here
fails it) and compares both readers' output on real runs, old, partial and corrupt state files.
"""

from __future__ import annotations

import json
import os
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Check = Callable[[Any], Any]


class Unsure(Exception):
    """A value the model might read otherwise than as is (coerce it, or refuse it): the models must read it."""


REQUIRED: Any = object()
"""A field without a default (missing: the model refuses the file)."""

_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _kind(kind: str) -> Callable[[Check], Check]:
    def mark(f: Check) -> Check:
        f.kind = kind  # type: ignore[attr-defined]  # what the tests compare with the model's annotation
        return f

    return mark


@_kind("str")
def _str(v: Any) -> Any:
    if type(v) is str:
        return v
    raise Unsure


@_kind("int")
def _int(v: Any) -> Any:
    if type(v) is int:  # not bool (the model coerces it), not 1.0
        return v
    raise Unsure


@_kind("float")
def _float(v: Any) -> Any:
    t = type(v)
    if t is float:
        return v
    if t is int and -(2**53) <= v <= 2**53:  # the model holds 5 as 5.0 (exactly, in this range)
        return float(v)
    raise Unsure


@_kind("bool")
def _bool(v: Any) -> Any:
    if type(v) is bool:
        return v
    raise Unsure


@_kind("any")
def _any(v: Any) -> Any:
    return v


def _opt(check: Check) -> Check:
    @_kind(f"{check.kind}?")  # type: ignore[attr-defined]
    def opt(v: Any) -> Any:
        return None if v is None else check(v)

    opt.inner = check  # type: ignore[attr-defined]
    return opt


def _list(check: Check) -> Check:
    @_kind(f"list[{check.kind}]")  # type: ignore[attr-defined]
    def lst(v: Any) -> Any:
        if type(v) is not list:
            raise Unsure
        return [check(x) for x in v]

    lst.inner = check  # type: ignore[attr-defined]
    return lst


def _dict(check: Check) -> Check:
    @_kind(f"dict[str,{check.kind}]")  # type: ignore[attr-defined]
    def dct(v: Any) -> Any:
        if type(v) is not dict:  # JSON keys are strings: the model's dict[str, …] keys hold as they are
            raise Unsure
        return {k: check(x) for k, x in v.items()}

    dct.inner = check  # type: ignore[attr-defined]
    return dct


def _one_of(kind: str, values: tuple[str, ...]) -> Check:
    allowed = frozenset(values)

    @_kind(f"{kind}({','.join(values)})")
    def one(v: Any) -> Any:
        if type(v) is str and v in allowed:
            return v
        raise Unsure

    return one


def _model(name: str, fields: dict[str, tuple[Check, Any]]) -> Check:
    """A model (``extra="ignore"``): every field checked, defaults filled in, other keys dropped."""

    @_kind(name)
    def model(v: Any) -> Any:
        if type(v) is not dict:
            raise Unsure
        out = {}
        for key, (check, default) in fields.items():
            if key in v:
                out[key] = check(v[key])
            elif default is REQUIRED:
                raise Unsure
            else:
                out[key] = default  # shared, never changed: nothing here writes
        return out

    model.fields = fields  # type: ignore[attr-defined]
    return model


S, N, F, B, A = _str, _int, _float, _bool, _any  # str, int (not "I": E741), float, bool, Any
OS, ON, OF = _opt(S), _opt(N), _opt(F)
DA = _dict(A)

SESSION_STATES = ("pending", "starting", "running", "waiting", "idle", "finished", "failed", "stopped", "unknown",
                  "blocked")
LIVE_STATES = frozenset(("starting", "running", "waiting", "idle", "unknown"))
"""``SessionState.live``."""

TRIGGER = _model("TriggerRecord", {
    "kind": (S, REQUIRED), "active": (B, True), "severity": (S, "warning"), "evidence": (DA, {}),
    "at": (F, REQUIRED), "cleared_at": (OF, None), "key": (S, ""), "cause_at": (OF, None),
})
TOKENS = _model("TokenUsage", {"input": (N, 0), "output": (N, 0), "cache_read": (N, 0), "cache_write": (N, 0)})
SESSION = _model("SessionRecord", {
    "name": (S, REQUIRED), "slug": (S, REQUIRED), "agent": (S, REQUIRED), "node": (S, "local"),
    "state": (_one_of("SessionState", SESSION_STATES), "pending"), "reason": (OS, None),
    "branch": (S, REQUIRED), "worktree": (S, REQUIRED), "base_commit": (OS, None), "window_id": (OS, None),
    "pane_id": (OS, None), "pane_pid": (ON, None), "exit_code": (ON, None), "created_at": (OF, None),
    "started_at": (OF, None), "finished_at": (OF, None), "last_output_at": (OF, None),
    "last_progress_at": (OF, None), "log_offset": (N, 0), "events_offset": (N, 0), "remote_pid": (ON, None),
    "remote_log_offset": (N, 0), "remote_events_offset": (N, 0), "remote_files": (_dict(N), {}),
    "restarts": (N, 0), "attempt": (N, 0), "restart_at": (OF, None), "review_due": (B, False),
    "triggers": (_list(TRIGGER), []), "tokens": (_opt(TOKENS), None), "cost_usd": (OF, None),
    "usage_by_model": (_dict(TOKENS), {}), "adapter_state": (DA, {}), "reported_cost": (_dict(F), {}),
    "cpu_percent": (OF, None), "rss_bytes": (ON, None), "disk_bytes": (ON, None), "head_commit": (OS, None),
    "changed_files": (_list(S), []), "diff_added": (ON, None), "diff_removed": (ON, None),
    "handover": (_dict(S), {}), "handover_from_base": (B, False), "stale_base": (_dict(_list(S)), {}),
    "verify_exit": (ON, None), "blocked_paths": (_list(S), []), "phase": (OS, None), "setup_done": (B, False),
    "ports": (_list(N), []), "teardown": (_list(S), []), "teardown_env": (_dict(S), {}), "sandbox": (OS, None),
    "serving": (_list(N), []), "prompt_typed_at": (OF, None), "budget_usd": (OF, None),
    "budget_tokens": (ON, None),
})
RUN_STATE = _model("RunState", {
    "version": (N, 1), "run": (S, REQUIRED), "layout_path": (S, REQUIRED), "layout_text": (S, REQUIRED),
    "repo": (S, REQUIRED), "base": (S, REQUIRED), "base_commit": (S, REQUIRED), "socket": (S, REQUIRED),
    "created_at": (F, REQUIRED), "updated_at": (F, 0.0), "supervisor_pid": (ON, None),
    "sessions": (_dict(SESSION), {}), "nodes": (_dict(DA), {}), "added": (_list(DA), []), "instance": (S, ""),
    "pool": (DA, {}),
})

VERIFY = _model("VerifyResult", {
    "exit_code": (N, REQUIRED), "duration_s": (F, REQUIRED), "tail": (S, REQUIRED), "command": (S, ""),
    "timed_out": (B, False), "head": (OS, None), "log_path": (OS, None),
})
FILE_STAT = _model("FileStat", {
    "path": (S, REQUIRED), "added": (N, REQUIRED), "removed": (N, REQUIRED), "in_scope": (B, REQUIRED),
    "binary": (B, False),
})
DECISION = _model("DecisionRecord", {
    "decision": (_one_of("Literal", ("approve", "reject", "request_changes")), REQUIRED), "by": (S, REQUIRED),
    "at": (F, REQUIRED), "detail": (S, ""), "head": (OS, None),
})
QUEUE_ENTRY = _model("QueueEntry", {
    "session": (S, REQUIRED), "branch": (S, REQUIRED),
    "status": (_one_of("Literal", ("pending", "approved", "rejected", "changes_requested")), "pending"),
    "verify": (_opt(VERIFY), None), "conflicts": (_list(S), []), "files": (_list(FILE_STAT), []),
    "commits": (_list(S), []), "slug": (S, ""), "worktree": (S, ""), "head": (OS, None),
    "merge_base": (OS, None), "base_tip": (OS, None), "verify_command": (OS, None), "uncommitted": (_list(S), []),
    "completed_at": (OF, None), "queued_at": (F, 0.0), "tokens": (_opt(TOKENS), None), "cost_usd": (OF, None),
    "triggers": (_list(TRIGGER), []), "round": (N, 1), "merged_commit": (OS, None),
    "landed": (_opt(_one_of("Literal", ("content", "rebase", "squash"))), None),
    "decisions": (_list(DECISION), []), "rebuilt": (B, False),
})
REVIEW_DOC = _model("ReviewDoc", {"version": (N, 1), "run": (S, REQUIRED), "entries": (_dict(QUEUE_ENTRY), {})})


def _read(path: str, check: Check, errors: str) -> Any:
    """The file checked against ``check``; FileNotFoundError when there is none; Unsure for anything else
    (unreadable, not JSON, a value the model might read otherwise)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise
    except OSError:
        raise Unsure from None
    try:
        text = raw.decode("utf-8", errors=errors)
        if _SURROGATE.search(text):
            raise Unsure
        doc = json.loads(text)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, nested too deep for json: the models say so
        raise Unsure from None
    return check(doc), doc


def session_out(rec: dict[str, Any], budget_usd: float | None, budget_tokens: int | None) -> dict[str, Any]:
    """:func:`cortex_tui.store.status.session_dict` of a checked record."""
    t = rec["tokens"]
    tokens = None if t is None else {
        "input": t["input"], "output": t["output"], "cache_read": t["cache_read"], "cache_write": t["cache_write"],
        "total": t["input"] + t["output"] + t["cache_read"] + t["cache_write"]}
    fractions = []
    if budget_usd and rec["cost_usd"] is not None:
        fractions.append(rec["cost_usd"] / budget_usd)
    if budget_tokens and tokens is not None:
        fractions.append(tokens["total"] / budget_tokens)
    return {
        "name": rec["name"],
        "agent": rec["agent"],
        "node": rec["node"],
        "state": rec["state"],
        "reason": rec["reason"],
        "branch": rec["branch"],
        "worktree": rec["worktree"],
        "exit_code": rec["exit_code"],
        "window": rec["window_id"],
        "started_at": rec["started_at"],
        "finished_at": rec["finished_at"],
        "last_activity": rec["last_output_at"],
        "restarts": rec["restarts"],
        "head_commit": rec["head_commit"],
        "triggers": [
            {"kind": x["kind"], "active": x["active"], "severity": x["severity"], "evidence": x["evidence"],
             "at": x["at"], "cleared_at": x["cleared_at"]}
            for x in rec["triggers"]
        ],
        "tokens": tokens,
        "cost_usd": rec["cost_usd"],
        "budget": {"usd": budget_usd, "tokens": budget_tokens,
                   "used_fraction": max(fractions) if fractions else None},
        "cpu_percent": rec["cpu_percent"],
        "rss_bytes": rec["rss_bytes"],
        "disk_bytes": rec["disk_bytes"],
        "phase": rec["phase"],
        "ports": rec["ports"],
        "serving": [f"http://127.0.0.1:{p}" for p in rec["serving"]] if rec["state"] in LIVE_STATES else [],
        "sandbox": rec["sandbox"],
        "changed_files": rec["changed_files"],
        "diff": {"added": rec["diff_added"], "removed": rec["diff_removed"]},
    }


def from_files(run_dir: str, supervisor_alive: bool) -> dict[str, Any] | None:
    """What ``status --json`` prints for the run in ``run_dir`` (the output of
    :func:`cortex_tui.cli.status_fast.from_files`), or None: the models must read its files."""
    try:
        state, raw = _read(os.path.join(run_dir, "state.json"), RUN_STATE, "replace")
        if any("budget_usd" not in r for r in raw.get("sessions", {}).values()):  # an older state file: its layout's
            return None
        try:
            review, _ = _read(os.path.join(run_dir, "review.json"), REVIEW_DOC, "strict")
            entries = review["entries"]
        except FileNotFoundError:
            entries = {}
    except (Unsure, FileNotFoundError):
        return None
    sessions = []
    for rec in state["sessions"].values():
        s = session_out(rec, rec["budget_usd"], rec["budget_tokens"])
        e = entries.get(s["name"])
        s["verify"] = e["verify"] if e is not None else None  # model_dump() of the checked VerifyResult
        s["review_status"] = e["status"] if e is not None else None
        sessions.append(s)
    return {
        "run": state["run"],
        "repo": state["repo"],
        "base": state["base"],
        "base_commit": state["base_commit"],
        "socket": state["socket"],
        "updated_at": state["updated_at"],
        "supervisor": {"pid": state["supervisor_pid"], "alive": supervisor_alive},
        "sessions": sessions,
        "nodes": list(state["nodes"].values()),
    }
