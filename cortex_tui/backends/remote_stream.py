"""The node watcher's wire protocol: one long-lived python3 process per node, started over the ssh master,
that prints a record as soon as a watched file grows (pure parsing here; the engine side is
:mod:`cortex_tui.engine.node_stream`).

Watched files are given on the watcher's stdin as one JSON line
``{"watch": [[id, path, offset, mode, base], ...]}`` (the whole set; ids already watched keep the watcher's own
offset). ``mode`` is ``bytes`` (a log: every new byte), ``lines`` (agent events: up to the last newline),
``exit`` (an exit-code file: its content once it exists, with the byte offset the session's log had reached,
so the exit is never applied before the output) or ``tree`` (a session's worktree; ``base`` is the commit its
changes are measured against: the node's git answers which of the touched paths differ from it, exactly as
the poll's and this machine's checks do).

A worktree is watched through inotify (libc via ctypes: no package on the node; every directory but
:data:`NOISE_DIRS`, new ones as they appear), else — no inotify, or out of watches — by a walk that compares
mtimes every :data:`SCAN_S`. Touched paths are checked with git at most every :data:`CHECK_GAP_S` per
worktree (a burst of writes is one check); once the watch is set up, the whole worktree is checked once (what
changed before it; nothing is sent when nothing differs from the base).

Every record is one JSON line, the file's bytes in base64 — agent-controlled bytes never travel raw:

* ``{"id": "...", "at": N, "data": "<base64>"}`` — bytes ``[N, N+len)`` of a watched file;
* ``{"id": "...", "exit": "<text>", "log_at": N}`` — an exit-code file appeared (or changed);
* ``{"id": "...", "changed": "<base64>"}`` — touched paths of a worktree that differ from its base: git's
  ``diff --name-status -z``, ``\\x01``, then ``ls-files --others --exclude-standard -z`` (as the poll sends);
* ``{"hello": 1, "pid": P}`` — the watcher is up.

The watcher exits when its stdin reaches EOF (the stream was closed here, or sshd closed the channel because
the link dropped) or its stdout breaks. It polls files with ``os.stat`` every :data:`WATCH_INTERVAL_S` (no
forks on the node but git's when a worktree changed; the ssh round trip is what costs, and the stream has
none). Byte offsets are the source of truth:
the engine applies a record only where it continues what it already has.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

WATCH_INTERVAL_S = 0.02
MAX_CHUNK = 256 << 10
"""Bytes of one data record at most (a flood arrives in several records)."""
MAX_LINE = 2 * MAX_CHUNK
"""A longer line is no record of ours: the stream is dropped (the poll catches up)."""
SCAN_S = 0.5
"""Without inotify: a worktree's walk for newer mtimes this often."""
CHECK_GAP_S = 0.05
"""A worktree's touched paths are checked with git at most this often."""
MAX_PATHSPECS = 64
"""More touched paths than this: git looks at the whole worktree (as this machine's check does)."""
NOISE_DIRS = (".git", "__pycache__", "node_modules", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv",
              "venv", ".tox", ".cache", "dist", "build", ".idea", ".vscode")
"""Directories not watched (as :data:`cortex_tui.engine.watcher.NOISE_DIRS` on this machine)."""

