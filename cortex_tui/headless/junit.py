"""JUnit XML: one <testcase> per session; failure message = the reason it did not finish cleanly."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from cortex_tui.store.files import atomic_write
from cortex_tui.text import visible_data


def junit_xml(report: dict[str, Any]) -> str:
    """Well-formed for any input: every string an agent or a layout controls goes through
    :func:`visible_data` first (XML 1.0 cannot carry ESC, most C0 characters or U+FFFE at all)."""
    report = visible_data(report)
    sessions = report.get("sessions", [])
    failing = [s for s in sessions if s.get("failure")]
    run_failed = (report.get("exit_code") not in (0, None) and not failing  # timeout, signal, supervisor error
                  and report.get("exit_reason") != "integration")  # (that one has its own testcase)
    suite = ET.Element("testsuite", name=f"cortex-tui.{report.get('run')}", tests=str(len(sessions) + run_failed),
                       failures=str(len(failing) + run_failed), errors="0", time=str(report.get("duration_s", 0)))
    for s in sessions:
        dur = (s["finished_at"] or 0) - (s["started_at"] or 0) if s.get("started_at") and s.get("finished_at") else 0
        case = ET.SubElement(suite, "testcase", classname=f"cortex.{report.get('run')}", name=s["name"],
                             time=f"{max(dur, 0):.3f}")
        if s.get("failure"):
            fail = ET.SubElement(case, "failure", message=s["failure"], type=s["state"])
            active = [t for t in s.get("triggers", []) if t.get("active")]
            fail.text = "\n".join([s["failure"], *(f"{t['kind']}: {_evidence(t)}" for t in active)])
        trig = [t for t in s.get("triggers", [])]
        if trig:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"trigger {t['kind']} {'active' if t['active'] else 'cleared'}: {_evidence(t)}"
                                  for t in trig)
    gate = report.get("integration")
    if isinstance(gate, dict):  # `run --headless --integrate`: the combination as one more testcase
        steps = gate.get("steps") or []
        case = ET.SubElement(suite, "testcase", classname=f"cortex.{report.get('run')}", name="integration",
                             time=f"{sum(float(st.get('duration_s') or 0) for st in steps):.3f}")
        suite.set("tests", str(int(suite.get("tests", "0")) + 1))
        if not gate.get("ok"):
            suite.set("failures", str(int(suite.get("failures", "0")) + 1))
            failing_set = " + ".join(gate.get("failing_set") or []) or "the combination"
            fail = ET.SubElement(case, "failure", message=str(report.get("reason") or f"{failing_set} fail together"),
                                 type="integration")
            fail.text = "\n".join([f"failing set: {failing_set}", *(f"step {'+'.join(st.get('sessions', []))}: "
                                   f"exit {st.get('exit_code')} (log {st.get('log_path')})" for st in steps)])
    if run_failed:
        case = ET.SubElement(suite, "testcase", classname=f"cortex.{report.get('run')}", name="(run)", time="0")
        ET.SubElement(case, "failure", message=str(report.get("reason") or "run failed"),
                      type=f"exit {report.get('exit_code')}")
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _evidence(t: dict[str, Any]) -> str:
    """A trigger's evidence as ``key: value`` pairs (no Python reprs)."""
    ev = t.get("evidence") or {}
    return ", ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in ev.items()
                     if k != "last_lines") or "-"


def write_junit(path: Path, report: dict[str, Any]) -> None:
    atomic_write(path, junit_xml(report))
