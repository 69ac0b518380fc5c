"""The API server (aiohttp, in the engine's own event loop: no thread, no polling while idle)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from cortex_tui.api import stale
from cortex_tui.api.openapi import OPENAPI
from cortex_tui.api.reads import off_loop
from cortex_tui.api.review_routes import add_routes as add_review_desk_routes
from cortex_tui.engine.review_desk import Send
from cortex_tui.errors import CortexError, LayoutError, RefusedError, UsageError
from cortex_tui.model.state import SessionState
from cortex_tui.store.status import add_review, session_dict, status_dict

if TYPE_CHECKING:
    from cortex_tui.engine.events import Event
    from cortex_tui.engine.supervisor import Supervisor

log = logging.getLogger("cortex_tui.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SOCKET_NAME = "api.sock"
TOKEN_NAME = "api.token"
MAX_UNIX_PATH = 100  # sun_path is 108 bytes on Linux


def error(status: int, message: str, hint: str | None = None, key_hint: str | None = None) -> web.Response:
    body: dict[str, str | None] = {"error": message, "hint": hint}
    if key_hint:
        body["key_hint"] = key_hint  # the TUI on a remote engine shows this one
    return web.json_response(body, status=status)


def _status_of(e: CortexError) -> int:
    if isinstance(e, RefusedError):
        return 409
    if isinstance(e, UsageError | LayoutError):
        return 400
    if "not waiting" in e.message:
        return 409
    if e.message.startswith("no session named"):
        return 404
    return 400


class Api:
    """Routes over one Supervisor."""

    def __init__(self, sup: Supervisor, token: str | None) -> None:
        self.sup = sup
        self.token = token
        self._wake = asyncio.Event()
        sup.subscribe(self._on_event)

    def _on_event(self, ev: Event) -> None:
        if ev.kind not in ("output", "stats"):
            self._wake.set()

    # ---------------------------------------------------------------- plumbing
    def app(self, *, require_token: bool) -> web.Application:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            if require_token:
                got = request.headers.get("Authorization", "")
                if not (self.token and secrets.compare_digest(got, f"Bearer {self.token}")):
                    return error(401, "missing or wrong bearer token", "send 'Authorization: Bearer <token>'; "
                                 "the token is in the run directory's api.token (mode 0600)")
            try:
                return await handler(request)
            except CortexError as e:
                return error(_status_of(e), e.message, e.hint, e.key_hint)
            except (ValueError, KeyError) as e:
                return error(400, f"bad request: {e}")

        app = web.Application(middlewares=[guard])
        r = app.router
        r.add_get("/v1/openapi.json", self.openapi)
        r.add_get("/v1/status", self.status)
        r.add_get("/v1/state", self.full_state)
        r.add_get("/v1/sessions", self.status)
        r.add_get("/v1/sessions/{name}", self.session)
        r.add_get("/v1/sessions/{name}/screen", self.screen)
        r.add_get("/v1/events", self.events)
        r.add_get("/v1/events/end", self.events_end)
        for action in ("approve", "deny", "send", "interrupt", "stop", "restart", "continue", "continue-from-base"):
            r.add_post(f"/v1/sessions/{{name}}/{action}", self.action)
        r.add_post("/v1/tasks", self.add_task)
        r.add_get("/v1/queue", self.queue)
        r.add_post("/v1/revive", self.revive)
        r.add_get("/v1/review", self.review_list)
        r.add_get("/v1/review/{name}", self.review_show)
        for decision in ("approve", "reject", "request-changes"):
            r.add_post(f"/v1/review/{{name}}/{decision}", self.review_decide)
        r.add_get("/v1/bestof", self.bestof)
        add_review_desk_routes(r, self.sup.review, self._origin, self._send_as)
        return app

    def _send_as(self, origin: str) -> Send:
        async def send(session: str, text: str) -> None:
            await self.sup.send(session, text, origin=origin)

        return send

    def _origin(self, request: web.Request) -> str:
        o = request.headers.get("X-Cortex-Origin", "api")
        return o if o in ("api", "mcp", "web", "cli") else "api"

    def _rt(self, name: str) -> Any:
        if name not in self.sup.rt:
            raise CortexError(f"no session named {name!r} in run {self.sup.run_id!r}", "GET /v1/sessions lists them")
        return self.sup.rt[name]

    def _budgets(self) -> dict[str, tuple[float | None, int | None]]:
        return {r.rec.name: (r.spec.budget_usd, r.spec.budget_tokens) for r in self.sup.rt.values()}

    # ---------------------------------------------------------------- reads
    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    async def status(self, request: web.Request) -> web.Response:
        """The shape of ``status --json`` (which answers from here when a supervisor serves the run)."""
        from cortex_tui.review.store import ReviewStore

        data = status_dict(self.sup.state, self._budgets(), supervisor_alive=True)
        queue = ReviewStore(self.sup.store.dir, self.sup.run_id)
        try:  # in the API's own thread (api/reads.py); no queue yet (nothing has finished): nothing to read
            entries = (await off_loop(queue.load)).entries if queue.path.exists() else {}
        except CortexError:  # an unreadable queue: no verdicts shown (as `status` reading the files shows)
            entries = {}
        return web.json_response(add_review(data, entries), dumps=lambda o: json.dumps(o, default=str))

    async def full_state(self, request: web.Request) -> web.Response:
        """The whole run state (the model of state.json), for clients that mirror it (the browser TUI)."""
        return web.Response(text=self.sup.state.model_dump_json(), content_type="application/json")

    async def session(self, request: web.Request) -> web.Response:
        rt = self._rt(request.match_info["name"])
        return web.json_response(session_dict(rt.rec, rt.spec.budget_usd, rt.spec.budget_tokens),
                                 dumps=lambda o: json.dumps(o, default=str))

    async def screen(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._rt(name)
        lines = min(int(request.query.get("lines", "60")), 2000)
        escapes = request.query.get("escapes", "0") == "1"
        text = await self.sup.screen(name, escapes=escapes, lines=lines)
        return web.json_response({"session": name, "screen": text})

    async def events_end(self, request: web.Request) -> web.Response:
        """The byte offset where the next event will start: ``since`` for a client that wants only new events."""
        return web.json_response({"offset": self.sup.store.events_end()})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events from events.jsonl; the id is the byte offset after the event, so a client that
        reconnects with ``Last-Event-ID`` (or ``?since=``) resumes exactly where it left off."""
        since = request.headers.get("Last-Event-ID") or request.query.get("since") or "0"
        offset = int(since)
        follow = request.query.get("follow", "1") != "0"
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        while True:
            self._wake.clear()
            evs, new = await asyncio.to_thread(events_from, self.sup.store.events_path, offset)
            for end, ev in evs:
                payload = json.dumps(ev, default=str)
                await resp.write(f"id: {end}\nevent: {ev.get('kind', 'event')}\ndata: {payload}\n\n".encode())
            moved, offset = new != offset, new
            if moved:  # more may wait (a rotated segment read to its end, or past the read limit)
                continue
            if not follow:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=15.0)
            except TimeoutError:
                await resp.write(b": keep-alive\n\n")
        await resp.write_eof()
        return resp

    # ---------------------------------------------------------------- session commands
    async def action(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        action = request.path.rsplit("/", 1)[1]
        rt = self._rt(name)
        origin = self._origin(request)
        body: dict[str, Any] = await request.json() if request.can_read_body else {}
        if action in ("approve", "deny"):
            waiting = rt.rec.state is SessionState.WAITING or any(
                t.active and t.kind == "approval_waiting" for t in rt.rec.triggers)
            if not waiting:  # never a keypress for a prompt that is not there
                return error(409, f"session {name!r} is not waiting for approval (state: {rt.rec.state.value})",
                             "GET /v1/sessions/{name} shows its state and triggers")
            await (self.sup.approve(name, origin=origin) if action == "approve" else self.sup.deny(name, origin=origin))
        elif action in ("send", "interrupt") and not rt.rec.state.live:  # its pane is gone or not made yet
            return error(409, f"session {name!r} is not running (state: {rt.rec.state.value})",
                         "GET /v1/sessions/{name} shows its state")
        elif action == "send":
            text = body.get("text")
            if not isinstance(text, str) or not text:
                return error(400, "send needs a JSON body {\"text\": \"…\"}")
            await self.sup.send(name, text, origin=origin)
        elif action == "interrupt":
            await self.sup.interrupt(name, origin=origin)
        elif action == "stop":
            await self.sup.stop_session(name, reason=f"stopped through the {origin}", origin=origin)
        elif action == "restart":
            await self.sup.restart_session(name, origin=origin)
        elif action in ("continue", "continue-from-base"):
            await self.sup.continue_session(name, from_base=action == "continue-from-base", origin=origin)
        return web.json_response({"ok": True, "session": name, "action": action,
                                  "state": self.sup.rt[name].rec.state.value})

    async def revive(self, request: web.Request) -> web.Response:
        """The run's tmux server died: bring its sessions back (``U`` in a TUI on this API)."""
        names = await self.sup.revive_sessions(origin=self._origin(request))
        return web.json_response({"ok": True, "sessions": names})

    async def add_task(self, request: web.Request) -> web.Response:
        """A ``[[session]]`` table (JSON) added to the live run; ``name`` may be left out."""
        from cortex_tui.engine.intake import free_name, parse_spec

        body = await request.json()
        if not isinstance(body, dict):
            return error(400, "a task is a JSON object with the fields of a [[session]] table")
        body.setdefault("name", free_name(set(self.sup.specs)))
        rec = await self.sup.add_session(parse_spec(body), origin=self._origin(request))
        return web.json_response({"ok": True, "session": rec.name, "state": rec.state.value, "branch": rec.branch},
                                 status=201)

    async def queue(self, request: web.Request) -> web.Response:
        """The task queue (the shape of ``cortex-tui queue --json``: engine/queue_view.py)."""
        q = await self.sup.queue()
        return web.Response(text=q.model_dump_json(), content_type="application/json")

    # ---------------------------------------------------------------- review
    def _queue(self) -> Any:
        from cortex_tui.review.queue import ReviewQueue

        return ReviewQueue.open(self.sup.repo, self.sup.state_dir, self.sup.run_id)

    async def review_list(self, request: web.Request) -> web.Response:
        from cortex_tui.review.models import ordered

        entries = await asyncio.to_thread(lambda: ordered(self._queue().entries()))
        return web.json_response([e.contract() for e in entries], dumps=lambda o: json.dumps(o, default=str))

    async def review_show(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        entry = await asyncio.to_thread(lambda: self._queue().get(name))
        return web.json_response(entry.contract(), dumps=lambda o: json.dumps(o, default=str))

    async def review_decide(self, request: web.Request) -> web.Response:
        """A decision through the engine's review desk (git off the loop, published on the bus)."""
        name = request.match_info["name"]
        decision = request.path.rsplit("/", 1)[1]
        origin = self._origin(request)
        body: dict[str, Any] = await request.json() if request.can_read_body else {}
        desk = self.sup.review
        if decision == "approve":
            done = await desk.approve(name, by=origin)
        elif decision == "reject":
            done = await desk.reject(name, by=origin, reason=str(body.get("reason", "")))
        else:
            message = body.get("message")
            if not isinstance(message, str) or not message:
                return error(400, "request-changes needs a JSON body {\"message\": \"…\"}")
            done = await desk.request_changes(name, message, by=origin, send=self._send_as(origin))
        self.sup.note("review_decision", name, {"decision": decision.replace("-", "_"), "origin": origin})
        assert done.entry is not None
        return web.json_response(done.entry.contract(), dumps=lambda o: json.dumps(o, default=str))

    async def bestof(self, request: web.Request) -> web.Response:
        from cortex_tui.bestof.compare import compare_run

        data = await asyncio.to_thread(compare_run, self.sup.repo, self.sup.state_dir, self.sup.run_id)
        return web.json_response(data if isinstance(data, dict) else data.model_dump(mode="json"),
                                 dumps=lambda o: json.dumps(o, default=str))


def events_from(path: Path, offset: int, limit: int = 8 << 20) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """Complete event lines after byte ``offset`` of the run's event stream (``path``: its events.jsonl; at most
    ``limit`` bytes, from one of its rotated parts: ``store/events.py``), each with the offset just past it;
    a line that is not JSON is skipped (it still moves the offset), a half-written last line waits."""
    from cortex_tui.store import events

    data, offset = events.read(path.parent, offset, limit)
    out: list[tuple[int, dict[str, Any]]] = []
    pos = 0
    while (nl := data.find(b"\n", pos)) >= 0:
        raw = data[pos:nl]
        pos = nl + 1
        try:
            ev = json.loads(raw)
        except ValueError:
            continue
        if isinstance(ev, dict):
            out.append((offset + pos, ev))
    return out, offset + pos


def socket_path(run_dir: Path) -> Path:
    """The API socket: in the run directory, or (when that path is too long for a unix socket) a short path
    under the user's runtime dir, with ``api.sock.path`` in the run directory naming it."""
    p = run_dir / SOCKET_NAME
    if len(os.fsencode(p)) <= MAX_UNIX_PATH:
        return p
    import hashlib

    base = Path(os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/cortex-{os.getuid()}")
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    return base / f"api-{hashlib.sha256(os.fsencode(run_dir)).hexdigest()[:16]}.sock"


def find_socket(run_dir: Path) -> Path:
    """Where a running supervisor's API listens (raises with a hint when none does)."""
    pointer = run_dir / f"{SOCKET_NAME}.path"
    p = Path(pointer.read_text().strip()) if pointer.exists() else run_dir / SOCKET_NAME
    if not p.exists():
        raise CortexError(f"no API socket for this run ({p})",
                          "is a supervisor running? `cortex-tui up LAYOUT --repo R --detach` starts one")
    return p


class ApiServer:
    """An engine plugin (``sup.plugins.append(ApiServer(sup))``): serves while the engine supervises."""

    name = "api"

    def __init__(self, sup: Supervisor, tcp: tuple[str, int] | None = None) -> None:
        self.sup = sup
        self.tcp = tcp
        self.token: str | None = None
        self.unix_path: Path | None = None
        self.tcp_url: str | None = None
        self._runners: list[web.AppRunner] = []

    async def start(self) -> None:
        run_dir = self.sup.store.dir
        if self.tcp is not None:
            self.token = secrets.token_urlsafe(24)
            tok = run_dir / TOKEN_NAME
            fd = os.open(tok, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.token + "\n")
        api = Api(self.sup, self.token)
        path = socket_path(run_dir)
        if path.exists() or path.is_symlink():
            path.unlink()
        if path.parent != run_dir:  # the short per-user directory: sockets of killed supervisors go first
            for gone in stale.sweep(path.parent, keep=path):
                log.info("removed stale API socket %s (nobody listened, its run's lock was free)", gone)
            stale.write_owner(path, run_dir)
        runner = web.AppRunner(api.app(require_token=False), access_log=None, handle_signals=False)
        await runner.setup()
        old = os.umask(0o177)  # the socket is born 0600: no window where another user could connect
        try:
            await web.UnixSite(runner, str(path)).start()
        finally:
            os.umask(old)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        self._runners.append(runner)
        self.unix_path = path
        pointer = run_dir / f"{SOCKET_NAME}.path"
        if path.parent != run_dir:
            pointer.write_text(str(path) + "\n")
        elif pointer.exists():
            pointer.unlink()
        if self.tcp is not None:
            host, port = self.tcp
            trunner = web.AppRunner(api.app(require_token=True), access_log=None, handle_signals=False)
            await trunner.setup()
            site = web.TCPSite(trunner, host, port)
            await site.start()
            self._runners.append(trunner)
            real_port = port
            for addr in trunner.addresses:  # the bound (host, port): port 0 picks a free one
                if isinstance(addr, tuple):
                    real_port = int(addr[1])
            self.tcp_url = f"http://{host}:{real_port}"
        self.sup.note("api_serving", None, {"socket": str(path), "tcp": self.tcp_url})

    async def close(self) -> None:
        for r in self._runners:
            await r.cleanup()
        self._runners.clear()
        if self.unix_path is not None and self.unix_path.exists():
            self.unix_path.unlink()
        if self.unix_path is not None and self.unix_path.parent != self.sup.store.dir:
            stale.remove_owner(self.unix_path)
