"""What a desktop sink (apprise's D-Bus backends) lacks on this machine, in words that say what to install or start.

apprise's own texts name the wrong thing ("libdbus-1.so.x must be installed" where the library is there and the
Python binding is not) or nothing at all ("Failed to send DBus notification."), so the desktop schemes get ours.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DBUS_SCHEMES = frozenset({"dbus", "kde", "qt"})
"""apprise's ``dbus.py``: dbus-python (``dbus`` and its GLib main loop ``dbus.mainloop.glib``; no PyGObject)."""

GI_SCHEMES = frozenset({"glib", "gnome"})
"""apprise's ``glib.py`` and ``gnome.py``: PyGObject (``gi``) — not installed by cortex-tui."""

NOTIFICATIONS = "org.freedesktop.Notifications"


def missing_library(scheme: str) -> str | None:
    """What to install so that apprise enables ``scheme``; None for a scheme that is not a desktop one."""
    py = sys.executable or "python3"
    if scheme in DBUS_SCHEMES:
        return (f"it needs the Python package dbus-python in cortex-tui's Python ({py} -m pip install dbus-python, "
                "or scripts/bootstrap.sh --dev in a checkout); it builds from source, so first apt-get install "
                "libdbus-1-dev libglib2.0-dev pkg-config gcc (or your system's equivalents)")
    if scheme in GI_SCHEMES:
        return (f"it needs PyGObject (the gi module) in cortex-tui's Python ({py} -m pip install PyGObject); "
                "dbus:// reaches the same desktop notifications with dbus-python alone")
    return None


def _session_bus_named() -> bool:
    """Whether libdbus has a session bus to find: DBUS_SESSION_BUS_ADDRESS, or $XDG_RUNTIME_DIR/bus (dbus >= 1.10)."""
    if os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return True
    run = os.environ.get("XDG_RUNTIME_DIR")
    return run is not None and run != "" and Path(run, "bus").is_socket()


def explain_failure(scheme: str, detail: str) -> str | None:
    """Why a send through a D-Bus scheme failed, with what to start or set; None for other schemes.

    ``detail`` is the D-Bus error apprise logged (``org.freedesktop.DBus.Error.…: text``), or "" when it gave none.
    """
    if scheme not in DBUS_SCHEMES:
        return None
    said = f" (D-Bus: {detail})" if detail else ""
    if "Error.ServiceUnknown" in detail or "Error.NameHasNoOwner" in detail:
        return (f"no notification server on the D-Bus session bus: nothing owns {NOTIFICATIONS} — start your "
                f"desktop's notification daemon (GNOME Shell and KDE Plasma have one; elsewhere e.g. dunst or "
                f"notification-daemon){said}")
    if "Error.NoReply" in detail or "Error.Timeout" in detail:
        return f"the notification server on the D-Bus session bus ({NOTIFICATIONS}) did not answer{said}"
    if not _session_bus_named():
        return ("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set and there is no $XDG_RUNTIME_DIR/bus — "
                "run cortex-tui from your desktop session (or a shell that has its DBUS_SESSION_BUS_ADDRESS), or "
                "start a session bus (dbus-daemon --session --fork --print-address, from the dbus-daemon "
                f"package) and export its address as DBUS_SESSION_BUS_ADDRESS{said}")
    if any(f"Error.{e}" in detail for e in ("FileNotFound", "NoServer", "Disconnected", "BadAddress", "AuthFailed")):
        return ("cannot connect to the D-Bus session bus that DBUS_SESSION_BUS_ADDRESS names (has its dbus-daemon "
                f"stopped, or is it another user's?){said}")
    return f"the D-Bus session bus did not take the notification{said or ' (no reason given)'}"
