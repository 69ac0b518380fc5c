"""`cortex-tui review ...` and `clean` through typer, with real git and a real tmux window."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import typer
from test_review_support import Fleet, commit_file, git
from typer.testing import CliRunner

from cortex_tui.cli.review import clean_command, review_app

CONTRACT_KEYS = {"session", "branch", "status", "verify", "conflicts", "files", "commits"}


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(review_app, list(args))


def clean_app() -> typer.Typer:
    app = typer.Typer()
    app.command("clean")(clean_command)
    app.command("noop")(lambda: None)  # keep "clean" a named sub-command
    return app


def test_list_json_contract_and_show(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a", scope=["src/**"], verify="true")
    commit_file(wt, "src/x.py", "x = 1\n", "add x")
    fl.finish("a")
    r = invoke("list", "--repo", str(git_repo), "--json")
    assert r.exit_code == 0, r.output
    (entry,) = json.loads(r.output)
    assert CONTRACT_KEYS <= set(entry)
    assert entry["status"] == "pending" and entry["commits"] == ["add x"]
    assert entry["files"] == [{"path": "src/x.py", "added": 1, "removed": 0, "in_scope": True, "binary": False}]
    assert set(entry["verify"]) >= {"exit_code", "duration_s", "tail"} and entry["verify"]["exit_code"] == 0
    r = invoke("show", "a", "--repo", str(git_repo))
    assert r.exit_code == 0 and "src/x.py" in r.output and "add x" in r.output
    r = invoke("list", "--repo", str(git_repo))
    assert r.exit_code == 0 and "ready" in r.output


def test_approve_and_reject_exit_codes(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    commit_file(fl.add("good"), "good.txt", "g\n")
    commit_file(fl.add("clash"), "README.md", "# clash\n")
    commit_file(git_repo, "README.md", "# base moved\n")
    fl.finish("good")
    fl.finish("clash")
    r = invoke("approve", "clash", "--repo", str(git_repo))
    assert r.exit_code == 1 and "README.md" in r.output
    r = invoke("approve", "good", "--repo", str(git_repo), "--run", "r1", "--state-dir", str(fl.state_dir))
    assert r.exit_code == 0, r.output
    assert git(git_repo, "show", "main:good.txt") == "g\n"
    r = invoke("reject", "clash", "--repo", str(git_repo), "--reason", "conflicts")
    assert r.exit_code == 0 and "refs/cortex/rejected/r1/clash" in r.output
    r = invoke("approve", "nobody", "--repo", str(git_repo))
    assert r.exit_code == 1 and "not in the review queue" in r.output


def test_reject_with_remove_worktree_backs_up_first(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    commit_file(wt, "a.txt", "a\n")
    (wt / "wip.txt").write_text("wip\n")
    fl.finish("a")
    r = invoke("reject", "a", "--repo", str(git_repo), "--remove-worktree")
    assert r.exit_code == 0, r.output
    assert not wt.exists()
    wip_ref = next(ln.split("backup: ")[1] for ln in r.output.splitlines() if ln.strip().endswith("-wip"))
    assert git(git_repo, "show", f"{wip_ref.strip()}:wip.txt") == "wip\n"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_request_changes_types_into_the_tmux_window(git_repo: Path, tmp_path: Path) -> None:
    fl = Fleet(git_repo)
    commit_file(fl.add("a"), "a.txt", "a\n")
    fl.finish("a")
    out = tmp_path / "received.txt"
    sock = fl.state.socket
    subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-s", "cortex", f"head -n1 > {out}"], check=True)
    wid = subprocess.run(["tmux", "-L", sock, "display-message", "-p", "-t", "cortex", "#{window_id}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    fl.state.sessions["a"].window_id = wid
    fl._save()
    r = invoke("request-changes", "a", "please add tests; $HOME 'quoted'", "--repo", str(git_repo))
    assert r.exit_code == 0, r.output
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (out.exists() and out.read_text()):
        time.sleep(0.05)
    assert out.read_text() == "please add tests; $HOME 'quoted'\n"
    assert fl.queue().get("a").status == "changes_requested"


def test_clean_command_prints_removed_kept_and_refs(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    commit_file(wt, "a.txt", "a\n")
    fl.add("live")
    from cortex_tui.model.state import SessionState

    fl.set_state("a", SessionState.FINISHED, finished_at=time.time() - 3600)
    app = clean_app()
    r = CliRunner().invoke(app, ["clean", "--repo", str(git_repo), "--dry-run", "--older-than", "30m"])
    assert r.exit_code == 0, r.output
    assert "would remove: r1/a" in r.output and wt.exists()
    r = CliRunner().invoke(app, ["clean", "--repo", str(git_repo), "--older-than", "2h"])
    assert r.exit_code == 0 and "kept: r1/a" in r.output and wt.exists()
    r = CliRunner().invoke(app, ["clean", "--repo", str(git_repo), "--older-than", "30m", "--max", "5"])
    assert r.exit_code == 0, r.output
    assert "removed: r1/a" in r.output and "backup: refs/cortex/backup/r1/a/" in r.output
    assert "kept: r1/live" in r.output and not wt.exists()
    r = CliRunner().invoke(app, ["clean", "--repo", str(git_repo), "--older-than", "soon"])
    assert r.exit_code == 2 and "not a duration" in r.output
