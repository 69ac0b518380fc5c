"""Scope globs: which repo-relative paths a session may touch.

Glob syntax (gitignore-like, always relative to the repo root):
``*`` matches within one path segment, ``**`` matches any number of segments,
``?`` one character, ``[abc]`` a character class. A pattern ending in ``/`` matches
everything below that directory. A pattern with no glob characters matches that path
exactly and everything below it (``src`` == ``src/**``).
"""

from __future__ import annotations

import re
from functools import lru_cache

_GLOB_CHARS = set("*?[")


def validate_glob(pattern: str) -> None:
    """Raise ValueError for a glob that cannot be a repo-relative scope."""
    if not pattern or not pattern.strip():
        raise ValueError("empty scope glob")
    if pattern.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", pattern):
        raise ValueError(f"scope glob {pattern!r} must be relative to the repo, not absolute")
    parts = pattern.rstrip("/").split("/")
    if ".." in parts:
        raise ValueError(f"scope glob {pattern!r} must not contain '..'")
    depth = 0
    for ch in pattern:
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
    if depth:
        raise ValueError(f"scope glob {pattern!r} has an unclosed '['")
    for part in parts:
        if "**" in part and part != "**":
            raise ValueError(f"scope glob {pattern!r}: '**' must be a whole path segment")
    _compile(pattern)


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    pat = pattern.strip()
    if pat.endswith("/"):
        pat = pat + "**"
    elif not any(c in _GLOB_CHARS for c in pat):
        pat = pat + "/**"  # a bare path means itself and all below it
        exact_prefix = re.escape(pattern.strip().rstrip("/"))
        return re.compile(f"^{exact_prefix}(?:/.*)?\\Z", re.DOTALL)
    out: list[str] = []
    segs = pat.split("/")
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        if seg == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        rx = ""
        j = 0
        while j < len(seg):
            c = seg[j]
            if c == "*":
                rx += "[^/]*"
            elif c == "?":
                rx += "[^/]"
            elif c == "[":
                k = seg.find("]", j + 1)
                body = seg[j + 1 : k]
                if body.startswith("!"):
                    body = "^" + body[1:]
                rx += "[" + body.replace("\\", "\\\\") + "]"
                j = k
            else:
                rx += re.escape(c)
            j += 1
        out.append(rx if last else rx + "/")
    return re.compile("^" + "".join(out) + "\\Z", re.DOTALL)  # '$' would also match before a final newline


def in_scope(path: str, scope: list[str] | tuple[str, ...]) -> bool:
    """True when repo-relative ``path`` is allowed by ``scope`` (an empty scope allows everything)."""
    if not scope:
        return True
    p = path.replace("\\", "/")
    while p.startswith("./"):  # only whole "./" segments: lstrip("./") turned "./../x" into "x", "./.env" into "env"
        p = p[2:]
    return any(_compile(g).match(p) for g in scope)


def scope_matcher(scope: list[str] | tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled pattern matching the normalised repo-relative paths (``git ls-files`` form, no ``./``) that
    ``in_scope`` allows (None = an empty scope: anything).

    For matching many paths against one scope (the independence test over every tracked file).
    """
    if not scope:
        return None
    return re.compile("|".join(f"(?:{_compile(g).pattern})" for g in scope), re.DOTALL)
