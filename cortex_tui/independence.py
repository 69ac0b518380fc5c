"""The independence test (seed 004): may two sessions that run at the same time edit the same files?

Two sessions *may run at the same time* when there is no ``depends_on`` path between them (in either
direction). For each such pair the test intersects their scope globs (``cortex_tui.scope`` syntax):

* over the repo's **tracked files** (``git ls-files``): the files both scopes match, and
* at the **pattern level**, for files that do not exist yet: two globs that can both match some path
  (``src/new/*.py`` and ``src/**`` do; ``docs/**`` and ``src/**`` do not), decided exactly on the glob
  syntax by walking both patterns together.

An empty scope means "anything", so it overlaps every session that may run beside it, and the warning says
so. Copies of one best-of task (``variants = N``) are meant to compete on the same files and are not
compared with each other; a run with ``max_parallel = 1`` runs nothing at the same time.

Pure except :func:`tracked_files` (one ``git ls-files``).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from cortex_tui.layout import LoadedLayout
from cortex_tui.scope import in_scope, scope_matcher
from cortex_tui.text import visible

SHOW_FILES = 5
"""How many shared files a warning lists before ``(+N more)``."""


class ScopedTask(Protocol):
    """Anything with a name, scope globs and dependencies (layout sessions, planner tasks)."""

    @property
    def name(self) -> str: ...
    @property
    def scope(self) -> list[str]: ...
    @property
    def depends_on(self) -> list[str]: ...


@dataclass(frozen=True)
class Overlap:
    """Two sessions that may run at the same time and may edit the same files."""

    a: str
    b: str
    files: tuple[str, ...]
    """Tracked files both scopes match (sorted)."""
    patterns: tuple[tuple[str, str], ...] = ()
    """Glob pairs (one of ``a``'s, one of ``b``'s) that can both match a path no tracked file shows yet."""
    everything: tuple[str, ...] = ()
    """Which of ``a``/``b`` have an empty scope (anything)."""
    where: str = ""
    """``path:line`` of the later session's table, when known."""

    def shared(self) -> str:
        """The shared files, shortened: ``a.py, b.py (+3 more)``."""
        shown = ", ".join(self.files[:SHOW_FILES])
        more = len(self.files) - SHOW_FILES
        return shown + (f" (+{more} more)" if more > 0 else "")

    def message(self) -> str:
        """One warning: the sessions, the shared files, the fix."""
        head = f"{self.where}: " if self.where else ""
        parts: list[str] = []
        for n in self.everything:
            parts.append(f"session {n!r} has an empty scope, which means anything, so it overlaps every "
                         "session that may run at the same time")
        if self.files:
            noun = "file" if len(self.files) == 1 else "files"
            parts.append(f"their scopes share {len(self.files)} tracked {noun}: {self.shared()}")
        if self.patterns:
            pats = ", ".join(f"{x!r} ~ {y!r}" for x, y in self.patterns[:SHOW_FILES])
            parts.append(f"their scopes can both match files not yet in the repo: {pats}")
        fix = (f"fix: add depends_on = [{self.a!r}] to session {self.b!r} (or the reverse) so they run one after "
               "the other, or narrow their scopes so they do not intersect")
        if self.everything:
            fix += " (give " + " and ".join(repr(n) for n in self.everything) + " a scope)"
        text = (f"{head}sessions {self.a!r} and {self.b!r} may run at the same time (no depends_on path between "
                f"them) and may edit the same files: " + "; ".join(parts))
        return visible(text) + "\n  " + visible(fix)  # file names and session names are hostile


@dataclass
class Report:
    """Result of the test on one layout."""

    overlaps: list[Overlap] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What was not checked and why (no git repo, max_parallel = 1)."""

    @property
    def ok(self) -> bool:
        return not self.overlaps


# ------------------------------------------------------------------------------------------- dependencies
def ancestors(graph: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    """For each node, every node it depends on directly or transitively (cycles are tolerated)."""
    out: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        stack = list(graph.get(start, ()))
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            stack.extend(graph.get(n, ()))
        out[start] = seen
    return out


def concurrent_pairs(graph: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """Pairs (in graph order) with no ``depends_on`` path between them: they may run at the same time."""
    anc = ancestors(graph)
    names = list(graph)
    pairs: list[tuple[str, str]] = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if a not in anc[b] and b not in anc[a]:
                pairs.append((a, b))
    return pairs


def waves(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Topological levels: wave 0 has no dependencies, wave k depends only on earlier waves.

    Nodes on a cycle (or depending on one) come last, in one final wave.
    """
    level: dict[str, int] = {}
    remaining = dict(graph)
    k = 0
    while remaining:
        ready = [n for n, deps in remaining.items() if all(d in level or d not in graph for d in deps)]
        if not ready:
            level.update({n: k for n in remaining})
            break
        for n in ready:
            level[n] = k
            del remaining[n]
        k += 1
    out: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for n in graph:
        out[level[n]].append(n)
    return out


