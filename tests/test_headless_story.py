"""Exit code, report.json, JUnit, GitHub annotations and the step summary tell one story, for every failure
reason: a non-zero exit, a failed verify, a --fail-on trigger, a budget stop, a timeout, a stop by signal.

Today's bug this guards: `run --headless` exits 1 (verify failed / --fail-on fired) while `--junit` writes
failures="0" and a passing testcase.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from conftest import wait_until

STORY = """
[run]
name = "story"
verify = "test -f {verify_file}"
[defaults]
agent = "sim"
[[session]]
name = "clean"
script = ["write clean.txt ok", "commit clean"]
[[session]]
name = "crasher"
script = ["say going down", "exit 4"]
[[session]]
name = "unverified"
verify = "exit 7"
script = ["write u.txt u", "commit u"]
[[session]]
name = "outside"
scope = ["src/**"]
script = ["write docs/x.md oops", "commit outside"]
[[session]]
name = "spender"
budget_tokens = 1000
on_trigger = {{ budget = "stop" }}
script = ["tokens 900 900", "sleep 30", "commit never"]
"""


def _run(repo: Path, tmp: Path, layout_text: str, *extra: str, sigterm_after: str | None = None
         ) -> tuple[int, dict[str, Any], ET.Element, list[str], str, str]:
    layout = tmp / "story.toml"
    layout.write_text(layout_text)
    rep, junit, summary = tmp / "report.json", tmp / "junit.xml", tmp / "summary.md"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    argv = [sys.executable, "-m", "cortex_tui.cli", "run", str(layout), "--repo", str(repo), "--headless",
            "--report", str(rep), "--junit", str(junit), *extra]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         stdin=subprocess.DEVNULL)
    if sigterm_after is not None:
        log = repo / "coordination" / "runs" / "story" / "logs" / f"{sigterm_after}.log"
        wait_until(lambda: log.exists() and "waiting here" in log.read_text(errors="replace"), timeout=60,
                   what="the session runs")
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=180)
    annotations = [ln for ln in out.splitlines() if ln.startswith("::")]
    return p.returncode, json.loads(rep.read_text()), ET.parse(junit).getroot(), annotations, \
        summary.read_text(), err


def _one_story(code: int, data: dict[str, Any], suite: ET.Element, annotations: list[str], summary: str,
               expect_failing: dict[str, str], expect_code: int) -> None:
    """Every output agrees with ``expect_failing`` (session -> a word its failure must contain)."""
    assert code == expect_code
    assert data["exit_code"] == expect_code
    assert data["supervisor"]["alive"] is False  # written after supervision ended
    assert f"exit {expect_code}" in summary
    failing = {s["name"]: s["failure"] for s in data["sessions"] if s["failure"]}
    assert set(failing) == set(expect_failing), failing
    assert data["failures"] == failing
    for name, word in expect_failing.items():
        assert word in failing[name], (name, failing[name])
        assert name in data["reason"]
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    junit_failing = {n for n, c in cases.items() if c.find("failure") is not None}
    assert junit_failing == set(expect_failing)
    assert suite.get("failures") == str(len(expect_failing))
    for name in expect_failing:
        fail = cases[name].find("failure")
        assert fail is not None and fail.get("message") == failing[name]
    errors = [a for a in annotations if a.startswith("::error title=cortex-tui session ")]
    assert {a.split("::", 2)[1].removeprefix("error title=cortex-tui session ") for a in errors} == set(expect_failing)
    rows = {ln.split("|")[1].strip(): ln for ln in summary.splitlines() if ln.startswith("| ") and "---" not in ln}
    for s in data["sessions"]:
        row = rows[s["name"]]
        assert ("❌" in row) == (s["name"] in expect_failing), row
        assert ("✅ passed" in row) == (s["name"] not in expect_failing), row


def test_every_failure_reason_tells_one_story(git_repo: Path, tmp_path: Path) -> None:
    code, data, suite, annotations, summary, err = _run(
        git_repo, tmp_path, STORY.format(verify_file="clean.txt"), "--fail-on", "out_of_scope", "--timeout", "2m")
    _one_story(code, data, suite, annotations, summary, {
        "crasher": "exit code 4",
        "unverified": "verify failed (exit 7)",
        "outside": "--fail-on trigger fired: out_of_scope",
        "spender": "stopped",
    }, expect_code=1)
    spender = next(s for s in data["sessions"] if s["name"] == "spender")
    assert "budget" in spender["failure"]  # the budget stop names its cause
    last = [ln for ln in err.splitlines() if ln.startswith("cortex-tui:")][-1]
    assert "crasher: failed with exit code 4;" in last and "failed (exit 4)" not in last  # one cause, said once
    assert last.endswith("(run exit code 1)")


def test_fail_on_alone_fails_junit_too(git_repo: Path, tmp_path: Path) -> None:
    """The session finished with 0 and verified; only --fail-on fails it: JUnit must not say green."""
    text = ('[run]\nname = "story"\n[defaults]\nagent = "sim"\n[[session]]\nname = "outside"\nscope = ["src/**"]\n'
            'script = ["write docs/x.md oops", "commit outside"]\n')
    code, data, suite, annotations, summary, _ = _run(git_repo, tmp_path, text, "--fail-on", "out_of_scope")
    _one_story(code, data, suite, annotations, summary, {"outside": "out_of_scope"}, expect_code=1)


def test_timeout_tells_one_story(git_repo: Path, tmp_path: Path) -> None:
    text = ('[run]\nname = "story"\n[defaults]\nagent = "sim"\n[[session]]\nname = "quick"\nscript = ["say hi"]\n'
            '[[session]]\nname = "slow"\nscript = ["sleep 120"]\n')
    code, data, suite, annotations, summary, _ = _run(git_repo, tmp_path, text, "--timeout", "20s")  # "quick" ends long before, even under load
    _one_story(code, data, suite, annotations, summary, {"slow": "stopped"}, expect_code=3)
    assert data["reason"].startswith("timed out")


def test_sigterm_tells_one_story(git_repo: Path, tmp_path: Path) -> None:
    text = ('[run]\nname = "story"\n[defaults]\nagent = "sim"\n[[session]]\nname = "waiter"\n'
            'script = ["say waiting here", "sleep 120"]\n')
    code, data, suite, annotations, summary, _ = _run(git_repo, tmp_path, text, sigterm_after="waiter")
    _one_story(code, data, suite, annotations, summary, {"waiter": "stopped"}, expect_code=143)
