"""GitHub Actions integration: ``::error``/``::warning`` annotations and a job summary."""

from __future__ import annotations

import os
from typing import Any, TextIO

from cortex_tui.text import md_cell, visible


def _esc(s: str) -> str:
    """Workflow-command escaping (data part), after :func:`visible`: no control character (an escape
    sequence or a newline starting a new ``::command::``) ever reaches the log raw."""
    return visible(s).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _esc_prop(s: str) -> str:
    return _esc(s).replace(":", "%3A").replace(",", "%2C")


def annotation_lines(report: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for s in report.get("sessions", []):
        for t in s.get("triggers", []):
            ev = t.get("evidence") or {}
            level = "error" if t.get("severity") == "error" else "warning"
            kind, name = t.get("kind"), s["name"]
            props = ["title=" + _esc_prop(f"cortex-tui {kind} ({name})")]
            if isinstance(ev.get("path"), str):
                props.insert(0, f"file={_esc_prop(ev['path'])}")
            detail = ", ".join(f"{k}={visible(v)}" for k, v in ev.items() if k not in ("last_lines", "scope"))[:500]
            out.append(f"::{level} {','.join(props)}::" + _esc(f"{name}: {kind}: {detail}"))
        if s.get("failure"):
            msg = f"{s['name']}: {visible(s['failure'])}"
            out.append(f"::error title={_esc_prop('cortex-tui session ' + s['name'])}::{_esc(msg)}")
    if report.get("exit_code") not in (0, None) and not any(s.get("failure") for s in report.get("sessions", [])):
        out.append(f"::error title=cortex-tui run::{_esc(visible(str(report.get('reason', 'run failed'))))}")
    return out


def summary_markdown(report: dict[str, Any]) -> str:
    rows = ["| session | result | state | exit | verify | triggers | tokens | cost |",
            "|---|---|---|---|---|---|---|---|"]
    for s in report.get("sessions", []):
        v = s.get("verify")
        verify = "–" if not v else ("✅ pass" if v.get("exit_code") == 0 else f"❌ exit {v.get('exit_code')}")
        trig = ", ".join(sorted({t["kind"] for t in s.get("triggers", [])})) or "–"
        tok = (s.get("tokens") or {}).get("total")
        cost = s.get("cost_usd")
        result = f"❌ {md_cell(s['failure'])}" if s.get("failure") else "✅ passed"
        rows.append(f"| {md_cell(s['name'])} | {result} | {s['state']} | {'' if s.get('exit_code') is None else s['exit_code']} | "
                    f"{verify} | {md_cell(trig)} | {'unknown' if tok is None else tok} | "
                    f"{'unknown' if cost is None else f'${cost:.4f}'} |")
    head = (f"### cortex-tui run `{report.get('run')}` — exit {report.get('exit_code')}\n\n"
            f"{visible(report.get('reason', ''))}\n\n")
    return head + "\n".join(rows) + "\n"


def emit(report: dict[str, Any], stream: TextIO) -> None:
    """When running under GitHub Actions: annotations on ``stream`` and the job summary file."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    for line in annotation_lines(report):
        print(line, file=stream)
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(summary_markdown(report))
