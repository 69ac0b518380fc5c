"""The planner against the loopback Anthropic API (tests/fake_anthropic.py) through the real anthropic SDK."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from fake_anthropic import FakeAnthropic, Reply

from cortex_tui.independence import check_layout
from cortex_tui.layout import load_layout
from cortex_tui.planner.client import PlanError
from cortex_tui.planner.core import Options, make_plan


def make_repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    for f, text in files.items():
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text(text)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "commit", "-q", "-m", "init"], check=True)
    return root


APP = {"README.md": "# shop\nA small web shop.\n", "pyproject.toml": "[tool.pytest.ini_options]\n",
       "src/shop/app.py": "def app():\n    return 'ok'\n", "src/shop/routes.py": "ROUTES = []\n",
       "tests/test_app.py": "def test_app():\n    pass\n", "docs/index.md": "# docs\n"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "shop", APP)


def task(name: str, scope: list[str], *, deps: tuple[str, ...] = (), creates: tuple[str, ...] = (),
         goal: str = "Do the thing", model: str = "claude-sonnet-4-5", agent: str = "claude-code",
         budget: float = 1.0, minutes: float = 10, complexity: str = "complex") -> dict[str, Any]:
    return {"name": name, "mission": {"goal": goal, "deliverables": [f"{name} done"], "constraints": ["be small"]},
            "scope": scope, "creates": list(creates), "depends_on": list(deps), "complexity": complexity,
            "agent": agent, "model": model, "budget_usd": budget, "estimate_minutes": minutes,
            "verify": "python -m pytest -q", "reasoning": f"{name}: why this task"}


def plan(*tasks: dict[str, Any], risks: tuple[str, ...] = ("the endpoint may clash with auth",)) -> dict[str, Any]:
    return {"summary": "Split into code, tests and docs.", "tasks": list(tasks), "risks": list(risks)}


GOOD = plan(
    task("health", ["src/shop/health.py", "src/shop/routes.py"], creates=("src/shop/health.py",),
         goal="Add a /health endpoint in src/shop/health.py and register it in src/shop/routes.py"),
    task("health-tests", ["tests/test_health.py"], deps=("health",), model="claude-haiku-4-5", complexity="simple",
         goal="Test src/shop/health.py", minutes=5, budget=0.5),
    task("docs", ["docs/**"], model="claude-haiku-4-5", complexity="simple", goal="Document GET /health", minutes=5,
         budget=0.3),
)


def opts(repo: Path, api: FakeAnthropic, **kw: Any) -> Options:
    return Options(goal="add a /health endpoint with tests and docs", repo=repo, base_url=api.url,
                   out_path=repo / "layouts" / "plan.toml", **kw)


def user_text(req: dict[str, Any]) -> str:
    content = req["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "\n".join(str(c.get("content") or c.get("text") or "") for c in content)


@pytest.mark.parametrize("stream", [True, False], ids=["streaming", "non-streaming"])
def test_good_plan_validates_and_passes_independence(repo: Path, stream: bool) -> None:
    with FakeAnthropic([Reply.tool("submit_plan", GOOD)]) as api:
        r = make_plan(opts(repo, api, budget_usd=5.0, stream=stream))
        reqs = api.message_requests()
    assert len(reqs) == 1 and bool(reqs[0].get("stream")) is stream
    assert reqs[0]["tool_choice"] == {"type": "tool", "name": "submit_plan"}
    assert "src/shop/app.py" in user_text(reqs[0]) and "python -m pytest -q" in user_text(reqs[0])
    assert not r.repaired and r.fixes == []
    assert [s.name for s in r.loaded.layout.session] == ["health", "health-tests", "docs"]
    s = r.loaded.layout.session_by_name("health-tests")
    assert s.model == "claude-haiku-4-5" and s.depends_on == ["health"] and s.budget_usd == 0.5
    assert "Goal: Test src/shop/health.py" in s.prompt and "tests/test_health.py" in s.prompt
    assert check_layout(r.loaded, repo).ok
    # the planning cost is shown and taken from the run's budget
    cost = r.planning_usd
    assert cost is not None and cost > 0
    assert r.loaded.layout.run.budget_usd == pytest.approx(5.0 - cost, abs=1e-4)
    text = r.layout_text
    assert "# Why: health: why this task" in text and "# Risks:" in text and "clash with auth" in text
    table = r.table(5.0)
    assert "estimated time ~15 min" in table  # wave 1: max(10, 5); wave 2: 5
    assert "sessions $1.80" in table and "planning: 1 request(s)" in table
    assert "model:" not in table  # the simple tasks use the fast model


def test_table_notes_a_simple_task_on_a_slow_model(repo: Path) -> None:
    p = plan(task("docs", ["docs/**"], complexity="simple", model="claude-opus-4-6"))
    with FakeAnthropic([Reply.tool("submit_plan", p)]) as api:
        r = make_plan(opts(repo, api))
    assert "model: docs is simple but uses claude-opus-4-6 (the fast model is claude-haiku-4-5)" in r.table(None)


def test_written_layout_round_trips(repo: Path) -> None:
    with FakeAnthropic([Reply.tool("submit_plan", GOOD)]) as api:
        r = make_plan(opts(repo, api))
    out = repo / "layouts" / "plan.toml"
    out.parent.mkdir()
    out.write_text(r.layout_text)
    again = load_layout(out)
    assert again.layout == r.loaded.layout


def test_overlapping_scopes_are_sequenced_with_reason(repo: Path) -> None:
    overlapping = plan(
        task("api", ["src/shop/**", "tests/test_app.py"], goal="Add the endpoint"),
        task("tests", ["tests/**"], goal="Improve the tests"),
        task("new-module", ["src/shop/billing/*.py"], goal="Billing"),
    )
    with FakeAnthropic([Reply.tool("submit_plan", overlapping)]) as api:
        r = make_plan(opts(repo, api))
        assert len(api.message_requests()) == 1  # fixed here, no repair request needed
    deps = {s.name: s.depends_on for s in r.loaded.layout.session}
    assert deps == {"api": [], "tests": ["api"], "new-module": ["api"]}
    reasons = {f.task: f.reason for f in r.fixes}
    assert "tests/test_app.py" in reasons["tests"]
    assert "src/shop/billing/*.py" in reasons["new-module"]  # a file not created yet: pattern-level overlap
    assert "# depends_on 'api' added by the planner:" in r.layout_text
    assert check_layout(r.loaded, repo).ok


def test_mission_naming_a_created_path_waits_for_its_creator(repo: Path) -> None:
    p = plan(task("docs", ["docs/**"], goal="Document the handler in src/shop/health.py"),
             task("health", ["src/shop/health.py"], creates=("src/shop/health.py",), goal="Write it"))
    with FakeAnthropic([Reply.tool("submit_plan", p)]) as api:
        r = make_plan(opts(repo, api))
    assert r.loaded.layout.session_by_name("docs").depends_on == ["health"]
    assert "names src/shop/health.py, which 'health' creates" in r.fixes[0].reason


BAD_CASES: list[tuple[str, Any, str]] = [
    ("cycle", plan(task("a", ["src/a/**"], deps=("b",)), task("b", ["src/b/**"], deps=("a",))),
     "dependency cycle: a -> b -> a"),
    ("unknown agent", plan(task("a", ["src/a/**"], agent="devin")), "unknown or not allowed agent 'devin'"),
    ("unknown model", plan(task("a", ["src/a/**"], model="gpt-99-ultra")), "unknown model 'gpt-99-ultra'"),
    ("malformed tool output", {"summary": "x", "tasks": "do everything at once", "risks": []},
     "tasks: Input should be a valid list"),
    ("missing field", plan({k: v for k, v in task("a", ["src/a/**"]).items() if k != "scope"}),
     "tasks[0].scope: required field is missing"),
    ("over budget", plan(task("a", ["src/a/**"], budget=3.0), task("b", ["src/b/**"], budget=3.0)),
     "budgets add up to $6.00, over the $"),
    ("more than max sessions", plan(*[task(f"t{i}", [f"src/t{i}/**"]) for i in range(4)]),
     "the plan has 4 tasks, more than --max-sessions 3"),
    ("unknown dependency", plan(task("a", ["src/a/**"], deps=("ghost",))), "unknown task 'ghost'"),
    ("bad glob", plan(task("a", ["/etc/passwd"])), "must be relative to the repo"),
    ("verify with a newline", plan({**task("a", ["src/a/**"]), "verify": "pytest\nrm -rf ~"}),
     "tasks[0] ('a').verify: must be one non-empty line"),
    ("hostile name", plan(task("a\x1b[2Jb", ["src/a/**"])), "tasks[0] ('a\\x1b[2Jb').name: must be"),
    ("name with a trailing newline", plan(task("a\n", ["src/a/**"])), "tasks[0] ('a\\n').name: must be"),
]


@pytest.mark.parametrize(("bad", "needle"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_bad_plan_is_repaired_by_one_follow_up(repo: Path, bad: Any, needle: str) -> None:
    with FakeAnthropic([Reply.tool("submit_plan", bad), Reply.tool("submit_plan", GOOD)]) as api:
        r = make_plan(opts(repo, api, budget_usd=5.0, max_sessions=3))
        reqs = api.message_requests()
    assert r.repaired and len(reqs) == 2
    follow_up = reqs[1]["messages"][-1]["content"]
    assert follow_up[0]["type"] == "tool_result" and follow_up[0]["is_error"] is True
    assert needle in follow_up[0]["content"]
    assert follow_up[0]["tool_use_id"] == reqs[1]["messages"][-2]["content"][0]["id"]
    assert [s.name for s in r.loaded.layout.session] == ["health", "health-tests", "docs"]
    assert r.planner.usage.requests == 2  # both requests are paid for


@pytest.mark.parametrize(("bad", "needle"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_bad_plan_twice_is_reported_and_nothing_written(repo: Path, bad: Any, needle: str) -> None:
    with FakeAnthropic([Reply.tool("submit_plan", bad), Reply.tool("submit_plan", bad)]) as api:
        with pytest.raises(PlanError) as ei:
            make_plan(opts(repo, api, budget_usd=5.0, max_sessions=3))
        assert len(api.message_requests()) == 2  # exactly one repair, never a loop
    msg = ei.value.message
    assert "still invalid after one repair request; nothing was written" in msg
    assert needle in msg and "planning: 2 request(s)" in msg
    assert not (repo / "layouts").exists()


def test_answer_without_tool_call_is_repaired_with_text(repo: Path) -> None:
    with FakeAnthropic([Reply.text("Here is my plan: do it all."), Reply.tool("submit_plan", GOOD)]) as api:
        r = make_plan(opts(repo, api))
        follow_up = api.message_requests()[1]["messages"][-1]["content"]
    assert r.repaired and isinstance(follow_up, str) and "no submit_plan call in the answer" in follow_up


def test_api_error_is_one_clear_error(repo: Path) -> None:
    with FakeAnthropic([Reply(blocks=[], status=400)]) as api:
        with pytest.raises(PlanError) as ei:
            make_plan(opts(repo, api))
    assert ei.value.message.startswith("the planning model failed: API error 400")


def test_no_key_and_no_base_url_is_one_line(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(PlanError) as ei:
        make_plan(Options(goal="g", repo=repo))
    assert "\n" not in ei.value.message and "ANTHROPIC_API_KEY" in ei.value.message
    assert "--base-url" in ei.value.message


def test_hostile_strings_round_trip_exactly(repo: Path) -> None:
    goal = 'Fix """quotes""" and \\backslashes\\ and \x1b[31mescapes\x07 and a\ttab'
    p = plan(task("a", ["src/a/**"], goal=goal), risks=("risk\nwith newline \x1b]0;title\x07",))
    with FakeAnthropic([Reply.tool("submit_plan", p)]) as api:
        r = make_plan(opts(repo, api))
    assert goal in r.loaded.layout.session[0].prompt
    assert "\x1b" not in r.layout_text.replace("\\u001b", "") and "\x07" not in r.layout_text
    assert "\x1b" not in r.table(None)
    assert tomllib.loads(r.layout_text)["session"][0]["prompt"] == r.loaded.layout.session[0].prompt


def test_context_stays_under_the_cap_on_a_5000_file_repo(tmp_path: Path) -> None:
    files = {f"pkg{i // 100:02d}/sub{(i // 10) % 10}/module_{i:04d}.py": f"X = {i}\n" for i in range(5000)}
    files["README.md"] = "# big\n" + "lorem ipsum " * 2000
    big = make_repo(tmp_path / "big", files)
    cap = 6000
    with FakeAnthropic([Reply.tool("submit_plan", plan(task("a", ["pkg00/**"])))]) as api:
        r = make_plan(opts(big, api, context_tokens=cap))
        req = api.message_requests()[0]
    assert r.context.files == 5001
    assert r.context.tokens <= cap
    text = user_text(req)
    assert len(text) // 4 <= cap + 400  # the goal, limits and agent list come on top of the capped context
    assert "pkg00/" in text and "README.md" in text and f"of {cap:,} tokens (cap)" in text
    assert len(json.dumps(req)) // 4 < cap + 2500  # the whole request, system prompt and tool schema included


@pytest.mark.parametrize("stream", [True, False], ids=["streaming", "non-streaming"])
def test_answer_cut_at_max_tokens_is_repaired(repo: Path, stream: bool) -> None:
    cut = {"summary": "x", "tasks": [{"name": "a"}]}
    with FakeAnthropic([Reply.tool("submit_plan", cut, stop_reason="max_tokens"),
                        Reply.tool("submit_plan", GOOD)]) as api:
        r = make_plan(opts(repo, api, stream=stream))
        follow_up = api.message_requests()[1]["messages"][-1]["content"]
    assert r.repaired and "cut off at max_tokens" in follow_up[0]["content"]


def test_unknown_agent_option_is_refused_before_any_request(repo: Path) -> None:
    with FakeAnthropic([Reply.tool("submit_plan", GOOD)]) as api:
        with pytest.raises(PlanError) as ei:
            make_plan(opts(repo, api, agents=("devin",)))
        assert api.message_requests() == []
    assert "--agent: unknown agent 'devin'" in ei.value.message


@pytest.mark.parametrize(("files", "expected"), [
    ({"pyproject.toml": "[tool.pytest.ini_options]\n[tool.ruff]\n[tool.mypy]\n"},
     ["python -m pytest -q", "ruff check .", "mypy"]),
    ({"package.json": '{"scripts": {"test": "jest", "build": "tsc", "start": "node ."}}'}, ["npm test", "npm run build"]),
    ({"Makefile": "all:\n\ttrue\ntest: all\n\ttrue\nlint:\n\ttrue\n"}, ["make test", "make lint"]),
    ({"Cargo.toml": "[package]\n", "go.mod": "module x\n"}, ["cargo build", "cargo test", "go build ./...", "go test ./..."]),
    ({"pkg/test_x.py": "", ".ci/run": ""}, ["python -m pytest -q", "bash .ci/run"]),
    ({"package.json": "not json"}, []),
])
def test_detects_test_and_build_commands(tmp_path: Path, files: dict[str, str], expected: list[str]) -> None:
    from cortex_tui.planner.context import gather

    assert gather(make_repo(tmp_path / "r", files)).commands == expected


def test_unreachable_endpoint_is_one_clear_error(repo: Path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    from cortex_tui.planner.client import make_client

    client = make_client(f"http://127.0.0.1:{port}", max_retries=0, timeout_s=5)
    with pytest.raises(PlanError) as ei:
        make_plan(Options(goal="g", repo=repo), client=client)
    assert ei.value.message.startswith(f"the planning model failed: cannot connect to http://127.0.0.1:{port}")


def test_not_a_git_repo_is_one_clear_error(tmp_path: Path) -> None:
    from cortex_tui.errors import GitError

    with FakeAnthropic([Reply.tool("submit_plan", GOOD)]) as api:
        with pytest.raises(GitError) as ei:
            make_plan(Options(goal="g", repo=tmp_path, base_url=api.url))
        assert api.message_requests() == []
    assert ei.value.message == f"{tmp_path} is not inside a git repository"
    assert ei.value.hint and "--repo" in ei.value.hint


def test_mission_naming_a_file_only_another_scope_can_create_waits_for_it(repo: Path) -> None:
    p = plan(task("docs", ["docs/**"], goal="Document GET /health from src/shop/health.py and docs/index.md"),
             task("health", ["src/shop/health.py"], goal="Write the handler"))  # no `creates` given
    with FakeAnthropic([Reply.tool("submit_plan", p)]) as api:
        r = make_plan(opts(repo, api))
    assert r.loaded.layout.session_by_name("docs").depends_on == ["health"]
    assert r.fixes[0].reason == "its mission names src/shop/health.py, not in the repo yet, which only 'health''s scope covers"


def test_mission_naming_a_file_created_later_is_sent_back(repo: Path) -> None:
    bad = plan(task("docs", ["docs/**"], goal="Document src/shop/health.py"),
               task("health", ["src/shop/health.py"], deps=("docs",), creates=("src/shop/health.py",)))
    with FakeAnthropic([Reply.tool("submit_plan", bad), Reply.tool("submit_plan", GOOD)]) as api:
        r = make_plan(opts(repo, api))
        follow_up = api.message_requests()[1]["messages"][-1]["content"][0]["content"]
    assert r.repaired
    assert "task 'docs' names src/shop/health.py, which 'health' creates, but 'health' runs after 'docs'" in follow_up
