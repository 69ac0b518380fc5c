"""``network = ["host", "host:port", "*.domain", …]``: the only way out of a sandbox without a network.

The sandbox has a network namespace of its own (``--unshare-net``: nothing outside is reachable). The
supervisor runs one :class:`AllowProxy` per session on a unix socket, bound read-only into the sandbox;
inside, :mod:`cortex_tui.backends.sandbox_fwd` listens on ``127.0.0.1:PROXY_PORT`` and forwards each
connection to it. The agent gets ``HTTPS_PROXY``/``HTTP_PROXY`` pointing there: ``CONNECT host:port`` (HTTPS)
and absolute-form HTTP requests to an allowed host are relayed; anything else gets ``403`` and is reported
(``on_refused``). An agent that ignores the proxy variables reaches nothing at all.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger("cortex_tui.backends")

PROXY_PORT = 3128
"""Where the forwarder listens inside the sandbox (its own network namespace: no collision possible)."""
HEAD_MAX = 65536


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

    def __init__(self, entries: list[str], on_refused: Callable[[str, int], None]) -> None:
        self.entries = list(entries)
        self.on_refused = on_refused
        self.dir = Path(tempfile.mkdtemp(prefix="cortex-net-"))  # short: unix socket paths are limited
        os.chmod(self.dir, 0o755)
        self.path = self.dir / "s"
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
