"""A recursive file watcher driven by Linux inotify through the event loop: no polling thread.

watchfiles (the fallback, and the watcher on other systems) runs a Rust loop in a worker thread that wakes
every ``step`` milliseconds to check its stop event under the GIL: with the 10 ms step trigger latency
needs, that alone was 0.9 % of a core for an idle supervisor. Here the inotify descriptor is registered
with the asyncio loop (epoll): nothing runs until the kernel has an event, and a batch is delivered a few
milliseconds after the last change instead of at the next poll step.

Batches are sets of ``(watchfiles.Change, path)``, the shape the supervisor already consumes. Directories
created later are watched as they appear (files already inside them are reported as added). When the
kernel's queue overflows, :attr:`InotifyWatcher.overflowed` tells the consumer to rescan.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import os
import struct
import sys
import threading
from collections.abc import AsyncIterator, Callable

from watchfiles import Change

IN_MODIFY = 0x00000002
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000

WATCH_MASK = (IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
              | IN_ONLYDIR | IN_EXCL_UNLINK)
_EVENT = struct.Struct("iIII")

Keep = Callable[[Change, str], bool]
SkipDir = Callable[[str], bool]


class _Libc:
    def __init__(self) -> None:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        self.init1 = lib.inotify_init1
        self.init1.argtypes = [ctypes.c_int]
        self.add_watch = lib.inotify_add_watch
        self.add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self.rm_watch = lib.inotify_rm_watch
        self.rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]


_libc: _Libc | None = None


def available() -> bool:
    """Whether this system has inotify (Linux with a C library that exports it)."""
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    if _libc is None:
        try:
            _libc = _Libc()
        except (OSError, AttributeError):
            return False
    return True


class InotifyWatcher:
    """Watches ``roots`` recursively (skipping directories ``skip_dir`` names); use as a context manager."""

    def __init__(self, roots: list[str], keep: Keep, skip_dir: SkipDir, *, debounce_ms: int = 30,
                 quiet_ms: int = 3) -> None:
        if not available():
            raise OSError(errno.ENOSYS, "inotify is not available on this system")
        assert _libc is not None
        self._lib = _libc
        self.roots = [os.path.abspath(r) for r in roots]
        self.keep = keep
        self.skip_dir = skip_dir
        self.debounce = debounce_ms / 1000
        self.quiet = quiet_ms / 1000
        self.fd = -1
        self._dirs: dict[int, str] = {}
        self._wds: dict[str, int] = {}
        self._pending: set[tuple[Change, str]] = set()
        self._noted = 0
        """Changes noted so far (also those already pending): a batch is quiet when this stops growing."""
        self._wake = asyncio.Event()
        self._adding = 0
        """Trees being watched by a worker thread (:meth:`add_tree_off_loop`, :meth:`add_tree_in_thread`): their
        directories' watches exist before the loop knows them, so their events are kept in ``_early`` until it
        does. Changed under ``_adding_lock`` (worker threads change it too)."""
        self._adding_lock = threading.Lock()
        self._handing: set[str] = set()
        """Tops watched by :meth:`add_tree_in_thread` whose watches the loop has not registered yet."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early: list[tuple[int, int, str]] = []
        self._error: OSError | None = None
        self.overflowed = False
        """Set when the kernel dropped events; the consumer should rescan (and may clear it)."""

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> InotifyWatcher:
        fd = self._lib.init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            e = ctypes.get_errno()
            raise OSError(e, f"inotify_init1: {os.strerror(e)}")
        self.fd = fd
        try:
            for root in self.roots:
                self._add_tree(root, report=False)
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(fd, self._readable)
        except BaseException:
            os.close(fd)
            self.fd = -1
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            try:
                asyncio.get_running_loop().remove_reader(self.fd)
            except RuntimeError:
                pass
            os.close(self.fd)
            self.fd = -1

    @property
    def watched_dirs(self) -> int:
        return len(self._wds)

    # ------------------------------------------------------------------ watches
    def _add_dir(self, path: str) -> bool:
        wd = self._watch(path)
        if wd is None:
            return False
        self._register(wd, path)
        return True

    def _watch(self, path: str) -> int | None:
        """The inotify watch of ``path`` (the system call only: safe in a worker thread); None when it is gone."""
        wd = self._lib.add_watch(self.fd, os.fsencode(path), WATCH_MASK)
        if wd < 0:
            e = ctypes.get_errno()
            if e in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                return None  # gone already, or not ours to read
            raise OSError(e, f"inotify_add_watch {path}: {os.strerror(e)}"
                          + (" (raise fs.inotify.max_user_watches)" if e == errno.ENOSPC else ""))
        return int(wd)

    def _register(self, wd: int, path: str) -> None:
        old = self._dirs.get(wd)
        if old is not None and old != path:
            self._wds.pop(old, None)
        self._dirs[wd] = path
        self._wds[path] = wd

    def _add_tree(self, top: str, *, report: bool) -> None:
        """Watch ``top`` and every directory below it; with ``report``, files found count as added."""
        for wd, d, files in self._walk(top, report=report):
            self._register(wd, d)
            for f in files:
                self._note(Change.added, f)

    def _walk(self, top: str, *, report: bool) -> list[tuple[int, str, list[str]]]:
        """Watch every directory of ``top`` (each before it is listed: what appears later is an event) and
        list them: (watch, directory, its files when ``report``), parents first. Touches no state of the
        watcher: :meth:`add_tree_off_loop` runs it in a worker thread."""
        found: list[tuple[int, str, list[str]]] = []
        stack = [top]
        while stack:
            d = stack.pop()
            wd = self._watch(d)
            if wd is None:
                continue
            files: list[str] = []
            found.append((wd, d, files))
            try:
                entries = list(os.scandir(d))
            except OSError:
                continue
            for entry in entries:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if is_dir:
                    if not self.skip_dir(entry.path):
                        stack.append(entry.path)
                elif report:
                    files.append(entry.path)
        return found

    async def add_tree_off_loop(self, top: str) -> bool:
        """:meth:`_add_tree` (``report`` False) with its directory walk and system calls in a worker thread: a
        worktree of thousands of files (~700 directories for 5,000) took the loop 100–500 ms. Events of
        the new watches that arrive before the loop has them are kept and handled once it has. False when the
        watcher closed meanwhile or a watch could not be added (the watcher then ends with that error)."""
        fd = self.fd
        self._adding_by(1)
        try:
            found = await asyncio.to_thread(self._walk, top, report=False)
        except OSError as e:  # out of watches…: the consumer restarts the watcher (or falls back), as on the loop
            self._error = e
            self._wake.set()
            return False
        finally:
            self._adding_by(-1)
        if self.fd != fd or fd < 0:
            return False
        self._registered(found)
        return True

    def watching(self, top: str) -> bool:
        """``top`` is watched (or its watches, added by :meth:`add_tree_in_thread`, are on their way to the loop)."""
        return top in self._wds or top in self._handing

    def add_tree_in_thread(self, top: str) -> bool:
        """Watch ``top`` and every directory below it from the calling thread (not the loop's; ``report`` False):
        the walk and its system calls run here, the loop registers the watches soon after (events arriving
        meanwhile are kept, as for :meth:`add_tree_off_loop`). A spawn calls it on a fresh checkout before
        anything else writes there: every later change is an event, and the walk holds up no other work of
        the loop's. True when every directory is watched; False when the watcher is closed or a watch
        could not be added (that error then ends the watcher, as on the loop)."""
        fd, loop = self.fd, self._loop
        if fd < 0 or loop is None or loop.is_closed():
            return False
        self._adding_by(1)
        self._handing.add(top)
        found: list[tuple[int, str, list[str]]] | None = None
        error: OSError | None = None
        try:
            found = self._walk(top, report=False)
        except OSError as e:  # out of watches, or the watcher was closed meanwhile (its fd is not ours)
            error = e
        try:
            loop.call_soon_threadsafe(self._handed, fd, top, found, error)
        except RuntimeError:  # the loop closed meanwhile: nobody watches any more
            self._handing.discard(top)
            self._adding_by(-1)
            return False
        return found is not None

    def _handed(self, fd: int, top: str, found: list[tuple[int, str, list[str]]] | None,
                error: OSError | None) -> None:
        """On the loop: the watches :meth:`add_tree_in_thread` added are registered (or its error raised)."""
        self._handing.discard(top)
        self._adding_by(-1)
        if self.fd != fd or fd < 0:
            return
        if error is not None:
            self._error = error
            self._wake.set()
            return
        self._registered(found or [])

    def _adding_by(self, n: int) -> None:
        with self._adding_lock:
            self._adding += n

    def _registered(self, found: list[tuple[int, str, list[str]]]) -> None:
        """The loop takes the watches a worker thread added, then handles the events kept for them meanwhile
        (those of watches still being added stay kept)."""
        for wd, d, _files in found:
            self._register(wd, d)
        if not self._early:
            return
        early, self._early = self._early, []
        try:
            for wd, mask, name in early:
                if wd in self._dirs or mask & IN_Q_OVERFLOW:
                    self._event(wd, mask, name)
                elif self._adding:
                    self._early.append((wd, mask, name))
        except OSError as e:  # a new directory's watch could not be added: as in _readable
            self._error = e
            self._wake.set()

    def _forget_tree(self, top: str) -> None:
        prefix = top + os.sep
        for path in [p for p in self._wds if p == top or p.startswith(prefix)]:
            wd = self._wds.pop(path)
            self._dirs.pop(wd, None)
            self._lib.rm_watch(self.fd, wd)

    # ------------------------------------------------------------------ events
    def _note(self, change: Change, path: str) -> None:
        if self.keep(change, path):
            self._pending.add((change, path))
            self._noted += 1
            self._wake.set()

    def _readable(self) -> None:
        try:
            while True:
                try:
                    buf = os.read(self.fd, 65536)
                except BlockingIOError:
                    return
                if not buf:
                    return
                self._parse(buf)
        except OSError as e:  # a watch we could not add (limit reached) ends the watcher
            self._error = e
            self._wake.set()

    def _parse(self, buf: bytes) -> None:
        off = 0
        modified: set[tuple[int, bytes]] = set()
        """Files seen modified in this read: a file written line by line (a log in a flood) gives one
        IN_MODIFY per write; the first is enough (batches are sets)."""
        while off + _EVENT.size <= len(buf):
            wd, mask, _cookie, n = _EVENT.unpack_from(buf, off)
            off += _EVENT.size
            raw = buf[off:off + n]
            off += n
            if mask == IN_MODIFY:
                key = (wd, raw)
                if key in modified:
                    continue
                modified.add(key)
            self._event(wd, mask, os.fsdecode(raw.split(b"\0", 1)[0]))

    def _event(self, wd: int, mask: int, name: str) -> None:
        if mask & IN_Q_OVERFLOW:
            self.overflowed = True
            self._wake.set()
            return
        base = self._dirs.get(wd)
        if base is None:
            if self._adding and not mask & IN_IGNORED:  # perhaps a watch a worker thread just added
                self._early.append((wd, mask, name))
            return
        if mask & IN_IGNORED:  # the watch is gone (directory deleted or unmounted)
            self._dirs.pop(wd, None)
            if self._wds.get(base) == wd:
                del self._wds[base]
            if base in self.roots:
                self._error = OSError(errno.ENOENT, f"watched directory {base} went away")
                self._wake.set()
            return
        if mask & (IN_DELETE_SELF | IN_MOVE_SELF):
            if base in self.roots:
                self._error = OSError(errno.ENOENT, f"watched directory {base} went away")
                self._wake.set()
            return
        path = os.path.join(base, name) if name else base
        if mask & IN_ISDIR:
            if mask & (IN_CREATE | IN_MOVED_TO):
                if not self.skip_dir(path):
                    self._add_tree(path, report=True)
            elif mask & (IN_DELETE | IN_MOVED_FROM):
                self._forget_tree(path)
                self._note(Change.deleted, path)
            return
        if mask & (IN_CREATE | IN_MOVED_TO):
            self._note(Change.added, path)
        elif mask & (IN_DELETE | IN_MOVED_FROM):
            self._note(Change.deleted, path)
        elif mask & IN_MODIFY:
            self._note(Change.modified, path)

    async def batches(self, stop: asyncio.Event) -> AsyncIterator[set[tuple[Change, str]]]:
        """Yield changes in batches: a batch closes ``quiet`` after the last change, or ``debounce`` after its
        first. An empty batch with :attr:`overflowed` set means: events were lost, rescan."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if not self._pending and not self.overflowed and self._error is None:
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                try:
                    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                    stopper.cancel()
                if stop.is_set():
                    return
            deadline = loop.time() + self.debounce
            while loop.time() < deadline and self._error is None:
                n = self._noted  # a file written again (a log in a flood) is a change too: not quiet yet
                self._wake.clear()
                await asyncio.sleep(self.quiet)
                if self._noted == n:
                    break
            if self._error is not None:
                raise self._error
            batch, self._pending = self._pending, set()
            self._wake.clear()
            if batch or self.overflowed:
                yield batch