# ------------------------------------------------------------------------------------- glob intersection
_Tok = tuple[bool, frozenset[str]] | None
"""One character of a segment pattern: None = ``*``; else (negated, chars)."""


def _seg_tokens(seg: str) -> list[_Tok]:
    out: list[_Tok] = []
    j = 0
    while j < len(seg):
        c = seg[j]
        if c == "*":
            if not out or out[-1] is not None:
                out.append(None)
        elif c == "?":
            out.append((True, frozenset()))
        elif c == "[" and seg.find("]", j + 1) > j:
            k = seg.find("]", j + 1)
            body = seg[j + 1:k]
            neg = body.startswith(("!", "^"))
            if neg:
                body = body[1:]
            chars: set[str] = set()
            m = 0
            while m < len(body):
                if m + 2 < len(body) and body[m + 1] == "-":
                    lo, hi = ord(body[m]), ord(body[m + 2])
                    if hi - lo > 4096:  # a huge range: treat as "any character" (over-reports, never misses)
                        chars = set()
                        neg = True
                        break
                    chars.update(chr(x) for x in range(lo, hi + 1))
                    m += 3
                else:
                    chars.add(body[m])
                    m += 1
            out.append((neg, frozenset(chars)))
            j = k
        else:
            out.append((False, frozenset(c)))
        j += 1
    return out


def _chars_meet(x: _Tok, y: _Tok) -> bool:
    nx, cx = x if x is not None else (True, frozenset())
    ny, cy = y if y is not None else (True, frozenset())
    if nx and ny:
        return True
    if not nx and not ny:
        return bool(cx & cy)
    pos, neg = (cx, cy) if not nx else (cy, cx)
    return bool(pos - neg)


T = TypeVar("T")


def _patterns_meet(a: Sequence[T], b: Sequence[T], star: Callable[[T], bool], meet: Callable[[T, T], bool]) -> bool:
    """Can one sequence match both token patterns? A ``star`` token matches any run (none included) of the
    other's; ``meet(x, y)``: tokens ``x`` and ``y`` can match one same item. A search over pairs of positions."""
    seen: set[tuple[int, int]] = set()
    stack = [(0, 0)]
    while stack:
        i, j = stack.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(a) and j == len(b):
            return True
        sa, sb = i < len(a) and star(a[i]), j < len(b) and star(b[j])
        if sa:
            stack.append((i + 1, j))
        if sb:
            stack.append((i, j + 1))
        if i < len(a) and j < len(b) and meet(a[i], b[j]):
            ni, nj = (i if sa else i + 1), (j if sb else j + 1)
            if (ni, nj) != (i, j):
                stack.append((ni, nj))
    return False


def _segments_meet(a: str, b: str) -> bool:
    """Can one path segment match both segment patterns?"""
    if a == b:
        return True
    return _patterns_meet(_seg_tokens(a), _seg_tokens(b), lambda t: t is None, _chars_meet)


def _path_segments(pattern: str) -> list[str]:
    pat = pattern.strip()
    if pat.startswith("./"):
        pat = pat[2:]
    if pat.endswith("/"):
        return [*pat.rstrip("/").split("/"), "**"]
    segs = pat.split("/")
    if not any(c in pat for c in "*?["):
        return [*segs, "**"]  # a bare path: itself and everything below it
    return segs


def globs_intersect(a: str, b: str) -> bool:
    """True when some repo-relative path matches both scope globs (exact on the glob syntax)."""
    return _patterns_meet(_path_segments(a), _path_segments(b), lambda s: s == "**",
                          lambda x, y: x == "**" or y == "**" or _segments_meet(x, y))


