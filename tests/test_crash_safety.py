"""Crash safety: kill -9 of the supervisor at the worst moments loses no verdict and no restart (#12 items 4-7).

Real parts: a detached supervisor (``up --detach``), real tmux, real git, the sim agent, kill -9.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from conftest import wait_until
from engine_helpers import cli, revive_layout, status_json

from cortex_tui.engine.events import Event


def _kill9(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0,
               what=f"pid {pid} gone")


def _daemon_pid(repo: Path, run: str) -> int:
    return int((repo / "coordination" / "runs" / run / "supervisor.lock").read_text())


VERIFY_FAILS = """
[run]
name = "vk"
[defaults]
agent = "sim"
verify = "touch verify-started; sleep 3; exit 1"
[[session]]
name = "work"
script = ["write w.txt w", "commit work"]
"""


def test_kill9_during_verify_reverifies_on_reattach_and_fails_the_run(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "vk.toml"
    layout.write_text(VERIFY_FAILS)
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    pid = _daemon_pid(git_repo, "vk")
    wt = git_repo / ".cortex" / "worktrees" / "vk" / "work"
    wait_until(lambda: (wt / "verify-started").exists(), timeout=30, what="verify running")
    _kill9(pid)  # the session finished, its verify runs: no review entry exists yet
    assert status_json(git_repo)["sessions"][0]["state"] == "finished"
    (wt / "verify-started").unlink()
    rep = tmp_path / "rep.json"
    junit = tmp_path / "junit.xml"
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--report", str(rep), "--junit", str(junit),
            check=False, timeout=90)
    assert r.returncode == 1, r.stderr  # never 0: the verify fails
    assert (wt / "verify-started").exists()  # it was run again by the re-attached supervisor
    data = json.loads(rep.read_text())
    work = data["sessions"][0]
    assert work["verify"] is not None and work["verify"]["exit_code"] == 1
    assert "verify failed" in data["reason"]
    assert 'failures="0"' not in junit.read_text()
    listed = json.loads(cli("review", "list", "--repo", str(git_repo), "--json").stdout)
    assert [e["session"] for e in listed] == ["work"] and listed[0]["verify"]["exit_code"] == 1


def test_headless_exit_is_not_0_when_a_verify_never_ran(git_repo: Path, tmp_path: Path) -> None:
    """A finished session with a verify command and no recorded verify result is not a pass."""
    layout = tmp_path / "vk.toml"
    layout.write_text(VERIFY_FAILS.replace("exit 1", "exit 0"))
    rep = tmp_path / "rep.json"
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--report", str(rep), check=False, timeout=90)
    assert r.returncode == 0, r.stderr
    review = git_repo / "coordination" / "runs" / "vk" / "review.json"
    doc = json.loads(review.read_text())
    doc["entries"]["work"]["verify"] = None  # as if the verdict was lost
    review.write_text(json.dumps(doc))
    from cortex_tui.engine.supervisor import Supervisor
    from cortex_tui.headless.report import outcome
    from cortex_tui.layout import load_layout

    sup = Supervisor(load_layout(layout), git_repo, headless=True)
    sup.state = sup.store.load()  # type: ignore[assignment]
    code, reason = outcome(sup)
    assert code == 1 and "work: verify not run" in reason


RESTARTS = """
[run]
name = "rb"
[[session]]
name = "flaky"
agent = "shell"
command = "if [ -f tried ]; then echo second; else touch tried; echo first; exit 3; fi"
restart = { max = 2, backoff_s = [10.0] }
[[session]]
name = "after"
depends_on = ["flaky"]
command = "echo after"
"""


def test_kill9_during_restart_backoff_keeps_the_restart(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "rb.toml"
    layout.write_text(RESTARTS)
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    pid = _daemon_pid(git_repo, "rb")

    def backing_off() -> bool:  # as saved: `status --json` asks the live supervisor, ahead of state.json
        s = json.loads((git_repo / "coordination/runs/rb/state.json").read_text())["sessions"]["flaky"]
        return s["state"] == "failed" and "restart 1/2" in (s["reason"] or "") and s["restart_at"] is not None

    wait_until(backing_off, timeout=30, what="flaky failed and its restart persisted (not only in memory)")
    _kill9(pid)
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", check=False, timeout=90)
    assert r.returncode == 0, r.stderr
    final = {s["name"]: s for s in status_json(git_repo)["sessions"]}
    assert final["flaky"]["state"] == "finished" and final["flaky"]["exit_code"] == 0
    assert final["after"]["state"] == "finished"  # the dependent was not stopped


def test_truncated_events_jsonl_loses_no_next_event(git_repo: Path, tmp_path: Path) -> None:
    """A crash mid-write leaves events.jsonl without its final newline: the next event starts a new line."""
    layout = tmp_path / "ev.toml"
    layout.write_text('[run]\nname = "ev"\n[[session]]\nname = "a"\nagent = "sim"\nscript = ["say hi"]\n')
    cli("run", str(layout), "--repo", str(git_repo), "--headless", timeout=60)
    events = git_repo / "coordination/runs/ev/events.jsonl"
    with open(events, "ab") as f:
        f.write(b'{"ts": 1, "run": "ev", "kind": "sta')  # cut off by kill -9
    cli("send", "a", "x", "--repo", str(git_repo), check=False)  # not running: appends nothing
    from cortex_tui.model.events import Event
    from cortex_tui.store.files import RunStore

    store = RunStore(git_repo / "coordination", "ev")
    store.append_event(Event(ts=2.0, run="ev", kind="action", session="a", data={"action": "probe"}))
    evs, _ = store.read_events()
    assert evs[-1].data == {"action": "probe"}  # not glued onto the partial line
    assert store.bad_event_lines == 1
    r = cli("events", "--repo", str(git_repo), "--json")
    assert json.loads(r.stdout.splitlines()[-1])["data"] == {"action": "probe"}
    assert "skipped 1 unreadable line" in r.stderr


TWO_DONE = """
[run]
name = "rj"
[defaults]
agent = "sim"
verify = "test -f a.txt"
[[session]]
name = "a"
script = ["write a.txt a", "commit add a"]
[[session]]
name = "b"
script = ["write b.txt b", "commit add b"]
"""


def _two_done(git_repo: Path, tmp_path: Path) -> Path:
    layout = tmp_path / "rj.toml"
    layout.write_text(TWO_DONE)
    cli("run", str(layout), "--repo", str(git_repo), "--headless", check=False, timeout=90)
    cli("review", "reject", "b", "--repo", str(git_repo))
    return git_repo / "coordination/runs/rj/review.json"


def _listed(git_repo: Path) -> tuple[dict[str, dict[str, object]], str]:
    r = cli("review", "list", "--repo", str(git_repo), "--json")
    return {e["session"]: e for e in json.loads(r.stdout)}, r.stderr


def test_deleted_review_json_is_rebuilt_with_verdicts_and_decisions(git_repo: Path, tmp_path: Path) -> None:
    review = _two_done(git_repo, tmp_path)
    before, _ = _listed(git_repo)
    review.unlink()
    after, err = _listed(git_repo)
    assert "was missing: rebuilt" in err and "2 entries" in err
    assert set(after) == {"a", "b"}
    for name in ("a", "b"):
        assert after[name]["head"] == before[name]["head"] and after[name]["rebuilt"] is True
        assert after[name]["verify"]["exit_code"] == before[name]["verify"]["exit_code"]  # type: ignore[index]
    assert after["a"]["status"] == "pending" and after["b"]["status"] == "rejected"
    assert after["b"]["verify"]["exit_code"] == 1  # type: ignore[index]
    assert review.exists()
    _, err = _listed(git_repo)
    assert "rebuilt" not in err  # once
    assert '"review_rebuilt"' in (review.parent / "events.jsonl").read_text()


def test_corrupt_review_json_is_kept_aside_and_rebuilt_no_traceback(git_repo: Path, tmp_path: Path) -> None:
    review = _two_done(git_repo, tmp_path)
    review.write_bytes(b'{"version": 1, "run": "rj", "entries": {"\xff\xfe": 1}}')
    after, err = _listed(git_repo)
    assert "Traceback" not in err and "not UTF-8" in err and "rebuilt" in err
    assert set(after) == {"a", "b"}
    kept = list(review.parent.glob("review.json.broken-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b'{"version"')
    review.write_text("{ not json")
    after, err = _listed(git_repo)
    assert "unreadable" in err and set(after) == {"a", "b"}
    r = cli("review", "show", "a", "--repo", str(git_repo))
    assert "Traceback" not in r.stderr


def test_tmux_server_gone_is_said_and_up_restarts_the_failed_then_their_dependents(git_repo: Path,
                                                                                    tmp_path: Path) -> None:
    from conftest import git

    from cortex_tui.backends.tmux import Tmux

    gate = tmp_path / "gate"
    layout = tmp_path / "srv.toml"
    layout.write_text(revive_layout("srv", gate))
    cli("up", str(layout), "--repo", str(git_repo), "--detach")

    def states() -> dict[str, str]:
        return {s["name"]: s["state"] for s in status_json(git_repo)["sessions"]}

    wait_until(lambda: states() == {"done": "finished", "slow": "running", "after": "pending"}, timeout=60,
               what="done finished, slow running")
    Tmux(status_json(git_repo)["socket"]).kill_server()
    wait_until(lambda: states()["slow"] == "failed", timeout=30, what="the supervisor noticed")
    final = {s["name"]: s for s in status_json(git_repo)["sessions"]}
    assert "the tmux server of this run went away" in final["slow"]["reason"]
    assert final["slow"]["cpu_percent"] is None and final["slow"]["rss_bytes"] is None  # shown as –, not 0
    wait_until(lambda: states()["after"] == "stopped", timeout=30, what="the dependent stopped")
    gate.touch()
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    assert states() == dict.fromkeys(["done", "slow", "after"], "finished")
    for name in ("done", "slow", "after"):
        assert git(git_repo, "log", "--format=%s", f"main..cortex/srv/{name}").split("\n")[0] == f"{name} work"


VERDICT = VERIFY_FAILS.replace('"touch verify-started; sleep 3; exit 1"', '"exit 1"')


def test_a_verify_verdict_is_on_disk_when_it_is_announced(git_repo: Path, tmp_path: Path) -> None:
    """state.json is written off the loop (engine/state_writer.py), but the review desk awaits its saves: when
    the verdict's ``review`` event is published, state.json already holds it (a kill -9 from then on loses it
    not)."""
    from engine_helpers import make_sup, run_to_end

    sup = make_sup(git_repo, VERDICT, tmp_path)
    on_disk: list[dict[str, object]] = []

    def look(ev: Event) -> None:
        if ev.kind == "review" and ev.session == "work" and "verify" in ev.data:
            on_disk.append(json.loads(sup.store.state_path.read_text())["sessions"]["work"])

    sup.subscribe(look)
    run_to_end(sup, timeout=90)
    assert on_disk, "no review event"
    assert on_disk[0]["review_due"] is False and on_disk[0]["verify_exit"] == 1


def test_kill9_right_after_a_verdict_recovers_it(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "vk.toml"
    layout.write_text(VERDICT)
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    pid = _daemon_pid(git_repo, "vk")

    def verdict() -> bool:
        r = cli("review", "list", "--repo", str(git_repo), "--json", check=False)
        return r.returncode == 0 and any(e.get("verify") for e in json.loads(r.stdout or "[]"))

    wait_until(verdict, timeout=60, what="the verify verdict")
    _kill9(pid)
    rep = tmp_path / "rep.json"
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--report", str(rep), check=False, timeout=90)
    assert r.returncode == 1, r.stderr  # the failed verify is still the run's outcome
    data = json.loads(rep.read_text())
    assert data["sessions"][0]["verify"]["exit_code"] == 1 and "verify failed" in data["reason"]
    listed = json.loads(cli("review", "list", "--repo", str(git_repo), "--json").stdout)
    assert [e["session"] for e in listed] == ["work"] and listed[0]["verify"]["exit_code"] == 1


STARTS_AND_LOOKS = """
[run]
name = "sk"
[[session]]
name = "look"
agent = "shell"
command = "python3 {probe} {state}; sleep 60"
"""

LOOK = """
import json, sys
rec = json.load(open(sys.argv[1]))["sessions"]["look"]
print("SAW", rec["state"], rec["attempt"], flush=True)
"""


def test_a_spawn_is_on_disk_as_starting_before_its_window_runs(git_repo: Path, tmp_path: Path) -> None:
    """A supervisor killed the moment an agent started finds the record it spawned, not ``pending``: the spawn
    waits for the ``starting`` save before it makes the window (the throttled save used to come up to 0.5 s later:
    a kill -9 then lost what the spawn had decided, e.g. the sandbox the agent runs in and so its refusals)."""
    probe = tmp_path / "look.py"
    probe.write_text(LOOK)
    run_dir = git_repo / "coordination" / "runs" / "sk"
    layout = tmp_path / "sk.toml"
    layout.write_text(STARTS_AND_LOOKS.format(probe=probe, state=run_dir / "state.json"))
    log = run_dir / "logs" / "look.log"
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    pid = _daemon_pid(git_repo, "sk")
    wait_until(lambda: log.exists() and "SAW" in log.read_text(errors="replace"), timeout=30, what="the agent's look")
    _kill9(pid)
    saw = next(ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("SAW"))
    assert saw.split()[1] in ("starting", "running"), saw  # never "pending": the spawn was on disk first
    try:
        cli("up", str(layout), "--repo", str(git_repo), "--detach")
        events = run_dir / "events.jsonl"

        def seen() -> list[dict[str, Any]]:
            return [json.loads(x) for x in events.read_text().splitlines() if x.strip()]
        wait_until(lambda: any(e["kind"] == "attached" for e in seen()), timeout=30, what="the run re-attached")
        adopted = [e["data"]["prev"] for e in seen()
                   if e["kind"] == "state" and e["data"]["reason"] == "adopted after supervisor restart"]
        assert "pending" not in adopted, adopted  # adopted as the spawn left it (starting), or attached (running)
        assert status_json(git_repo)["sessions"][0]["state"] == "running"
    finally:
        cli("down", "--repo", str(git_repo), check=False)
