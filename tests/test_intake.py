"""Tasks added to a live run (`cortex-tui add`, the API): persisted before they are acknowledged, started as
the run allows, rebuilt after a kill -9 of the supervisor, queued in the inbox while no supervisor runs —
nothing lost, nothing doubled. Real tmux, git, sim agents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from conftest import git, wait_until
from engine_helpers import cli, status_json

LAYOUT = """
[run]
name = "intake"
max_parallel = 1
[defaults]
agent = "sim"
[[session]]
name = "first"
script = ["say first", "ask Go on?", "write first.txt 1", "commit first"]
"""


def task(name: str, *deps: str) -> dict[str, object]:
    return {"name": name, "script": [f"write {name}.txt {name}", f"commit {name}"], "depends_on": list(deps)}


def test_tasks_added_live_and_while_the_supervisor_was_dead_all_run_once(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "intake.toml"
    layout.write_text(LAYOUT)
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    run_dir = git_repo / "coordination/runs/intake"
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(json.dumps(t) for t in (task("t1"), task("t2", "t1"))) + "\n")
    out = json.loads(cli("add", "--repo", str(git_repo), "--file", str(tasks), "--json").stdout)
    assert [(r["session"], r["queued"]) for r in out] == [("t1", "supervisor"), ("t2", "supervisor")]
    state = json.loads((run_dir / "state.json").read_text())
    assert [a["name"] for a in state["added"]] == ["t1", "t2"]  # persisted before acknowledged
    # kill -9 while t1/t2 still wait behind `first` (max_parallel = 1)
    pid = int((run_dir / "supervisor.lock").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0, what="dead")
    # with no supervisor: the task waits in the inbox; a name already in the run is refused
    r = cli("add", "--repo", str(git_repo), "--name", "t3", "--prompt", "third", "--agent", "sim", "--json")
    assert json.loads(r.stdout)[0]["queued"] == "inbox"
    dup = cli("add", "--repo", str(git_repo), "--name", "t1", "--prompt", "again", check=False)
    assert dup.returncode != 0 and "already has a session named 't1'" in dup.stderr
    bad = cli("add", "--repo", str(git_repo), "--name", "t9", "--prompt", "x", "--depends-on", "nobody", check=False)
    assert bad.returncode == 2 and "nobody" in bad.stderr
    queue = json.loads(cli("queue", "--repo", str(git_repo), "--json").stdout)
    assert queue["inbox"] == ["t3"] and set(queue["pending"]["sessions"]) >= {"t1", "t2", "t3"}
    # re-attach: everything runs, once (`first` holds the others back until it is approved)
    run = subprocess.Popen([sys.executable, "-m", "cortex_tui.cli", "run", str(layout), "--repo", str(git_repo),
                            "--headless", "--timeout", "300"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True)
    try:
        wait_until(lambda: {s["name"]: s["state"] for s in status_json(git_repo)["sessions"]}["first"] == "waiting"
                   and status_json(git_repo)["supervisor"]["alive"], timeout=120, what="first waiting, supervised")
        cli("approve", "first", "--repo", str(git_repo))
        _, err = run.communicate(timeout=300)
    finally:
        run.kill()
    assert run.returncode == 0, err
    final = {s["name"]: s["state"] for s in status_json(git_repo)["sessions"]}
    assert final == dict.fromkeys(["first", "t1", "t2", "t3"], "finished")
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    spawned = [e["session"] for e in events if e["kind"] == "spawned"]
    assert sorted(spawned) == ["first", "t1", "t2", "t3"]
    added = [(e["session"], e["data"]["origin"]) for e in events if e["kind"] == "session_added"]
    assert added == [("t1", "api"), ("t2", "api"), ("t3", "inbox")]
    assert not (run_dir / "inbox.jsonl").exists()
    assert git(git_repo, "log", "-1", "--format=%s", "cortex/intake/t2").strip() == "t2"
    # a third start adds nothing again
    cli("run", str(layout), "--repo", str(git_repo), "--headless", "--timeout", "60", check=False, timeout=90)
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    assert len([e for e in events if e["kind"] == "session_added"]) == 3


def test_a_malformed_tasks_file_names_the_line_and_queues_nothing(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "intake.toml"
    layout.write_text(LAYOUT.replace('"ask Go on?", ', ""))
    cli("run", str(layout), "--repo", str(git_repo), "--headless", "--timeout", "60", timeout=90)
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(task("ok")) + "\n{not json\n")
    r = cli("add", "--repo", str(git_repo), "--file", str(tasks), check=False)
    assert r.returncode == 2 and f"{tasks}:2: not JSON" in r.stderr
    toml = tmp_path / "tasks.toml"
    toml.write_text('[[session]]\nname = "x"\nprompt = "p"\nbogus = 1\n')
    r = cli("add", "--repo", str(git_repo), "--file", str(toml), check=False)
    assert r.returncode == 2 and "field 'bogus'" in r.stderr
    assert not (git_repo / "coordination/runs/intake/inbox.jsonl").exists()
