"""``network = ["host", "host:port", "*.domain", …]``: the only way out of a sandbox without a network.

The sandbox has a network namespace of its own (``--unshare-net``: nothing outside is reachable). One
:class:`AllowProxy` per session attempt listens on a unix socket, bound read-only into the sandbox; inside,
:mod:`cortex_tui.backends.sandbox_fwd` listens on ``127.0.0.1:PROXY_PORT`` and forwards each connection to it.
The agent gets ``HTTPS_PROXY``/``HTTP_PROXY`` pointing there: ``CONNECT host:port`` (HTTPS) and absolute-form
HTTP requests to an allowed host are relayed; anything else gets ``403`` and is reported (``on_refused``). An
agent that ignores the proxy variables reaches nothing at all.

The proxy is not the supervisor's: it runs in the agent's own tmux pane, *outside* the sandbox, as the parent
of bwrap (:func:`main`)::

    python -I -m cortex_tui.backends.sandbox_proxy DIR LOG ENTRIES_JSON -- BWRAP_ARGV...

so it lives exactly as long as the agent — through a supervisor's crash or restart (which fail closed when
it lived in the supervisor) — and goes with the agent's process tree. Its refusals are lines in the session's
log (:data:`REFUSED_MARK`), which whichever supervisor reads the log (a re-attached one too) turns into
``network_refused`` events.

On an ssh node the same file is uploaded beside the sandbox launcher and run by the node's ``python -I -S``
(:mod:`cortex_tui.backends.sandbox_remote`), so it is **stdlib only**: it imports nothing of cortex-tui.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

log = logging.getLogger("cortex_tui.backends")

PROXY_PORT = 3128
"""Where the forwarder listens inside the sandbox (its own network namespace: no collision possible)."""
HEAD_MAX = 65536
SOCKET = "s"
"""The proxy's socket in its directory (short: unix socket paths are limited to ~107 bytes)."""
REFUSED_MARK = "── cortex-tui: network refused: "
"""The start of a refusal line in the session log: :data:`cortex_tui.backends.sandbox.REFUSED_MARK` (that module is
uploaded alone to nodes, this one too: each keeps its copy, tests/test_sandbox_proxy_remote.py checks they match)."""


def socket_dir() -> Path:
    """A new directory for one attempt's proxy socket (made by the supervisor: bound into the sandbox before the
    proxy runs; the proxy removes it when it ends)."""
    return Path(tempfile.mkdtemp(prefix="cortex-net-"))


def allowed(entries: list[str], host: str, port: int) -> bool:
    """``host:port`` matches an entry: ``host`` (any port), ``host:port``, ``*.domain`` (its subdomains)."""
    host = host.lower().strip("[]")
    for e in entries:
        e = e.strip().lower()
        want_port: int | None = None
        if e.count(":") == 1 and e.rsplit(":", 1)[1].isdigit():
            e, p = e.rsplit(":", 1)
            want_port = int(p)
        e = e.strip("[]")
        if want_port is not None and want_port != port:
            continue
        if e == host or (e.startswith("*.") and host.endswith(e[1:])):
            return True
    return False


