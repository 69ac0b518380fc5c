"""``cortex-tui best-of`` end to end: real tmux, git worktrees, sim variants, verify, and the LLM judge
against the loopback Messages API (tests/fake_anthropic.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from engine_helpers import cli
from fake_anthropic import FakeAnthropic, Reply

from cortex_tui.bestof.compare import choose_winner, load_comparison

# variant-1 wanders out of scope, variant-2 fails verify, variant-3 does the job: the documented order is
# 3 (verify passes, in scope), 1 (verify passes, one file out of scope), 2 (verify fails) — not name order.
SCRIPTS = [
    ["write ok.txt yes", "write src/feature.py x = 1", "write docs/wander.md notes", "tokens 1000 300",
     "commit wander"],
    ["write src/feature.py x = 2", "tokens 1000 100", "commit forgot ok.txt"],
    ["write ok.txt yes", "write src/feature.py x = 3", "tokens 1000 200", "commit done"],
]
VERIFY = 'test -f ok.txt && echo "2 passed in 0.01s" || { echo "1 passed, 1 failed in 0.02s"; exit 1; }'
TASK = "Create ok.txt and src/feature.py"


def best_of(repo: Path, tmp_path: Path, run: str, *extra: str) -> tuple[int, str, dict[str, Any]]:
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps(SCRIPTS))
    report = tmp_path / "out" / "report.json"
    r = cli("best-of", "3", "--task", TASK, "--agents", "sim", "--models", "sim-1", "--repo", str(repo),
            "--verify", VERIFY, "--scope", "ok.txt,src/**", "--sim-scripts", str(scripts), "--report", str(report),
            "--name", run, "--headless", *extra, check=False, timeout=90)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return r.returncode, r.stdout, json.loads(report.read_text())


def test_best_of_3_ranks_pass_then_scope_then_fail(git_repo: Path, tmp_path: Path) -> None:
    code, out, rep = best_of(git_repo, tmp_path, "bo")
    assert code == 0 and rep["exit_code"] == 0, rep["reason"]
    assert rep["ranking"] == ["variant-3", "variant-1", "variant-2"]
    sc = {s["name"]: s["score"] for s in rep["sessions"]}
    assert [sc[n]["rank"] for n in rep["ranking"]] == [1, 2, 3]
    assert sc["variant-3"]["verify"] == "pass" and sc["variant-3"]["scope_violations"] == 0
    assert sc["variant-1"]["verify"] == "pass" and sc["variant-1"]["out_of_scope"] == ["docs/wander.md"]
    assert sc["variant-1"]["trigger_kinds"] == ["out_of_scope"]  # overlap between variants is not held against them
    assert sc["variant-2"]["verify"] == "fail" and sc["variant-2"]["verify_exit_code"] == 1
    assert sc["variant-2"]["tests"] == {"passed": 1, "failed": 1, "errors": 0, "skipped": 0, "source": "pytest"}
    assert sc["variant-3"]["tests"]["passed"] == 2
    assert (sc["variant-3"]["diff_added"], sc["variant-3"]["files_changed"]) == (2, 2)
    assert sc["variant-3"]["tokens"] == 1200 and sc["variant-3"]["cost_usd"] == pytest.approx(0.006)
    assert sc["variant-3"]["wall_time_s"] > 0
    # the winner stays in the review queue; the losers are kept under best-of refs (nothing lost)
    assert rep["bestof"]["winner"] == "variant-3" and rep["bestof"]["winner_queued"] is True
    queue = {e["session"]: e["status"] for e in json.loads(cli("review", "list", "--repo", str(git_repo),
                                                               "--json").stdout)}
    assert queue == {"variant-3": "pending", "variant-1": "rejected", "variant-2": "rejected"}
    for loser in ("variant-1", "variant-2"):
        ref = f"refs/cortex/bestof/bo/{loser}"
        assert rep["bestof"]["losers"][loser] == ref
        assert git(git_repo, "rev-parse", ref).strip() == git(git_repo, "rev-parse", f"cortex/bo/{loser}").strip()
    # the generated layout, the comparison files and the printed table
    layout = (git_repo / "coordination" / "bestof" / "bo.toml").read_text()
    assert 'mode = "best-of"' in layout and layout.count("[[session]]") == 3
    md = (tmp_path / "out" / "bestof.md").read_text()
    rows = [ln.split(" | ")[1] for ln in md.splitlines() if ln.startswith("| ") and "variant |" not in ln]
    assert rows == ["variant-3 ★", "variant-1", "variant-2"]
    assert json.loads((tmp_path / "out" / "bestof.json").read_text())["ranking"] == rep["ranking"]
    table = [ln.split()[1] for ln in out.splitlines() if ln[:1].isdigit()]
    assert table == ["variant-3", "variant-1", "variant-2"] and "Winner: variant-3" in out

    # the Compare screen's override: a human picks variant-1; variant-3 becomes a kept loser
    cmp = choose_winner(git_repo, None, "bo", "variant-1", by="alice")
    assert (cmp.winner, cmp.chosen_by, cmp.winner_queued) == ("variant-1", "alice", True)
    queue = {e["session"]: e["status"] for e in json.loads(cli("review", "list", "--repo", str(git_repo),
                                                               "--json").stdout)}
    assert queue == {"variant-1": "pending", "variant-3": "rejected", "variant-2": "rejected"}
    assert git(git_repo, "rev-parse", "refs/cortex/bestof/bo/variant-3").strip() == \
        git(git_repo, "rev-parse", "cortex/bo/variant-3").strip()
    again = load_comparison(git_repo, None, "bo")
    assert again is not None and again.winner == "variant-1" and again.ranking == rep["ranking"]


def _verdict(ranking: list[str]) -> Reply:
    return Reply.tool("record_verdict", {"ranking": ranking, "reasons": {n: f"reason for {n}" for n in ranking},
                                         "summary": "docs are welcome"}, input_tokens=2000, output_tokens=150)


def test_judge_good_reply_reorders_and_is_accounted(git_repo: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")
    with FakeAnthropic([_verdict(["variant-1", "variant-3"])]) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        code, out, rep = best_of(git_repo, tmp_path, "judged", "--judge", "claude-sonnet-4-5", "--budget-usd", "5")
    assert code == 0
    assert rep["ranking"] == ["variant-1", "variant-3", "variant-2"]  # the judge's pick; the failure stays last
    b = rep["bestof"]
    assert b["heuristic_ranking"] == ["variant-3", "variant-1", "variant-2"]
    j = b["judge"]
    assert j["ok"] and j["candidates"] == ["variant-3", "variant-1"] and j["error"] is None
    assert j["reasons"]["variant-1"] == "reason for variant-1"
    assert j["usage"]["input"] == 2000 and j["usage"]["output"] == 150
    assert j["cost_usd"] == pytest.approx(2000 * 3 / 1e6 + 150 * 15 / 1e6)
    assert b["budget"]["judge_tokens"] == 2150 and b["budget"]["limit_usd"] == 5.0
    assert b["budget"]["used_usd"] == pytest.approx(0.0060 + 0.0045 + 0.0075 + j["cost_usd"])
    sc = {s["name"]: s["score"] for s in rep["sessions"]}
    assert (sc["variant-1"]["judge_rank"], sc["variant-1"]["heuristic_rank"]) == (1, 2)
    # what was sent: one request with the task and the candidates' diffs, the failed variant left out
    (req,) = api.message_requests()
    assert req["model"] == "claude-sonnet-4-5" and req["tool_choice"]["name"] == "record_verdict"
    prompt = req["messages"][0]["content"]
    assert TASK in prompt and "+++ b/docs/wander.md" in prompt and "## variant-2" not in prompt
    assert "Judge claude-sonnet-4-5: docs are welcome" in out


@pytest.mark.parametrize(("replies", "error"), [
    ([Reply.text("overloaded", status=529)] * 3, "API error 529"),
    ([Reply.text("The best one is variant-3, clearly.", input_tokens=900, output_tokens=40)],
     "malformed verdict: reply holds no JSON object"),
    ([_verdict(["variant-3", "variant-9"])], "malformed verdict: the verdict ranks unknown variant(s): variant-9"),
], ids=["api-error", "garbage", "unknown-name"])
def test_judge_failure_keeps_the_non_llm_ranking(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 replies: list[Reply], error: str) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy")
    with FakeAnthropic(list(replies)) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        code, out, rep = best_of(git_repo, tmp_path, "nojudge", "--judge", "claude-sonnet-4-5")
    assert code == 0 and rep["ranking"] == ["variant-3", "variant-1", "variant-2"]
    j = rep["bestof"]["judge"]
    assert not j["ok"] and j["ranking"] == [] and j["error"].startswith(error)
    if replies[0].status == 529:
        assert len(api.message_requests()) == 3 and j["usage"]["input"] == 0  # retried, nothing billed
    else:
        assert j["usage"]["input"] == replies[0].input_tokens and j["cost_usd"] > 0  # spent tokens still count
    assert rep["bestof"]["budget"]["judge_tokens"] == j["usage"]["input"] + j["usage"]["output"]
    assert all(s["score"]["judge_rank"] is None for s in rep["sessions"])
    assert "the non-LLM ranking stands" in out
