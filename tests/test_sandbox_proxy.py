"""The network allowlist's proxy outlives its supervisor (issue #19): real bwrap, a detached supervisor, kill -9,
tmux, git, and real connections from inside the sandbox before, while no supervisor runs, and after a new one
re-attached — whose engine still turns the proxy's refusals into ``network_refused`` events."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_until
from engine_helpers import cli

from cortex_tui.backends.sandbox import probe

WHY = probe()
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"no bubblewrap sandbox here: {WHY}")

PROBE = r"""
import os, sys, time, urllib.request
port, go = int(sys.argv[1]), sys.argv[2]

def fetch(tag, url):
    try:
        urllib.request.urlopen(url, timeout=10)
        print(tag + "-REACHED", flush=True)
    except Exception as e:
        print(tag + "-FAILED", type(e).__name__, getattr(e, "code", ""), flush=True)

def wait(name):
    while not os.path.exists(go + "." + name):
        time.sleep(0.05)

fetch("BEFORE", f"http://127.0.0.1:{port}/")
wait("during")
fetch("DURING", f"http://127.0.0.1:{port}/")
wait("after")
fetch("AFTER", f"http://127.0.0.1:{port}/")
fetch("UNLISTED", "http://blocked.invalid:81/")
"""


@pytest.fixture
def loopback_server() -> Iterator[int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_allowlist_proxy_survives_a_kill_9_of_the_supervisor(git_repo: Path, tmp_path: Path,
                                                                  loopback_server: int) -> None:
    probe_py = git_repo / "netprobe.py"  # in the main checkout: readable inside the sandbox
    probe_py.write_text(PROBE)
    go = git_repo / "go"
    layout = tmp_path / "net.toml"
    layout.write_text(f"""
[run]
name = "netk"
[[session]]
name = "net"
agent = "shell"
sandbox = "bwrap"
network = ["127.0.0.1:{loopback_server}"]
command = "python3 {probe_py} {loopback_server} {go}"
""")
    run_dir = git_repo / "coordination" / "runs" / "netk"
    log = run_dir / "logs" / "net.log"

    def said(word: str) -> bool:
        return log.exists() and word in log.read_text(errors="replace")

    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    pid = int((run_dir / "supervisor.lock").read_text())
    wait_until(lambda: said("BEFORE-"), timeout=60, what="the first connection")
    assert said("BEFORE-REACHED")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _alive(pid), what="the supervisor gone")
    (go.parent / "go.during").touch()  # no supervisor at all now
    wait_until(lambda: said("DURING-"), timeout=30, what="the connection while no supervisor runs")
    assert said("DURING-REACHED"), log.read_text(errors="replace")[-2000:]
    again = subprocess.Popen([sys.executable, "-m", "cortex_tui.cli", "run", str(layout), "--repo", str(git_repo),
                              "--headless", "--timeout", "120"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, stdin=subprocess.DEVNULL)
    try:
        events = run_dir / "events.jsonl"

        def attached() -> bool:  # the new supervisor's own run_started, after the first one's
            kinds = [json.loads(x)["kind"] for x in events.read_text().splitlines() if x.strip()]
            return kinds.count("run_started") >= 2 or kinds.count("attached") >= 1
        wait_until(attached, timeout=60, what="a supervisor re-attached")
        (go.parent / "go.after").touch()
        out, err = again.communicate(timeout=150)
    finally:
        if again.poll() is None:
            again.kill()
            again.wait()
    assert again.returncode == 0, (out, err)
    assert said("AFTER-REACHED") and said("UNLISTED-FAILED HTTPError 403"), log.read_text(errors="replace")[-2000:]
    refused = [e for e in (json.loads(x) for x in events.read_text().splitlines() if x.strip())
               if e["kind"] == "network_refused"]
    assert [(e["data"]["host"], e["data"]["port"]) for e in refused] == [("blocked.invalid", 81)]


ENDS = r"""
import os, sys, time, urllib.request
go = sys.argv[1]
print("UP", flush=True)
while not os.path.exists(go):
    time.sleep(0.05)
try:
    urllib.request.urlopen("http://blocked.invalid:81/", timeout=10)
except Exception as e:
    print("UNLISTED-FAILED", type(e).__name__, getattr(e, "code", ""), flush=True)
print("LAST-WORDS before exit 3", flush=True)
sys.exit(3)
"""


def test_an_exit_while_no_supervisor_ran_is_judged_on_the_whole_log(git_repo: Path, tmp_path: Path) -> None:
    """The session refuses a connection, prints its last line and exits 3 while no supervisor runs. The next
    supervisor sees the exit first (its start's reconcile, not the watcher): the verdict must come from the
    whole log — the network_refused event before ``finished``, the last line in the ``exited`` trigger's
    evidence. (Before: the exit was judged on the new supervisor's empty tail and the log read after it; when
    the exit is seen by a reconcile while the watcher lags, a headless run ended with those lines never read —
    the refusal of test_the_allowlist_proxy_survives_a_kill_9_of_the_supervisor lost under load.)"""
    ends_py = git_repo / "ends.py"
    ends_py.write_text(ENDS)
    go = git_repo / "go.end"
    layout = tmp_path / "end.toml"
    layout.write_text(f"""
[run]
name = "netend"
[[session]]
name = "end"
agent = "shell"
sandbox = "bwrap"
network = ["127.0.0.1:9"]
command = "python3 {ends_py} {go}"
""")
    run_dir = git_repo / "coordination" / "runs" / "netend"
    log = run_dir / "logs" / "end.log"
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    pid = int((run_dir / "supervisor.lock").read_text())
    wait_until(lambda: log.exists() and "UP" in log.read_text(errors="replace"), timeout=60, what="the agent up")
    wait_until(lambda: json.loads((run_dir / "state.json").read_text())["sessions"]["end"]["state"] == "running",
               timeout=30, what="its state saved as running")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _alive(pid), what="the supervisor gone")
    go.touch()
    wait_until(lambda: (run_dir / "exit" / "end.code").exists(), timeout=30, what="the exit while no supervisor ran")
    assert "LAST-WORDS" in log.read_text(errors="replace")
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--timeout", "60", check=False, timeout=120)
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines() if x.strip()]
    kinds = [e["kind"] for e in events]
    assert "attached" in kinds and kinds.count("finished") == 1, (kinds, r.stdout, r.stderr)
    assert kinds.count("network_refused") == 1, kinds
    assert kinds.index("network_refused") < kinds.index("finished"), kinds
    exited = [e for e in events if e["kind"] == "trigger" and e["data"]["kind"] == "exited"]
    assert exited and any("LAST-WORDS" in ln for ln in exited[-1]["data"]["evidence"]["last_lines"]), exited
