"""Delivery of notifications through apprise, from a thread of its own: the engine only hands events over
(a queue put) and is never blocked or slowed by a slow or dead sink."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cortex_tui.model.events import EventKind
from cortex_tui.model.notify import NotifySpec, redact_url
from cortex_tui.notify.desktop import DBUS_SCHEMES, explain_failure, missing_library
from cortex_tui.notify.message import Message, render
from cortex_tui.notify.policy import NotifyPolicy

Report = Callable[[EventKind, dict[str, Any]], None]
"""How the notifier tells the engine what happened: ``report(kind, data)`` (``notify_sent``/``notify_error``)."""

_TYPES = {"info": "info", "warning": "warning", "attention": "warning", "error": "failure"}


def unavailable_reason(url: str) -> str | None:
    """Why apprise refuses a URL whose scheme it knows but cannot use on this machine (a desktop backend with no
    D-Bus library or session, say), with what would make it work; None for a scheme it does not know at all."""
    import apprise

    scheme = url.split("://", 1)[0].lower()
    details = apprise.Apprise().details(show_requirements=True, show_disabled=True)
    for schema in details.get("schemas", []):
        protocols = [*(schema.get("protocols") or ()), *(schema.get("secure_protocols") or ())]
        if scheme not in protocols or schema.get("enabled", True):
            continue
        req = schema.get("requirements") or {}
        need = missing_library(scheme) or " ".join(x for x in [
            str(req.get("details") or "").strip(),
            ", ".join(f"pip install {p}" for p in req.get("packages_required") or [])] if x)
        return (f"apprise's {schema.get('service_name', scheme)} backend ({scheme}://) is not available on this "
                f"machine{': ' + need if need else ''}")
    return None


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _apprise_log(debug: bool) -> Iterator[list[logging.LogRecord]]:
    """apprise's log records while a send runs: its warnings say why a send failed; with ``debug`` (a D-Bus
    backend, which puts the bus's own error in a debug record) its debug records too — kept from the handlers
    above apprise's logger, which see what they would have seen without this (the records at its usual level)."""
    log = logging.getLogger("apprise")
    handler = _Records()
    level, usual, propagate = log.level, log.getEffectiveLevel(), log.propagate
    if debug and usual > logging.DEBUG:
        log.setLevel(logging.DEBUG)
        log.propagate = False
    log.addHandler(handler)
    try:
        yield handler.records
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        if log.propagate != propagate:
            log.propagate = propagate
            parent = log.parent
            if parent is not None and parent.hasHandlers():  # (none: no last-resort print to stderr, as before)
                for r in handler.records:
                    if r.levelno >= usual:
                        parent.handle(r)


def _failure(scheme: str, records: list[logging.LogRecord]) -> str:
    """Why apprise's send through ``scheme`` failed: ours for the D-Bus schemes, else apprise's last warning."""
    debug = [r.getMessage() for r in records if r.levelno < logging.WARNING]
    # the plugin's own "DBus Exception: …", or apprise's "Notification Exception: …" for what the plugin raised
    dbus = next((m.split(":", 1)[1].strip() for m in reversed(debug)
                 if m.startswith(("DBus Exception:", "Notification Exception:"))), "")
    ours = explain_failure(scheme, dbus)
    if ours is not None:
        return f"apprise's D-Bus backend could not deliver: {ours}"
    warned = [r.getMessage().strip() for r in records if r.levelno >= logging.WARNING]
    return next((w.splitlines()[-1] for w in reversed(warned) if w), "delivery failed")


