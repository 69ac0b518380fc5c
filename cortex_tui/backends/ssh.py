"""SSH transport to a remote node: the system OpenSSH client with one ControlMaster per node.

One TCP connection (the master, started by :meth:`SshTransport.connect`) carries every command, log
stream, ``git push``/``git fetch`` and interactive attach to the node. Remote commands are always
given as argv lists and joined with :func:`shlex.join` for the node's login shell, so names, paths
and prompts with spaces, quotes, ``$``, ``;``, backticks or newlines reach the remote program as
single literal arguments (the login shell must be POSIX-compatible: sh, bash, dash, zsh, ksh).

Link loss is detected by the master itself (``ServerAliveInterval`` × ``ServerAliveCountMax``); once
it has exited, :meth:`SshTransport.is_connected` is False and the next command starts a new master
(or raises :class:`SshUnreachable`). Errors are :class:`~cortex_tui.errors.SshError` subclasses with
a hint saying how to fix them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Literal

from cortex_tui.errors import SshError
from cortex_tui.model.layout import NodeSpec

MAX_SOCKET_PATH = 100
"""Unix socket paths are limited to ~104 bytes (108 on Linux); ssh appends a temp suffix while binding."""
SSH_FAILURE = 255

Reason = Literal["auth", "host_key", "unknown_host", "unreachable", "link_down", "timeout", "config", "other"]


class SshAuthError(SshError):
    """The node refused our key."""

    reason: Reason = "auth"


class SshHostKeyError(SshError):
    """The node's host key is unknown (strict policy) or does not match known_hosts."""

    reason: Reason = "host_key"


class SshUnreachable(SshError):
    """The node cannot be reached (refused, timed out, DNS) or the link dropped."""

    reason: Reason = "unreachable"


def default_control_dir() -> Path:
    """A short, private directory for master sockets: ``/tmp/cortex-ssh-<uid>`` (mode 0700)."""
    return Path(f"/tmp/cortex-ssh-{os.getuid()}")


def _private_dir(d: Path) -> Path:
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(d)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise SshError(f"control socket directory {d} is not a directory owned by you",
                       "remove it or pass another control_dir (it must be private: mode 0700)")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(d, 0o700)
    return d


def classify(stderr: str, node: str) -> SshError:
    """Turn an ssh client's stderr into an error with a hint."""
    err = stderr.strip()
    last = next((ln for ln in reversed(err.splitlines()) if ln.strip()), "ssh failed")
    low = err.lower()
    if "remote host identification has changed" in low or ("host key for" in low and "has changed" in low):
        return SshHostKeyError(
            f"node {node}: host key does not match known_hosts (possible man-in-the-middle)",
            "verify the node's fingerprint out of band, then remove the old entry with `ssh-keygen -R HOST`")
    if "host key verification failed" in low or "no ed25519 host key is known" in low or "host key is known" in low:
        return SshHostKeyError(
            f"node {node}: host key is not in known_hosts ({last})",
            "connect once with `ssh HOST` to verify and store it, or set host_key_policy = \"accept-new\" "
            "in the [[node]] table for first contact")
    if "permission denied" in low or "too many authentication failures" in low:
        return SshAuthError(
            f"node {node}: authentication failed ({last})",
            "check `user` and `identity` in the [[node]] table and that the public key is in "
            "~/.ssh/authorized_keys on the node (BatchMode is on: no password prompts)")
    if "administratively prohibited" in low or "open failed" in low:
        return SshError(f"node {node}: the node refused another session on the connection ({last})",
                        "sshd's MaxSessions (default 10) caps commands/streams per connection: raise it on the "
                        "node or use fewer concurrent streams (RemoteNode.read_logs polls all sessions at once)")
    if ("identity file" in low and "not accessible" in low) or "bad configuration option" in low \
            or "unprotected private key" in low or "bad permissions" in low:
        return SshError(f"node {node}: ssh configuration problem ({last})",
                        "fix `identity`/`ssh_options` in the [[node]] table (keys must be mode 0600)")
    if any(s in low for s in ("connection refused", "timed out", "no route to host", "could not resolve",
                              "name or service not known", "network is unreachable", "connection reset",
                              "connection closed", "broken pipe", "kex_exchange_identification",
                              "temporary failure in name resolution")):
        return SshUnreachable(f"node {node}: unreachable ({last})",
                              "check that the host is up, sshd runs on the configured port and the network path")
    return SshError(f"node {node}: ssh failed ({last})", "run `cortex-tui doctor --node NAME` for details")


