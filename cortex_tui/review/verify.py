"""Run a session's verify command in its worktree with a timeout; keep exit code, duration, tail."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from cortex_tui.private import open_private, private_dir
from cortex_tui.review.models import VerifyResult
from cortex_tui.store.files import io_at

TIMEOUT_EXIT = 124
TAIL_LINES = 40
TAIL_BYTES = 8192


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, lines: int) -> str:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - TAIL_BYTES))
        data = f.read()
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def run_verify(command: str, cwd: Path, *, timeout_s: float = 600.0, log_path: Path | None = None,
               env: dict[str, str] | None = None, head: str | None = None) -> VerifyResult:
    """Run ``command`` through ``/bin/sh -c`` in ``cwd``, in its own process group.

    On timeout the whole group gets SIGTERM, then SIGKILL; the exit code is then 124.
    Output (stdout + stderr) goes to ``log_path`` (or a temporary file); its tail is kept.
    """
    own_log = log_path is None
    if log_path is None:
        fd, tmp = tempfile.mkstemp(prefix="cortex-verify-", suffix=".log")
        os.close(fd)
        log_path = Path(tmp)
    with io_at(log_path, "writing the verify log"):
        if not own_log:
            private_dir(log_path.parent)
        out = open_private(log_path, "wb")
    start = time.monotonic()
    timed_out = False
    try:
        with out:
            proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    env={**os.environ, **(env or {})})
            try:
                code = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
                code = TIMEOUT_EXIT
            except BaseException:
                _kill_group(proc)
                raise
        duration = time.monotonic() - start
        tail = _tail(log_path, TAIL_LINES)
        if timed_out:
            tail = (tail + "\n" if tail else "") + f"[cortex] verify timed out after {timeout_s:g}s; process group killed"
    finally:
        if own_log:
            log_path.unlink(missing_ok=True)
    return VerifyResult(exit_code=code, duration_s=round(duration, 3), tail=tail, command=command,
                        timed_out=timed_out, head=head, log_path=None if own_log else str(log_path))
