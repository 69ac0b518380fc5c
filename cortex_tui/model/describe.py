"""Trigger evidence as a person reads it: one line, units, one cause, no Python reprs.

Used by the headless progress lines (and anything else that shows a trigger in words). The evidence dicts
themselves (state.json, events.jsonl, report.json) keep their machine-readable fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def fmt_bytes(n: object) -> str:
    """``134524928`` -> ``128 MiB`` (binary units, like ``ps``/``top``)."""
    if not isinstance(n, int | float):
        return str(n)
    v = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(v) < 1024 or unit == "GiB":
            return f"{v:.0f} {unit}" if unit == "B" or v >= 100 else f"{v:.1f} {unit}"
        v /= 1024
    return f"{v:.1f} GiB"  # pragma: no cover


def fmt_seconds(s: object) -> str:
    if not isinstance(s, int | float):
        return str(s)
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _amount(metric: object, v: object) -> str:
    if not isinstance(v, int | float):
        return str(v)
    return f"${v:,.2f}" if metric == "usd" else f"{v:,.0f} tokens"


def _list(v: object) -> str:
    return ", ".join(str(x) for x in v) if isinstance(v, list | tuple) else str(v)


def describe_trigger(kind: str, ev: Mapping[str, Any]) -> str:
    """What fired and why, in words (``silent for 17 s (threshold 15 s, CPU 0 %)``)."""
    if kind == "silence":
        cpu = ev.get("cpu_percent")
        return (f"silent for {fmt_seconds(ev.get('silent_for_s'))} (threshold {fmt_seconds(ev.get('threshold_s'))}"
                + (f", CPU {cpu:.0f} %" if isinstance(cpu, int | float) else "") + ")")
    if kind == "repeated_error":
        return (f"the same error {ev.get('count')} times within {fmt_seconds(ev.get('window_s'))}: "
                f"{ev.get('normalized', '')}")
    if kind == "approval_waiting":
        return f"waiting for approval: {ev.get('prompt', '')}"
    if kind == "out_of_scope":
        scope = ev.get("scope")
        return f"{ev.get('change', 'changed')} {ev.get('path')} outside its scope" + (
            f" ({_list(scope)})" if scope else "")
    if kind == "overlap":
        return f"{ev.get('path')} is changed by several sessions: {_list(ev.get('sessions', []))}"
    if kind == "exited":
        last = [ln for ln in ev.get("last_lines") or [] if str(ln).strip()]
        if ev.get("cause"):
            return f"exited with code {ev.get('exit_code')}: {ev['cause']}"
        return f"exited with code {ev.get('exit_code')}" + (f"; last line: {last[-1]}" if last else "")
    if kind == "budget":
        metric = ev.get("metric")
        word = "budget exceeded" if ev.get("threshold") == "exceed" else "80 % of the budget used"
        scope = "run " if ev.get("scope") == "run" else ""
        return f"{scope}{word}: {_amount(metric, ev.get('used'))} of {_amount(metric, ev.get('limit'))}"
    if kind == "memory":
        procs = ev.get("processes")
        return (f"memory {fmt_bytes(ev.get('value'))} over the limit {fmt_bytes(ev.get('limit'))}"
                + (f" ({procs} processes)" if isinstance(procs, int) else ""))
    return "; ".join(f"{k}: {_list(v)}" for k, v in ev.items() if k != "last_lines")