WATCHER_PY = r'''
import base64, ctypes, json, os, struct, subprocess, sys, threading, time
iv, chunk, scan_s, gap, most = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
noise = set(json.loads(sys.argv[6]))
use_inotify = sys.argv[7] == "inotify"
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
            for it in items:
                i, p, o, m = it[:4]
                watch[i] = old.get(i) or {"path": p, "off": int(o), "mode": m, "seen": None, "log": None,
                                          "base": it[4] if len(it) > 4 else ""}
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
    libc = ctypes.CDLL(None, use_errno=True)
    ifd = libc.inotify_init1(0o4000 | 0o2000000) if use_inotify else -1  # IN_NONBLOCK | IN_CLOEXEC
except (OSError, AttributeError):
    libc, ifd = None, -1
MASK = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x1000000  # modify attrib close_write moved create delete; dirs
trees, wds = {}, {}
def add_dirs(i, w, rel):
    top = os.path.join(w["path"], rel) if rel else w["path"]
    for d, dirs, _ in os.walk(top):
        dirs[:] = [x for x in dirs if x not in noise]
        if ifd < 0:
            return False
        wd = libc.inotify_add_watch(ifd, os.fsencode(d), MASK)
        if wd < 0:
            return False
        r = os.path.relpath(d, w["path"])
        wds[wd] = (i, "" if r == "." else r)
        w["wds"].add(wd)
    return True
def forget(w):
    for wd in w["wds"]:
        if wds.pop(wd, None) is not None:
            libc.inotify_rm_watch(ifd, wd)
    w["wds"] = set()
def events():
    while ifd >= 0:
        try:
            buf = os.read(ifd, 1 << 16)
        except BlockingIOError:
            return
        k = 0
        while k + 16 <= len(buf):
            wd, mask, _, n = struct.unpack_from("iIII", buf, k)
            name = os.fsdecode(buf[k + 16:k + 16 + n].rstrip(b"\0"))
            k += 16 + n
            if mask & 0x4000:  # the queue overflowed: every worktree is looked at whole
                for w in trees.values():
                    w["dirty"].add("")
                continue
            at = wds.get(wd)
            w = trees.get(at[0]) if at else None
            if w is None:
                continue
            if mask & 0x8000:  # the directory is gone
                wds.pop(wd, None)
                w["wds"].discard(wd)
                continue
            path = os.path.join(at[1], name) if at[1] else name
            if mask & 0x40000000:
                if name in noise:
                    continue
                if mask & 0x180 and not add_dirs(at[0], w, path):  # a new directory: watched too
                    w["dirty"].add("")
            w["dirty"].add(path)
def scan(w):
    since, start = w["since"], time.time_ns()
    try:
        if os.lstat(w["path"]).st_mtime_ns > since:
            w["dirty"].add("")
    except OSError:
        return
    for d, dirs, files in os.walk(w["path"]):
        dirs[:] = [x for x in dirs if x not in noise]
        r = os.path.relpath(d, w["path"])
        for nm in dirs + files:
            try:
                m = os.lstat(os.path.join(d, nm)).st_mtime_ns
            except OSError:
                continue
            if m > since:
                w["dirty"].add(nm if r == "." else os.path.join(r, nm))
    w["since"] = start - 50000000  # file times lag the clock a little: a path may be seen twice, never missed
def check(i, w):
    paths = sorted(w["dirty"])
    w["dirty"], w["checked"] = set(), time.monotonic()
    spec = [] if "" in paths or len(paths) > most else ["--"] + paths
    g = ["git", "--literal-pathspecs", "-C", w["path"]]
    try:
        d = subprocess.run(g + ["diff", "--no-renames", "--name-status", "-z", w["base"]] + spec, timeout=60,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        u = subprocess.run(g + ["ls-files", "--others", "--exclude-standard", "-z"] + spec, timeout=60,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    if not d and not u:
        return False
    out({"id": i, "changed": base64.b64encode(d + b"\1" + u).decode()})
    return True
def tree(i, w):
    if trees.get(i) is not w:
        if not os.path.isdir(w["path"]):
            return False
        w.update(wds=set(), dirty={""}, checked=0.0, since=time.time_ns(), next=0.0)
        trees[i] = w
        w["inotify"] = add_dirs(i, w, "")  # then one look at the whole tree: what changed before the watch
        if not w["inotify"]:
            forget(w)
    now = time.monotonic()
    if not w["inotify"] and now >= w["next"]:
        w["next"] = now + scan_s
        scan(w)
    return bool(w["dirty"]) and now - w["checked"] >= gap and check(i, w)
try:
    out({"hello": 1, "pid": os.getpid()})
    sys.stdout.flush()
    while True:
        wrote = False
        with lock:
            items = list(watch.items())
        for i in [i for i, w in trees.items() if watch.get(i) is not w]:
            forget(trees.pop(i))
        events()
        for i, w in items:
            if w["mode"] == "tree":
                wrote = tree(i, w) or wrote
                continue
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


class ChangedRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(max_length=300)
    changed: str = Field(max_length=MAX_LINE)

    def payload(self) -> bytes:
        return base64.b64decode(self.changed, validate=True)


Record = Hello | DataRecord | ExitRecord | ChangedRecord


class BadRecord(ValueError):
    """A line that is not one of the watcher's records (the stream is no longer trusted)."""


def parse_record(line: bytes) -> Record:
    """One line of the watcher's stdout as a typed record; :class:`BadRecord` for anything else."""
    if len(line) > MAX_LINE + 400:
        raise BadRecord(f"record of {len(line)} bytes")
    for model in (DataRecord, ExitRecord, ChangedRecord, Hello):
        try:
            rec: Record = model.model_validate_json(line)
        except ValidationError:
            continue
        if isinstance(rec, DataRecord | ChangedRecord):
            try:
                rec.payload()
            except (binascii.Error, ValueError) as e:
                raise BadRecord(f"record {rec.id!r}: bad base64: {e}") from None
        return rec
    raise BadRecord(f"not a watcher record: {line[:80]!r}")


def watcher_argv(python: str, *, inotify: bool = True) -> list[str]:
    """argv that runs the watcher on the node (``python`` is the node's configured interpreter); without
    ``inotify`` worktrees are always walked (what a node without inotify gets)."""
    return [python, "-u", "-c", WATCHER_PY, f"{WATCH_INTERVAL_S:g}", str(MAX_CHUNK), f"{SCAN_S:g}",
            f"{CHECK_GAP_S:g}", str(MAX_PATHSPECS), json.dumps(NOISE_DIRS), "inotify" if inotify else "walk"]


WatchItem = tuple[str, str, int, str, str]
"""(id, path on the node, offset, mode, base commit — ``tree`` only, else "")."""


def watch_line(items: list[WatchItem]) -> bytes:
    """The stdin line that sets the watcher's whole watch set."""
    return (json.dumps({"watch": [list(i) for i in items]}) + "\n").encode()
