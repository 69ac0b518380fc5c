"""The desktop path (apprise's D-Bus backend, dbus://): delivered through a real session bus to a real notification
server, otherwise a notify_error that says what is missing and what to install or start — never 'does not
understand the URL', never apprise's bare "Failed to send DBus notification.".

Each test has its own dbus-daemon (a config with a socket in a private temp dir) and sends from a subprocess whose
DBUS_SESSION_BUS_ADDRESS names it: the developer's own session bus is never touched. dbus-python comes from
scripts/bootstrap.sh --dev (the desktop extra); in CI (CI=true) a missing piece fails instead of skipping.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from cortex_tui.notify.deliver import send_apprise, unavailable_reason
from cortex_tui.notify.message import Message

MSG = Message(title="cortex-tui: api waits", body="Apply the migration?", severity="warning")
SERVER = Path(__file__).with_name("notification_server.py")

# one send, in a fresh interpreter: prints {"error": ...} (None: delivered); argv[1] is run first (a prelude)
SEND = """
import json, sys
exec(sys.argv[1])
from cortex_tui.notify.deliver import send_apprise
from cortex_tui.notify.message import Message
print(json.dumps({"error": send_apprise("dbus://", Message(**json.loads(sys.argv[2])), 20)}))
"""

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def _missing(why: str) -> None:
    """CI installs the whole desktop path (scripts/bootstrap.sh --dev): there a missing piece is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} — scripts/bootstrap.sh --dev should have installed it")
    pytest.skip(why)


def _need_dbus_python() -> None:
    if importlib.util.find_spec("dbus") is None:
        _missing("apprise's dbus:// backend needs dbus-python in this venv (scripts/bootstrap.sh --dev builds it; "
                 "it needs libdbus-1-dev, libglib2.0-dev, pkg-config and a C compiler)")


def _send(env: dict[str, str], prelude: str = "", msg: Message = MSG) -> str | None:
    out = subprocess.run([sys.executable, "-c", SEND, prelude, json.dumps(dataclasses.asdict(msg))], env=env,
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    err: str | None = json.loads(out.stdout.strip().splitlines()[-1])["error"]
    return err


def _env(**changes: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


class Lines:
    """A process's output lines, read by a thread of their own (a wait never blocks on a silent process)."""

    def __init__(self, proc: subprocess.Popen[str], stream: IO[str]) -> None:
        self.proc = proc
        self.text = ""
        self._q: queue.SimpleQueue[str] = queue.SimpleQueue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._q.put(line)

    def wait(self, pred: Callable[[str], bool], what: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while not pred(self.text):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout:g}s; got:\n{self.text}")
            try:
                self.text += self._q.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None and self._q.empty():
                    raise AssertionError(f"exited {self.proc.returncode} before {what}; got:\n{self.text}") from None
        return self.text


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(timeout=30)


@pytest.fixture
def session_bus() -> Iterator[str]:
    """A private session bus (dbus-daemon on a socket in its own temp dir): its address; killed afterwards."""
    _need_dbus_python()
    for tool in ("dbus-daemon", "dbus-monitor"):
        if shutil.which(tool) is None:
            _missing(f"no {tool} (Debian: apt-get install dbus-daemon dbus-bin)")
    d = Path(tempfile.mkdtemp(prefix="ctx-dbus-"))  # short: a unix socket path has 108 bytes at most
    conf = d / "bus.conf"
    conf.write_text(BUS_CONF.format(socket=d / "bus"))
    with open(d / "daemon.log", "w") as log:
        daemon = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--print-address=1"],
                                  stdout=subprocess.PIPE, stderr=log, text=True, stdin=subprocess.DEVNULL)
    try:
        assert daemon.stdout is not None
        address = Lines(daemon, daemon.stdout).wait(lambda t: t.endswith("\n"), "bus address").strip()
        assert address.startswith(f"unix:path={d / 'bus'}"), address
        yield address
    finally:
        _stop(daemon)
        shutil.rmtree(d, ignore_errors=True)


def test_a_desktop_sink_this_machine_cannot_use_says_what_is_missing() -> None:
    # the real missing-library path: an interpreter that cannot import dbus (here or not, dbus-python)
    err = _send(_env(), prelude="sys.modules['dbus'] = None")
    assert err is not None and "dbus://" in err and "not available on this machine" in err, err
    assert "pip install dbus-python" in err and "libdbus-1-dev" in err and "libglib2.0-dev" in err, err
    assert "libdbus-1.so.x" not in err  # apprise's own text blames the C library, which is there
    assert "does not understand" not in err
    assert unavailable_reason("nosuchscheme://x") is None  # an unknown scheme is still called unknown
    err = send_apprise("nosuchscheme://x", MSG, timeout=20)
    assert err is not None and "does not understand" in err


def test_a_machine_with_no_session_bus_is_told_how_to_get_one(tmp_path: Path) -> None:
    _need_dbus_python()
    run = tmp_path / "run"  # an XDG_RUNTIME_DIR with no bus socket in it
    run.mkdir()
    err = _send(_env(DBUS_SESSION_BUS_ADDRESS=None, DISPLAY=None, WAYLAND_DISPLAY=None, XDG_RUNTIME_DIR=str(run)))
    assert err is not None and "no D-Bus session bus" in err, err
    assert "DBUS_SESSION_BUS_ADDRESS is not set" in err and "dbus-daemon" in err, err
    assert "Failed to send DBus notification" not in err  # apprise's words, which name nothing


def test_the_desktop_path_delivers_through_the_session_bus(session_bus: str) -> None:
    env = _env(DBUS_SESSION_BUS_ADDRESS=session_bus)
    mon = subprocess.Popen(["dbus-monitor", "--address", session_bus, "interface='org.freedesktop.Notifications'"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    server: subprocess.Popen[str] | None = None
    try:
        assert mon.stdout is not None
        watch = Lines(mon, mon.stdout)
        watch.wait(lambda t: "member=NameLost" in t, "dbus-monitor becoming a monitor")  # it watches from here

        # a bus with no notification server on it: the error says so (and what would answer)
        err = _send(env, msg=Message(title="nobody answers", body="no server yet", severity="info"))
        assert err is not None and "no notification server" in err and "org.freedesktop.Notifications" in err, err

        server = subprocess.Popen([sys.executable, str(SERVER)], env=env, stdout=subprocess.PIPE, text=True,
                                  stdin=subprocess.DEVNULL)
        assert server.stdout is not None
        served = Lines(server, server.stdout)
        served.wait(lambda t: "ready\n" in t, "the notification server owning its name")

        assert _send(env) is None  # delivered: the server answered the Notify call
        got = json.loads(served.wait(lambda t: t.count("\n") >= 2, "the Notify call at the server").splitlines()[1])
        assert got["summary"] == MSG.title and got["body"] == MSG.body, got
        assert got["urgency"] == 1  # apprise's "normal" for a warning
        seen = watch.wait(lambda t: f'string "{MSG.body}"' in t, "the Notify call on the bus")
        call = seen[seen.rindex("member=Notify", 0, seen.index(f'string "{MSG.body}"')):]
        assert "interface=org.freedesktop.Notifications" in seen and f'string "{MSG.title}"' in call, seen
    finally:
        if server is not None:
            _stop(server)
        _stop(mon)