def _pipe(a: socket.socket, b: socket.socket) -> None:
    def one(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass  # either side went away: the other is shut down below
        finally:
            for s in (dst, src):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    continue
    t = threading.Thread(target=one, args=(b, a), daemon=True)
    t.start()
    one(a, b)
    t.join()
    a.close()
    b.close()


class AllowProxy:
    """An HTTP(S) proxy on a unix socket that only reaches ``entries``."""

    def __init__(self, entries: list[str], on_refused: Callable[[str, int], None], where: Path | None = None) -> None:
        self.entries = list(entries)
        self.on_refused = on_refused
        self.dir = where or socket_dir()
        self.path = self.dir / SOCKET
        self.path.unlink(missing_ok=True)  # an earlier attempt's, left by a kill
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self.path))
        self._sock.listen(64)
        self._closed = False
        threading.Thread(target=self._serve, daemon=True, name=f"allow-proxy {self.path}").start()

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.close()
        finally:
            self.path.unlink(missing_ok=True)
            try:
                self.dir.rmdir()
            except OSError:
                pass  # not empty: left for the OS's tmp cleaning

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < HEAD_MAX:
                chunk = conn.recv(4096)
                if not chunk:
                    conn.close()
                    return
                head += chunk
            line, _, rest = head.partition(b"\r\n")
            parts = line.decode("latin-1").split()
            if len(parts) != 3:
                return self._reply(conn, b"400 Bad Request")
            method, target, version = parts
            if method.upper() == "CONNECT":
                host, _, p = target.rpartition(":")
                port = int(p) if p.isdigit() else 443
                forward = b""
            else:
                u = urlsplit(target)
                if u.scheme != "http" or not u.hostname:
                    return self._reply(conn, b"400 Bad Request")
                host, port = u.hostname, u.port or 80
                path = (u.path or "/") + (f"?{u.query}" if u.query else "")
                forward = f"{method} {path} {version}\r\n".encode("latin-1") + rest
            if not allowed(self.entries, host, port):
                self.on_refused(host, port)
                return self._reply(conn, b"403 Forbidden")
            try:
                up = socket.create_connection((host.strip("[]"), port), timeout=10)
            except OSError as e:
                log.info("allow-proxy: %s:%s unreachable: %s", host, port, e)
                return self._reply(conn, b"502 Bad Gateway")
            up.settimeout(None)
            if forward:
                up.sendall(forward)
            else:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                early = head.split(b"\r\n\r\n", 1)[1]  # what the client sent after its CONNECT head
                if early:
                    up.sendall(early)
            _pipe(conn, up)
        except OSError as e:
            log.info("allow-proxy: %s", e)
            conn.close()

    @staticmethod
    def _reply(conn: socket.socket, status: bytes) -> None:
        body = b"refused by cortex-tui's sandbox network allowlist\n" if status.startswith(b"403") else b""
        try:
            conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: " + str(len(body)).encode()
                         + b"\r\nConnection: close\r\n\r\n" + body)
        finally:
            conn.close()


def _refusals_into(log_path: Path) -> Callable[[str, int], None]:
    def refused(host: str, port: int) -> None:  # into the session's log: the engine makes the event
        try:
            fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, f"\n{REFUSED_MARK}{host}:{port} (not in the allowlist)\n".encode())
            finally:
                os.close(fd)
        except OSError as e:
            print(f"cortex-tui: network refused {host}:{port} (the log is not writable: {e})", file=sys.stderr)
    return refused


def main(argv: list[str]) -> int:
    """Serve the allowlist on ``DIR/s`` while ``ARGV`` (bwrap) runs as the child; exit with its code. SIGINT
    is left to the child (the pane's Ctrl-C reaches the whole foreground group); SIGTERM and SIGHUP are passed
    on to it."""
    if len(argv) < 5 or argv[3] != "--":
        print("usage: sandbox_proxy DIR LOG ENTRIES_JSON -- ARGV...", file=sys.stderr)
        return 2
    where, log_path, entries, cmd = Path(argv[0]), Path(argv[1]), json.loads(argv[2]), argv[4:]
    try:
        where.mkdir(mode=0o700, exist_ok=True)  # this machine's is made by the supervisor, a node's here
        st = os.lstat(where)
    except OSError as e:
        print(f"── cortex-tui: sandbox: cannot make the allowlist proxy's directory {where}: {e}", file=sys.stderr)
        return 126
    if not os.path.isdir(where) or os.path.islink(where) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        print(f"── cortex-tui: sandbox: {where} is not a private directory of this user: refusing to serve the "
              "allowlist there", file=sys.stderr)
        return 126
    proxy = AllowProxy([str(e) for e in entries], _refusals_into(log_path), where)
    try:
        child = subprocess.Popen(cmd)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # after the start: an ignored signal would be inherited

        def forward(sig: int, _frame: FrameType | None) -> None:
            child.send_signal(sig)
        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGHUP, forward)
        code = child.wait()
    finally:
        proxy.close()
    return 128 - code if code < 0 else code  # killed by a signal: as a shell says it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
