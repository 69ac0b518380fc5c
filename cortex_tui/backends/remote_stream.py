"""The node watcher's wire protocol: one long-lived python3 process per node, started over the ssh master,
that prints a record as soon as a watched file grows (pure parsing here; the engine side is
:mod:`cortex_tui.engine.node_stream`).

Watched files are given on the watcher's stdin as one JSON line ``{"watch": [[id, path, offset, mode], ...]}``
(the whole set; ids already watched keep the watcher's own offset). ``mode`` is ``bytes`` (a log: every new
byte), ``lines`` (agent events: up to the last newline) or ``exit`` (an exit-code file: its content once it
exists, with the byte offset the session's log had reached, so the exit is never applied before the output).

Every record is one JSON line, the file's bytes in base64 — agent-controlled bytes never travel raw:

* ``{"id": "...", "at": N, "data": "<base64>"}`` — bytes ``[N, N+len)`` of a watched file;
* ``{"id": "...", "exit": "<text>", "log_at": N}`` — an exit-code file appeared (or changed);
* ``{"hello": 1, "pid": P}`` — the watcher is up.

The watcher exits when its stdin reaches EOF (the stream was closed here, or sshd closed the channel because
the link dropped) or its stdout breaks. It polls with ``os.stat`` every :data:`WATCH_INTERVAL_S` (no forks on
the node; the ssh round trip is what costs, and the stream has none). Byte offsets are the source of truth:
the engine applies a record only where it continues what it already has.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

WATCH_INTERVAL_S = 0.02
MAX_CHUNK = 256 << 10
"""Bytes of one data record at most (a flood arrives in several records)."""
MAX_LINE = 2 * MAX_CHUNK
"""A longer line is no record of ours: the stream is dropped (the poll catches up)."""

WATCHER_PY = r'''
import base64, json, os, sys, threading, time
iv, chunk = float(sys.argv[1]), int(sys.argv[2])
lock = threading.Lock()
watch = {}
def out(rec):
    sys.stdout.write(json.dumps(rec, separators=(",", ":")) + "\n")
def reader():
    for line in sys.stdin:
        try:
            items = json.loads(line)["watch"]
        except (ValueError, KeyError, TypeError):
            continue
        with lock:
            old = dict(watch)
            watch.clear()
            for i, p, o, m in items:
                watch[i] = old.get(i) or {"path": p, "off": int(o), "mode": m, "seen": None, "log": None}
            for i, w in watch.items():
                if w["mode"] == "exit":
                    w["log"] = watch.get(i.rsplit(":", 1)[0] + ":log")
    os._exit(0)
threading.Thread(target=reader, daemon=True).start()
def drain(i, w):
    try:
        size = os.stat(w["path"]).st_size
    except OSError:
        return False
    wrote = False
    while size > w["off"]:
        with open(w["path"], "rb") as f:
            f.seek(w["off"])
            data = f.read(chunk)
        if w["mode"] == "lines":
            data = data[:data.rfind(b"\n") + 1]
        if not data:
            break
        out({"id": i, "at": w["off"], "data": base64.b64encode(data).decode()})
        w["off"] += len(data)
        wrote = True
    return wrote
try:
    out({"hello": 1, "pid": os.getpid()})
    sys.stdout.flush()
    while True:
        wrote = False
        with lock:
            items = list(watch.items())
        for i, w in items:
            if w["mode"] != "exit":
                wrote = drain(i, w) or wrote
                continue
            try:
                st = os.stat(w["path"])
            except OSError:
                continue
            key = (st.st_size, st.st_mtime_ns)
            if key == w["seen"]:
                continue
            with open(w["path"], "rb") as f:
                text = f.read(64).decode("ascii", "replace").strip()
            if text:
                w["seen"] = key
                lg = w["log"]
                if lg:  # all the output before the exit
                    drain(i.rsplit(":", 1)[0] + ":log", lg)
                out({"id": i, "exit": text, "log_at": lg["off"] if lg else 0})
                wrote = True
        if wrote:
            sys.stdout.flush()
        time.sleep(iv)
except (BrokenPipeError, OSError):
    os._exit(0)
'''


class Hello(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    hello: Literal[1]
    pid: int


class DataRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(max_length=300)
    at: int = Field(ge=0)
    data: str = Field(max_length=MAX_LINE)

    def payload(self) -> bytes:
        return base64.b64decode(self.data, validate=True)


class ExitRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(max_length=300)
    exit: str = Field(max_length=64)
    log_at: int = Field(ge=0)

    @property
    def code(self) -> int | None:
        s = self.exit.strip()
        return int(s) if s.lstrip("-").isdigit() and len(s) < 12 else None


Record = Hello | DataRecord | ExitRecord


class BadRecord(ValueError):
    """A line that is not one of the watcher's records (the stream is no longer trusted)."""


def parse_record(line: bytes) -> Record:
    """One line of the watcher's stdout as a typed record; :class:`BadRecord` for anything else."""
    if len(line) > MAX_LINE + 400:
        raise BadRecord(f"record of {len(line)} bytes")
    for model in (DataRecord, ExitRecord, Hello):
        try:
            rec: Record = model.model_validate_json(line)
        except ValidationError:
            continue
        if isinstance(rec, DataRecord):
            try:
                rec.payload()
            except (binascii.Error, ValueError) as e:
                raise BadRecord(f"record {rec.id!r}: bad base64: {e}") from None
        return rec
    raise BadRecord(f"not a watcher record: {line[:80]!r}")


def watcher_argv(python: str) -> list[str]:
    """argv that runs the watcher on the node (``python`` is the node's configured interpreter)."""
    return [python, "-u", "-c", WATCHER_PY, f"{WATCH_INTERVAL_S:g}", str(MAX_CHUNK)]


def watch_line(items: list[tuple[str, str, int, str]]) -> bytes:
    """The stdin line that sets the watcher's whole watch set."""
    import json

    return (json.dumps({"watch": [list(i) for i in items]}) + "\n").encode()
