"""What a session serves (issue #19): two sessions start an HTTP server on their $PORT at once. Real tmux,
git, python http.server, /proc."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request
from pathlib import Path

from engine_helpers import cli, make_sup, run_to_end, wait_for

from cortex_tui.backends.served import serving
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.model.state import SessionState
from cortex_tui.store.status import session_dict
from cortex_tui.ui.present.dashboard import row_view
from cortex_tui.ui.present.format import Palette
from cortex_tui.ui.present.session import facts_text

SERVE = "echo $CORTEX_SESSION > who.txt && exec python3 -m http.server $PORT --bind 127.0.0.1"


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        body: bytes = r.read()
    return body.decode().strip()


def test_two_sessions_serve_on_their_own_port_and_both_urls_are_shown(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, f"""
[run]
name = "srv"
[defaults]
agent = "shell"
ports = 1
[[session]]
name = "web-a"
command = "{SERVE}"
[[session]]
name = "web-b"
command = "{SERVE}"
""", tmp_path)
    seen: dict[str, object] = {}

    async def during(s: Supervisor) -> None:
        recs = s.state.sessions
        await wait_for(lambda: all(recs[n].serving for n in ("web-a", "web-b")), 30, "both servers listening")
        for name in ("web-a", "web-b"):
            rec = recs[name]
            assert rec.serving == rec.ports  # it listens on exactly the port it was given
            assert await asyncio.to_thread(_get, f"http://127.0.0.1:{rec.ports[0]}/who.txt") == name
            seen[name] = session_dict(rec)["serving"]
            facts = facts_text(rec, s.specs[name], None, 0.0, Palette()).plain
            assert f"serving http://127.0.0.1:{rec.ports[0]}" in facts
            row = row_view(rec, s.specs[name], None, 0.0, Palette())
            assert f":{rec.ports[0]}" in row.cells[-1].plain
        s._save(force=True)
        out = json.loads((await asyncio.to_thread(cli, "status", "--repo", str(git_repo), "--json")).stdout)
        seen["cli"] = {x["name"]: x["serving"] for x in out["sessions"]}
        for name in ("web-a", "web-b"):
            await s.stop_session(name)

    run_to_end(sup, during=during)
    a, b = sup.state.sessions["web-a"], sup.state.sessions["web-b"]
    assert a.ports != b.ports
    assert seen["web-a"] == [f"http://127.0.0.1:{a.ports[0]}"] and seen["web-b"] == [f"http://127.0.0.1:{b.ports[0]}"]
    assert seen["cli"] == {"web-a": seen["web-a"], "web-b": seen["web-b"]}
    assert a.state is SessionState.STOPPED and a.serving == []  # an ended session serves nothing


def test_serving_lists_only_the_trees_own_listening_sockets() -> None:
    import os

    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen()
    conn = socket.socket()  # a connected (not listening) socket of the same process is not served
    conn.connect(lst.getsockname())
    try:
        port = lst.getsockname()[1]
        got = serving({os.getpid(): [os.getpid()], 1: [1]})
        assert port in got[os.getpid()] and conn.getsockname()[1] not in got[os.getpid()]
        assert port not in got.get(1, [])
    finally:
        conn.close()
        lst.close()
    assert port not in serving({os.getpid(): [os.getpid()]})[os.getpid()]


def test_the_netlink_listening_table_matches_procs_for_ipv4_and_ipv6() -> None:
    """The listening table comes from sock_diag (listening sockets only); /proc/net/tcp* says the same."""
    from cortex_tui.backends.served import _diag_listening, listening_inodes, proc_listening_inodes

    socks = [socket.socket(socket.AF_INET), socket.socket(socket.AF_INET6)]
    try:
        socks[0].bind(("127.0.0.1", 0))
        socks[1].bind(("::1", 0))
        for s in socks:
            s.listen()
        conn = socket.create_connection(("127.0.0.1", socks[0].getsockname()[1]))
        socks.append(conn)
        proc = proc_listening_inodes()
        got = {**_diag_listening(socket.AF_INET), **_diag_listening(socket.AF_INET6)}  # not the /proc fallback
        ports = set(got.values())
        assert socks[0].getsockname()[1] in ports and socks[1].getsockname()[1] in ports
        assert conn.getsockname()[1] not in ports  # connected, not listening
        mine = {i for i, p in proc.items() if p in {socks[0].getsockname()[1], socks[1].getsockname()[1]}}
        assert mine and all(got.get(i) == proc[i] for i in mine)
        assert listening_inodes().keys() >= mine
    finally:
        for s in socks:
            s.close()
