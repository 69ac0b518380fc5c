"""What a session serves: the TCP ports its process tree listens on (Linux ``/proc``).

One scan for all sessions, with the CPU sample (``resources.ProcessSampler``): the listening sockets of this
machine's network namespace (``/proc/self/net/tcp`` and ``tcp6``, state ``0A``) by inode, then each sampled
process's ``/proc/<pid>/fd`` links (``socket:[inode]``). A socket in another network namespace (a sandbox
with ``network = "none"``) is not reachable from here and is not listed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

LISTEN = "0A"


def listening_inodes(net_dir: str = "/proc/self/net") -> dict[int, int]:
    """Socket inode -> local port of every listening TCP socket (IPv4 and IPv6) in ``net_dir``."""
    out: dict[int, int] = {}
    for name in ("tcp", "tcp6"):
        try:
            with open(os.path.join(net_dir, name), encoding="ascii", errors="replace") as f:
                next(f, None)  # header
                for line in f:
                    parts = line.split()
                    if len(parts) < 10 or parts[3] != LISTEN:
                        continue
                    try:
                        port = int(parts[1].rsplit(":", 1)[1], 16)
                        inode = int(parts[9])
                    except (IndexError, ValueError):
                        continue
                    if inode:
                        out[inode] = port
        except OSError:
            continue  # no IPv6, or not Linux
    return out


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets process ``pid`` holds open (empty when it is gone or not ours to read)."""
    out: set[int] = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return out
    for fd in fds:
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            try:
                out.add(int(target[8:-1]))
            except ValueError:
                continue
    return out


def serving(trees: Mapping[int, Iterable[int]]) -> dict[int, list[int]]:
    """Per tree root, the sorted TCP ports its processes (``trees[root]``) listen on. One read of the
    listening table for all of them; nothing is read when no socket listens at all."""
    if not trees or not os.path.isdir("/proc/self/net"):
        return {}
    table = listening_inodes()
    if not table:
        return {root: [] for root in trees}
    out: dict[int, list[int]] = {}
    for root, pids in trees.items():
        ports = {table[i] for pid in pids for i in socket_inodes(pid) if i in table}
        out[root] = sorted(ports)
    return out
