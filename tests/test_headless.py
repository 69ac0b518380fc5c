"""Headless runs: exit codes, report.json, junit.xml, review queue entries with verify results."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from engine_helpers import cli

LAYOUT = """
[run]
name = "ci"
verify = "test -f {file}"
[defaults]
agent = "sim"
[[session]]
name = "good"
script = ["write good.txt ok", "commit good work"]
[[session]]
name = "{second}"
script = {script}
"""


def _layout(tmp_path: Path, *, file: str = "good.txt", second: str = "also-good",
            script: str = '["write good.txt x", "commit more"]') -> Path:
    p = tmp_path / "ci.toml"
    p.write_text(LAYOUT.format(file=file, second=second, script=script))
    return p


def test_all_good_exits_0_with_report_junit_and_review(git_repo: Path, tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    rep, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--report", str(rep), "--junit", str(junit),
            check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "[good] starting → running" in r.stderr  # progress on stderr
    data = json.loads(rep.read_text())
    assert data["exit_code"] == 0 and data["run"] == "ci"
    good = next(s for s in data["sessions"] if s["name"] == "good")
    assert good["state"] == "finished" and good["verify"]["exit_code"] == 0 and good["conflicts"] == []
    assert good["head_commit"] and good["branch"] == "cortex/ci/good"
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "0"
    assert sorted(c.get("name") or "" for c in suite.iter("testcase")) == ["also-good", "good"]
    lst = json.loads(cli("review", "list", "--repo", str(git_repo), "--json").stdout)
    assert {e["session"]: e["status"] for e in lst} == {"good": "pending", "also-good": "pending"}
    assert {f["path"] for f in next(e for e in lst if e["session"] == "good")["files"]} == {"good.txt"}


def test_failed_session_and_failed_verify_exit_1(git_repo: Path, tmp_path: Path) -> None:
    layout = _layout(tmp_path, file="missing.txt", second="crasher", script='["error boom", "exit 4"]')
    rep, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--report", str(rep), "--junit", str(junit),
            check=False, timeout=120)
    assert r.returncode == 1, r.stderr
    data = json.loads(rep.read_text())
    assert "crasher: failed" in data["reason"] and "good: verify failed" in data["reason"]
    crasher = next(s for s in data["sessions"] if s["name"] == "crasher")
    assert crasher["exit_code"] == 4 and [t["kind"] for t in crasher["triggers"]] == ["exited"]
    suite = ET.parse(junit).getroot()
    failures = {c.get("name"): c.find("failure") for c in suite.iter("testcase")}
    crash_failure = failures["crasher"]
    assert crash_failure is not None and "exit 4" in (crash_failure.get("message") or "")


def test_timeout_exits_3_and_stops_sessions(git_repo: Path, tmp_path: Path) -> None:
    layout = _layout(tmp_path, second="sleeper", script='["sleep 60"]')
    rep = tmp_path / "report.json"
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--report", str(rep), "--timeout", "3s",
            check=False, timeout=60)
    assert r.returncode == 3, r.stderr
    data = json.loads(rep.read_text())
    sleeper = next(s for s in data["sessions"] if s["name"] == "sleeper")
    assert sleeper["state"] == "stopped"
