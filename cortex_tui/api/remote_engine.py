"""The engine as seen through the local API: what the TUI needs (``ui.engine_protocol.Engine``) from a
supervisor running in another process. The browser view runs the same Textual app on it, so opening the TUI
in a browser never takes the run over from its supervisor, and closing the page leaves it supervised."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from cortex_tui.api.client import ApiClient
from cortex_tui.api.remote_review import RemoteReviewDesk
from cortex_tui.engine.events import Event, EventBus
from cortex_tui.engine.queue_view import TaskQueue
from cortex_tui.errors import CortexError
from cortex_tui.layout import parse_layout
from cortex_tui.model.layout import Layout, ResolvedSession
from cortex_tui.model.resolve import resolve_session
from cortex_tui.model.state import RunState, SessionRecord

REFRESH_S = 1.0


class RemoteEngine:
    """A mirror of a running supervisor: state refreshed in place, events from its SSE stream."""

    def __init__(self, socket: Path, origin: str = "web") -> None:
        self.socket = socket
        self.origin = origin
        self.bus = EventBus("?")
        self._state: RunState | None = None
        self._layout: Layout | None = None
        self._specs: dict[str, ResolvedSession] = {}
        self._client: ApiClient | None = None
        self._stop = asyncio.Event()
        self._offset = 0
        self._connected = True
        self.review = RemoteReviewDesk(self._api)
        """The supervisor's review desk, over the API (the Review and Compare screens use it)."""

    # ------------------------------------------------------------------ what the UI reads
    @property
    def run_id(self) -> str:
        return self.state.run

    @property
    def state(self) -> RunState:
        if self._state is None:
            raise CortexError("not connected to the run's supervisor yet")
        return self._state

    @property
    def specs(self) -> Mapping[str, ResolvedSession]:
        return self._specs

    @property
    def layout(self) -> Layout:
        if self._layout is None:
            raise CortexError("not connected to the run's supervisor yet")
        return self._layout

    def subscribe(self, cb: Callable[[Event], None]) -> Callable[[], None]:
        return self.bus.subscribe(cb)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._client is None:
            self._client = await ApiClient(self.socket, origin=self.origin).__aenter__()
        await self._load(self._client)
        # events from now on (the TUI shows history from the state, like a re-attached supervisor does)
        self._offset = int((await self._client.get("/v1/events/end"))["offset"])

    async def prefetch(self) -> None:
        """Load the state once with a client of its own (before the app's loop exists: the UI reads the
        state as soon as it mounts)."""
        async with ApiClient(self.socket, origin=self.origin) as c:
            await self._load(c)

    async def _load(self, client: ApiClient) -> None:
        state = RunState.model_validate(await client.get("/v1/state"))
        if self._state is None:
            self._state = state
        else:
            self._merge(state)
        self.bus.run = state.run
        loaded = parse_layout(state.layout_text, Path(state.layout_path))
        self._layout = loaded.layout
        self._specs = {s.name: resolve_session(loaded.layout, s) for s in loaded.layout.session}

    async def supervise(self, *, until_done: bool) -> None:
        """Mirror until :meth:`request_stop` (the remote supervisor does the supervising)."""
        if self._state is None:
            await self.start()
        tasks = [asyncio.create_task(self._follow_events()), asyncio.create_task(self._refresh_loop())]
        try:
            await self._stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def request_stop(self) -> None:
        self._stop.set()

    async def shutdown(self) -> None:
        self._stop.set()
        if self._client is not None:
            await self._client.__aexit__(None, None, None)
            self._client = None

    # ------------------------------------------------------------------ commands: the API's
    async def send(self, name: str, text: str) -> None:
        await self._post(f"/v1/sessions/{name}/send", {"text": text})

    async def approve(self, name: str) -> None:
        await self._post(f"/v1/sessions/{name}/approve")

    async def deny(self, name: str) -> None:
        await self._post(f"/v1/sessions/{name}/deny")

    async def interrupt(self, name: str) -> None:
        await self._post(f"/v1/sessions/{name}/interrupt")

    async def stop_session(self, name: str) -> None:
        await self._post(f"/v1/sessions/{name}/stop")

    async def restart_session(self, name: str) -> None:
        await self._post(f"/v1/sessions/{name}/restart")

    async def revive_sessions(self) -> list[str]:
        data = await self._api().post("/v1/revive")
        await self._refresh()
        return [str(n) for n in (data or {}).get("sessions", [])]

    async def queue(self) -> TaskQueue:
        """The supervisor's task queue (``GET /v1/queue``)."""
        return TaskQueue.model_validate(await self._api().get("/v1/queue"))

    def attach_argv(self, name: str) -> list[str]:
        raise CortexError("attaching to a session's terminal is not possible from this view",
                          f"from a terminal: cortex-tui attach {name} --repo {self.state.repo}")

    async def screen(self, name: str, *, escapes: bool = True, lines: int = 200) -> str:
        assert self._client is not None
        data = await self._client.get(f"/v1/sessions/{name}/screen", lines=str(lines), escapes="1" if escapes else "0")
        return str(data["screen"])

    def _api(self) -> ApiClient:
        if self._client is None:
            raise CortexError("not connected to the run's supervisor")
        return self._client

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> None:
        if self._client is None:
            raise CortexError("not connected to the run's supervisor")
        await self._client.post(path, body)
        await self._refresh()

    # ------------------------------------------------------------------ mirroring
    async def _sse(self, since: int, *, follow: bool) -> Any:
        connector = aiohttp.UnixConnector(path=str(self.socket))
        async with aiohttp.ClientSession(connector=connector, base_url="http://cortex",
                                         timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as s, \
                s.get("/v1/events", params={"since": str(since), "follow": "1" if follow else "0"}) as r:
            block: list[str] = []
            async for raw in r.content:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line:
                    block.append(line)
                    continue
                fields = dict(x.split(": ", 1) for x in block if ": " in x and not x.startswith(":"))
                block = []
                if "id" in fields and "data" in fields:
                    yield int(fields["id"]), json.loads(fields["data"])

    async def _follow_events(self) -> None:
        while not self._stop.is_set():
            try:
                async for ev_id, ev in self._sse(self._offset, follow=True):
                    self._offset = ev_id
                    await self._refresh()
                    self.bus.publish(Event(ts=float(ev.get("ts", 0)), run=str(ev.get("run", "")),
                                           kind=str(ev.get("kind", "")), session=ev.get("session"),
                                           data=dict(ev.get("data") or {})))
            except (aiohttp.ClientError, OSError) as e:
                self._lost(str(e))
            await asyncio.sleep(1.0)  # the supervisor went away or restarted: try again

    async def _refresh_loop(self) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(REFRESH_S)
            try:
                await self._refresh()
            except CortexError as e:
                self._lost(e.message)
            else:
                if not self._connected:
                    self._connected = True
                    self.bus.publish(self.bus.make("supervisor_back", None))

    def _lost(self, why: str) -> None:
        """Say once that the supervisor went away (it ends when every session ended, or was stopped)."""
        if self._connected:
            self._connected = False
            self.bus.publish(self.bus.make("supervisor_gone", None, error=why))

    async def _refresh(self) -> None:
        """Fetch the state and update the mirror in place (the UI keeps references to records)."""
        if self._client is None or self._state is None:
            return
        self._merge(RunState.model_validate(await self._client.get("/v1/state")))

    def _merge(self, new: RunState) -> None:
        assert self._state is not None
        for name, rec in new.sessions.items():
            old = self._state.sessions.get(name)
            if old is None:
                self._state.sessions[name] = rec
                self.bus.publish(self.bus.make("stats", name))
                continue
            output_moved = rec.last_output_at != old.last_output_at
            changed = _update(old, rec)
            if output_moved:
                self.bus.publish(self.bus.make("output", name, lines=[]))
            elif changed:
                self.bus.publish(self.bus.make("stats", name))
        for field in ("nodes", "updated_at", "supervisor_pid"):
            setattr(self._state, field, getattr(new, field))


def _update(old: SessionRecord, new: SessionRecord) -> bool:
    changed = False
    for field in type(new).model_fields:
        v = getattr(new, field)
        if getattr(old, field) != v:
            setattr(old, field, v)
            changed = True
    return changed
