"""`status --json` answers without the CLI's imports (#18): from the live supervisor's API socket, or from the
run's files with the state and review models only — the same data the full CLI prints. Real tmux, git, sim
agents, a real API server; what each call imported is read from ``sys.modules`` of its own process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from engine_helpers import cli, make_sup, run_to_end, wait_for

from cortex_tui.engine.supervisor import Supervisor

PROBE = """
import json, sys
sys.argv = ["cortex-tui", *json.loads(sys.argv[1])]
from cortex_tui.cli import main
main()
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""
HEAVY = ("textual", "typer", "click", "rich", "aiohttp", "cortex_tui.layout", "cortex_tui.model.layout",
         "cortex_tui.review.queue", "cortex_tui.engine", "cortex_tui.agents", "cortex_tui.model.events")

LAYOUT = """
[run]
name = "st"
verify = "test -f done.txt"
[defaults]
agent = "sim"
budget_usd = 3.5
[[session]]
name = "ok"
budget_tokens = 9000
script = ["write done.txt yes", "commit done", "exit 0"]
[[session]]
name = "bad"
script = ["exit 0"]
"""


def status_probe(*args: str) -> tuple[dict[str, Any], set[str]]:
    """`status --json ARGS` through the CLI's entry point; (its output, the modules it imported)."""
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["status", "--json", *args])], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    mods = set(json.loads(r.stderr.strip().splitlines()[-1]))
    return json.loads(r.stdout), mods


def heavy(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if any(m == h or m.startswith(h + ".") for h in HEAVY))


def full_cli(*args: str) -> dict[str, Any]:
    """The same command through the whole CLI (``--debug`` first: not the plain form the fast path takes)."""
    data: dict[str, Any] = json.loads(cli("--debug", "status", "--json", *args).stdout)
    return data


def test_status_json_from_the_files_imports_no_cli_and_prints_what_the_full_cli_prints(
        git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, LAYOUT, tmp_path)
    run_to_end(sup, timeout=120)
    fast, mods = status_probe("--repo", str(git_repo))
    assert heavy(mods) == []
    assert fast == full_cli("--repo", str(git_repo))
    by = {s["name"]: s for s in fast["sessions"]}
    assert by["ok"]["budget"]["usd"] == 3.5 and by["ok"]["budget"]["tokens"] == 9000  # the record's, not the layout
    assert by["bad"]["budget"]["tokens"] is None
    assert by["ok"]["verify"]["exit_code"] == 0 and by["bad"]["verify"]["exit_code"] != 0  # review.json's
    assert by["ok"]["review_status"] == "pending"
    assert fast["supervisor"]["alive"] is False
    # the options in both spellings, and the run by id
    again, _ = status_probe(f"--repo={git_repo}", "--run", fast["run"])
    assert again == fast


def test_a_state_file_without_budgets_takes_them_from_its_layout(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, LAYOUT, tmp_path)
    run_to_end(sup, timeout=120)
    path = Path(sup.store.state_path)
    raw = json.loads(path.read_text())
    for rec in raw["sessions"].values():  # as an older version wrote it
        del rec["budget_usd"], rec["budget_tokens"]
    path.write_text(json.dumps(raw))
    fast, _ = status_probe("--repo", str(git_repo))
    by = {s["name"]: s for s in fast["sessions"]}
    assert by["ok"]["budget"] == {"usd": 3.5, "tokens": 9000, "used_fraction": None}


def test_status_json_answers_from_the_live_supervisors_api_without_pydantic(git_repo: Path, tmp_path: Path) -> None:
    from cortex_tui.api.server import ApiServer

    sup = make_sup(git_repo, LAYOUT.replace('"exit 0"]\n"""', '"listen 120"]\n"""').replace(
        'script = ["exit 0"]', 'script = ["listen 120"]'), tmp_path)
    sup.plugins.append(ApiServer(sup))
    seen: dict[str, Any] = {}

    async def during(s: Supervisor) -> None:
        await wait_for(lambda: s.state.sessions["ok"].state.value == "finished"
                       and s.state.sessions["ok"].verify_exit is not None
                       and s.state.sessions["bad"].state.value == "running", 60, "ok finished and verified, bad running")
        await wait_for(lambda: any((s.store.dir / n).exists() for n in ("api.sock", "api.sock.path")), 30, "the API socket")
        s.state.sessions["bad"].reason = "in memory only"  # not saved: the files do not have it yet
        seen["fast"], seen["mods"] = await asyncio.to_thread(status_probe, "--repo", str(git_repo))
        seen["full"] = await asyncio.to_thread(full_cli, "--repo", str(git_repo))
        await s.stop_session("bad")

    run_to_end(sup, timeout=120, during=during)
    fast, mods = seen["fast"], seen["mods"]
    assert heavy(mods) == [] and "pydantic" not in mods  # the supervisor answered: nothing was parsed here
    # nor imported beyond the stdlib's few: no other cortex_tui module, no typing, no socket.py wrapper
    assert sorted(m for m in mods if m.startswith("cortex_tui")) == ["cortex_tui", "cortex_tui.cli", "cortex_tui.cli.status_fast"]
    assert "typing" not in mods and "socket" not in mods
    assert fast["supervisor"]["alive"] is True
    by = {s["name"]: s for s in fast["sessions"]}
    assert by["bad"]["reason"] == "in memory only" and by["bad"]["state"] == "running"
    assert by["ok"]["budget"]["tokens"] == 9000 and by["ok"]["review_status"] == "pending"
    assert by["ok"]["verify"]["exit_code"] == 0
    def stable(d: dict[str, Any]) -> list[tuple[Any, ...]]:  # CPU, RSS may move between the two calls
        return [(x["name"], x["state"], x["reason"], x["review_status"], x["budget"]) for x in d["sessions"]]

    assert stable(seen["full"]) == stable(fast)  # the full CLI asks the same API


def test_anything_but_a_plain_status_json_goes_to_the_full_cli() -> None:
    from cortex_tui.cli.status_fast import parse

    assert parse(["status", "--json"]) == {}
    assert parse(["status", "--json", "--repo", "r", "--state-dir=d", "--run", "x"]) == {
        "repo": "r", "state_dir": "d", "run": "x"}
    for argv in (["status"], ["status", "--json", "--tmux"], ["status", "--json", "--help"], ["--debug", "status", "--json"],
                 ["status", "--json", "--repo"], ["status", "--json", "--repo", "a", "--repo", "b"], ["events", "--json"]):
        assert parse(argv) is None, argv
