"""The TUI in a real browser: headless Chromium (Debian's chromium + chromedriver, driven with selenium) loads
`cortex-tui serve`, shows the dashboard on a phone-sized viewport, and a key pressed in the page approves a
waiting sim session through the run's supervisor. Also: the token guard of a non-loopback address, and no
listener beyond loopback in a default run."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_until
from engine_helpers import cli, status_json

LAYOUT = """
[run]
name = "web"
[defaults]
agent = "sim"
[[session]]
name = "asker"
script = ["say starting", "ask Ship the release?", "say shipped", "commit ship"]
[[session]]
name = "helper"
script = ["say helping", "sleep 600"]
"""
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                   reason="needs Debian's chromium and chromium-driver (scripts/bootstrap.sh --dev)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(repo: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "cortex_tui.cli", "serve", "--repo", str(repo), "--port", str(port),
                             *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    host = extra[extra.index("--host") + 1] if "--host" in extra else "127.0.0.1"

    def up() -> bool:
        with socket.socket() as s:
            return s.connect_ex((host, port)) == 0

    wait_until(up, timeout=60, what="cortex-tui serve listening")
    return proc


@pytest.fixture
def detached_run(git_repo: Path, tmp_path: Path) -> Iterator[Path]:
    layout = tmp_path / "web.toml"
    layout.write_text(LAYOUT)
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    try:
        yield git_repo
    finally:
        cli("down", "--repo", str(git_repo), check=False)


@needs_browser
def test_the_dashboard_in_a_phone_sized_browser_approves_a_waiting_session(detached_run: Path, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    repo = detached_run
    wait_until(lambda: {s["name"]: s["state"] for s in status_json(repo)["sessions"]}["asker"] == "waiting",
               timeout=60, what="asker waiting")
    port = free_port()
    proc = serve(repo, port)
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              f"--user-data-dir={tmp_path / 'chrome'}"):
        opts.add_argument(a)
    opts.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2}})
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=opts)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        seen = b""

        def dashboard_drawn() -> bool:  # what the page's terminal received over its websocket
            nonlocal seen
            for entry in driver.get_log("performance"):  # type: ignore[no-untyped-call]
                msg = json.loads(entry["message"])["message"]
                if msg["method"] == "Network.webSocketFrameReceived":
                    r = msg["params"]["response"]
                    seen += base64.b64decode(r["payloadData"]) if r.get("opcode") == 2 else r["payloadData"].encode()
            return b"asker" in seen and b"helper" in seen and b"waiting" in seen

        wait_until(dashboard_drawn, timeout=90, interval=0.5, what="the dashboard's session names in the page")
        assert driver.execute_script("return window.innerWidth") == 390  # a phone-sized viewport
        ARTIFACTS.mkdir(exist_ok=True)
        time.sleep(0.5)  # let the canvas paint the frame the websocket delivered (for the picture only)
        driver.save_screenshot(str(ARTIFACTS / "web-dashboard.png"))
        assert (ARTIFACTS / "web-dashboard.png").stat().st_size > 10_000
        driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys("a")  # approve, as in the TUI
        wait_until(lambda: {s["name"]: s["state"] for s in status_json(repo)["sessions"]}["asker"] == "finished",
                   timeout=60, what="asker finished after the approve pressed in the browser")
    finally:
        driver.quit()
        os.killpg(proc.pid, 15)
        proc.wait(10)
    events = [json.loads(x) for x in (repo / "coordination/runs/web/events.jsonl").read_text().splitlines()]
    approves = [e for e in events if e["kind"] == "action" and e["data"]["action"] == "approve"]
    assert [(e["session"], e["data"]["origin"]) for e in approves] == [("asker", "web")]
    assert status_json(repo)["supervisor"]["alive"] is True  # the page never took the run over


def test_a_non_loopback_address_needs_the_token(detached_run: Path) -> None:
    port = free_port()
    proc = serve(detached_run, port, "--host", "127.0.0.2", "--token", "s3cret-token")
    try:
        base = f"http://127.0.0.2:{port}/"
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base, timeout=20)
        assert e.value.code == 401
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        page = opener.open(base + "?token=s3cret-token", timeout=20)  # one-time URL -> cookie -> redirect
        assert page.status == 200 and page.url == base and b"ws://" in page.read()
        again = opener.open(base, timeout=20)  # the cookie alone now
        assert again.status == 200
        ok = urllib.request.Request(base, headers={"Authorization": "Bearer s3cret-token"})
        assert urllib.request.urlopen(ok, timeout=20).status == 200
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)


def listening(pid: int) -> list[str]:
    """Addresses of the TCP sockets process ``pid`` listens on (from /proc/net/tcp*, matched by inode)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and f[9] in inodes:  # LISTEN
                out.append(f[1].split(":")[0])
    return out


def test_a_default_run_listens_on_loopback_only_and_keeps_tokens_out_of_argv(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "web.toml"
    layout.write_text(LAYOUT)
    cli("up", str(layout), "--repo", str(git_repo), "--detach", "--metrics-port", "0", "--api-port", "0")
    try:
        run_dir = git_repo / "coordination/runs/web"
        pid = int((run_dir / "supervisor.lock").read_text())
        wait_until(lambda: (run_dir / "api.token").exists() and len(listening(pid)) >= 2, timeout=60,
                   what="the supervisor's API and metrics listening")
        addrs = listening(pid)
        loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 as /proc shows them
        assert addrs and set(addrs) <= loopback, addrs
        token = (run_dir / "api.token").read_text().strip()
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                assert token.encode() not in cmdline.read_bytes()
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
        for name in ("events.jsonl", "supervisor.log", "state.json"):
            p = run_dir / name
            assert not p.exists() or token not in p.read_text(errors="replace"), name
    finally:
        cli("down", "--repo", str(git_repo), check=False)
