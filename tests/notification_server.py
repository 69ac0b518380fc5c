"""A tiny real desktop notification server: owns org.freedesktop.Notifications on the session bus that
DBUS_SESSION_BUS_ADDRESS names and answers each Notify call (with dbus-python), printing what it was sent.

    python tests/notification_server.py      # prints "ready", then one JSON line per Notify call

Used by tests/test_notify_desktop.py on a private dbus-daemon. The GLib main loop is dbus-python's own
(dbus.mainloop.glib); it is run through libglib with ctypes, so no PyGObject is needed.
"""

from __future__ import annotations

import ctypes
import json
import sys
from typing import Any

import dbus
import dbus.lowlevel
from dbus.mainloop.glib import DBusGMainLoop

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
# dbus-python's proxies (apprise's) introspect the object first: Notify's signature comes from here (without it
# the empty actions list cannot be marshalled: "Unable to guess signature from an empty list")
XML = f"""<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
<node name="{PATH}">
  <interface name="{INTROSPECTABLE}">
    <method name="Introspect"><arg direction="out" type="s"/></method>
  </interface>
  <interface name="{NAME}">
    <method name="Notify">
      <arg direction="in" type="s"/><arg direction="in" type="u"/><arg direction="in" type="s"/>
      <arg direction="in" type="s"/><arg direction="in" type="s"/><arg direction="in" type="as"/>
      <arg direction="in" type="a{{sv}}"/><arg direction="in" type="i"/><arg direction="out" type="u"/>
    </method>
    <method name="GetServerInformation">
      <arg direction="out" type="s"/><arg direction="out" type="s"/><arg direction="out" type="s"/>
      <arg direction="out" type="s"/>
    </method>
  </interface>
</node>
"""


def main() -> None:
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    served = 0

    def on_message(conn: Any, msg: Any) -> Any:
        nonlocal served
        if (msg.get_type() != dbus.lowlevel.MESSAGE_TYPE_METHOD_CALL or msg.get_path() != PATH
                or msg.get_interface() not in (NAME, INTROSPECTABLE)):
            return dbus.lowlevel.HANDLER_RESULT_NOT_YET_HANDLED
        reply: Any
        if msg.get_interface() == INTROSPECTABLE and msg.get_member() == "Introspect":
            reply = dbus.lowlevel.MethodReturnMessage(msg)
            reply.append(XML, signature="s")
        elif msg.get_member() == "Notify":
            app, _replaces, _icon, summary, body, _actions, hints, timeout = msg.get_args_list()
            served += 1
            print(json.dumps({"app": str(app), "summary": str(summary), "body": str(body),
                              "urgency": int(hints.get("urgency", -1)), "timeout": int(timeout)}), flush=True)
            reply = dbus.lowlevel.MethodReturnMessage(msg)
            reply.append(dbus.UInt32(served), signature="u")
        elif msg.get_member() == "GetServerInformation":
            reply = dbus.lowlevel.MethodReturnMessage(msg)
            reply.append("cortex-tui-test", "cortex-tui", "1", "1.2", signature="ssss")
        else:
            reply = dbus.lowlevel.ErrorMessage(msg, "org.freedesktop.DBus.Error.UnknownMethod", msg.get_member())
        conn.send_message(reply)
        return dbus.lowlevel.HANDLER_RESULT_HANDLED

    bus.add_message_filter(on_message)
    if bus.request_name(NAME, dbus.bus.NAME_FLAG_DO_NOT_QUEUE) != dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER:
        sys.exit(f"{NAME} is already owned on this bus")
    print("ready", flush=True)
    glib = ctypes.CDLL("libglib-2.0.so.0")  # what dbus-python's GLib main loop is built on
    glib.g_main_context_iteration.argtypes = [ctypes.c_void_p, ctypes.c_int]
    while True:  # runs until the test kills it (or the bus goes away: dbus-python exits on disconnect)
        glib.g_main_context_iteration(None, 1)


if __name__ == "__main__":
    main()
