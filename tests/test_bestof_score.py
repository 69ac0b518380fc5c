"""Best-of scoring, ranking, judge-reply validation, layout generation and ``variants = N`` (pure, no tmux)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from cortex_tui.bestof.generate import BestOfRequest, layout_text, load_sim_scripts
from cortex_tui.bestof.judge import TOOL_NAME, build_prompt, parse_reply
from cortex_tui.bestof.models import Comparison, JudgeVerdict, Score
from cortex_tui.bestof.render import render_markdown
from cortex_tui.bestof.score import (
    FileChange,
    Observation,
    Tally,
    budget_spent,
    check_verdict,
    junit_path,
    merge_judge,
    parse_junit,
    parse_pytest_summary,
    parse_weights,
    rank,
    score_variant,
    top_candidates,
)
from cortex_tui.errors import LayoutError, UsageError
from cortex_tui.layout import parse_layout


# --------------------------------------------------------------------------- parsing test results
@pytest.mark.parametrize(("text", "expected"), [
    ("==== 3 passed, 1 failed in 0.12s ====", (3, 1, 0, 0)),
    ("1 failed, 2 passed, 1 skipped, 2 errors in 1.50s", (2, 1, 2, 1)),
    ("5 passed, 2 warnings in 0.3s (0:00:00)", (5, 0, 0, 0)),
    ("collected 1 item\n\n==== 1 error in 0.01s ====", (0, 0, 1, 0)),
    ("==== 9 passed in 1s ====\nrerun\n==== 1 passed, 4 failed in 2.0s ====", (1, 4, 0, 0)),  # last one wins
])
def test_pytest_summary_lines(text: str, expected: tuple[int, int, int, int]) -> None:
    t = parse_pytest_summary(text)
    assert t is not None and t.source == "pytest"
    assert (t.passed, t.failed, t.errors, t.skipped) == expected


def test_pytest_summary_absent() -> None:
    assert parse_pytest_summary("make: *** [all] Error 2\nall 3 passed somewhere") is None


def test_junit_counts_from_attributes_and_from_cases() -> None:
    xml = """<testsuites>
      <testsuite name="a" tests="4" failures="1" errors="1" skipped="1"><testcase name="x"/></testsuite>
      <testsuite name="b"><testcase name="p"/><testcase name="f"><failure message="no"/></testcase>
        <testcase name="s"><skipped/></testcase></testsuite>
    </testsuites>"""
    t = parse_junit(xml)
    assert t is not None and t.source == "junit"
    assert (t.passed, t.failed, t.errors, t.skipped) == (2, 2, 1, 2)
    assert parse_junit("<html>nope</html>") is None
    assert parse_junit("<testsuite tests='2'") is None


def test_junit_path_from_verify_command() -> None:
    assert junit_path("pytest -q --junitxml=out/j.xml") == "out/j.xml"
    assert junit_path("pytest --junit-xml 'r.xml' tests") == "r.xml"
    assert junit_path("pytest -q") is None and junit_path(None) is None


# --------------------------------------------------------------------------- scoring and ranking
def obs(name: str, *, verify: int | None = 0, state: str = "finished", exit_code: int = 0, diff: int = 1,
        outside: tuple[str, ...] = (), cost: float | None = 0.01, wall: float = 10.0, output: str = "",
        command: str | None = "make check", junit: str | None = None, live: tuple[str, ...] = ()) -> Observation:
    files = (FileChange("src/main.py", diff, 0, True), *(FileChange(p, 1, 0, False) for p in outside))
    return Observation(name=name, state=state, exit_code=exit_code, verify_command=command,
                       verify_exit_code=verify, verify_output=output, junit_xml=junit, files=files,
                       live_out_of_scope=live, trigger_kinds=("out_of_scope",) * len(outside), tokens=1000,
                       cost_usd=cost, started_at=100.0, finished_at=100.0 + wall)


def test_score_components() -> None:
    s = score_variant(obs("a", verify=1, diff=5, outside=("docs/x.md",), live=("tmp/scratch",),
                          output="== 3 passed, 1 failed in 0.1s =="))
    assert s.verify == "fail" and not s.ok and s.verify_exit_code == 1
    assert s.tests is not None and (s.tests.passed, s.tests.failed) == (3, 1)
    assert (s.diff_added, s.diff_lines, s.files_changed) == (6, 6, 2)
    assert s.out_of_scope == ["docs/x.md", "tmp/scratch"] and s.scope_violations == 2  # committed + live
    assert s.triggers == 1 and s.trigger_kinds == ["out_of_scope"] and s.wall_time_s == 10.0
    junit = '<testsuite tests="7" failures="0"><testcase name="t"/></testsuite>'
    j = score_variant(obs("b", output="1 passed in 0.1s", junit=junit))
    assert j.tests is not None and j.tests.source == "junit" and j.tests.passed == 7  # JUnit wins over the log
    assert score_variant(obs("c", state="failed", exit_code=3)).verify == "not_run"
    none = score_variant(obs("d", command=None, verify=None))
    assert none.verify == "none" and none.ok


def test_default_ranking_is_verify_scope_diff_cost_time() -> None:
    scores = {o.name: score_variant(o) for o in [
        obs("fails", verify=1, diff=0),
        obs("wanders", diff=0, outside=("docs/x.md",)),
        obs("big", diff=50),
        obs("small", diff=2, cost=0.05),
        obs("small-cheap", diff=2, cost=0.01, wall=99.0),
        obs("small-cheap-fast", diff=2, cost=0.01, wall=5.0),
        obs("small-unknown-cost", diff=2, cost=None),
        obs("crashed", state="failed", exit_code=2, verify=None, diff=0),
    ]}
    order = rank(scores)
    assert order == ["small-cheap-fast", "small-cheap", "small", "small-unknown-cost", "big", "wanders",
                     "crashed", "fails"]
    assert [scores[n].rank for n in order] == list(range(1, 9))
    assert all(s.weighted is None for s in scores.values())


def test_weights_turn_it_into_a_weighted_score() -> None:
    def fresh() -> dict[str, Score]:
        return {o.name: score_variant(o) for o in [obs("pass-big", diff=40), obs("fail-tiny", verify=1, diff=1)]}

    s1 = fresh()
    assert rank(s1) == ["pass-big", "fail-tiny"]
    s2 = fresh()
    assert rank(s2, parse_weights("diff=1")) == ["fail-tiny", "pass-big"]  # only size matters now
    assert s2["fail-tiny"].weighted == 1.0 and s2["pass-big"].weighted == 0.0
    s3 = fresh()
    assert rank(s3, {"verify": 100.0, "diff": 1.0}) == ["pass-big", "fail-tiny"]
    w = s3["pass-big"].weighted
    assert w is not None and 0.0 < w < 1.0


@pytest.mark.parametrize(("text", "msg"), [
    ("speed=1", "unknown weight 'speed'"), ("diff=-1", ">= 0"), ("diff=lots", "not a number"),
    ("diff", "not KEY=NUMBER"), ("diff=0,cost=0", "at least one weight"),
])
def test_bad_weights_are_refused(text: str, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        parse_weights(text)


def test_judge_reorders_only_its_candidates_and_never_lifts_a_failure() -> None:
    scores = {o.name: score_variant(o) for o in [obs("a"), obs("b", diff=3), obs("c", diff=9), obs("d", verify=1)]}
    heuristic = rank(scores)
    assert heuristic == ["a", "b", "c", "d"]
    assert top_candidates(heuristic, 3, scores) == ["a", "b", "c"]
    assert top_candidates(heuristic, 9, scores) == ["a", "b", "c"]  # the failed one is never a candidate
    final = merge_judge(heuristic, ["c", "a", "b"], scores, {"c": "cleanest"})
    assert final == ["c", "a", "b", "d"]
    assert (scores["c"].rank, scores["c"].heuristic_rank, scores["c"].judge_rank) == (1, 3, 1)
    assert scores["c"].judge_reason == "cleanest" and scores["d"].judge_rank is None


def test_run_budget_tally_and_judge_gate() -> None:
    t = Tally()
    t.add("v1", 1000, 0.5)
    t.add("v2", 500, None)  # tokens without a known price
    assert (t.tokens, t.cost, t.unknown_cost) == (1500, 0.5, ["v2"])
    assert budget_spent(t, 0.5, None) and not budget_spent(t, 0.5, None, strict=True)
    assert budget_spent(t, None, 1500) and not budget_spent(t, 1.0, 2000) and not budget_spent(t, None, None)
    t.add("judge", 600, 0.01)
    assert budget_spent(t, None, 2000, strict=True) and budget_spent(t, 0.505, None, strict=True)


def test_verdict_validation() -> None:
    v = JudgeVerdict.model_validate({"ranking": ["a", "b"], "reasons": {"a": "x"}, "extra": 1})
    assert check_verdict(v, ["a", "b", "c"]) is v
    with pytest.raises(ValueError, match="unknown variant"):
        check_verdict(JudgeVerdict(ranking=["a", "zzz"]), ["a", "b"])
    with pytest.raises(ValidationError):
        JudgeVerdict.model_validate({"ranking": ["a", "a"]})
    with pytest.raises(ValidationError):
        JudgeVerdict.model_validate({"ranking": []})
    with pytest.raises(ValidationError):
        JudgeVerdict.model_validate({"ranking": "a,b"})


def test_parse_reply_tool_then_text_then_garbage() -> None:
    tool = SimpleNamespace(type="tool_use", name=TOOL_NAME, input={"ranking": ["b", "a"], "reasons": {}})
    assert parse_reply([tool]).ranking == ["b", "a"]
    text = SimpleNamespace(type="text", text='Sure:\n```json\n{"ranking": ["a"], "summary": "ok"}\n```')
    assert parse_reply([text]).summary == "ok"
    with pytest.raises(ValueError, match="no JSON object"):
        parse_reply([SimpleNamespace(type="text", text="I think b is best")])
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_reply([SimpleNamespace(type="text", text="{ranking: [b]}")])
    with pytest.raises(ValidationError):
        parse_reply([SimpleNamespace(type="text", text='{"ranking": [1, {}]}')])


def test_prompt_holds_task_facts_and_truncated_diffs() -> None:
    from cortex_tui.bestof.judge import Candidate

    p = build_prompt("Add /health", [Candidate("v1", "+x\n" * 10, "verify pass"), Candidate("v2", "y" * 50, "f")],
                     max_diff_chars=20)
    assert "# Task\nAdd /health" in p and "## v1\nfacts: verify pass" in p
    assert "[... diff truncated: 30 more characters]" in p and '"v1", "v2"' in p


def test_markdown_table_lists_best_first() -> None:
    scores = {o.name: score_variant(o) for o in [obs("slow", wall=50), obs("fast", wall=1), obs("bad", verify=2)]}
    order = rank(scores)
    cmp = Comparison(run="r", task="do | it", ranking=order, heuristic_ranking=order, basis="default",
                     scores=scores, winner=order[0], winner_queued=True, losers={"slow": "refs/cortex/bestof/r/slow",
                                                                                "bad": None})
    md = render_markdown(cmp)
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and "variant" not in ln]
    assert [r.split(" | ")[1] for r in rows] == ["fast ★", "slow", "bad"]
    assert "fail (2)" in rows[2] and "Task: do \\| it" in md
    assert "Loser slow: kept at refs/cortex/bestof/r/slow" in md and "Winner: fast (in the review queue)" in md


# --------------------------------------------------------------------------- generated layouts
def test_generated_layout_parses_and_cycles_agents_models_scripts(tmp_path: Path) -> None:
    req = BestOfRequest(n=4, task='Fix "the" bug\nplease \x7f', run="bo-1", agents=("sim", "claude-code"),
                        models=("m1", "m2", "m3"), verify="pytest -q", scope=("src/**",), judge="claude-x",
                        weights={"verify": 10.0, "diff": 1.0}, sim_scripts=(("exit 0",), ("exit 2",), ("say hi", "exit 1")))
    loaded = parse_layout(layout_text(req), tmp_path / "bo.toml")
    lay = loaded.layout
    assert lay.run.mode == "best-of" and lay.run.verify == "pytest -q"
    assert lay.bestof is not None and lay.bestof.judge == "claude-x" and lay.bestof.weights == {"verify": 10.0,
                                                                                                "diff": 1.0}
    ss = loaded.sessions
    assert [s.name for s in ss] == ["variant-1", "variant-2", "variant-3", "variant-4"]
    assert [s.agent for s in ss] == ["sim", "claude-code", "sim", "claude-code"]
    assert [s.model for s in ss] == ["m1", "m2", "m3", "m1"]
    assert ss[0].script == ["exit 0"] and ss[2].script == ["say hi", "exit 1"] and ss[1].script is None  # i-th script
    assert all(s.prompt == 'Fix "the" bug\nplease \x7f' and s.scope == ["src/**"] for s in ss)


def test_sim_scripts_file_json_toml_and_errors(tmp_path: Path) -> None:
    j = tmp_path / "s.json"
    j.write_text(json.dumps([["write ok.txt x", "commit c"], ["exit 1"]]))
    assert load_sim_scripts(j) == (("write ok.txt x", "commit c"), ("exit 1",))
    t = tmp_path / "s.toml"
    t.write_text('scripts = [["say a"], ["say b", "exit 0"]]\n')
    assert load_sim_scripts(t)[1] == ("say b", "exit 0")
    bad = tmp_path / "bad.json"
    bad.write_text('[["dance wildly"]]')
    with pytest.raises(UsageError, match="script 1, step 1 'dance wildly'"):
        load_sim_scripts(bad)
    bad.write_text('{"scripts": 1}')
    with pytest.raises(UsageError, match=r"field 'scripts'|field '\(root\)'"):
        load_sim_scripts(bad)


# --------------------------------------------------------------------------- variants = N in layouts
VARIANTS = """
[run]
name = "v"
mode = "best-of"
[bestof]
agents = ["sim", "shell"]
models = ["m-a", "m-b", "m-c"]
[defaults]
agent = "sim"
[[session]]
name = "setup"
script = ["exit 0"]
[[session]]
name = "fix"
variants = 3
depends_on = ["setup"]
script = ["say hi"]
command = "true"
[[session]]
name = "pick"
depends_on = ["fix"]
script = ["exit 0"]
agent = "sim"
"""


def test_variants_expand_with_names_deps_agents_and_models(tmp_path: Path) -> None:
    loaded = parse_layout(VARIANTS, tmp_path / "v.toml")
    ss = {s.name: s for s in loaded.sessions}
    assert list(ss) == ["setup", "fix-1", "fix-2", "fix-3", "pick"]
    assert [ss[f"fix-{k}"].agent for k in (1, 2, 3)] == ["sim", "shell", "sim"]
    assert [ss[f"fix-{k}"].model for k in (1, 2, 3)] == ["m-a", "m-b", "m-c"]
    assert ss["fix-2"].depends_on == ["setup"] and ss["pick"].depends_on == ["fix-1", "fix-2", "fix-3"]
    assert ss["setup"].model is None  # sessions without variants are left alone


def test_variant_errors_point_at_the_declaring_session(tmp_path: Path) -> None:
    text = ('[run]\nname = "v"\n[defaults]\nagent = "sim"\n'
            '[[session]]\nname = "a"\nvariants = 2\nscript = ["exit 0"]\n'
            '[[session]]\nname = "a-2"\nscript = ["exit 0"]\n')
    with pytest.raises(LayoutError, match=r"v\.toml:10: field 'session\[1\]\.name'.*duplicate session name 'a-2'"):
        parse_layout(text, tmp_path / "v.toml")
    bad = text.replace('name = "a-2"', 'name = "b"').replace('variants = 2\nscript = ["exit 0"]',
                                                             'variants = 2\nscript = ["fly"]')
    with pytest.raises(LayoutError, match=r"v\.toml:8: field 'session\[0\]\.script': step 1 'fly'"):
        parse_layout(bad, tmp_path / "v.toml")


def test_bestof_table_alone_makes_n_variants(tmp_path: Path) -> None:
    text = '[run]\nname = "b"\nmode = "best-of"\n[bestof]\nn = 3\ntask = "make it fast"\nagents = ["claude-code"]\n'
    ss = parse_layout(text, tmp_path / "b.toml").sessions
    assert [(s.name, s.agent, s.prompt) for s in ss] == [(f"variant-{k}", "claude-code", "make it fast")
                                                         for k in (1, 2, 3)]


def test_layouts_without_variants_are_unchanged(tmp_path: Path) -> None:
    text = '[run]\nname = "n"\n[[session]]\nname = "x"\nagent = "sim"\nscript = ["exit 0"]\n'
    loaded = parse_layout(text, tmp_path / "n.toml")
    assert [s.name for s in loaded.layout.session] == ["x"]
