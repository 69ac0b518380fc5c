"""Reliability soak (#12): kill -9 the supervisor again and again across spawn, verify, restart backoff and
clean; kill the run's tmux server; fill the state dir's disk; feed hostile names and paths. Then count what
was lost. Every loss column must read 0 (exit 1 otherwise).

    python benchmarks/soak.py [--cycles 100] [--seed 1]       (make soak)

Real parts only: detached supervisors (``up --detach``) killed with SIGKILL, real tmux, real git, the sim and
shell agents, a 256 KiB tmpfs (skipped, with the reason, where mounting is not permitted).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep, make_repo, scratch


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cortex_tui.cli", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def status(repo: Path, state_dir: Path | None = None) -> dict[str, object]:
    extra = ["--state-dir", str(state_dir)] if state_dir else []
    data: dict[str, object] = json.loads(cli("status", "--repo", str(repo), "--json", *extra).stdout)
    return data


@dataclass
class Row:
    scenario: str
    cycles: int = 0
    sessions: int = 0
    sessions_lost: int = 0
    commits_lost: int = 0
    commits_duplicated: int = 0
    verdicts_lost: int = 0
    restarts_lost: int = 0
    injections: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.sessions_lost or self.commits_lost or self.commits_duplicated or self.verdicts_lost
                    or self.restarts_lost or self.injections)


HOSTILE = [  # session names an attacker picks: shell, tmux formats, flags, git pathspec magic, escapes
    "x-$(touch pwned-1)", "#(touch pwned-2)-#{pane_pid}", "a;touch pwned-3", "-n", ":(glob)*",
]
HOSTILE_FILES = [":colon.txt", ":(glob)*.md", "$(touch pwned-4).txt", "#(touch pwned-5).txt", "nl\\nx.txt", "esc-\x1b]52;c;aGk=\x07.txt"]


def toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def kill9_layout(gates: Path, n_workers: int) -> str:
    """Gated workers (a gate file lets each one finish, so ends are spread over the cycles) with verify
    commands (one fails on purpose), a flaky session with restart backoff and its dependent, hostile ones."""
    out = ['[run]\nname = "soak"\n']
    for i in range(n_workers):
        verify = "sleep 1; exit 1" if i == n_workers - 1 else "sleep 1; test -f w.txt"
        cmd = (f"while [ ! -f {gates}/w{i} ]; do sleep 0.2; done; echo {i} > w.txt; "
               f"git add -A && git commit -qm 'w{i} work'")
        out.append(f'[[session]]\nname = "w{i}"\nagent = "shell"\nverify = {toml_str(verify)}\n'
                   f'command = {toml_str(cmd)}\n')
    flaky = (f"if [ ! -f {gates}/flaky-tried ]; then touch {gates}/flaky-tried; exit 3; fi; "
             f"while [ ! -f {gates}/flaky ]; do sleep 0.2; done; echo f > f.txt; git add -A && "
             "git commit -qm 'flaky work'")
    out.append(f'[[session]]\nname = "flaky"\nagent = "shell"\ncommand = {toml_str(flaky)}\n'
               'restart = { max = 3, backoff_s = [4.0] }\n')
    dep = "echo d > d.txt; git add -A && git commit -qm 'dep work'"
    out.append(f'[[session]]\nname = "dep"\nagent = "shell"\ndepends_on = ["flaky"]\ncommand = {toml_str(dep)}\n')
    for i, name in enumerate(HOSTILE):
        writes = ", ".join(toml_str(f"write {f} hostile") for f in HOSTILE_FILES)
        out.append(f'[[session]]\nname = {toml_str(name)}\nagent = "sim"\nscope = ["src/**"]\n'
                   f'script = [{toml_str(f"sleep {1 + i}")}, {writes}, {toml_str(f"commit h{i} work")}]\n')
    return "".join(out)


def expected_subject(name: str, i_hostile: dict[str, int]) -> str:
    return f"h{i_hostile[name]} work" if name in i_hostile else f"{name} work"


def count_commits(repo: Path, base: str, branch: str, subject: str) -> tuple[int, int]:
    """(lost, duplicated) for a branch that must carry exactly one commit ``subject`` over ``base``."""
    r = subprocess.run(["git", "-C", str(repo), "log", "--format=%s", f"{base}..{branch}"], capture_output=True,
                       text=True)
    subjects = [s for s in r.stdout.splitlines() if s]
    n = subjects.count(subject)
    return (1 if n == 0 else 0), max(0, n - 1)


def injections(root: Path, repo: Path) -> int:
    """Files a hostile name created by being run, and raw escape bytes in status.md."""
    pwned = [p for p in root.rglob("pwned-*") if p.is_file() and not p.name.endswith(".txt")]
    pwned += [p for p in [Path.cwd(), Path(os.environ["HOME"])] for p in p.glob("pwned-*")]
    md = repo / "coordination" / "status.md"
    raw = md.read_bytes().count(b"\x1b") if md.exists() else 0
    return len(pwned) + raw


def _holds(repo: Path, pid: int) -> bool:
    """Whether supervisor ``pid`` has taken the run over (its pid saved in state.json)."""
    try:
        return bool(json.loads((repo / "coordination/runs/soak/state.json").read_text()).get("supervisor_pid") == pid)
    except (OSError, ValueError):
        return False


def scenario_kill9(root: Path, cycles: int, rnd: random.Random) -> Row:
    row = Row("kill -9 (spawn/verify/backoff/clean)")
    repo = make_repo(root / "k9")
    gates = root / "gates"
    gates.mkdir()
    n_workers = 4
    layout = root / "k9.toml"
    layout.write_text(kill9_layout(gates, n_workers))
    i_hostile = {n: i for i, n in enumerate(HOSTILE)}
    names = [f"w{i}" for i in range(n_workers)] + ["flaky", "dep", *HOSTILE]
    row.sessions = len(names)
    opened: list[str] = []
    phases: dict[str, int] = {}
    (repo / "coordination/runs/soak").mkdir(parents=True)  # where `up` would have made the daemon's log
    for c in range(cycles):
        step = cycles // (n_workers + 2)
        if c and c % step == 0 and len(opened) < n_workers + 1:  # let the next gated session finish
            nxt = f"w{len(opened)}" if len(opened) < n_workers else "flaky"
            (gates / nxt).touch()
            opened.append(nxt)
        if c % 10 == 5:  # a clean killed mid-way (decided entries only: reject what has a verdict)
            for e in json.loads(cli("review", "list", "--repo", str(repo), "--json").stdout or "[]"):
                if e["status"] == "pending" and e["verify"] is not None:
                    cli("review", "reject", e["session"], "--repo", str(repo))
            p = subprocess.Popen([sys.executable, "-m", "cortex_tui.cli", "clean", "--repo", str(repo),
                                  "--older-than", "0s", "--max", "0"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            time.sleep(rnd.uniform(0.2, 1.5))
            p.send_signal(signal.SIGKILL)
            p.wait()
        # the background supervisor `up --detach` starts, killed at a random moment of its life (start-up,
        # re-attach, spawn, verify, restart backoff) — started directly: `up` would wait for it to be ready
        sup = subprocess.Popen([sys.executable, "-m", "cortex_tui.cli", "_supervise", str(layout), "--repo",
                                str(repo), "--log", str(repo / "coordination/runs/soak/supervisor.log")],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        if rnd.random() < 0.25:  # during its start-up (lock, state, tmux, reconcile)
            time.sleep(rnd.uniform(0.3, 3.0))
            phase = "start-up"
        else:  # once it supervises (re-attached): spawns, exits, verifies, backoffs are in flight
            end = time.monotonic() + 60
            while time.monotonic() < end and sup.poll() is None and not _holds(repo, sup.pid):
                time.sleep(0.05)
            time.sleep(rnd.uniform(0.0, 3.0))
            phase = "supervising"
        if sup.poll() is None:
            sup.send_signal(signal.SIGKILL)
            row.cycles += 1
            phases[phase] = phases.get(phase, 0) + 1
        else:
            row.notes.append(f"cycle {c}: the supervisor had ended by itself (exit {sup.returncode})")
        sup.wait()
    row.notes.append("kills by phase: " + ", ".join(f"{k} {v}" for k, v in sorted(phases.items())))
    events_path = repo / "coordination/runs/soak/events.jsonl"
    row.notes.append(f"re-attaches seen before the final run: {events_path.read_text().count(chr(34) + 'attached' + chr(34))}")
    for g in [f"w{i}" for i in range(n_workers)] + ["flaky"]:
        (gates / g).touch()
    final = cli("run", str(layout), "--repo", str(repo), "--headless", "--report", str(root / "k9-report.json"),
                timeout=600)
    st = status(repo)
    sessions = {s["name"]: s for s in st["sessions"]}  # type: ignore[attr-defined]
    for name in names:
        s = sessions.get(name)
        if s is None or s["state"] != "finished" or s["exit_code"] != 0:
            row.sessions_lost += 1
            row.notes.append(f"{name!r}: {None if s is None else (s['state'], s['reason'])}")
            continue
        lost, dup = count_commits(repo, "main", s["branch"], expected_subject(name, i_hostile))
        row.commits_lost += lost
        row.commits_duplicated += dup
    flaky = sessions.get("flaky")
    if flaky is None or flaky.get("restarts", 0) < 1 or sessions.get("dep", {}).get("state") != "finished":
        row.restarts_lost += 1
    entries = {e["session"]: e for e in json.loads(cli("review", "list", "--repo", str(repo), "--json").stdout)}
    for i in range(n_workers):
        e = entries.get(f"w{i}")
        want = 1 if i == n_workers - 1 else 0
        if e is None or e["verify"] is None or (e["verify"]["exit_code"] != 0) != bool(want):
            row.verdicts_lost += 1
            row.notes.append(f"w{i}: verify {None if e is None else e['verify']}")
    if final.returncode == 0:  # w{n-1}'s verify fails on purpose: a green run would be a lost verdict
        row.verdicts_lost += 1
        row.notes.append("headless exit 0 although a verify failed")
    events = [json.loads(ln) for ln in (repo / "coordination/runs/soak/events.jsonl").read_text().splitlines()
              if ln.startswith("{")]
    colon = {e["data"]["evidence"].get("path") for e in events
             if e.get("kind") == "trigger" and e["data"].get("kind") == "out_of_scope"}
    missed = [f for f in (":colon.txt", ":(glob)*.md") if f not in colon]
    if missed:  # a detection hole counts as an injection that got through
        row.injections += len(missed)
        row.notes.append(f"out_of_scope missed for {missed}")
    row.injections += injections(root, repo)
    return row


def scenario_tmux_killed(root: Path) -> Row:
    row = Row("tmux server killed")
    repo = make_repo(root / "tk")
    gates = root / "tk-gates"
    gates.mkdir()
    layout = root / "tk.toml"
    slow = f"while [ ! -f {gates}/go ]; do sleep 0.2; done; echo s > s.txt; git add -A && git commit -qm 'slow work'"
    layout.write_text('[run]\nname = "tk"\n[[session]]\nname = "done"\nagent = "sim"\n'
                      'script = ["write a.txt a", "commit done work"]\n'
                      '[[session]]\nname = "slow"\nagent = "shell"\n'
                      f'command = {toml_str(slow)}\n'
                      '[[session]]\nname = "after"\nagent = "sim"\ndepends_on = ["slow"]\n'
                      'script = ["write b.txt b", "commit after work"]\n')
    row.sessions = 3
    cli("up", str(layout), "--repo", str(repo), "--detach")
    end = time.monotonic() + 60
    while time.monotonic() < end:
        ss = {s["name"]: s["state"] for s in status(repo)["sessions"]}  # type: ignore[attr-defined]
        if ss.get("done") == "finished" and ss.get("slow") == "running":
            break
        time.sleep(0.3)
    sock = str(status(repo)["socket"])
    subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    row.cycles = 1
    (gates / "go").touch()
    time.sleep(7)  # the supervisor notices (reconcile) and says so
    cli("down", "--repo", str(repo))
    events = (repo / "coordination/runs/tk/events.jsonl").read_text()
    if "the tmux server of this run went away" not in events:
        row.notes.append("no 'tmux server went away' message")
    final = cli("run", str(layout), "--repo", str(repo), "--headless", timeout=300)
    sessions = {s["name"]: s for s in status(repo)["sessions"]}  # type: ignore[attr-defined]
    for name, subject in (("done", "done work"), ("slow", "slow work"), ("after", "after work")):
        s = sessions[name]
        if s["state"] != "finished":
            row.sessions_lost += 1
            row.notes.append(f"{name}: {s['state']} ({s['reason']})")
            continue
        lost, dup = count_commits(repo, "main", s["branch"], subject)
        row.commits_lost += lost
        row.commits_duplicated += dup
    if final.returncode != 0:
        row.notes.append(f"re-run exit {final.returncode}: {final.stderr.strip()[-300:]}")
    return row


def scenario_full_disk(root: Path) -> Row:
    row = Row("full tmpfs state dir")
    repo = make_repo(root / "fd")
    sd = root / "fd-state"
    sd.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(sd)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        row.notes.append(f"skipped: cannot mount a tmpfs here ({r.stderr.strip() or 'mount failed'})")
        return row
    try:
        layout = root / "fd.toml"
        layout.write_text('[run]\nname = "fd"\n[defaults]\nagent = "sim"\nverify = "test -f a.txt"\n'
                          '[[session]]\nname = "a"\nscript = ["say started", "sleep 3", "write a.txt a", '
                          '"commit a work"]\n[[session]]\nname = "b"\ndepends_on = ["a"]\n'
                          'script = ["write a.txt b", "commit b work"]\n')
        row.sessions = 2
        proc = subprocess.Popen([sys.executable, "-m", "cortex_tui.cli", "run", str(layout), "--repo", str(repo),
                                 "--state-dir", str(sd), "--headless"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        log = sd / "runs/fd/logs/a.log"
        end = time.monotonic() + 60
        while time.monotonic() < end and not (log.exists() and "started" in log.read_text(errors="replace")):
            time.sleep(0.1)
        filler = sd / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True)
        _, err = proc.communicate(timeout=120)
        row.cycles = 1
        if proc.returncode != 4 or "Traceback" in err or str(sd) not in err:
            row.notes.append(f"full disk: exit {proc.returncode}, stderr {err.strip()[-300:]!r}")
            row.sessions_lost += 1
        filler.unlink()
        final = cli("run", str(layout), "--repo", str(repo), "--state-dir", str(sd), "--headless", timeout=300)
        sessions = {s["name"]: s for s in status(repo, sd)["sessions"]}  # type: ignore[attr-defined]
        for name in ("a", "b"):
            s = sessions[name]
            if s["state"] != "finished":
                row.sessions_lost += 1
                continue
            lost, dup = count_commits(repo, "main", s["branch"], f"{name} work")
            row.commits_lost += lost
            row.commits_duplicated += dup
        if final.returncode != 0:
            row.verdicts_lost += 1
            row.notes.append(f"after freeing space: exit {final.returncode} {final.stderr.strip()[-200:]}")
    finally:
        subprocess.run(["umount", "-l", str(sd)], capture_output=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=100, help="kill -9 cycles of the first scenario")
    ap.add_argument("--seed", type=int, default=1)
    add_keep(ap)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    t0 = time.perf_counter()
    rows: list[Row] = []
    with scratch(args.keep) as root:
        rows.append(scenario_kill9(root, args.cycles, rnd))
        rows.append(scenario_tmux_killed(root))
        rows.append(scenario_full_disk(root))
    head = (f"{'scenario':<38} {'cycles':>6} {'sessions':>8} {'sessions lost':>13} {'commits lost':>12} "
            f"{'commits dup':>11} {'verdicts lost':>13} {'restarts lost':>13} {'injections':>10}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r.scenario:<38} {r.cycles:>6} {r.sessions:>8} {r.sessions_lost:>13} {r.commits_lost:>12} "
              f"{r.commits_duplicated:>11} {r.verdicts_lost:>13} {r.restarts_lost:>13} {r.injections:>10}")
    for r in rows:
        for n in r.notes:
            print(f"  {r.scenario}: {n}")
    print(f"wall {time.perf_counter() - t0:.0f}s  seed {args.seed}")
    ok = all(r.ok for r in rows)
    print("PASS: every loss column reads 0" if ok else "FAIL")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
