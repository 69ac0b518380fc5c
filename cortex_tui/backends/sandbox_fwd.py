"""Inside a sandbox with a network allowlist: ``127.0.0.1:PORT`` forwarded to the supervisor's proxy socket,
then the agent (docs/isolation.md).

    python -m cortex_tui.backends.sandbox_fwd SOCKET PORT -- ARGV...

Runs ARGV as its child and exits with its code. SIGINT is left to the child (the pane's Ctrl-C reaches the
whole foreground group); SIGTERM and SIGHUP are passed on to it.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from types import FrameType


def _relay(a: socket.socket, b: socket.socket) -> None:
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass  # a side closed: shut both down
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue


def _serve(listener: socket.socket, path: str) -> None:
    while True:
        conn, _ = listener.accept()
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            up.connect(path)
        except OSError:  # the supervisor (and its proxy) is gone: fail closed
            conn.close()
            up.close()
            continue
        threading.Thread(target=_relay, args=(conn, up), daemon=True).start()
        threading.Thread(target=_relay, args=(up, conn), daemon=True).start()


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: sandbox_fwd SOCKET PORT -- ARGV...", file=sys.stderr)
        return 2
    path, port, cmd = argv[0], int(argv[1]), argv[3:]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    threading.Thread(target=_serve, args=(listener, path), daemon=True).start()
    child = subprocess.Popen(cmd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # after the start: an ignored signal would be inherited

    def forward(sig: int, _frame: FrameType | None) -> None:
        child.send_signal(sig)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGHUP, forward)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