# ----------------------------------------------------------------------------------------------- the test
def tracked_files(repo: Path) -> list[str] | None:
    """The repo's tracked files (``git ls-files``), or None when ``repo`` is not a git work tree."""
    try:
        r = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    return [p for p in r.stdout.decode("utf-8", "replace").split("\0") if p]


def check(tasks: Sequence[ScopedTask], tracked: Sequence[str] | None, *,
          max_parallel: int | None = None, groups: Iterable[Iterable[str]] = (),
          where: Mapping[str, str] | None = None) -> Report:
    """Run the independence test on ``tasks``.

    ``tracked``: the repo's tracked files (None = not known: patterns only). ``groups``: sets of names that
    are copies of one task (best-of variants) and are not compared with each other. ``where``: name ->
    ``path:line`` for the messages.
    """
    report = Report()
    if tracked is None:
        report.notes.append("no git repository: scopes compared as patterns only (no tracked files)")
    if max_parallel == 1:
        report.notes.append("max_parallel = 1: no two sessions run at the same time")
        return report
    group_of: dict[str, int] = {}
    for k, g in enumerate(groups):
        for n in g:
            group_of[n] = k
    by_name = {t.name: t for t in tasks}
    graph = {t.name: [d for d in t.depends_on if d in by_name] for t in tasks}
    files = list(tracked or [])
    matched: dict[str, set[str]] = {}
    for t in tasks:
        rx = scope_matcher(t.scope)
        matched[t.name] = set(files) if rx is None else {f for f in files if rx.match(f)}
    for a, b in concurrent_pairs(graph):
        if a in group_of and group_of.get(b) == group_of[a]:
            continue
        ta, tb = by_name[a], by_name[b]
        empty = tuple(n for n, t in ((a, ta), (b, tb)) if not t.scope)
        shared = sorted(matched[a] & matched[b])
        patterns: list[tuple[str, str]] = []
        if not empty:
            for ga in ta.scope:
                for gb in tb.scope:
                    if globs_intersect(ga, gb) and not any(in_scope(f, [ga]) and in_scope(f, [gb]) for f in shared):
                        patterns.append((ga, gb))
        if shared or patterns or empty:
            report.overlaps.append(Overlap(a, b, tuple(shared), tuple(patterns), empty,
                                           (where or {}).get(b, "")))
    return report


def session_lines(text: str, path: Path | str, names: Sequence[str]) -> dict[str, str]:
    """``name -> path:line`` of each ``[[session]]`` table (expanded variants point at their table)."""
    import tomllib

    headers = [i for i, line in enumerate(text.splitlines(), 1) if re.match(r"^\s*\[\[\s*session\s*\]\]", line)]
    try:
        raw = tomllib.loads(text).get("session", [])
    except tomllib.TOMLDecodeError:
        return {}
    out: dict[str, str] = {}
    for k, tbl in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(tbl, dict) or k >= len(headers):
            continue
        base = str(tbl.get("name", ""))
        for n in names:
            if n == base or (n.startswith(base + "-") and n[len(base) + 1:].isdigit()):
                out.setdefault(n, f"{path}:{headers[k]}")
    return out


def variant_groups(text: str) -> list[list[str]]:
    """Names of the copies of each ``variants = N`` session (and of a ``[bestof] task``)."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    groups: list[list[str]] = []
    sessions = data.get("session", [])
    if not sessions and isinstance(data.get("bestof"), dict) and data["bestof"].get("task"):
        n = int(data["bestof"].get("n", 3))
        return [[f"variant-{k}" for k in range(1, n + 1)]]
    for tbl in sessions if isinstance(sessions, list) else []:
        if isinstance(tbl, dict) and isinstance(tbl.get("variants"), int) and tbl["variants"] > 1:
            groups.append([f"{tbl.get('name')}-{k}" for k in range(1, tbl["variants"] + 1)])
    return groups


def check_layout(loaded: LoadedLayout, repo: Path | None) -> Report:
    """The test on a loaded layout (``repo``: where the tracked files are; None = patterns only)."""
    sessions = loaded.layout.session
    tracked = tracked_files(repo) if repo is not None else None
    return check(sessions, tracked, max_parallel=loaded.layout.run.max_parallel,
                 groups=variant_groups(loaded.text),
                 where=session_lines(loaded.text, loaded.path, [s.name for s in sessions]))
