"""A real OpenSSH server on a loopback port, acting as a "remote" node for tests.

``sshd -D -e -f <generated config>`` runs as the current user on a free ``127.0.0.1`` port with a
generated host key, a generated ed25519 user key and its own ``authorized_keys``. The "remote" machine
gets its own HOME, workdir and ``TMUX_TMPDIR`` (set for every ssh session with ``SetEnv``), so nothing
it does touches the test's local tmux server or git config. :meth:`SshServer.stop` kills the listener
*and* every live connection (a dropped link), :meth:`SshServer.start` brings it back on the same port.

Register the ``sshd`` fixture with ``pytest_plugins = ["sshd"]`` in tests/conftest.py (tests/ is on
``sys.path``). ``CORTEX_TEST_SSHD`` overrides the sshd binary (a missing path makes the tests skip).
Only loopback addresses are ever used.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

SSHD = os.environ.get("CORTEX_TEST_SSHD") or shutil.which("sshd") or \
    ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
SSH_KEYGEN = shutil.which("ssh-keygen")
SSH = shutil.which("ssh")
LOOPBACK = "127.0.0.1"


def missing_reason() -> str | None:
    """Why an sshd fixture cannot run here (None = it can)."""
    if SSHD is None or not os.access(SSHD, os.X_OK):
        return f"sshd not installed{f' at {SSHD}' if SSHD else ''} (apt-get install openssh-server)"
    if SSH is None or SSH_KEYGEN is None:
        return "OpenSSH client (ssh, ssh-keygen) not installed (apt-get install openssh-client)"
    if shutil.which("tmux") is None or shutil.which("git") is None:
        return "tmux and git are needed on the loopback 'node'"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _keygen(path: Path, comment: str) -> None:
    assert SSH_KEYGEN is not None
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)


class SshServer:
    """One sshd process (restartable on the same port) and everything a client needs to reach it."""

    def __init__(self, base: Path, port: int | None = None) -> None:
        self.base = base
        self.dir = base / "sshd"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = LOOPBACK
        self.port = port or free_port()
        self.user = getpass.getuser()
        # the "remote machine": its own HOME, workdir and tmux socket dir (short path: socket length limit)
        self.remote_home = base / "remote-home"
        self.workdir = base / "remote-work"
        self.remote_tmux_tmpdir = Path(f"/tmp/ctx-rtmux-{os.getpid()}-{time.monotonic_ns() % 10**9}")
        for d in (self.remote_home, self.workdir, self.remote_tmux_tmpdir):
            d.mkdir(parents=True, exist_ok=True)
        self.remote_tmux_tmpdir.chmod(0o700)
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.client_key = self.dir / "id_ed25519"
        self.authorized_keys = self.dir / "authorized_keys"
        self.known_hosts = self.dir / "known_hosts"
        self.config = self.dir / "sshd_config"
        self.pid_file = self.dir / "sshd.pid"
        self.log_file = self.dir / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        _keygen(self.host_key, "cortex-test-host")
        _keygen(self.client_key, "cortex-test-user")
        self.authorized_keys.write_text(Path(f"{self.client_key}.pub").read_text())
        host_pub = Path(f"{self.host_key}.pub").read_text().split()
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        (self.remote_home / ".gitconfig").write_text(
            "[user]\n\tname = cortex-node\n\temail = node@cortex.invalid\n[commit]\n\tgpgsign = false\n"
            "[init]\n\tdefaultBranch = main\n")
        self._write_config()

    def _write_config(self) -> None:
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            f"HostKey {self.host_key}",
            f"PidFile {self.pid_file}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            f"AllowUsers {self.user}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "StrictModes no",
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "MaxSessions 100",
            "MaxStartups 100:30:200",
            "LogLevel VERBOSE",
            f"SetEnv HOME={self.remote_home} TMUX_TMPDIR={self.remote_tmux_tmpdir} GIT_CONFIG_NOSYSTEM=1",
        ]
        self.config.write_text("\n".join(lines) + "\n")

    # lifecycle ---------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        assert SSHD is not None
        if self.proc is not None and self.proc.poll() is None:
            return
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # privilege separation dir
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"sshd did not listen on {self.host}:{self.port}: {self.log_tail()}")

    def stop(self) -> None:
        """Stop the listener and kill every live connection (like a network cut for the client)."""
        if self.proc is None:
            return
        try:
            listener = psutil.Process(self.proc.pid)
        except psutil.NoSuchProcess:
            listener = None
        # stop accepting first, *then* list the connections: one being set up right now is listed too
        # (sshd's connection processes outlive a SIGTERM of the listener)
        children = []
        if listener is not None:
            try:
                children = listener.children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        if listener is not None:
            try:
                children += [c for c in listener.children(recursive=True) if c not in children]
            except psutil.NoSuchProcess:
                pass
        # only sshd's own connection processes: their session children get SIGHUP/EOF like a real cut;
        # daemonized descendants (the remote tmux server) are not children of sshd and keep running
        conns = [c for c in children if _is_sshd(c)]
        for c in conns:
            try:
                c.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(conns, timeout=5)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        """Stop sshd and every tmux server the remote side started."""
        self.stop()
        for sock in self.remote_tmux_tmpdir.glob("**/*"):
            if sock.is_socket():
                subprocess.run(["tmux", "-S", str(sock), "kill-server"], capture_output=True)
        shutil.rmtree(self.remote_tmux_tmpdir, ignore_errors=True)

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # client side -------------------------------------------------------------
    def ssh_argv(self) -> list[str]:
        """A plain ssh client argv (no multiplexing) reaching this server."""
        assert SSH is not None
        return [SSH, "-F", "none", "-p", str(self.port), "-i", str(self.client_key), "-o", "IdentitiesOnly=yes",
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-l", self.user, self.host]

    def node_kwargs(self) -> dict[str, object]:
        """Keyword arguments for :class:`cortex_tui.model.layout.NodeSpec` describing this server."""
        import sys

        return {"host": self.host, "port": self.port, "user": self.user, "identity": str(self.client_key),
                "workdir": str(self.workdir), "python": sys.executable}


def _is_sshd(p: psutil.Process) -> bool:
    try:
        return p.name().startswith("sshd") or "sshd" in " ".join(p.cmdline()[:1])
    except psutil.Error:
        return False


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshServer]:
    """A started loopback sshd (skips with a reason when OpenSSH server/client is missing)."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = SshServer(tmp_path / "node")
    try:
        server.start()
    except RuntimeError as e:
        server.close()
        pytest.skip(f"cannot start sshd here: {e}")
    try:
        yield server
    finally:
        server.close()
