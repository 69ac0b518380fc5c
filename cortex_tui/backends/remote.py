"""A remote node: code, tmux windows and logs on another machine, all over one :class:`SshTransport`.

The operations mirror the local backends so the engine can treat a remote session like a local one:

=====================================  ==========================================================
local                                  remote (:class:`RemoteNode`)
=====================================  ==========================================================
``git.add_worktree``                   :meth:`RemoteNode.prepare_worktree` (push base + branch to a
                                       bare repo on the node, ``git worktree add`` there)
``Tmux.ensure_server/new_window``      :meth:`RemoteNode.spawn` (tmux on the node, dedicated socket,
                                       pipe-pane log + exit-code file on the node)
``Tmux.respawn_window`` (warm slot)    :meth:`RemoteNode.respawn` (files, env file and the agent started in
                                       a warm slot's idle window on the node: one round trip)
``Tmux.list_windows``                  :meth:`RemoteNode.list_windows`
read ``logs/<slug>.log`` from offset   :meth:`RemoteNode.read_log` / :meth:`RemoteNode.stream_log`
``Tmux.send_keys`` / ``capture``       :meth:`RemoteNode.send_keys` / :meth:`RemoteNode.capture`
(branch is already local)              :meth:`RemoteNode.fetch_branch`
=====================================  ==========================================================

Layout on the node, under its ``workdir``::

    repos/<repo-id>.git                     bare repo (shared by every run of the same local repo)
    runs/<run>/worktrees/<slug>/            one worktree per session
    runs/<run>/logs/<slug>.log              pipe-pane output (read from a byte offset after an outage)
    runs/<run>/exit/<slug>.code             exit code written by the ``/bin/sh -c`` wrapper
    runs/<run>/sessions/<slug>/             per-session files (sim script, events.jsonl)

The agent runs in tmux on the node, so a dropped link or a supervisor crash does not stop it.
Nothing here imports the engine.
"""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cortex_tui.agents.base import KeyInput
from cortex_tui.backends import git as gitb
from cortex_tui.backends.node import WRAPPER
from cortex_tui.backends.remote_sh import PRE_SPAWN, PUT_FILE, READ_FROM, READ_MANY, SETUP, START, VERIFY
from cortex_tui.backends.ssh import SshTransport
from cortex_tui.backends.tmux import ENV_LOADER, HOST_SESSION, Tmux, WindowInfo, env_script
from cortex_tui.errors import GitError, SshError


class RemoteTmux(Tmux):
    """:class:`Tmux` on the node: every call runs over ssh, with ``-u`` because ssh sessions usually
    carry no UTF-8 locale and tmux would otherwise turn the ``\\x1f`` field separator (and non-ASCII
    window names) into ``_``."""

    def base_argv(self) -> list[str]:
        return [self.bin, "-u", "-L", self.socket]


def repo_id(local_repo: Path) -> str:
    """Name of the bare repo on a node for a local repo: ``<dirname>-<hash of its path>``."""
    p = local_repo.resolve()
    return f"{gitb.slugify(p.name)[:40]}-{hashlib.sha1(str(p).encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class RemoteSpawn:
    """What :meth:`RemoteNode.spawn` started."""

    window: WindowInfo
    log_path: str
    log_offset: int
    """Size of the node's log after the header line: the agent's output starts here."""
    exit_file: str


