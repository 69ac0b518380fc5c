"""The engine's review desk over the API: the routes ``api/remote_review.py`` calls, so the TUI's review and
compare screens work the same on a supervisor in another process (the browser view, ``cortex-tui serve``).

Each route is one :class:`~cortex_tui.engine.review_desk.ReviewDesk` command; the answers are the desk's
models (:mod:`cortex_tui.engine.review_view`, a best-of ``Comparison``) as JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from cortex_tui.engine.review_desk import ReviewDesk, Send
from cortex_tui.errors import UsageError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DECISIONS = ("approve", "reject", "request-changes", "reverify")

NAME = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
OK = {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}
ERR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(model: BaseModel | None) -> web.Response:
    return web.Response(text="null" if model is None else model.model_dump_json(), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    body = await request.json() if request.can_read_body else {}
    if not isinstance(body, dict):
        raise UsageError("the body is a JSON object")
    return body


def add_routes(router: web.UrlDispatcher, desk: ReviewDesk, origin: Callable[[web.Request], str],
               send_as: Callable[[str], Send] | None = None) -> None:
    """``send_as(origin)``: the engine's send recording that origin (a change request typed into the agent)."""

    async def entries(request: web.Request) -> web.Response:
        return _json(await desk.entries(refresh=request.query.get("refresh", "0") == "1"))

    async def diff(request: web.Request) -> web.Response:
        return _json(await desk.diff(request.match_info["name"]))

    async def decide(request: web.Request) -> web.Response:
        name, decision = request.match_info["name"], request.path.rsplit("/", 1)[1]
        body, by = await _body(request), origin(request)
        if decision == "approve":
            return _json(await desk.approve(name, squash=bool(body.get("squash", False)), by=by))
        if decision == "reject":
            return _json(await desk.reject(name, reason=str(body.get("reason", "")), by=by))
        if decision == "reverify":
            return _json(await desk.reverify(name))
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise UsageError('request-changes needs a JSON body {"text": "…"}')
        return _json(await desk.request_changes(name, text, by=by, send=send_as(by) if send_as else None))

    async def comparison(request: web.Request) -> web.Response:
        return _json(await desk.comparison())

    async def compare(request: web.Request) -> web.Response:
        top_k = (await _body(request)).get("top_k", 3)
        if not isinstance(top_k, int) or top_k < 1:
            raise UsageError("top_k is a whole number of at least 1")
        return _json(await desk.compare(top_k=top_k))

    async def winner(request: web.Request) -> web.Response:
        return _json(await desk.choose_winner(request.match_info["name"], by=origin(request)))

    async def integration(request: web.Request) -> web.Response:
        return _json(await desk.gate.entry())

    async def integrate(request: web.Request) -> web.Response:
        body = await _body(request)
        sessions, verify = body.get("sessions"), body.get("verify")
        if sessions is not None and (not isinstance(sessions, list) or not all(isinstance(x, str) for x in sessions)):
            raise UsageError("sessions is a list of session names")
        if verify is not None and not isinstance(verify, str):
            raise UsageError("verify is a command line")
        return _json(await desk.gate.integrate(sessions, verify))

    async def approve_integration(request: web.Request) -> web.Response:
        done = await desk.gate.approve()
        return web.json_response(asdict(done))

    router.add_get("/v1/review-desk", entries)
    router.add_get("/v1/review-desk/{name}/diff", diff)
    for d in DECISIONS:
        router.add_post(f"/v1/review-desk/{{name}}/{d}", decide)
    router.add_get("/v1/bestof/comparison", comparison)
    router.add_post("/v1/bestof/compare", compare)
    router.add_post("/v1/bestof/{name}/winner", winner)
    router.add_get("/v1/integration", integration)
    router.add_post("/v1/integration", integrate)
    router.add_post("/v1/integration/approve", approve_integration)


def _post(summary: str, body: dict[str, Any] | None = None, *, named: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": OK, "400": ERR, "409": ERR}}
    if named:
        op["parameters"] = NAME
    if body:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "properties": body}}}}
    return {"post": op}


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/review-desk": {"get": {
        "summary": "The review queue as the TUI reads it: {base, entries} (full entries, in no order)",
        "parameters": [{"name": "refresh", "in": "query", "schema": {"type": "integer", "enum": [0, 1]}}],
        "responses": {"200": OK}}},
    "/v1/review-desk/{name}/diff": {"get": {
        "summary": "The branch's diff against the base (after its merge: the diff recorded when it was queued)",
        "parameters": NAME, "responses": {"200": OK, "400": ERR}}},
    "/v1/review-desk/{name}/approve": _post("Merge (the answer says what was done, in a sentence)",
                                            {"squash": {"type": "boolean"}}),
    "/v1/review-desk/{name}/reject": _post("Reject; the head is kept under refs/cortex/rejected/…",
                                           {"reason": {"type": "string"}}),
    "/v1/review-desk/{name}/request-changes": _post("Send the reviewer's text to the session",
                                                    {"text": {"type": "string"}}),
    "/v1/review-desk/{name}/reverify": _post("Run the verify command again on the entry's head"),
    "/v1/bestof/comparison": {"get": {"summary": "The best-of comparison (bestof.json), null before one",
                                      "responses": {"200": OK, "400": ERR}}},
    "/v1/bestof/compare": _post("Score, rank (and judge) the variants; select the winner",
                                {"top_k": {"type": "integer", "minimum": 1}}, named=False),
    "/v1/bestof/{name}/winner": _post("Make this variant the winner (the others are kept and rejected)"),
    "/v1/integration": {
        "get": {"summary": "The run's integration entry (integration.json), null before the gate ran",
                "responses": {"200": OK, "400": ERR}},
        **_post("Run the integration gate (default: every entry awaiting a decision); the result is kept",
                {"sessions": {"type": "array", "items": {"type": "string"}}, "verify": {"type": "string"}},
                named=False)},
    "/v1/integration/approve": _post("Fast-forward the base to the kept, passing integration (backup ref first)",
                                     named=False),
}
