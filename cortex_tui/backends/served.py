"""What a session serves: the TCP ports its process tree listens on (Linux ``/proc``).

One scan for all sessions, with the CPU sample (``resources.ProcessSampler``): each sampled process's
``/proc/<pid>/fd`` links (``socket:[inode]``) first — when none of them holds a socket nothing else is read —
then the listening TCP sockets of this machine's network namespace by inode. A socket in another network
namespace (a sandbox with ``network = "none"``) is not reachable from here and is not listed.

The listening table comes from the kernel's ``sock_diag`` netlink interface asked for listening sockets only
(what ``ss -lt`` does): reading ``/proc/self/net/tcp`` instead walks the kernel's whole established-connection
hash — 1.6 ms of kernel CPU per file on a 24 GB machine, most of an idle supervisor's sample. ``/proc`` is the
fallback where netlink is refused.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterable, Mapping

LISTEN = "0A"

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCP_LISTEN = 10
_NLMSG_HDR = struct.Struct("=IHHII")
_DIAG_REQ = struct.Struct("=BBBxI48x")  # inet_diag_req_v2: family, protocol, ext, pad, states, sockid
_DIAG_MSG_MIN = 72  # inet_diag_msg: family, state, timer, retrans, sockid (48), expires, rqueue, wqueue, uid, inode


def _diag_listening(family: int) -> dict[int, int]:
    """Inode -> port of the listening TCP sockets of ``family`` (netlink ``sock_diag``); OSError if refused."""
    out: dict[int, int] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
        body = _DIAG_REQ.pack(family, socket.IPPROTO_TCP, 0, 1 << _TCP_LISTEN)
        nl.send(_NLMSG_HDR.pack(_NLMSG_HDR.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST | _NLM_F_DUMP,
                                1, 0) + body)
        while True:
            data = nl.recv(1 << 16)
            if not data:
                raise OSError("sock_diag: connection closed")
            off = 0
            while off + _NLMSG_HDR.size <= len(data):
                length, kind, _, _, _ = _NLMSG_HDR.unpack_from(data, off)
                if length < _NLMSG_HDR.size:
                    raise OSError("sock_diag: malformed reply")
                if kind == _NLMSG_DONE:
                    return out
                if kind == _NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", data, off + _NLMSG_HDR.size)
                    raise OSError(-err, f"sock_diag: {os.strerror(-err)}")
                msg = off + _NLMSG_HDR.size
                if kind == _SOCK_DIAG_BY_FAMILY and length - _NLMSG_HDR.size >= _DIAG_MSG_MIN:
                    (port,) = struct.unpack_from(">H", data, msg + 4)
                    (inode,) = struct.unpack_from("=I", data, msg + 68)
                    if inode:
                        out[inode] = port
                off += (length + 3) & ~3


def listening_inodes() -> dict[int, int]:
    """Socket inode -> local port of every listening TCP socket (IPv4 and IPv6) of this network namespace."""
    try:
        return {**_diag_listening(socket.AF_INET), **_diag_listening(socket.AF_INET6)}
    except OSError:  # no netlink sock_diag here (a restricted container, not Linux): the /proc table
        return proc_listening_inodes()


def proc_listening_inodes(net_dir: str = "/proc/self/net") -> dict[int, int]:
    """:func:`listening_inodes` read from ``net_dir``'s ``tcp`` and ``tcp6`` tables."""
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
    listening table for all of them, and none when no process of theirs holds a socket."""
    if not trees or not os.path.isdir("/proc/self/net"):
        return {}
    held = {root: {i for pid in pids for i in socket_inodes(pid)} for root, pids in trees.items()}
    table = listening_inodes() if any(held.values()) else {}
    return {root: sorted({table[i] for i in inodes if i in table}) for root, inodes in held.items()}
