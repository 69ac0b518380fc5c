"""The bundled deterministic simulated agent (``python -m cortex_tui.agents.sim``).

It runs a script of steps, one per string, and prints like a real agent would:

=================  =================================================================
``say TEXT``       print a progress line
``sleep S``        stay quiet and idle for S seconds
``busy S``         stay quiet but burn CPU for S seconds (a long build)
``write PATH TEXT`` write TEXT to PATH in the worktree (may be outside scope on purpose)
``error TEXT``     print an error line (e.g. a traceback's last line)
``ask TEXT``       print an approval question and block until ``y``/``n`` is read from the terminal
``commit MSG``     ``git add -A`` + ``git commit -m MSG``
``tokens IN OUT``  report token usage (appended to ``$CORTEX_EVENTS_FILE`` like a hook event)
``listen S``       for S seconds echo every line typed into the terminal ("received: ...")
``alloc MB``       allocate and hold MB megabytes of memory (until exit)
``exit CODE``      exit with CODE (the script ends with ``exit 0`` implicitly)
=================  =================================================================

TEXT may use ``\\n`` for a newline. This module must stay cheap to import (the layout loader
uses :func:`parse_step`).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass

STEPS = ("say", "sleep", "busy", "write", "error", "ask", "commit", "tokens", "listen", "alloc", "exit")
ASK_SUFFIX = "[y/n]"
_ERROR_WORDS = ("error", "exception", "traceback", "fatal", "failed")


@dataclass(frozen=True)
class Step:
    verb: str
    args: tuple[str, ...]


def _num(s: str, what: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise ValueError(f"{what} must be a number, got {s!r}") from None
    if v < 0:
        raise ValueError(f"{what} must not be negative")
    return v


def parse_step(text: str) -> Step:
    """Parse one script step; raise ValueError with a readable reason."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty step")
    verb, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    if verb not in STEPS:
        raise ValueError(f"unknown step {verb!r} (known: {', '.join(STEPS)})")
    if verb in ("say", "error", "ask", "commit"):
        if not rest:
            raise ValueError(f"'{verb}' needs text")
        return Step(verb, (rest.replace("\\n", "\n"),))
    if verb in ("sleep", "busy", "listen", "alloc"):
        _num(rest, f"'{verb}' argument")
        return Step(verb, (rest,))
    if verb == "write":
        if rest.startswith(("'", '"')):
            q = rest[0]
            end = rest.find(q, 1)
            if end < 0:
                raise ValueError("unclosed quote in path")
            path, body = rest[1:end], rest[end + 1 :].strip()
        else:
            path, _, body = rest.partition(" ")
        if not path:
            raise ValueError("'write' needs a path")
        if path.startswith("/") or ".." in path.split("/"):
            raise ValueError("'write' path must stay inside the worktree")
        return Step(verb, (path, body.replace("\\n", "\n")))
    if verb == "tokens":
        parts = rest.split()
        if len(parts) != 2:
            raise ValueError("'tokens' needs IN OUT")
        for p, w in zip(parts, ("IN", "OUT"), strict=True):
            if not p.isdigit():
                raise ValueError(f"'tokens' {w} must be a whole number, got {p!r}")
        return Step(verb, (parts[0], parts[1]))
    # exit
    code = rest or "0"
    if not code.lstrip("-").isdigit():
        raise ValueError(f"'exit' code must be an integer, got {code!r}")
    return Step(verb, (code,))


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _emit_event(event: dict[str, object]) -> None:
    path = os.environ.get("CORTEX_EVENTS_FILE")
    if not path:
        return
    event = {"source": "sim", "ts": time.time(), **event}
    with open(path, "a", encoding="utf-8", opener=lambda p, fl: os.open(p, fl, 0o600)) as f:  # private, like the run's
        f.write(json.dumps(event) + "\n")


