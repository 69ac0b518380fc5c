"""events.jsonl rotates (#18): past ``log_max`` it becomes a segment named by its first offset, and every reader
— re-attach, the API's event stream resumed by ``Last-Event-ID``, ``events`` on the command line, the review
rebuild's full read — sees the same events at the same offsets across the rotation point. Real tmux, git, sim
agents, a real API server, two supervisors (the first stopped as a quit leaves it)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from engine_helpers import cli, make_sup, wait_for

from cortex_tui.api.server import ApiServer
from cortex_tui.engine import logrotate
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.store import events

LAYOUT = """
[run]
name = "evrot"
log_max = "1KB"
[defaults]
agent = "sim"
silence_after = "1h"
error_repeats = 2
[[session]]
name = "loud"
script = ["say hello", "error disk {n} broke", "error disk {n} broke", "sleep 0.3", "error net {n} broke", "error net {n} broke", "listen 600"]
[[session]]
name = "quiet"
script = ["say hi", "listen 600"]
"""


async def sse(path: Path, since: int) -> list[tuple[int, dict[str, Any]]]:
    out = []
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path)), base_url="http://cortex") as c:
        async with c.get("/v1/events", params={"follow": "0"}, headers={"Last-Event-ID": str(since)}) as r:
            text = await r.text()
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "id" in fields:
            out.append((int(fields["id"]), json.loads(fields["data"])))
    return out


async def run_until(sup: Supervisor, pred: Any, what: str, during: Any = None) -> Any:
    await sup.start()
    task = asyncio.create_task(sup.supervise(until_done=False))
    try:
        await wait_for(pred, 90, what)
        return await during(sup) if during is not None else None
    finally:
        sup.request_stop()
        await task
        await sup.shutdown()


def test_events_rotate_and_every_reader_resumes_across_the_rotation_point(
        git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logrotate, "CHECK_S", 0.0)
    sup1 = make_sup(git_repo, LAYOUT.replace("{n}", "1"), tmp_path)
    run_dir = sup1.store.dir
    asyncio.run(run_until(sup1, lambda: len(events.segments(run_dir)) >= 1
                          and len([t for t in sup1.state.sessions["loud"].triggers if t.kind == "repeated_error"]) >= 2,
                          "a rotation and both triggers"))
    first, _ = sup1.store.read_events(0)
    assert first[0].kind == "run_started"
    # a reader stopped before the rotation point: where it would resume
    seg_start, seg = events.segments(run_dir)[0]
    assert seg_start == 0 and seg.stat().st_size > 1000  # the first segment holds the run's first events
    mid = next(off for off, _ in _offsets(run_dir) if off > 100)
    # while no supervisor runs nothing is lost; a second one re-attaches and goes on writing (and rotating)
    sup2 = make_sup(git_repo, LAYOUT.replace("{n}", "1"), tmp_path)
    sup2.plugins.append(ApiServer(sup2))

    async def during(s: Supervisor) -> Any:
        await wait_for(lambda: any((s.store.dir / n).exists() for n in ("api.sock", "api.sock.path")), 30, "the API")
        for i in range(40):  # events of its own past another rotation
            s._emit("watch_error", None, error=f"note {i} " + "x" * 200)
        s._save(force=True)
        await wait_for(lambda: len(events.segments(run_dir)) >= 2, 30, "a second rotation")
        pointer = s.store.dir / "api.sock.path"
        sock = Path(pointer.read_text().strip()) if pointer.exists() else s.store.dir / "api.sock"
        return await sse(sock, mid), await sse(sock, 0)

    resumed, whole = asyncio.run(run_until(sup2, lambda: sup2.state.sessions["quiet"].state.value == "running",
                                           "re-attached", during))
    sup2.tmux.kill_server()
    every, end = sup2.store.read_events(0)
    assert end == events.end_offset(run_dir) and len(events.segments(run_dir)) >= 2
    kinds = [e.kind for e in every]
    assert kinds[0] == "run_started" and "attached" in kinds
    notes = [e.data["error"] for e in every if e.kind == "watch_error" and str(e.data["error"]).startswith("note ")]
    assert notes == [f"note {i} " + "x" * 200 for i in range(40)]  # none lost to a rotation, in order
    assert [(e.kind, e.ts, e.session) for e in every[:len(first)]] == [(e.kind, e.ts, e.session) for e in first]
    # the stream resumed from an offset taken before the rotation: exactly what came after it
    offsets = _offsets(run_dir)
    assert [off for off, _ in resumed] == [off for off, _ in offsets if off > mid]
    assert [off for off, _ in whole] == [off for off, _ in offsets]
    assert [ev["kind"] for _, ev in whole] == kinds
    # each event's offset (its SSE id) is where the next one starts, across segments
    raw = b"".join(p.read_bytes() if p.exists() else b"" for _, p in events.parts(run_dir))
    ends = [o for o, _ in offsets]
    assert [json.loads(raw[a:b])["kind"] for a, b in zip([0, *ends[:-1]], ends, strict=True)] == kinds
    # the command line reads the whole stream too
    lines = cli("events", "--repo", str(git_repo), "--json").stdout.splitlines()
    assert [json.loads(ln)["kind"] for ln in lines] == kinds


def _offsets(run_dir: Path) -> list[tuple[int, str]]:
    """(offset just past each event, its kind) over every part of the stream, read byte by byte."""
    out = []
    for start, path in events.parts(run_dir):
        data = path.read_bytes() if path.exists() else b""
        pos = 0
        while (nl := data.find(b"\n", pos)) >= 0:
            out.append((start + nl + 1, json.loads(data[pos:nl])["kind"]))
            pos = nl + 1
    return out
