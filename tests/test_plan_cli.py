"""`cortex-tui plan` and `cortex-tui validate` as a user runs them: real processes, real git, the loopback API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from fake_anthropic import FakeAnthropic, Reply
from test_planner import APP, GOOD, make_repo, plan, task


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "cortex_tui.cli", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=full)


OVERLAPPING = """[run]
name = "overlap"

[defaults]
agent = "shell"

[[session]]
name = "api"
command = "true"
scope = ["src/shop/**", "tests/test_app.py"]

[[session]]
name = "tests"
command = "true"
scope = ["tests/**"]
"""


def test_validate_warns_on_overlap_and_strict_fails(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop", APP)
    layout = repo / "overlap.toml"
    layout.write_text(OVERLAPPING)
    r = cli("validate", str(layout))
    assert r.returncode == 0, r.stderr
    assert f"warning: {layout}:12: sessions 'api' and 'tests' may run at the same time" in r.stderr
    assert "tests/test_app.py" in r.stderr and "depends_on = ['api'] to session 'tests'" in r.stderr
    assert "1 independence warning(s)" in r.stdout
    r = cli("validate", str(layout), "--strict")
    assert r.returncode == 2 and "error:" in r.stderr and "tests/test_app.py" in r.stderr
    layout.write_text(OVERLAPPING + 'depends_on = ["api"]\n')
    r = cli("validate", str(layout), "--strict")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


def test_run_strict_refuses_before_starting_anything(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop", APP)
    layout = tmp_path / "overlap.toml"
    layout.write_text(OVERLAPPING)
    r = cli("run", str(layout), "--repo", str(repo), "--headless", "--strict")
    assert r.returncode == 2 and "may run at the same time" in r.stderr
    assert not (repo / "coordination").exists() and not (repo / ".cortex").exists()


def test_plan_writes_a_layout_that_validates_clean(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop", APP)
    with FakeAnthropic([Reply.tool("submit_plan", GOOD)]) as api:
        r = cli("plan", "add a /health endpoint with tests and docs", "--repo", str(repo), "--base-url", api.url,
                "--budget-usd", "5")
    assert r.returncode == 0, r.stderr
    out = repo / "layouts" / "plan.toml"
    assert f"wrote {out}" in r.stdout
    assert "wave  task" in r.stdout and "health-tests" in r.stdout and "estimated time ~15 min" in r.stdout
    assert "repo context: ≈" in r.stderr and "tokens (cap)" in r.stderr
    v = cli("validate", str(out), "--strict")
    assert v.returncode == 0 and "3 session(s)" in v.stdout and "warning" not in v.stderr, v.stderr
    # a second plan does not overwrite the first without --force
    again = cli("plan", "x", "--repo", str(repo), "--base-url", "http://127.0.0.1:9")
    assert again.returncode == 2 and "exists" in again.stderr and "--force" in again.stderr


def test_plan_without_key_or_base_url_is_one_line(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop", APP)
    r = cli("plan", "anything", "--repo", str(repo))
    assert r.returncode == 1
    assert r.stderr.startswith("error: no API key") and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not (repo / "layouts").exists()


def test_plan_env_base_url_needs_no_key(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop", APP)
    with FakeAnthropic([Reply.tool("submit_plan", GOOD)]) as api:
        r = cli("plan", "goal", "--repo", str(repo), env={"ANTHROPIC_BASE_URL": api.url})
        assert r.returncode == 0, r.stderr
        assert api.message_requests()


def test_plan_invalid_twice_reports_without_traceback(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop", APP)
    bad = plan(task("a", ["src/a/**"], deps=("b",)), task("b", ["src/b/**"], deps=("a",)))
    with FakeAnthropic([Reply.tool("submit_plan", bad), Reply.tool("submit_plan", bad)]) as api:
        r = cli("plan", "goal", "--repo", str(repo), "--base-url", api.url)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "dependency cycle: a -> b -> a" in r.stderr and "nothing was written" in r.stderr
    assert not (repo / "layouts").exists()


def _sim_plan() -> dict[str, Any]:
    def sim(name: str, scope: list[str], **kw: Any) -> dict[str, Any]:
        t = task(name, scope, agent="sim", model="sim-1", **kw)
        t["verify"] = None
        return t

    return plan(sim("health", ["src/shop/health.py"], creates=("src/shop/health.py",), goal="Add health"),
                sim("docs", ["docs/**"], goal="Document it"),
                sim("tests", ["tests/test_health.py"], goal="Test src/shop/health.py"))


def test_plan_run_starts_the_planned_sessions(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop", APP)
    with FakeAnthropic([Reply.tool("submit_plan", _sim_plan())]) as api:
        r = cli("plan", "add health", "--repo", str(repo), "--base-url", api.url, "--agent", "sim", "--run",
                timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    reports = list((repo / "coordination").glob("*-report.json"))
    assert len(reports) == 1, r.stderr
    data = json.loads(reports[0].read_text())
    got = {s["name"]: (s["state"], s["exit_code"]) for s in data["sessions"]}
    assert got == {"health": ("finished", 0), "docs": ("finished", 0), "tests": ("finished", 0)}
    # the sim wrote and committed the file the plan said it creates, on its own branch
    log = subprocess.run(["git", "-C", str(repo), "log", "--all", "--format=%s"], capture_output=True, text=True)
    assert "health: Add health" in log.stdout


FAILED_RUN = """[run]
name = "first"

[defaults]
agent = "sim"

[[session]]
name = "good"
scope = ["docs/**"]
script = ["write docs/a.md hello", "commit docs", "say Done."]

[[session]]
name = "broken"
scope = ["src/**"]
script = ["error ImportError: no module named shop.health", "exit 3"]
"""


def test_revise_plans_what_is_left_of_a_finished_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop", APP)
    layout = tmp_path / "first.toml"
    layout.write_text(FAILED_RUN)
    r = cli("run", str(layout), "--repo", str(repo), "--headless", timeout=180)
    assert r.returncode == 1 and "broken" in r.stderr, r.stderr  # the run went, and "broken" failed
    with FakeAnthropic([Reply.tool("submit_plan", GOOD)]) as api:
        r = cli("plan", "add health", "--repo", str(repo), "--base-url", api.url, "--revise", "first")
        assert r.returncode == 0, r.stderr
        prompt = api.message_requests()[0]["messages"][0]["content"]
    assert "Plan ONLY what is left" in prompt
    assert "session 'broken': state failed, exit code 3" in prompt and "not merged" in prompt
    assert "session 'good': state finished, exit code 0" in prompt
    assert 'name = "first-rev"' in (repo / "layouts" / "plan.toml").read_text()
    missing = cli("plan", "x", "--repo", str(repo), "--base-url", api.url, "--revise", "nope", "--force")
    assert missing.returncode == 1 and "no run 'nope'" in missing.stderr and "first" in missing.stderr


def test_validate_warns_on_the_readme_overlap_example(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = readme.index("```toml\n# overlap example")
    block = readme[start + len("```toml\n"):readme.index("```", start + 7)]
    repo = make_repo(tmp_path / "r", {"src/api/app.py": "x\n", "tests/test_api.py": "x\n", "tests/test_db.py": "x\n"})
    layout = repo / "overlap.toml"
    layout.write_text(block)
    r = cli("validate", str(layout))
    assert r.returncode == 0, r.stderr
    assert f"warning: {layout}:13: sessions 'api' and 'tests' may run at the same time" in r.stderr
    assert "share 1 tracked file: tests/test_api.py" in r.stderr
