"""The bubblewrap sandbox of a session (``sandbox = "bwrap"``, docs/isolation.md): its command line, whether
bwrap works here, and reading a blocked write back out of an agent's output.

The agent sees the whole filesystem read-only (``--ro-bind / /``) except what the session may write:

- its worktree, or with ``scope_mode = "enforce"`` only the directories/files of its scope in it;
- what git needs to commit from the worktree: the shared object store, the worktree's own git dir and the
  ref directory of the run's branches (``refs/heads/cortex/<run>``, and its reflogs);
- its own agent's config/state directories (``~/.claude`` …, :data:`AGENT_STATE`) and the session's
  directory of the run (settings, the events file);
- a private ``/tmp`` (a tmpfs; paths under the real /tmp it needs are bound back read-only).

``network = "none"`` adds ``--unshare-net`` (only a loopback of its own).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BWRAP = "bwrap"
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"

AGENT_STATE: dict[str, tuple[str, ...]] = {
    "claude-code": ("~/.claude",),  # its ~/.claude.json: a per-session copy (backends/sandbox_state.py)
    "codex": ("$CODEX_HOME", "~/.codex"),
    "gemini": ("$GEMINI_CLI_HOME", "~/.gemini"),
    "aider": ("~/.aider",),
    "opencode": ("~/.local/share/opencode", "~/.local/state/opencode", "~/.config/opencode", "~/.cache/opencode"),
}
"""Where each agent keeps its own config and state (writable in the sandbox when they exist)."""

_GLOB = re.compile(r"[*?\[]")


@functools.lru_cache(maxsize=4)
def probe(bwrap: str | None = None, network_none: bool = True) -> str | None:
    """Why a bwrap sandbox cannot be made here (None: it can). Runs a real one once per process."""
    bwrap = bwrap or BWRAP
    path = shutil.which(bwrap)
    if path is None:
        return f"{bwrap} not found on PATH"
    argv = [path, "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    if network_none:
        argv.append("--unshare-net")
    try:
        r = subprocess.run([*argv, "true"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{path} could not run: {e}"
    if r.returncode != 0:
        err = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
        if "namespace" in err.lower() or "permission" in err.lower():
            err += (" (user namespaces are unavailable: e.g. kernel.unprivileged_userns_clone=0, "
                    "a container without CAP_SYS_ADMIN, or an AppArmor userns restriction)")
        return f"{path} cannot make a sandbox here: {err}"
    return None


@dataclass(frozen=True)
class Jail:
    """What one session's sandbox lets it write, and its network."""

    worktree: Path
    writable: tuple[Path, ...]
    """Paths bound read-write (the worktree or its scope paths, git's, the agent's state, the session dir)."""
    readable_tmp: tuple[Path, ...]
    """Paths under the real /tmp bound back read-only over the private one (repo, HOME …)."""
    network: str
    narrow_warning: str | None = None
    """Why an enforce-mode scope could not be narrowed below the whole worktree."""


def _expand(p: str, env: dict[str, str]) -> Path | None:
    """``p`` for the agent: ``~`` is the HOME of its env (the layout may give it one), ``$X`` its env's X."""
    if p.startswith("$"):
        v = env.get(p[1:]) or os.environ.get(p[1:])
        return Path(v) if v else None
    if p.startswith("~/"):
        return Path(env.get("HOME") or os.path.expanduser("~")) / p[2:]
    return Path(os.path.expanduser(p))


def agent_state_paths(agent: str, env: dict[str, str]) -> list[Path]:
    """The agent's own config/state paths to bind writable: its directories (made, mode 0700, when missing:
    an agent's first run in the sandbox could not create them) and its state files that exist."""
    out: list[Path] = []
    for p in AGENT_STATE.get(agent, ()):
        d = _expand(p, env)
        if d is None:
            continue
        if not d.exists() and not d.suffix:  # a directory (the files are *.json)
            try:
                d.mkdir(mode=0o700, parents=True)
            except OSError:
                continue  # not ours to make (a read-only HOME...): it stays read-only in the sandbox
        if d.exists():
            out.append(d)
    return out