class RemoteNode:
    """Sessions of one run on one node: worktrees, a dedicated tmux server and logs, over ssh."""

    def __init__(self, transport: SshTransport, run: str, *, socket: str | None = None) -> None:
        self.transport = transport
        self.node = transport.node
        self.run_id = run
        self.tmux = RemoteTmux(socket or f"cortex-{run}", tmux_bin="tmux", runner=self._tmux_runner,
                               writer=lambda path, data: self.put_file(path, data, 0o600))
        self._workdir: PurePosixPath | None = None

    # plumbing ----------------------------------------------------------------
    def _tmux_runner(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return self.transport.run(argv, timeout=timeout)

    def sh(self, script: str, *args: str, input: str | None = None, timeout: float = 30.0,
           check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a constant ``/bin/sh -c`` script on the node; values go in as ``$1..`` (never spliced)."""
        return self.transport.run(["/bin/sh", "-c", script, "cortex", *args], input=input, timeout=timeout,
                                  check=check)

    def setup(self) -> PurePosixPath:
        """Connect, create the workdir (``~`` expands to the node's HOME) and return its absolute path."""
        self.transport.connect()
        out = self.sh(SETUP, self.node.workdir).stdout.strip()
        if not out.startswith("/"):
            raise SshError(f"node {self.node.name}: cannot create workdir {self.node.workdir!r}: {out}")
        self._workdir = PurePosixPath(out)
        return self._workdir

    @property
    def workdir(self) -> PurePosixPath:
        if self._workdir is None:
            self.setup()
        assert self._workdir is not None
        return self._workdir

    @property
    def run_dir(self) -> PurePosixPath:
        return self.workdir / "runs" / self.run_id

    def bare_repo(self, local_repo: Path) -> PurePosixPath:
        return self.workdir / "repos" / f"{repo_id(local_repo)}.git"

    def worktree_path(self, slug: str) -> PurePosixPath:
        return self.run_dir / "worktrees" / slug

    def log_path(self, slug: str) -> PurePosixPath:
        return self.run_dir / "logs" / f"{slug}.log"

    def exit_file(self, slug: str) -> PurePosixPath:
        return self.run_dir / "exit" / f"{slug}.code"

    def session_dir(self, slug: str) -> PurePosixPath:
        return self.run_dir / "sessions" / slug

    # files -------------------------------------------------------------------
    def put_file(self, remote_path: str | PurePosixPath, data: bytes, mode: int = 0o600) -> None:
        """Write ``data`` to ``remote_path`` on the node atomically (parents created)."""
        r = self.transport.run_bytes(["/bin/sh", "-c", PUT_FILE, "cortex", str(remote_path), f"{mode:o}"],
                                     input=data)
        if r.returncode != 0:
            raise SshError(f"node {self.node.name}: cannot write {remote_path}: "
                           f"{r.stderr.decode(errors='replace').strip()}")

    def read_file(self, remote_path: str | PurePosixPath) -> bytes | None:
        r = self.transport.run_bytes(["cat", "--", str(remote_path)])
        return r.stdout if r.returncode == 0 else None

    # code --------------------------------------------------------------------
    def prepare_worktree(self, local_repo: Path, branch: str, base_commit: str, slug: str) -> PurePosixPath:
        """Give the node the session's code: bare repo + push + ``git worktree add`` on ``branch``.

        Pushes ``base_commit`` (as ``refs/cortex/base/<slug>``) and the session branch — the local
        branch if it exists, else ``base_commit`` — over the master connection. Idempotent: an existing
        worktree is reused (nothing is pushed over a branch that is checked out on the node).
        """
        bare, wt = self.bare_repo(local_repo), self.worktree_path(slug)
        r = self.sh('[ -d "$1" ] || git init --bare --quiet "$1" >&2 || exit 3; '
                    'if [ -e "$2/.git" ]; then echo exists; fi',
                    str(bare), str(wt), check=False)
        if r.returncode != 0:
            raise GitError(f"node {self.node.name}: cannot create bare repo {bare}: {r.stderr.strip()}",
                           "check that git is installed on the node (`cortex-tui doctor --node NAME`)")
        if r.stdout.strip() == "exists":
            return wt
        src = f"refs/heads/{branch}" if gitb.branch_exists(local_repo, branch) else base_commit
        self.push(local_repo, str(bare), [f"+{base_commit}:refs/cortex/base/{slug}", f"{src}:refs/heads/{branch}"])
        r = self.sh('mkdir -p "$(dirname "$2")" && git -C "$1" worktree add --quiet "$2" "$3"',
                    str(bare), str(wt), branch, check=False)
        if r.returncode != 0:
            raise GitError(f"node {self.node.name}: git worktree add {wt} failed: {r.stderr.strip()}")
        return wt

    def push(self, local_repo: Path, remote_path: str, refspecs: list[str]) -> None:
        """``git push`` from ``local_repo`` to a repo on the node over the master connection."""
        self.transport.connect()
        gitb.git(local_repo, "push", "--quiet", "--no-verify", self.transport.git_remote_url(remote_path),
                 *refspecs, env=self.transport.git_env(), timeout=600)

    def fetch_branch(self, local_repo: Path, branch: str) -> str:
        """Bring the session branch back into ``local_repo`` as ``refs/heads/<branch>``; return its commit.

        Fetched first into ``refs/cortex/nodes/<node>/<branch>``. The local branch is fast-forwarded;
        if it has commits the node's branch lacks, they are kept under ``refs/cortex/backup/...``
        before it moves (no lost work). Refused while the branch is checked out locally.
        """
        self.transport.connect()
        for wt in gitb.list_worktrees(local_repo):
            if wt.branch == branch:
                raise GitError(f"branch {branch} is checked out at {wt.path}; cannot update it from node "
                               f"{self.node.name}", "remove that worktree or switch it to another branch")
        bare = str(self.bare_repo(local_repo))
        track = f"refs/cortex/nodes/{self.node.name}/{branch}"
        gitb.git(local_repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                 self.transport.git_remote_url(bare), f"+refs/heads/{branch}:{track}",
                 env=self.transport.git_env(), timeout=600)
        new = gitb.rev_parse(local_repo, track)
        if new is None:
            raise GitError(f"node {self.node.name}: fetched {branch} but {track} is missing")
        old = gitb.rev_parse(local_repo, f"refs/heads/{branch}")
        if old == new:
            return new
        if old is not None and not gitb.git_ok(local_repo, "merge-base", "--is-ancestor", old, new):
            backup = f"refs/cortex/backup/{branch}/{time.strftime('%Y%m%d-%H%M%S')}-{old[:8]}"
            gitb.git(local_repo, "update-ref", "-m", f"cortex: backup before fetch from {self.node.name}",
                     backup, old)
        gitb.git(local_repo, "update-ref", "-m", f"cortex: fetch {branch} from node {self.node.name}",
                 f"refs/heads/{branch}", new, *([old] if old else [""]))
        return new

    def run_verify(self, slug: str, command: str, *, timeout_s: float = 600.0) -> tuple[int, bool, str, bytes]:
        """Run a verify command in the session's worktree on the node, in its own process group.

        Returns (exit code, timed out, last lines, full output). Uses the node's ``timeout`` when it has one
        (exit 124 on expiry, like a local verify); the ssh call itself is bounded by ``timeout_s`` + 60 s.
        """
        wt, log = self.worktree_path(slug), self.session_dir(slug) / "verify.log"
        r = self.sh(VERIFY, str(wt), str(log), command, f"{timeout_s:g}", timeout=timeout_s + 60, check=False)
        first, _, _ = r.stdout.partition("\n")
        if not first.strip().lstrip("-").isdigit():
            raise SshError(f"node {self.node.name}: verify of {slug} did not run: {(r.stderr or r.stdout).strip()}")
        code = int(first.strip())
        output = self.read_file(log) or b""
        tail = "\n".join(output.decode("utf-8", errors="replace").splitlines()[-40:])
        return code, code == 124, tail, output

    def disk_usage(self, slugs: list[str]) -> dict[str, int]:
        """Bytes used by each session's worktree on the node (``du -sk``; missing worktrees are left out)."""
        if not slugs:
            return {}
        paths = {str(self.worktree_path(slug)): slug for slug in slugs}
        r = self.sh('for d in "$@"; do [ -d "$d" ] && du -sk "$d" 2>/dev/null; done; exit 0', *paths,
                    timeout=60, check=False)
        sizes: dict[str, int] = {}
        for line in r.stdout.splitlines():
            kb, _, path = line.partition("\t")
            if kb.strip().isdigit() and path in paths:
                sizes[paths[path]] = int(kb) * 1024
        return sizes

    def worktree_dirty(self, slug: str) -> bool:
        """Uncommitted changes in the session's worktree on the node (they are not fetched back)."""
        r = self.transport.run(["git", "-C", str(self.worktree_path(slug)), "status", "--porcelain",
                                "--untracked-files=all"], check=True)
        return bool(r.stdout.strip())

    def remove_worktree(self, local_repo: Path, slug: str, *, force: bool = False) -> None:
        """Remove the node's worktree (refused while dirty unless ``force``); the branch stays in the bare repo."""
        args = ["git", "-C", str(self.bare_repo(local_repo)), "worktree", "remove"]
        if force:
            args.append("--force")
        r = self.transport.run([*args, str(self.worktree_path(slug))])
        if r.returncode != 0:
            raise GitError(f"node {self.node.name}: git worktree remove failed: {r.stderr.strip()}")

    # sessions ----------------------------------------------------------------
    def ensure_server(self, banner: str | None = None) -> None:
        self.tmux.ensure_server(Path(str(self.workdir)),
                                banner or f"cortex-tui run {self.run_id} · node {self.node.name}")

    def spawn(self, *, name: str, slug: str, argv: list[str], env: dict[str, str], cwd: str | PurePosixPath,
              tag: str | None = None, header: str | None = None) -> RemoteSpawn:
        """Run ``argv`` in a new window of the node's tmux, output piped to the node's log file.

        An old window with the same tag is killed first (restart). ``header`` is appended to the log
        before the agent starts; the returned ``log_offset`` points just after it.
        """
        log, code = self.log_path(slug), self.exit_file(slug)
        tag = tag or name
        r = self.sh(PRE_SPAWN, str(log), str(code), str(self.session_dir(slug)), header or "", self.tmux.bin,
                    self.tmux.socket, tag, HOST_SESSION, check=False)
        reply = r.stdout.split()
        if r.returncode != 0 or len(reply) != 2 or not reply[0].isdigit():
            raise SshError(f"node {self.node.name}: cannot prepare session {slug}: {(r.stderr or r.stdout).strip()}")
        offset = int(reply[0])
        if reply[1] != "1":
            self.ensure_server()
        wrapped = ["/bin/sh", "-c", WRAPPER, "cortex-agent", str(code), *argv]
        win = self.tmux.new_window(name=name, cwd=Path(str(cwd)), argv=wrapped, env=env, log_path=Path(str(log)),
                                   tag=tag, run=self.run_id, env_file=Path(str(self.session_dir(slug) / "env")))
        return RemoteSpawn(win, str(log), offset, str(code))

    def respawn(self, window: WindowInfo, *, name: str, slug: str, argv: list[str], env: dict[str, str],
                cwd: str | PurePosixPath, tag: str, files: dict[str, bytes]) -> RemoteSpawn | None:
        """:meth:`spawn` in an idle window made ahead (a warm slot's, engine/remote_warm.py), with the session's
        ``files`` (name -> bytes, into its session dir) in the same round trip: :data:`START`. None: the
        window is gone (the caller spawns a new one)."""
        log, code, sdir = self.log_path(slug), self.exit_file(slug), self.session_dir(slug)
        ef = sdir / "env"
        bundle = dict(files)
        if env:
            bundle["env"] = env_script(env)
            argv = ["/bin/sh", "-c", ENV_LOADER, "cortex-env", str(ef), *argv]
        wrapped = ["/bin/sh", "-c", WRAPPER, "cortex-agent", str(code), *argv]
        args = self.tmux.respawn_args(window, name=name, cwd=Path(str(cwd)), argv=wrapped, log_path=Path(str(log)),
                                      tag=tag, run=self.run_id)
        r = self.transport.run_bytes(["/bin/sh", "-c", START, "cortex", str(log), str(code), str(sdir),
                                      self.tmux.bin, self.tmux.socket, tag, HOST_SESSION, window.window_id, *args],
                                     input=_tar(bundle))
        lines = r.stdout.decode(errors="replace").strip().splitlines()
        if r.returncode != 0 or not lines or not lines[0].isdigit():
            raise SshError(f"node {self.node.name}: cannot start session {slug} in its warm window: "
                           f"{(r.stderr.decode(errors='replace') or r.stdout.decode(errors='replace')).strip()[-300:]}")
        if lines[-1] == "gone" or len(lines) < 2:
            return None
        win = self.tmux._window(lines[-1], name, tag)
        return RemoteSpawn(win, str(log), int(lines[0]), str(code))

    def list_windows(self) -> list[WindowInfo]:
        """Windows on the node's tmux (raises :class:`SshError` when the link is down — not "gone")."""
        return self.tmux.list_windows()

    def exit_code(self, slug: str) -> int | None:
        raw = self.read_file(self.exit_file(slug))
        if raw is None:
            return None
        s = raw.decode(errors="replace").strip()
        return int(s) if s.lstrip("-").isdigit() else None

    def send_keys(self, target: str, keys: list[KeyInput]) -> None:
        self.tmux.send_keys(target, keys)

    def capture(self, target: str, lines: int = 200, escapes: bool = False) -> str:
        return self.tmux.capture(target, lines, escapes)

    def kill_window(self, window_id: str) -> None:
        self.tmux.kill_window(window_id)

    def kill_server(self) -> None:
        self.tmux.kill_server()

    def attach_argv(self, window_id: str) -> list[str]:
        """``ssh -t ... tmux -L <socket> select-window -t <id> ; attach-session -t =cortex``."""
        return self.transport.attach_argv(self.tmux.attach_argv(window_id))

    # logs --------------------------------------------------------------------
    def read_log(self, slug: str, offset: int, limit: int | None = None) -> bytes:
        """Bytes of the node's log from byte ``offset`` (at most ``limit``): catch-up after an outage."""
        r = self.transport.run_bytes(["/bin/sh", "-c", READ_FROM, "cortex", str(self.log_path(slug)),
                                      str(offset + 1), str(limit) if limit else ""], timeout=120)
        if r.returncode != 0:
            raise SshError(f"node {self.node.name}: cannot read {self.log_path(slug)}: "
                           f"{r.stderr.decode(errors='replace').strip()}")
        return r.stdout

    def read_logs(self, offsets: dict[str, int], limit: int = 8 << 20) -> dict[str, bytes]:
        """:meth:`read_log` for many sessions in ONE round trip (poll every session of a node at once).

        Cheaper than one :meth:`stream_log` per session and never limited by sshd's ``MaxSessions``.
        """
        if not offsets:
            return {}
        slugs = list(offsets)
        args = [a for sl in slugs for a in (str(self.log_path(sl)), str(offsets[sl] + 1))]
        r = self.transport.run_bytes(["/bin/sh", "-c", READ_MANY, "cortex", str(limit), *args], timeout=120)
        lines = r.stdout.split(b"\n")
        if r.returncode != 0 or len(lines) < len(slugs):
            raise SshError(f"node {self.node.name}: cannot read logs: {r.stderr.decode(errors='replace').strip()}")
        return {sl: base64.b64decode(lines[i]) for i, sl in enumerate(slugs)}

    def log_size(self, slug: str) -> int | None:
        r = self.transport.run(["/bin/sh", "-c", '[ -f "$1" ] && wc -c < "$1"', "cortex", str(self.log_path(slug))])
        s = r.stdout.strip()
        return int(s) if r.returncode == 0 and s.isdigit() else None

    def stream_log(self, slug: str, offset: int) -> subprocess.Popen[bytes]:
        """A live stream of the node's log from ``offset`` (``tail -c +N -F`` over the master).

        Read ``proc.stdout``; count bytes to keep the offset current. EOF means the stream ended
        (link down): reconnect, then :meth:`read_log`/``stream_log`` again from the saved offset.
        Stop it with :func:`cortex_tui.backends.ssh.stop_stream`. Each stream is one ssh session on
        the master; sshd's ``MaxSessions`` (default 10) caps concurrent ones per connection.
        """
        return self.transport.popen_stream(["tail", "-c", f"+{offset + 1}", "-F", str(self.log_path(slug))])

    # health ------------------------------------------------------------------
    def doctor(self) -> dict[str, str | None]:
        """Versions of what a node needs (None = missing): tmux, git and the configured python."""
        script = ('tmux -V 2>/dev/null | head -n1; echo "|"; git --version 2>/dev/null; echo "|"; '
                  '"$1" -c "import sys; print(sys.version.split()[0])" 2>/dev/null; echo "|"; '
                  '"$1" -c "import cortex_tui; print(cortex_tui.__file__)" 2>/dev/null; echo "|"; '
                  'uptime 2>/dev/null; echo "|"; '
                  'if command -v bwrap >/dev/null; then bwrap --version 2>&1 | head -n1; '
                  'o=$(bwrap --ro-bind / / --dev /dev --proc /proc --unshare-net true 2>&1); r=$?; '
                  'printf "rc=%s %s\\n" "$r" "$(printf %s "$o" | tail -n1 | tr -d "|")"; fi; echo "|"')
        parts = self.sh(script, self.node.python, check=False).stdout.split("|")
        vals = [p.strip() or None for p in (parts + [""] * 6)[:6]]
        return {"tmux": vals[0], "git": vals[1], "python": vals[2], "cortex_tui": vals[3], "load": vals[4],
                "bwrap": vals[5]}


def _tar(files: dict[str, bytes]) -> bytes:
    """``files`` (plain names) as a tar stream, each 0600 (the node's ``tar -x`` unpacks it under umask 077)."""
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