def _read_line(timeout: float | None) -> str | None:
    if timeout is not None:
        r, _, _ = select.select([sys.stdin], [], [], max(timeout, 0.0))
        if not r:
            return None
    line = sys.stdin.readline()
    return line if line else None


def run_step(step: Step, held: list[bytearray]) -> int | None:
    """Run one step; return an exit code to stop the script."""
    v, a = step.verb, step.args
    if v == "say":
        for line in a[0].split("\n"):
            _out(f"● {line}")
    elif v == "sleep":
        time.sleep(float(a[0]))
    elif v == "busy":
        end = time.monotonic() + float(a[0])
        x = 0
        while time.monotonic() < end:
            for i in range(20000):
                x = (x * 31 + i) % 1000003
    elif v == "write":
        path, body = a
        d = os.path.dirname(path)
        if d:
            os.makedirs(d, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(body + ("\n" if body and not body.endswith("\n") else ""))
        _out(f"● Wrote {path}")
    elif v == "error":
        text = a[0]
        if not any(w in text.lower() for w in _ERROR_WORDS):
            text = f"Error: {text}"
        _out(text)
    elif v == "ask":
        _out(f"? {a[0]} {ASK_SUFFIX}")
        while True:
            answer = _read_line(None)
            if answer is None:
                _out("✗ no answer (terminal closed)")
                return 1
            ans = answer.strip().lower()
            if ans in ("y", "yes"):
                _out("✓ approved")
                break
            if ans in ("n", "no"):
                _out("✗ denied")
                break
            _out(f"? please answer y or n {ASK_SUFFIX}")
    elif v == "commit":
        subprocess.run(["git", "add", "-A"], check=True)
        r = subprocess.run(
            ["git", "-c", "user.name=cortex-sim", "-c", "user.email=sim@cortex.invalid", "-c", "commit.gpgsign=false",
             "commit", "-q", "--allow-empty", "-m", a[0]],
            capture_output=True, text=True,
        )
        if r.returncode != 0:
            _out(f"Error: git commit failed: {r.stderr.strip() or r.stdout.strip()}")
            return r.returncode
        _out(f"● Committed: {a[0]}")
    elif v == "tokens":
        tin, tout = int(a[0]), int(a[1])
        _emit_event({"event": "usage", "input_tokens": tin, "output_tokens": tout,
                     "model": os.environ.get("CORTEX_MODEL") or None})
        _out(f"  ↳ tokens +{tin} in / +{tout} out")
    elif v == "listen":
        end = time.monotonic() + float(a[0])
        while (left := end - time.monotonic()) > 0:
            got = _read_line(left)
            if got is None:
                if left > 0 and not select.select([sys.stdin], [], [], 0)[0]:
                    continue
                break
            _out(f"received: {got.rstrip()}")
    elif v == "alloc":
        held.append(bytearray(int(float(a[0]) * 1024 * 1024)))
        for i in range(0, len(held[-1]), 4096):
            held[-1][i] = 1
        _out(f"● holding {a[0]} MB")
    elif v == "exit":
        return int(a[0])
    return None


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="cortex-sim", description="cortex-tui's simulated agent")
    ap.add_argument("--script-file", help="JSON list of steps")
    ap.add_argument("--name", default=os.environ.get("CORTEX_SESSION", "sim"))
    ap.add_argument("steps", nargs="*", help="steps (when no --script-file)")
    ns = ap.parse_args(argv)
    raw: list[str]
    if ns.script_file:
        with open(ns.script_file, encoding="utf-8") as f:
            raw = json.load(f)
    else:
        raw = ns.steps
    steps = [parse_step(s) for s in raw]
    _out(f"╭─ cortex sim agent · session {ns.name}")
    _out(f"╰─ {len(steps)} steps · cwd {os.getcwd()}")
    held: list[bytearray] = []
    for step in steps:
        code = run_step(step, held)
        if code is not None:
            _out(f"■ exiting with code {code}")
            return code
    _out("■ done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