def send_apprise(url: str, msg: Message, timeout: float) -> str | None:
    """Deliver one message; None when it went out, else the reason it did not (never raises)."""
    import apprise

    result: dict[str, Any] = {}
    scheme = url.split("://", 1)[0].lower()

    def go() -> None:
        try:
            ap = apprise.Apprise()
            if not ap.add(url):
                result["error"] = unavailable_reason(url) or f"apprise does not understand the URL {redact_url(url)}"
                return
            with _apprise_log(debug=scheme in DBUS_SCHEMES) as records:
                ok = ap.notify(title=msg.title, body=msg.body, notify_type=_TYPES.get(msg.severity, "info"))
            if not ok:
                result["error"] = _failure(scheme, records).replace(url, redact_url(url))
        except (OSError, ValueError, RuntimeError) as e:  # apprise's own plugins raise little; keep it visible
            result["error"] = f"{type(e).__name__}: {e}".replace(url, redact_url(url))

    t = threading.Thread(target=go, name="cortex-notify-send", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        return f"no answer within {timeout:g}s"
    return result.get("error")


class Notifier:
    """Feeds engine events into a :class:`NotifyPolicy` and sends what falls due."""

    def __init__(self, specs: list[NotifySpec], *, run: str, repo: str, report: Report,
                 clock: Callable[[], float] = time.time,
                 minutes_of_day: Callable[[float], int] | None = None,
                 send: Callable[[str, Message, float], str | None] = send_apprise) -> None:
        self.specs = specs
        self.run = run
        self.repo = repo
        self.report = report
        self.clock = clock
        self.minutes_of_day = minutes_of_day or (lambda t: time.localtime(t).tm_hour * 60 + time.localtime(t).tm_min)
        self.send = send
        self.policy = NotifyPolicy(specs)
        self._q: queue.SimpleQueue[tuple[str, str | None, dict[str, Any], float] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def feed(self, kind: str, session: str | None, data: dict[str, Any], ts: float) -> None:
        """Called from the engine's event bus: cheap, never blocks."""
        if kind in ("output", "stats", "notify_sent", "notify_error"):
            return
        self._q.put((kind, session, data, ts))

    def start(self) -> None:
        if self._thread is None and self.specs:
            self._thread = threading.Thread(target=self._loop, name="cortex-notify", daemon=True)
            self._thread.start()

    def close(self, flush_within: float = 2.0) -> None:
        """Send what is pending (best effort, bounded), then stop the thread."""
        if self._thread is None:
            return
        self._q.put(None)
        self._thread.join(flush_within + max((s.timeout for s in self.specs), default=0.0))
        self._thread = None

    def _loop(self) -> None:
        if self.send is send_apprise:  # apprise loads its plugins on first use (~2 s): pay it now, not later
            import apprise

            for spec in self.specs:
                apprise.Apprise().add(spec.url)
        closing = False
        while True:
            now = self.clock()
            due = self.policy.next_due(now)
            wait = None if due is None else max(0.0, due - now)
            if closing:
                wait = 0.0
            try:
                got = self._q.get(timeout=wait) if wait is None or wait > 0 else self._q.get_nowait()
            except queue.Empty:
                got = ()  # type: ignore[assignment]
            if got is None:
                closing = True
            elif got:
                kind, session, data, ts = got
                self.policy.observe(kind, session, data, ts, self.clock())
                continue
            now = self.clock()
            if closing:  # flush: whatever is pending goes out now, rate limits aside
                for sink in self.policy.sinks:
                    if sink.window_start is not None:
                        sink.window_start = now - sink.spec.digest_window
                        sink.sent_at.clear()
            for index, items in self.policy.take(now, self.minutes_of_day(now)):
                self._deliver(index, items)
            if closing:
                return

    def _deliver(self, index: int, items: list[Any]) -> None:
        spec = self.specs[index]
        msg = render(items, self.run, self.repo)
        err = self.send(spec.url, msg, spec.timeout)
        sessions = sorted({i.session for i in items if i.session})
        kinds = sorted({i.kind for i in items})
        data: dict[str, Any] = {"sink": redact_url(spec.url), "items": len(items), "kinds": kinds,
                                "sessions": sessions}
        if err is None:
            self.report("notify_sent", {**data, "title": msg.title})
        else:
            self.report("notify_error", {**data, "error": err})
