"""The local API against a live sim run (real tmux, git, sim agents), through real HTTP clients: aiohttp over
the run's unix socket and over TCP with a bearer token."""

from __future__ import annotations

import asyncio
import itertools
import json
import stat
from pathlib import Path
from typing import Any

import aiohttp
from engine_helpers import make_sup, run_to_end, wait_for

from cortex_tui.api.openapi import OPENAPI
from cortex_tui.api.server import Api, ApiServer, events_from
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.model.state import SessionState
from cortex_tui.store.status import add_review, status_dict

LAYOUT = """
[run]
name = "api"
verify = "test -f done.txt"
[defaults]
agent = "sim"
[[session]]
name = "asker"
script = ["say starting", "ask Deploy to staging?", "write done.txt yes", "commit deployed"]
[[session]]
name = "worker"
script = ["say working", "listen 8", "write done.txt w", "commit work"]
"""


def unix(path: Path) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path)), base_url="http://cortex")


async def sse(client: aiohttp.ClientSession, **headers: str) -> list[tuple[int, dict[str, Any]]]:
    out = []
    async with client.get("/v1/events", params={"follow": "0"}, headers=headers) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        text = await r.text()
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        out.append((int(fields["id"]), json.loads(fields["data"])))
    return out


def test_every_endpoint_against_a_live_run(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, LAYOUT, tmp_path)
    server = ApiServer(sup, tcp=("127.0.0.1", 0))
    sup.plugins.append(server)
    checked: dict[str, Any] = {}

    async def during(s: Supervisor) -> None:
        await wait_for(lambda: server.unix_path is not None and s.rt["asker"].rec.state is SessionState.WAITING,
                       timeout=30, what="asker waiting")
        assert server.unix_path is not None
        assert stat.S_IMODE(server.unix_path.stat().st_mode) == 0o600
        token_file = s.store.dir / "api.token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        async with unix(server.unix_path) as c:
            got = await (await c.get("/v1/status")).json()
            want = json.loads(json.dumps(add_review(status_dict(s.state, supervisor_alive=True), {}), default=str))
            assert got.keys() == want.keys()
            assert [x["name"] for x in got["sessions"]] == [x["name"] for x in want["sessions"]]
            assert got["sessions"][0].keys() == want["sessions"][0].keys()
            one = await (await c.get("/v1/sessions/asker")).json()
            assert one["state"] == "waiting"
            assert [t["evidence"]["prompt"] for t in one["triggers"] if t["kind"] == "approval_waiting"] \
                == ["? Deploy to staging? [y/n]"]
            r = await c.get("/v1/sessions/nobody")
            assert r.status == 404 and "no session named 'nobody'" in (await r.json())["error"]
            # nothing waits on the worker: 409 with the reason, and no keypress reaches it
            r = await c.post("/v1/sessions/worker/approve")
            assert r.status == 409 and "not waiting" in (await r.json())["error"]
            r = await c.post("/v1/sessions/worker/send", json={"text": "hello from the api"})
            assert r.status == 200
            r = await c.post("/v1/sessions/worker/send", json={})
            assert r.status == 400
            screen = await (await c.get("/v1/sessions/asker/screen")).json()
            assert "Deploy to staging?" in screen["screen"]
            r = await c.post("/v1/sessions/asker/approve", headers={"X-Cortex-Origin": "mcp"})
            assert r.status == 200, await r.text()
            # SSE: every persisted event with its byte offset as id; a reconnect resumes after the id it gives
            first = await sse(c)
            assert first and all(a < b for (a, _), (b, _) in itertools.pairwise(first))
            resumed = await sse(c, **{"Last-Event-ID": str(first[2][0])})
            assert resumed[0] == first[3]
            assert [e for _, e in resumed[: len(first) - 3]] == [e for _, e in first[3:]]
        tcp = server.tcp_url
        assert tcp is not None and tcp.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession(base_url=tcp) as c:
            r = await c.get("/v1/status")
            assert r.status == 401 and "bearer token" in (await r.json())["error"]
            r = await c.get("/v1/status", headers={"Authorization": "Bearer wrong"})
            assert r.status == 401
            good = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
            r = await c.get("/v1/status", headers=good)
            assert r.status == 200 and (await r.json())["run"] == "api"
            served = await (await c.get("/v1/openapi.json", headers=good)).json()
            checked["openapi"] = served
        await wait_for(lambda: s.rt["asker"].rec.state is SessionState.FINISHED, timeout=30, what="asker finished")
        async with unix(server.unix_path) as c:
            async def ready() -> bool:
                entries = await (await c.get("/v1/review")).json()
                return any(e["session"] == "asker" and e["verify"] is not None for e in entries)

            for _ in range(200):
                if await ready():
                    break
                await asyncio.sleep(0.1)
            entry = await (await c.get("/v1/review/asker")).json()
            assert entry["ready"] is True, entry
            r = await c.post("/v1/review/asker/approve", headers={"X-Cortex-Origin": "web"})
            assert r.status == 200 and (await r.json())["status"] == "approved"
            r = await c.post("/v1/review/asker/approve")
            assert r.status == 409 and "already approved" in (await r.json())["error"]
            r = await c.post("/v1/review/asker/request-changes", json={})
            assert r.status == 400

    events = run_to_end(sup, during=during, timeout=90)
    actions = [(e.session, e.data["action"], e.data["origin"]) for e in events if e.kind == "action"]
    assert ("asker", "approve", "mcp") in actions and ("worker", "send", "api") in actions
    assert not [a for a in actions if a[0] == "worker" and a[1] == "approve"]
    assert [e.data["origin"] for e in events if e.kind == "review_decision"] == ["web"]
    assert server.unix_path is not None and not server.unix_path.exists()  # gone with the supervisor
    assert checked["openapi"] == OPENAPI


def test_openapi_document_matches_the_routes_and_the_copy_in_docs(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, LAYOUT, tmp_path)
    app = Api.__new__(Api)
    app.sup, app.token = sup, None
    routes = {r.resource.canonical for r in Api.app(app, require_token=False).router.routes()
              if r.resource is not None}
    assert routes == set(OPENAPI["paths"])
    docs = Path(__file__).parent.parent / "docs" / "api-openapi.json"
    assert json.loads(docs.read_text()) == OPENAPI


def test_event_reader_resumes_by_offset_and_skips_bad_lines(tmp_path: Path) -> None:
    p = tmp_path / "events.jsonl"
    p.write_bytes(b'{"kind":"a"}\nnot json\n{"kind":"b"}\n{"kind":"c"')
    evs, end = events_from(p, 0)
    assert [e["kind"] for _, e in evs] == ["a", "b"] and end == len(b'{"kind":"a"}\nnot json\n{"kind":"b"}\n')
    again, end2 = events_from(p, evs[0][0])
    assert [e["kind"] for _, e in again] == ["b"] and end2 == end
