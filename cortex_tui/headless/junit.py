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
    failures = [s for s in sessions if not (s["state"] == "finished" and s["exit_code"] == 0)
                or s.get("verify_passed") is False]
    suite = ET.Element("testsuite", name=f"cortex-tui.{report.get('run')}", tests=str(len(sessions)),
                       failures=str(len(failures)), errors="0", time=str(report.get("duration_s", 0)))
    for s in sessions:
        dur = (s["finished_at"] or 0) - (s["started_at"] or 0) if s.get("started_at") and s.get("finished_at") else 0
        case = ET.SubElement(suite, "testcase", classname=f"cortex.{report.get('run')}", name=s["name"],
                             time=f"{max(dur, 0):.3f}")
        if s in failures:
            msg = f"{s['state']}" + (f": {s['reason']}" if s.get("reason") else "")
            if s["state"] == "finished" and s["exit_code"] == 0:  # it ran, its verify did not pass
                v = s.get("verify")
                msg = f"verify failed (exit {v['exit_code']})" if v else "verify not run (no result recorded)"
            fail = ET.SubElement(case, "failure", message=msg, type=s["state"])
            active = [t for t in s.get("triggers", []) if t.get("active")]
            fail.text = "\n".join(f"{t['kind']}: {t['evidence']}" for t in active) or msg
        trig = [t for t in s.get("triggers", [])]
        if trig:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"trigger {t['kind']} active={t['active']}: {t['evidence']}" for t in trig)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def write_junit(path: Path, report: dict[str, Any]) -> None:
    atomic_write(path, junit_xml(report))
