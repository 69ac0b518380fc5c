"""The TUI in a browser: textual-serve runs the same Textual app, one process per browser tab, each a client
of the run's supervisor through the local API (so a page never takes the run over, and closing it leaves the
run supervised). Loopback needs no token; any other address does (a header, or a one-time ``?token=`` URL
that sets a cookie)."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web
from textual_serve.server import Server

LOOPBACK = ("127.0.0.1", "localhost", "::1")
COOKIE = "cortex_web_token"


class WebServer(Server):
    """textual-serve's server with a token check in front of every route when one is set."""

    def __init__(self, command: str, host: str, port: int, *, title: str, token: str | None) -> None:
        super().__init__(command, host=host, port=port, title=title)
        self.token = token

    async def _make_app(self) -> web.Application:
        app: web.Application = await super()._make_app()
        app.middlewares.append(phone_viewport)
        if self.token is None:
            return app
        token = self.token

        @web.middleware
        async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
            got = request.query.get("token") or request.cookies.get(COOKIE) or \
                request.headers.get("Authorization", "").removeprefix("Bearer ")
            if not got or not secrets.compare_digest(got, token):
                return web.Response(status=401, text="cortex-tui: a token is needed (the URL printed by "
                                                     "`cortex-tui serve`, or 'Authorization: Bearer …')\n")
            if "token" in request.query:  # a one-time URL: keep the token in a cookie, drop it from the address bar
                resp = web.HTTPFound(request.rel_url.with_query({k: v for k, v in request.query.items() if k != "token"}))
                resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
                raise resp
            response: web.StreamResponse = await handler(request)
            return response

        app.middlewares.insert(0, guard)
        return app


VIEWPORT = b'<meta name="viewport" content="width=device-width, initial-scale=1">'


@web.middleware
async def phone_viewport(request: web.Request, handler: Any) -> web.StreamResponse:
    """textual-serve's page has no viewport tag, so a phone lays it out 980 px wide and shrinks it: add one."""
    response: web.StreamResponse = await handler(request)
    if request.path == "/" and isinstance(response, web.Response) and response.body is not None \
            and isinstance(response.body, bytes) and b"<head>" in response.body:
        response.body = response.body.replace(b"<head>", b"<head>\n    " + VIEWPORT, 1)
    return response


def needs_token(host: str) -> bool:
    return host not in LOOPBACK