class SshTransport:
    """Commands, streams and git over one multiplexed OpenSSH connection to ``node``."""

    def __init__(self, node: NodeSpec, control_dir: Path | None = None, known_hosts: Path | None = None, *,
                 config_file: str | None = None, persist: str = "10m", alive_interval: int = 5,
                 alive_count_max: int = 3, connect_timeout: int = 10, ssh_bin: str | None = None) -> None:
        """
        ``control_dir`` holds the master socket (default :func:`default_control_dir`; a directory whose
        socket path would exceed the Unix limit is replaced by the default). ``known_hosts`` overrides
        ``UserKnownHostsFile``; ``config_file`` is passed as ``ssh -F`` (``"none"`` ignores ~/.ssh/config).
        Link loss is noticed within about ``alive_interval * alive_count_max`` seconds.
        """
        if node.host.startswith("-") or any(c.isspace() for c in node.host) or not node.host:
            raise SshError(f"node {node.name}: invalid host {node.host!r}")
        if node.user is not None and (node.user.startswith("-") or not node.user or
                                      any(c.isspace() for c in node.user)):
            raise SshError(f"node {node.name}: invalid user {node.user!r}")
        self.node = node
        self.known_hosts = known_hosts
        self.config_file = config_file
        self.persist = persist
        self.alive_interval = alive_interval
        self.alive_count_max = alive_count_max
        self.connect_timeout = connect_timeout
        self.bin = ssh_bin or shutil.which("ssh") or "ssh"
        key = "\0".join([str(control_dir), node.name, node.user or "", node.host, str(node.port),
                         node.identity or "", str(known_hosts), config_file or ""])
        h = hashlib.sha256(key.encode()).hexdigest()[:20]
        cdir = control_dir if control_dir is not None else default_control_dir()
        if len(str(cdir / f"{h}.sock")) + 22 > MAX_SOCKET_PATH:
            cdir = default_control_dir()
        self.control_dir = cdir
        self.control_path = cdir / f"{h}.sock"
        self.master_log = cdir / f"{h}.log"
        self._lock = threading.Lock()

    # argv building -----------------------------------------------------------
    @property
    def destination(self) -> str:
        return self.node.host

    def _options(self) -> list[str]:
        n = self.node
        opts: list[str] = []
        if self.config_file:
            opts += ["-F", self.config_file]
        # ours first where they must win (ssh keeps the first value it sees for an option)
        opts += ["-o", f"ControlPath={self.control_path}", "-o", "BatchMode=yes"]
        for o in n.ssh_options:
            opts += ["-o", o]
        opts += ["-o", "StrictHostKeyChecking=" + ("accept-new" if n.host_key_policy == "accept-new" else "yes"),
                 "-o", f"ServerAliveInterval={self.alive_interval}",
                 "-o", f"ServerAliveCountMax={self.alive_count_max}",
                 "-o", f"ConnectTimeout={self.connect_timeout}",
                 "-o", "LogLevel=ERROR", "-p", str(n.port)]
        if self.known_hosts is not None:
            opts += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        if n.identity:
            opts += ["-i", os.path.expanduser(n.identity), "-o", "IdentitiesOnly=yes"]
        if n.user:
            opts += ["-l", n.user]
        return opts

    def ssh_argv(self, *extra: str) -> list[str]:
        """``ssh`` with every node option, reusing the master (no destination yet)."""
        return [self.bin, *self._options(), "-o", "ControlMaster=no", *extra]

    def remote_argv(self, argv: list[str], *, tty: bool = False) -> list[str]:
        """Local argv that runs ``argv`` on the node (quoted for the remote shell)."""
        return [*self.ssh_argv("-t" if tty else "-T"), "--", self.destination, remote_command(argv)]

    # master ------------------------------------------------------------------
    def _ctl(self, op: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.bin, *self._options(), "-O", op, "--", self.destination], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL, errors="replace")

    def _socket_live(self) -> bool:
        """Cheap check (no subprocess): does a master accept connections on our socket?"""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(1.0)
            s.connect(str(self.control_path))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def is_connected(self) -> bool:
        """True when the master process is running (``ssh -O check``)."""
        if not self._socket_live():
            return False
        try:
            return self._ctl("check").returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def master_pid(self) -> int | None:
        if not self._socket_live():
            return None
        r = self._ctl("check")
        m = re.search(r"pid=(\d+)", r.stderr + r.stdout)
        return int(m.group(1)) if r.returncode == 0 and m else None

    def connect(self) -> None:
        """Start the master connection unless one is running; raise a classified :class:`SshError`."""
        with self._lock:
            if self._socket_live() and self._ctl("check").returncode == 0:
                return
            _private_dir(self.control_dir)
            try:
                self.control_path.unlink()  # stale socket of a dead master: ssh would refuse to bind
            except FileNotFoundError:
                pass
            argv = [self.bin, *self._options(), "-o", "ControlMaster=yes", "-o", f"ControlPersist={self.persist}",
                    "-N", "-f", "--", self.destination]
            with open(self.master_log, "w", encoding="utf-8") as log:
                try:
                    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                       timeout=self.connect_timeout + 15)
                except FileNotFoundError:
                    raise SshError("ssh (the OpenSSH client) is not installed",
                                   "install openssh-client on this machine") from None
                except subprocess.TimeoutExpired:
                    raise SshUnreachable(f"node {self.node.name}: connecting timed out",
                                         "check the host, port and network path") from None
            err = self.master_log.read_text(errors="replace")
            self.master_log.unlink(missing_ok=True)  # the master keeps its (now nameless) stderr
            if r.returncode != 0:
                raise classify(err, self.node.name)
            end = time.monotonic() + 5
            while not self._socket_live():
                if time.monotonic() > end:
                    raise SshError(f"node {self.node.name}: ssh master did not open {self.control_path}",
                                   err.strip() or None)
                time.sleep(0.01)

    def close(self) -> None:
        """Stop the master (``ssh -O exit``); remote tmux sessions keep running."""
        with self._lock:
            if self._socket_live():
                try:
                    self._ctl("exit")
                except subprocess.TimeoutExpired:
                    pass
            try:
                self.control_path.unlink()
            except FileNotFoundError:
                pass

    def _ensure(self) -> None:
        if not self._socket_live():
            self.connect()

    def _failed(self, stderr: str) -> SshError:
        """An ssh-level failure (exit 255): link down if the master is gone, else classify."""
        if not self._socket_live():
            e = classify(stderr, self.node.name)
            if isinstance(e, (SshAuthError, SshHostKeyError)):
                return e
            return SshUnreachable(f"node {self.node.name}: link down ({e.message})",
                                  "cortex-tui reconnects with backoff; sessions keep running on the node")
        return classify(stderr, self.node.name)

    # commands ----------------------------------------------------------------
    def run(self, argv: list[str], input: str | None = None, timeout: float = 30.0,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on the node over the master (text mode). Exit 255 from ssh raises :class:`SshError`."""
        r = self.run_bytes(argv, input.encode() if input is not None else None, timeout=timeout, check=check)
        return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(errors="replace"),
                                           r.stderr.decode(errors="replace"))

    def run_bytes(self, argv: list[str], input: bytes | None = None, timeout: float = 30.0,
                  check: bool = False) -> subprocess.CompletedProcess[bytes]:
        """Like :meth:`run` with bytes in and out (for logs read from an offset)."""
        self._ensure()
        full = self.remote_argv(argv)
        try:
            r = subprocess.run(full, input=input, capture_output=True, timeout=timeout,
                               stdin=subprocess.DEVNULL if input is None else None)
        except subprocess.TimeoutExpired:
            raise SshUnreachable(f"node {self.node.name}: `{shlex.join(argv)[:80]}` timed out after {timeout}s",
                                 "the link may be down or the node overloaded") from None
        if r.returncode == SSH_FAILURE:
            raise self._failed(r.stderr.decode(errors="replace"))
        if check and r.returncode != 0:
            raise SshError(f"node {self.node.name}: `{shlex.join(argv)[:80]}` exited {r.returncode}: "
                           f"{r.stderr.decode(errors='replace').strip()[-300:]}")
        return r

    def popen_stream(self, argv: list[str], *, stderr: int | None = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
        """Start a long-lived remote command whose stdout is read as a stream (e.g. ``tail -F``).

        The remote command is stopped when the stream's stdin is closed or the link drops (its input
        reaches EOF), so an outage never leaves orphan ``tail`` processes on the node. Stop it with
        :func:`stop_stream`.
        """
        self._ensure()
        wrapped = ["/bin/sh", "-c", _STREAM_WRAPPER, "cortex-stream", *argv]
        return subprocess.Popen(self.remote_argv(wrapped), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=stderr)

    def ping(self, timeout: float = 5.0) -> float | None:
        """Round trip of a no-op command over the master in ms, or None when the link is down."""
        if not self._socket_live():
            return None
        t0 = time.perf_counter()
        try:
            r = subprocess.run(self.remote_argv(["true"]), capture_output=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        return (time.perf_counter() - t0) * 1000.0

    def attach_argv(self, remote_tmux_argv: list[str]) -> list[str]:
        """argv that opens an interactive terminal on the node (``ssh -t ... tmux -L ... attach``)."""
        return self.remote_argv(remote_tmux_argv, tty=True)

    # git ---------------------------------------------------------------------
    def git_ssh_command(self) -> str:
        """A ``GIT_SSH_COMMAND`` reusing the master (git appends the host and its remote command)."""
        return shlex.join(self.ssh_argv())

    def git_env(self) -> dict[str, str]:
        return {"GIT_SSH_COMMAND": self.git_ssh_command(), "GIT_SSH_VARIANT": "ssh", "GIT_TERMINAL_PROMPT": "0"}

    def git_remote_url(self, path: str) -> str:
        """scp-like URL of an absolute ``path`` on the node (port/user/identity come from git_env)."""
        if not path.startswith("/"):
            raise SshError(f"remote git path must be absolute, got {path!r}")
        host = f"[{self.node.host}]" if ":" in self.node.host else self.node.host
        return f"{host}:{path}"


# Runs "$@" in the background with stdin from /dev/null, and kills it when our own stdin reaches EOF
# (stream closed locally, or sshd closed the channel because the link dropped).
_STREAM_WRAPPER = (
    'exec 3<&0; "$@" </dev/null & p=$!; '
    '{ cat <&3 >/dev/null; kill "$p" 2>/dev/null; } & w=$!; '
    'wait "$p"; r=$?; kill "$w" 2>/dev/null; exit "$r"'
)


def remote_command(argv: list[str]) -> str:
    """The one string ssh sends to the remote shell: every argument single-quoted where needed."""
    if not argv:
        raise SshError("empty remote command")
    for a in argv:
        if "\0" in a:
            raise SshError("remote command arguments cannot contain NUL bytes")
    return shlex.join(argv)


def stop_stream(proc: subprocess.Popen[bytes], timeout: float = 2.0) -> None:
    """Close a :meth:`SshTransport.popen_stream` (remote side exits on EOF) and reap it."""
    if proc.stdin is not None and not proc.stdin.closed:
        try:
            proc.stdin.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