def git_write_paths(worktree: Path, branch: str) -> list[Path]:
    """What ``git add``/``git commit`` in ``worktree`` writes: its own git dir, the objects, the directory of
    its branch's ref and reflog (created when missing)."""
    dotgit = worktree / ".git"
    if dotgit.is_dir():  # not a linked worktree: its whole git dir
        return [dotgit]
    text = dotgit.read_text(encoding="utf-8").strip()
    own = Path(text.removeprefix("gitdir:").strip())
    own = own if own.is_absolute() else (worktree / own).resolve()
    common_file = own / "commondir"
    common = (own / common_file.read_text().strip()).resolve() if common_file.exists() else own.parent.parent
    ref_dir = common / "refs" / "heads" / Path(branch).parent
    log_dir = common / "logs" / "refs" / "heads" / Path(branch).parent
    for d in (ref_dir, log_dir):
        d.mkdir(parents=True, exist_ok=True)
    return [own, common / "objects", ref_dir, log_dir]


def scope_write_paths(worktree: Path, scope: list[str]) -> tuple[list[Path], str | None]:
    """The worktree paths an enforce-mode scope may write: per glob, its literal leading directories (a
    literal path itself when it exists). A glob whose first segment is a pattern covers the worktree root:
    the whole worktree is then writable, and the reason is returned."""
    out: list[Path] = []
    for glob in scope:
        parts = [p for p in glob.rstrip("/").split("/") if p]
        literal: list[str] = []
        for part in parts:
            if _GLOB.search(part):
                break
            literal.append(part)
        if not literal:
            return [worktree], f"scope glob {glob!r} starts at the worktree root: the whole worktree stays writable"
        target = worktree.joinpath(*literal)
        if len(literal) == len(parts) and target.exists():
            out.append(target)  # a literal file or directory
            continue
        if len(literal) == len(parts) and len(literal) > 1:
            target = target.parent  # a file that does not exist yet: its directory
        target.mkdir(parents=True, exist_ok=True)  # an empty directory is nothing to git
        out.append(target)
    return out, None


def jail_for(*, worktree: Path, branch: str, scope: list[str], enforce: bool, agent: str, session_dir: Path,
             env: dict[str, str], network: str, repo: Path) -> Jail:
    narrow: str | None = None
    if enforce and scope:
        paths, narrow = scope_write_paths(worktree, scope)
    else:
        paths = [worktree]
    paths += git_write_paths(worktree, branch)
    paths += agent_state_paths(agent, env)
    paths.append(session_dir)
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    tmp = Path("/tmp")
    readable = [p for p in (repo, home, session_dir.parent) if p.is_relative_to(tmp) and p != tmp]
    return Jail(worktree, tuple(dict.fromkeys(paths)), tuple(dict.fromkeys(readable)), network, narrow)


def bwrap_argv(jail: Jail, argv: list[str], bwrap: str = BWRAP) -> list[str]:
    """``argv`` run inside the jail. Order matters: the private /tmp first, read-only binds back over it,
    then the writable binds (a later mount hides an earlier one)."""
    out = [bwrap, "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
           "--tmpfs", "/tmp"]
    for p in sorted(jail.readable_tmp, key=lambda x: len(x.parts)):
        out += ["--ro-bind", str(p), str(p)]
    for p in sorted(jail.writable, key=lambda x: len(x.parts)):
        out += ["--bind", str(p), str(p)]
    if jail.network == "none":
        out.append("--unshare-net")
    out += ["--chdir", str(jail.worktree), "--setenv", "TMPDIR", "/tmp", "--setenv", "CORTEX_SANDBOX", "bwrap",
            "--", *argv]
    return out


REFUSED_MARK = "── cortex-tui: network refused: "
"""How the allowlist proxy's refusals appear in the session log (read back into ``network_refused`` events)."""
_REFUSED = re.compile(r"── cortex-tui: network refused: (.+):(\d+) \(not in the allowlist\)")


