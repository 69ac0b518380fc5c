"""``include`` and ``setup`` in a session's worktree on an ssh node (docs/isolation.md, "On ssh nodes").

:class:`NodeWorkspace` is the node's :class:`~cortex_tui.backends.node.Workspace`. Everything runs over the node's
ControlMaster:

- a **setup step** runs on the node under a small runner (the node's python, ``-I -S``: stdlib only) that starts it
  with ``/bin/sh -c`` in the worktree in a process group of its own, streams its output back (appended to the
  session's log *here*, as it comes), and at the phase's time limit TERMs the group, then KILLs it
  :data:`~cortex_tui.backends.steps.KILL_GRACE_S` later. The runner also ends the group when its stdin closes
  (this side went away, or the link dropped): a step never outlives the spawn that asked for it.
- an **include** path is copied (or linked, ``include_mode = "link"``) on the node from the node's own checkout
  of the repo (``[[node]] checkout``); a path the node's checkout lacks — or any path when the node has no
  ``checkout`` — is copied from this machine's checkout (a tar stream; a link cannot point across machines, so
  ``link`` becomes a copy and says so). Nothing in the worktree is overwritten.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from cortex_tui.backends.remote import RemoteNode
from cortex_tui.backends.steps import DEFAULT_TIMEOUT_S, KILL_GRACE_S, Included, StepResult
from cortex_tui.errors import SshError, disk_error
from cortex_tui.private import open_private

STEP_PY = r'''
import json, os, signal, subprocess, sys, threading, time
wt, step, limit, grace = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
env = dict(os.environ)
env.update(json.loads(sys.stdin.readline() or "{}"))
gone = threading.Event()
def watch():
    sys.stdin.read()
    gone.set()
threading.Thread(target=watch, daemon=True).start()
try:
    p = subprocess.Popen(["/bin/sh", "-c", step], cwd=wt, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                         start_new_session=True)
except OSError as e:
    print("cannot start the step in %s: %s" % (wt, e), flush=True)
    sys.stderr.write(json.dumps({"code": 126, "timed_out": False}) + "\n")
    sys.exit(0)
end = time.monotonic() + limit
timed = False
while True:
    try:
        code = p.wait(timeout=0.05)
        break
    except subprocess.TimeoutExpired:
        if not gone.is_set() and time.monotonic() < end:
            continue
    timed = not gone.is_set()
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            code = p.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    break
sys.stderr.write(json.dumps({"code": code, "timed_out": timed}) + "\n")
'''
"""The node's step runner: ``$1`` worktree, ``$2`` step, ``$3`` time left (s), ``$4`` TERM->KILL grace; the env
as one JSON line on stdin (never in argv: the node's ``ps`` would show it); the result as JSON on stderr."""

INCLUDE_PY = r'''
import json, os, shutil, sys
checkout, wt, mode = sys.argv[1], sys.argv[2], sys.argv[3]
checkout = os.path.expanduser(checkout) if checkout else ""
missing = bool(checkout) and not os.path.isdir(checkout)
root = os.path.realpath(checkout) if checkout else ""
out = []
for rel in sys.argv[4:]:
    dst = os.path.join(wt, rel)
    if os.path.lexists(dst):
        out.append({"path": rel, "problem": "already in the worktree (tracked, or brought before): kept as it is"})
        continue
    src = os.path.join(checkout, rel) if checkout else ""
    if not src or not os.path.lexists(src):
        out.append({"path": rel, "upload": True, "no_checkout": missing})
        continue
    real = os.path.realpath(src)
    if real != root and not real.startswith(root + os.sep):
        out.append({"path": rel, "problem": "it resolves outside the node's checkout"})
        continue
    try:
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        if mode == "link":
            os.symlink(real, dst, target_is_directory=os.path.isdir(real))
        elif os.path.isdir(src) and not os.path.islink(src):
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)
        out.append({"path": rel})
    except OSError as e:
        out.append({"path": rel, "problem": "could not %s it on the node: %s" % (mode, e.strerror or e)})
print(json.dumps(out))
'''
"""The node's side of ``include``: ``$1`` the node's checkout (or empty), ``$2`` worktree, ``$3`` mode, then the
paths; one JSON list: each path brought, refused (``problem``) or to be copied from this machine (``upload``)."""


class NodeWorkspace:
    """A session's worktree on an ssh node."""

    def __init__(self, rn: RemoteNode, worktree: PurePosixPath, checkout: str | None) -> None:
        self.rn = rn
        self.node = rn.node.name
        self.worktree = worktree
        self.path = str(worktree)
        self.checkout = checkout

    # setup -----------------------------------------------------------------------------------
    def run_steps(self, phase: str, steps: list[str], *, env: dict[str, str], log: Path,
                  on_step: Callable[[int, str], None] | None = None,
                  timeout: float = DEFAULT_TIMEOUT_S) -> list[StepResult]:
        """Like :func:`cortex_tui.backends.steps.run_steps`, each step on the node (output into ``log`` here)."""
        results: list[StepResult] = []
        deadline = time.monotonic() + timeout
        for i, step in enumerate(steps, 1):
            if on_step is not None:
                on_step(i, step)
            try:
                with open_private(log) as f:
                    f.write(f"\n── cortex-tui: {phase} {i}/{len(steps)} on node {self.node} · {step[:200]}\n".encode())
                    f.flush()
                    t0 = time.monotonic()
                    code, timed = self._step(step, env, f.fileno(), max(0.0, deadline - time.monotonic()))
                    took = time.monotonic() - t0
                    if timed:
                        f.write(f"── cortex-tui: {phase} {i}/{len(steps)} killed: the {phase} took longer than "
                                f"{timeout:g}s ({phase}_timeout)\n".encode())
                    elif code != 0:
                        f.write(f"── cortex-tui: {phase} {i}/{len(steps)} exited {code}\n".encode())
            except OSError as e:
                raise disk_error(log, e, f"writing the {phase} output") from e
            results.append(StepResult(phase, i, len(steps), step, code, round(took, 3), timeout if timed else None))
            if code != 0:
                break
        return results

    def _step(self, step: str, env: dict[str, str], out: int, left: float) -> tuple[int, bool]:
        """Run one step on the node; its output to the file descriptor ``out``. ``(exit code, timed out)``."""
        t = self.rn.transport
        t.connect()
        argv = t.remote_argv([self.rn.node.python, "-I", "-S", "-c", STEP_PY, self.path, step, f"{left:.3f}",
                              f"{KILL_GRACE_S:g}"])
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stderr is not None
        try:
            proc.stdin.write((json.dumps(env) + "\n").encode())
            proc.stdin.flush()
            try:  # the runner keeps the limit; this bound is for a link that hangs
                proc.wait(timeout=left + KILL_GRACE_S + 60)
            except subprocess.TimeoutExpired:
                proc.kill()  # its stdin closes: the runner ends the step's group on the node
                proc.wait()
                raise SshError(f"node {self.node}: the step {step[:80]!r} did not come back (link down?)") from None
        except BrokenPipeError:
            proc.wait()
        finally:
            proc.stdin.close()
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        last = err.strip().splitlines()[-1] if err.strip() else ""
        try:
            got = json.loads(last)
            return int(got["code"]), bool(got["timed_out"])
        except (ValueError, KeyError, TypeError):
            raise SshError(f"node {self.node}: the step {step[:80]!r} could not run there: "
                           f"{err.strip()[-300:] or f'ssh exited {proc.returncode}'}") from None

    # include ---------------------------------------------------------------------------------
    def include(self, paths: list[str], *, repo: Path, mode: str) -> list[Included]:
        r = self.rn.transport.run([self.rn.node.python, "-I", "-S", "-c", INCLUDE_PY, self.checkout or "", self.path, mode,
                                   *paths], timeout=600)
        try:
            items = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise SshError(f"node {self.node}: include did not run there: {(r.stderr or r.stdout).strip()[-300:]}") \
                from None
        out: dict[str, Included] = {}
        upload: list[str] = []
        no_checkout = False
        for it in items:
            rel = str(it["path"])
            if it.get("upload"):
                upload.append(rel)
                no_checkout = no_checkout or bool(it.get("no_checkout"))
            else:
                out[rel] = Included(rel, mode, it.get("problem"))
        out.update(self._upload(upload, repo, mode, no_checkout))
        brought = [p for p, i in out.items() if i.problem is None or i.problem.startswith("copied")]
        ignored = self._ignored(brought)
        for p in brought:
            if p not in ignored:
                out[p] = Included(p, mode, "not git-ignored in the worktree: it counts as a change of the session "
                                  "(add it to .gitignore; a pattern with a trailing slash does not match a link)")
        return [out[p] for p in paths if p in out]

    def _upload(self, rels: list[str], repo: Path, mode: str, no_checkout: bool = False) -> dict[str, Included]:
        """Copy ``rels`` from this machine's checkout into the node's worktree (one tar stream)."""
        out: dict[str, Included] = {}
        root = repo.resolve()
        send: list[str] = []
        where = f"node {self.node}'s checkout ({self.checkout}{': not a directory there' * no_checkout})" \
            if self.checkout else None
        for rel in rels:
            src = repo / rel
            if not os.path.lexists(src):
                out[rel] = Included(rel, mode, f"not found in {where + ' nor in ' if where else ''}the main checkout "
                                    f"({src})")
            elif not src.resolve().is_relative_to(root):
                out[rel] = Included(rel, mode, "it resolves outside the main checkout")
            else:
                send.append(rel)
                note = [f"not in {where}"] if where else []
                note += ["a link cannot point across machines"] if mode == "link" else []
                out[rel] = Included(rel, mode, f"copied from this machine's checkout ({'; '.join(note)})"
                                    if note else None)
        if not send:
            return out
        t = self.rn.transport
        t.connect()
        tar = subprocess.Popen(["tar", "-C", str(repo), "-cf", "-", "--", *send], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        assert tar.stdout is not None
        try:
            got = subprocess.run(t.remote_argv(["tar", "-C", self.path, "-xf", "-"]), stdin=tar.stdout,
                                 capture_output=True, timeout=3600, check=False)
        finally:
            tar.stdout.close()
            tar_err = tar.stderr.read().decode(errors="replace") if tar.stderr else ""
            tar.wait()
        if tar.returncode != 0 or got.returncode != 0:
            why = (tar_err or got.stderr.decode(errors="replace")).strip()[-300:]
            for rel in send:
                out[rel] = Included(rel, mode, f"could not copy it to node {self.node}: {why}")
        return out

    def _ignored(self, paths: list[str]) -> set[str]:
        if not paths:
            return set()
        r = self.rn.transport.run_bytes(["git", "-C", self.path, "check-ignore", "--no-index", "--stdin", "-z"],
                                        input="\0".join(paths).encode() + b"\0", timeout=60)
        return {p.decode() for p in r.stdout.split(b"\0") if p}
