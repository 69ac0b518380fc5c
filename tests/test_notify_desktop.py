"""The desktop path (apprise's D-Bus/notify backends): delivered where the machine has a session bus and the
library, otherwise a notify_error that says what is missing — never 'does not understand the URL'."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

from cortex_tui.notify.deliver import send_apprise, unavailable_reason
from cortex_tui.notify.message import Message

MSG = Message(title="cortex-tui: api waits", body="Apply the migration?", severity="warning")


def _dbus_ready() -> str | None:
    """Why the real desktop path cannot run here, or None when it can."""
    if importlib.util.find_spec("dbus") is None:  # apprise's D-Bus backend needs dbus-python
        return "apprise's dbus:// backend needs dbus-python (pip install dbus-python) and libdbus-1"
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS") or not shutil.which("dbus-monitor"):
        return "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS) or no dbus-monitor to watch it"
    return None


def test_a_desktop_sink_this_machine_cannot_use_says_what_is_missing() -> None:
    why = _dbus_ready()
    if why is None:
        pytest.skip("this machine has a usable D-Bus desktop path (the delivery test covers it)")
    err = send_apprise("dbus://", MSG, timeout=20)
    assert err is not None and "dbus://" in err and "not available on this machine" in err, err
    assert "does not understand" not in err
    assert unavailable_reason("nosuchscheme://x") is None  # an unknown scheme is still called unknown
    err = send_apprise("nosuchscheme://x", MSG, timeout=20)
    assert err is not None and "does not understand" in err


def test_the_desktop_path_delivers_through_the_session_bus() -> None:
    why = _dbus_ready()
    if why is not None:
        pytest.skip(why)
    import subprocess

    mon = subprocess.Popen(["dbus-monitor", "--session", "interface='org.freedesktop.Notifications'"],
                           stdout=subprocess.PIPE, text=True)
    try:
        send_apprise("dbus://", MSG, timeout=20)  # delivered or not, the Notify call is on the bus
        seen = ""
        assert mon.stdout is not None
        for line in mon.stdout:
            seen += line
            if "Apply the migration?" in seen:
                break
        assert "member=Notify" in seen and "Apply the migration?" in seen
    finally:
        mon.kill()