def refused_target(line: str) -> tuple[str, int] | None:
    """``(host, port)`` of a refusal line the allowlist proxy wrote into the log."""
    m = _REFUSED.search(line)
    return (m.group(1), int(m.group(2))) if m else None


_EROFS = "Read-only file system"
EROFS = _EROFS.encode()
_PY_EROFS = re.compile(r"Read-only file system: '([^']+)'")


def blocked_path(line: str) -> str | None:
    """The path a write the sandbox refused names in an output line (``sh: 1: cannot create x: Read-only
    file system``, ``touch: cannot touch 'x': …``, Python's ``[Errno 30] Read-only file system: 'x'``)."""
    if _EROFS not in line:
        return None
    m = _PY_EROFS.search(line)
    if m:
        return m.group(1)
    head = line[:line.index(_EROFS)].rstrip().removesuffix(":").rstrip()
    if not head:
        return None
    token = head.rsplit(": ", 1)[-1].split()[-1] if head.rsplit(": ", 1)[-1].split() else ""
    token = token.strip("'\"‘’`")
    return token or None


def launch(args: list[str]) -> None:
    """Run on an ssh node as ``python -S sandbox.py PARAMS -- ARGV...`` (``backends/sandbox_remote.py``): the
    jail from the node's own filesystem and env, then exec bwrap. This module stays stdlib-only for that."""
    import json
    import sys

    p = json.loads(args[0])
    argv = args[args.index("--") + 1:]
    env = dict(os.environ)
    jail = jail_for(worktree=Path(p["worktree"]), branch=p["branch"], scope=list(p["scope"]), enforce=p["enforce"],
                    agent=p["agent"], session_dir=Path(p["session_dir"]), env=env, network=p["network"],
                    repo=Path(p["repo"]))
    state = p.get("state")  # the agent's own state (backends/sandbox_state.py, uploaded beside this file)
    if state:
        import importlib.util

        spec = importlib.util.spec_from_file_location("cortex_sandbox_state", state)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        extra_w = mod.prepare_state(p["agent"], Path(p["session_dir"]), env)  # e.g. CLAUDE_CONFIG_DIR in env
        jail = Jail(jail.worktree, tuple(dict.fromkeys((*jail.writable, *extra_w))), jail.readable_tmp,
                    jail.network, jail.narrow_warning)
    tmp = Path("/tmp")
    extra = [q for q in (Path(os.path.expanduser(x)) for x in p.get("readable", ())) if q.is_relative_to(tmp) and q != tmp]
    jail = Jail(jail.worktree, jail.writable, tuple(dict.fromkeys((*jail.readable_tmp, *extra))), jail.network,
                jail.narrow_warning)  # e.g. the node's checkout, where linked includes point
    allow = p.get("allow")  # a network allowlist: the proxy (this process's parent, outside) serves allow["dir"]
    if allow:
        where = Path(allow["dir"])
        jail = Jail(jail.worktree, jail.writable, tuple(dict.fromkeys((*jail.readable_tmp, where))), "none",
                    jail.narrow_warning)
        url = f"http://127.0.0.1:{allow['port']}"
        for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
            env[k] = url
        env["NO_PROXY"] = env["no_proxy"] = ""
        argv = [sys.executable, "-I", "-S", allow["fwd"], str(where / allow["socket"]), str(allow["port"]), "--",
                *argv]  # inside: 127.0.0.1:port forwarded to the proxy's socket (backends/sandbox_fwd.py)
    if jail.narrow_warning:
        print(f"── cortex-tui: sandbox: {jail.narrow_warning}", file=sys.stderr)
    out = bwrap_argv(jail, argv)
    try:
        os.execvpe(out[0], out, env)
    except OSError as e:
        print(f"── cortex-tui: sandbox: cannot run {out[0]}: {e}", file=sys.stderr)
        sys.exit(127)


if __name__ == "__main__":
    import sys

    launch(sys.argv[1:])
