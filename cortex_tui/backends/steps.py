"""A session's ``setup``/``teardown`` steps and its ``include``d files (docs/isolation.md).

Steps are the layout's own shell commands (written by the user, not by an agent): each runs with
``/bin/sh -c`` in the worktree, one after another, its output appended to the session's log under a
``── cortex-tui: setup 1/2 · <step>`` header. The first step that fails ends the sequence, and so does the
phase's time limit: each step runs in its own process group, killed whole (TERM, then KILL) when the limit
passes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cortex_tui.errors import disk_error
from cortex_tui.private import open_private


@dataclass(frozen=True)
class StepResult:
    phase: str
    """``setup`` or ``teardown``."""
    index: int
    """1-based."""
    total: int
    step: str
    exit_code: int
    duration_s: float
    timed_out: float | None = None
    """The phase's time limit (seconds) when this step was killed for passing it; None: it ended by itself."""


DEFAULT_TIMEOUT_S = 600.0
"""A phase's time limit when the layout gives none (``setup_timeout``)."""
KILL_GRACE_S = 5.0
"""Between TERM and KILL of a step's process group past the limit."""


def run_steps(phase: str, steps: list[str], *, cwd: Path, env: Mapping[str, str], log: Path,
              on_step: Callable[[int, str], None] | None = None,
              timeout: float = DEFAULT_TIMEOUT_S) -> list[StepResult]:
    """Run ``steps`` in ``cwd``; stop at the first that fails (its result is the last one returned).

    ``env`` is added to this process's environment. ``on_step(index, step)`` is called before each step.
    ``timeout`` bounds all the steps together: past it the running step's process group is killed and its
    result has ``timed_out`` set (a non-zero ``exit_code``).
    """
    results: list[StepResult] = []
    full_env = {**os.environ, **env}
    deadline = time.monotonic() + timeout
    for i, step in enumerate(steps, 1):
        if on_step is not None:
            on_step(i, step)
        header = f"\n── cortex-tui: {phase} {i}/{len(steps)} · {step[:200]}\n"
        timed_out: float | None = None
        try:
            with open_private(log) as f:
                f.write(header.encode())
                f.flush()
                t0 = time.monotonic()
                proc = subprocess.Popen(["/bin/sh", "-c", step], cwd=cwd, env=full_env, stdin=subprocess.DEVNULL,
                                        stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
                try:
                    code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    timed_out = timeout
                    code = _kill_group(proc)
                took = time.monotonic() - t0
                if timed_out is not None:
                    f.write(f"── cortex-tui: {phase} {i}/{len(steps)} killed: the {phase} took longer than "
                            f"{timeout:g}s ({phase}_timeout)\n".encode())
                elif code != 0:
                    f.write(f"── cortex-tui: {phase} {i}/{len(steps)} exited {code}\n".encode())
        except OSError as e:
            raise disk_error(log, e, f"writing the {phase} output") from e
        code = code if code != 0 or timed_out is None else -int(signal.SIGKILL)
        results.append(StepResult(phase, i, len(steps), step, code, round(took, 3), timed_out))
        if code != 0:
            break
    return results


def _kill_group(proc: subprocess.Popen[bytes]) -> int:
    """TERM the step's whole process group, KILL it after :data:`KILL_GRACE_S`; the step's exit code."""
    for sig, grace in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass  # the group is gone already
        try:
            return proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


def describe_failure(r: StepResult) -> str:
    if r.timed_out is not None:
        return (f"{r.phase} step {r.index}/{r.total} {shlex.quote(r.step[:120])} was killed: the {r.phase} "
                f"took longer than {r.timed_out:g}s ({r.phase}_timeout)")
    return f"{r.phase} step {r.index}/{r.total} {shlex.quote(r.step[:120])} exited {r.exit_code}"


@dataclass(frozen=True)
class Included:
    path: str
    mode: str
    problem: str | None = None
    """Why it was not brought over (missing in the main checkout, already in the worktree...)."""


def include_files(paths: list[str], *, repo: Path, worktree: Path, mode: str) -> list[Included]:
    """Copy (or symlink, ``mode = "link"``) each of ``paths`` from the main checkout ``repo`` into
    ``worktree``. A path missing in the checkout, or already present in the worktree (tracked, or brought
    by an earlier attempt), is reported with its problem and skipped; nothing is overwritten."""
    out: list[Included] = []
    root = repo.resolve()
    for rel in paths:
        src = (repo / rel)
        dst = worktree / rel
        try:
            real = src.resolve()
        except OSError as e:
            out.append(Included(rel, mode, f"cannot resolve it: {e.strerror}"))
            continue
        if not real.is_relative_to(root):
            out.append(Included(rel, mode, "it resolves outside the main checkout"))
            continue
        if not os.path.lexists(src):
            out.append(Included(rel, mode, f"not found in the main checkout ({src})"))
            continue
        if os.path.lexists(dst):
            out.append(Included(rel, mode, "already in the worktree (tracked, or brought before): kept as it is"))
            continue
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            if mode == "link":
                dst.symlink_to(real, target_is_directory=real.is_dir())
            elif src.is_dir() and not src.is_symlink():
                shutil.copytree(src, dst, symlinks=True)
            else:
                shutil.copy2(src, dst, follow_symlinks=False)
        except OSError as e:
            out.append(Included(rel, mode, f"could not {mode} it: {e.strerror or e}"))
            continue
        out.append(Included(rel, mode))
    brought = [i.path for i in out if i.problem is None]
    ignored = _ignored(worktree, brought)
    return [Included(i.path, i.mode, "not git-ignored in the worktree: it counts as a change of the session "
                     "(add it to .gitignore; a pattern with a trailing slash does not match a link)")
            if i.problem is None and i.path not in ignored else i for i in out]


def _ignored(worktree: Path, paths: list[str]) -> set[str]:
    """Which of ``paths`` git ignores in ``worktree``."""
    if not paths:
        return set()
    r = subprocess.run(["git", "-C", str(worktree), "check-ignore", "--no-index", "--stdin", "-z"],
                       input="\0".join(paths).encode() + b"\0", capture_output=True, check=False)
    return {p.decode() for p in r.stdout.split(b"\0") if p}
