"""Process-tree CPU/memory sampling (one /proc scan per sample) and disk use per worktree."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from cortex_tui.backends.served import serving


@dataclass(frozen=True)
class TreeSample:
    cpu_percent: float | None
    """CPU over the interval since the previous sample (None on the first sample)."""
    rss_bytes: int
    processes: int
    work_cpu_percent: float | None = None
    """CPU of the tree without the agent's own processes (see ``ProcessSampler.sample(ui=…)``): the
    commands it runs. None when no ``ui`` names were given or on the first sample."""
    serving: tuple[int, ...] = ()
    """TCP ports the tree listens on (``backends/served.py``; empty where /proc cannot tell)."""


_CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _stat(pid: int) -> tuple[int, float, int, str] | None:
    """(ppid, cpu seconds, rss bytes, name) from ``/proc/<pid>/stat``; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ')'
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        ppid = int(fields[1])
        cpu = (int(fields[11]) + int(fields[12])) / _CLK
        rss = int(fields[21]) * _PAGE
    except (IndexError, ValueError):
        return None
    return ppid, cpu, rss, raw[raw.find(b"(") + 1:raw.rfind(b")")].decode("utf-8", "replace")


def _children_of(pid: int) -> list[int] | None:
    """Children of every thread of ``pid`` (``/proc/<pid>/task/<tid>/children``); None when unsupported."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                out.extend(int(c) for c in f.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{tid}"):
                continue  # the thread ended meanwhile
            return None  # a kernel without CONFIG_PROC_CHILDREN
        except OSError:
            continue
    return out


_TREES_OK: bool | None = None


def _trees_supported() -> bool:
    global _TREES_OK
    if _TREES_OK is None:
        me = os.getpid()
        _TREES_OK = os.path.exists(f"/proc/{me}/task/{me}/children")
    return _TREES_OK


Scan = tuple[dict[int, list[int]], dict[int, tuple[float, int]], dict[int, str]]


def _scan_trees(roots: list[int]) -> Scan | None:
    """Only the given roots' process trees (their pids are known): a few files per process of theirs, not
    one per process of the machine. None where the kernel does not list children."""
    children: dict[int, list[int]] = {}
    info: dict[int, tuple[float, int]] = {}
    names: dict[int, str] = {}
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in info:
            continue
        st = _stat(pid)
        if st is None:
            continue
        kids = _children_of(pid)
        if kids is None:
            return None
        info[pid] = (st[1], st[2])
        names[pid] = st[3]
        children[pid] = kids
        stack.extend(kids)
    return children, info, names


def _scan() -> Scan:
    """One pass over all processes: parent -> children, pid -> (cpu seconds, rss bytes), pid -> name.

    On Linux this reads one ``/proc/<pid>/stat`` per process (about 4x cheaper than psutil's
    several files per process); elsewhere it falls back to ``psutil.process_iter``.
    """
    children: dict[int, list[int]] = {}
    info: dict[int, tuple[float, int]] = {}
    names: dict[int, str] = {}
    if os.path.isdir("/proc/self"):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    raw = f.read()
            except OSError:
                continue
            # the command name (field 2) may contain spaces and parentheses: split after the last ')'
            fields = raw[raw.rfind(b")") + 2:].split()
            try:
                ppid = int(fields[1])
                cpu = (int(fields[11]) + int(fields[12])) / _CLK
                rss = int(fields[21]) * _PAGE
            except (IndexError, ValueError):
                continue
            pid = int(entry.name)
            children.setdefault(ppid, []).append(pid)
            info[pid] = (cpu, rss)
            names[pid] = raw[raw.find(b"(") + 1:raw.rfind(b")")].decode("utf-8", "replace")
        return children, info, names
    for p in psutil.process_iter(["ppid", "cpu_times", "memory_info", "name"]):
        try:
            d = p.info
            ct, mi = d.get("cpu_times"), d.get("memory_info")
            if ct is None or mi is None:
                continue
            children.setdefault(d["ppid"] or 0, []).append(p.pid)
            info[p.pid] = (ct.user + ct.system, mi.rss)
            names[p.pid] = str(d.get("name") or "")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return children, info, names


def ui_chain(root: int, children: dict[int, list[int]], names: dict[int, str], ui: frozenset[str]) -> set[int]:
    """The agent's own processes: ``root`` (the pane's wrapper) and, below it, every process named in ``ui``
    whose ancestors up to ``root`` are all in the chain. A command the agent runs — and everything below
    it, whatever its name — is not."""
    chain = {root}
    stack = [root]
    while stack:
        for c in children.get(stack.pop(), ()):
            if names.get(c, "") in ui and c not in chain:
                chain.add(c)
                stack.append(c)
    return chain


def tree_totals(root: int, children: dict[int, list[int]], info: dict[int, tuple[float, int]],
                seen: set[int] | None = None) -> tuple[float, int, int]:
    """CPU seconds, RSS bytes and process count of ``root`` and all its descendants (their pids are added
    to ``seen`` when given)."""
    cpu, rss, n = 0.0, 0, 0
    stack: list[int] = [root]
    seen = set() if seen is None else seen
    while stack:
        pid = stack.pop()
        if pid in seen or pid not in info:
            continue
        seen.add(pid)
        c, r = info[pid]
        cpu, rss, n = cpu + c, rss + r, n + 1
        stack.extend(children.get(pid, ()))
    return cpu, rss, n


PRUNE_EVERY = 30
"""Every this many samples, roots no longer asked for are checked for having ended."""


class ProcessSampler:
    """Samples many process trees with a single ``process_iter`` scan.

    CPU percent is computed from cumulative CPU times of the tree between two samples, so
    children that exit between samples still count up to their last observation.
    """

    def __init__(self) -> None:
        self._prev: dict[int, tuple[float, float]] = {}  # root pid -> (wall time, cpu seconds)
        self._prev_work: dict[int, float] = {}  # root pid -> cpu seconds outside the agent's own processes
        self._calls = 0

    def sample(self, roots: list[int], ui: dict[int, frozenset[str]] | None = None) -> dict[int, TreeSample]:
        """``ui``: per root, the process names of the agent itself (its UI): their CPU is left out of
        ``work_cpu_percent`` (an animating spinner is not work)."""
        if not roots:
            return {}
        scanned = _scan_trees(roots) if _trees_supported() else None
        children, info, names = scanned if scanned is not None else _scan()
        now = time.monotonic()
        out: dict[int, TreeSample] = {}
        trees: dict[int, set[int]] = {}
        for root in roots:
            if root not in info:
                continue
            cpu, rss, n = tree_totals(root, children, info, trees.setdefault(root, set()))
            prev = self._prev.get(root)
            pct: float | None = None
            if prev is not None and now > prev[0]:
                pct = max(0.0, (cpu - prev[1]) / (now - prev[0]) * 100.0)
            else:  # first sample: average over the root's lifetime
                try:
                    age = time.time() - psutil.Process(root).create_time()
                    pct = max(0.0, cpu / age * 100.0) if age > 0 else None
                except psutil.Error:
                    pct = None
            work_pct: float | None = None
            if ui and ui.get(root):
                own = sum(info[p][0] for p in ui_chain(root, children, names, ui[root]) if p in info)
                work = max(0.0, cpu - own)
                if root in self._prev_work and prev is not None and now > prev[0]:
                    work_pct = max(0.0, (work - self._prev_work[root]) / (now - prev[0]) * 100.0)
                self._prev_work[root] = work
            self._prev[root] = (now, cpu)
            out[root] = TreeSample(cpu_percent=pct, rss_bytes=rss, processes=n, work_cpu_percent=work_pct)
        ports = serving(trees)
        out = {root: replace(s, serving=tuple(ports.get(root, ()))) for root, s in out.items()}
        self._calls += 1
        # ended roots are forgotten: those asked for this time and not found, and every PRUNE_EVERY calls any
        # other (a root not sampled this time — a quiet session — keeps its previous sample)
        stale = self._prev if self._calls % PRUNE_EVERY == 0 else roots
        for gone in [r for r in stale if r not in info and not os.path.exists(f"/proc/{r}")]:
            self._prev.pop(gone, None)
            self._prev_work.pop(gone, None)
        return out


DISK_S = 30.0
"""Disk use of worktrees (local or on a node) is measured this often: it walks every file."""


def disk_usages(roots: list[Path]) -> dict[Path, int | None]:
    """:func:`disk_usage` of many worktrees with one ``du`` (GNU; C, off the interpreter's lock — walking a
    5,000-file worktree in Python took the GIL for tens of ms per session); the walk where ``du`` is not GNU's.
    Counts apparent sizes of files and directories, ``.git`` excluded; ``None`` for a worktree that is gone."""
    import subprocess

    out: dict[Path, int | None] = {r: None for r in roots}
    there = [r for r in roots if r.is_dir()]
    if not there:
        return out
    try:
        res = subprocess.run(["du", "-s", "--apparent-size", "-B1", "--exclude=.git", "--", *map(str, there)],
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        res = None
    if res is not None and res.stdout:
        by_path = {str(r): r for r in there}
        for line in res.stdout.splitlines():
            size, _, path = line.partition("\t")
            if size.isdigit() and path in by_path:
                out[by_path[path]] = int(size)
    for r in there:  # not GNU du, or a worktree du could not read
        if out[r] is None:
            out[r] = disk_usage(r)
    return out


def disk_usage(root: Path) -> int | None:
    """Bytes used by the files of a worktree (excluding ``.git``), without following symlinks.

    The engine samples it rarely (it walks the tree); ``None`` when the directory is gone.
    """
    if not root.is_dir():
        return None
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if ".git" in dirnames:
            dirnames.remove(".git")
        for f in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                continue
    return total
