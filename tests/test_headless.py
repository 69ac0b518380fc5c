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
    assert data["budget"]["used_tokens"] == 0 and data["budget"]["used_fraction"] is None
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
    assert crash_failure is not None and "exit code 4" in (crash_failure.get("message") or "")


def test_timeout_exits_3_and_stops_sessions(git_repo: Path, tmp_path: Path) -> None:
    layout = _layout(tmp_path, second="sleeper", script='["sleep 60"]')
    rep = tmp_path / "report.json"
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--report", str(rep), "--timeout", "3s",
            check=False, timeout=60)
    assert r.returncode == 3, r.stderr
    data = json.loads(rep.read_text())
    sleeper = next(s for s in data["sessions"] if s["name"] == "sleeper")
    assert sleeper["state"] == "stopped"


def test_github_annotations_and_summary(git_repo: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    layout = _layout(tmp_path, second="wanderer", script='["write docs/x.md out", "write good.txt ok", "commit wander"]')
    text = layout.read_text().replace('name = "wanderer"', 'name = "wanderer"\nscope = ["src/**"]')
    layout.write_text(text)
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    r = subprocess.run([sys.executable, "-m", "cortex_tui.cli", "run", str(layout), "--repo", str(git_repo),
                        "--headless", "--fail-on", "out_of_scope"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 1, r.stderr
    assert "--fail-on trigger fired: out_of_scope" in r.stderr
    ann = [ln for ln in r.stdout.splitlines() if ln.startswith("::")]
    assert any(ln.startswith("::error file=docs/x.md,title=cortex-tui out_of_scope (wanderer)::") for ln in ann), ann
    md = summary.read_text()
    assert "| wanderer | ❌ --fail-on trigger fired: out_of_scope | finished | 0 |" in md


def test_sigterm_stops_sessions_writes_report_no_orphans(git_repo: Path, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from cortex_tui.backends.tmux import Tmux

    layout = _layout(tmp_path, second="sleeper", script='["say sleeping", "sleep 60"]')
    rep = tmp_path / "report.json"
    p = subprocess.Popen([sys.executable, "-m", "cortex_tui.cli", "run", str(layout), "--repo", str(git_repo),
                          "--headless", "--report", str(rep)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    state = git_repo / "coordination/runs/ci/state.json"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and '"state": "running"' not in (state.read_text() if state.exists() else ""):
        time.sleep(0.1)
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    data = json.loads(rep.read_text())
    sleeper = next(s for s in data["sessions"] if s["name"] == "sleeper")
    assert sleeper["state"] == "stopped" and "SIGTERM" in (sleeper["reason"] or "")
    sock = data["socket"]
    live = [w for w in Tmux(sock).list_windows() if w.tag == "sleeper" and not w.dead]
    assert live == []  # no orphan agent left running


def test_run_headless_best_of_layout_reports_ranking(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "bo.toml"
    layout.write_text("""
[run]
name = "bo-run"
mode = "best-of"
verify = "test -f ok.txt"
[[session]]
name = "fails"
agent = "sim"
script = ["write nope.txt x", "commit no"]
[[session]]
name = "passes"
agent = "sim"
script = ["write ok.txt fine", "commit yes"]
""")
    rep = tmp_path / "report.json"
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--report", str(rep), check=False, timeout=120)
    assert r.returncode == 1  # one variant failed verify
    data = json.loads(rep.read_text())
    assert data["ranking"] == ["passes", "fails"]
    scores = {s["name"]: s["score"] for s in data["sessions"]}
    assert (scores["passes"]["verify"], scores["fails"]["verify"]) == ("pass", "fail")
    assert scores["passes"]["rank"] == 1 and scores["fails"]["verify_exit_code"] == 1
