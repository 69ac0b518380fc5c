"""Shared plumbing of the loopback provider fakes (tests/fake_openai.py, tests/fake_gemini.py).

A fake is a real HTTP server on 127.0.0.1 that answers the agent CLI's model requests from a script of
:class:`Step` s, one per request, recording every request and every usage figure it "billed" so tests
can compare the agent's own accounting with what was really sent. A step is text, tool calls, an HTTP
error (500/429/529…), or a hang (the request is accepted and never answered until :meth:`release`).

A step may be a function of the request body (``Step.fn``) when the answer depends on what the agent
sent (the tool names it offers differ per version).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

HANG_LIMIT_S = 180.0
"""A hung request is answered with an error after this long at the latest (tests never leave it open)."""


@dataclass
class ToolCall:
    name: str
    args: dict[str, Any]


@dataclass
class Step:
    """One scripted model response."""

    text: str | None = None
    tools: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 100
    output_tokens: int = 20
    cached_tokens: int = 0
    """Part of ``input_tokens`` served from the provider's cache."""
    status: int = 200
    """Non-200: answer with this HTTP error instead."""
    hang: bool = False
    """Accept the request, start the stream, then send nothing until :meth:`ScriptedLLM.release`."""
    delay_s: float = 0.0
    fn: Callable[[dict[str, Any]], Step] | None = None
    """Build the real step from the request body."""

    @staticmethod
    def say(text: str, **kw: Any) -> Step:
        return Step(text=text, **kw)

    @staticmethod
    def call(name: str, args: dict[str, Any], text: str | None = None, **kw: Any) -> Step:
        return Step(text=text, tools=[ToolCall(name, args)], **kw)

    @staticmethod
    def error(status: int) -> Step:
        return Step(status=status, input_tokens=0, output_tokens=0)

    @staticmethod
    def hung() -> Step:
        return Step(hang=True, input_tokens=0, output_tokens=0)


@dataclass
class Billed:
    """What the fake sent for one answered request."""

    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) handing each request to :meth:`on_post` (the JSON
    body parsed; ``{}`` when it is not a JSON object), :meth:`on_get` or :meth:`on_head`; a context manager.
    A POST answered with a chunked SSE body (:func:`start_sse` ``keep_alive``) is ended here."""

    _httpd: ThreadingHTTPServer | None = None

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                fake.on_post(self, body if isinstance(body, dict) else {})
                if getattr(self, "sse_chunked", False):  # end of the chunked SSE body; the connection stays open
                    self.sse_chunked = False
                    try:
                        self.wfile.write(b"0\r\n\r\n")
                        self.wfile.flush()
                    except (BrokenPipeError, ConnectionResetError):
                        self.close_connection = True

            def do_GET(self) -> None:
                fake.on_get(self)

            def do_HEAD(self) -> None:
                fake.on_head(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on_post(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def on_get(self, h: BaseHTTPRequestHandler) -> None:
        send_json(h, 404, {"error": {"message": f"no such path {h.path}", "type": "not_found"}})

    def on_head(self, h: BaseHTTPRequestHandler) -> None:
        h.send_error(501, f"Unsupported method ({h.command!r})")  # what BaseHTTPRequestHandler answers


@dataclass
class ScriptedLLM(LoopbackServer):
    script: list[Step]
    fallback: Step = field(default_factory=lambda: Step.say("Done.", input_tokens=50, output_tokens=5))
    """Answer once the script is used up (so an unexpected extra request never hangs the agent)."""
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    billed: list[Billed] = field(default_factory=list)
    keep_alive: bool = False
    """Stream SSE bodies chunked on a kept-alive connection (as the real services do) instead of ending each
    by closing the connection: clients that pool connections (OpenCode's bun fetch) may send the next request
    on a connection the server is closing and then wait forever."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._released = threading.Event()
        self.hung_at: float | None = None
        """time.time() when a hang step started (the moment the API went silent)."""
        self.answered_at: list[float] = []

    def stop(self) -> None:
        self._released.set()
        super().stop()

    def on_post(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append((h.path, body))
        self.handle_post(h, body)

    def on_get(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append((h.path, {}))
        self.handle_get(h)

    def release(self) -> None:
        """End every hang: hung requests are answered (with a 500) and later hangs do not block."""
        self._released.set()

    # -- accounting ------------------------------------------------------------------------------------
    def totals(self) -> dict[str, int]:
        return {"input": sum(b.input_tokens for b in self.billed), "output": sum(b.output_tokens for b in self.billed),
                "cached": sum(b.cached_tokens for b in self.billed)}

    def model_requests(self) -> list[dict[str, Any]]:
        return [b for p, b in self.requests if self.is_model_path(p)]

    # -- for subclasses --------------------------------------------------------------------------------
    def is_model_path(self, path: str) -> bool:
        raise NotImplementedError

    def handle_post(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def handle_get(self, h: BaseHTTPRequestHandler) -> None:
        send_json(h, 404, {"error": {"message": f"no such path {h.path}", "type": "not_found"}})

    def take(self, body: dict[str, Any]) -> Step:
        with self._lock:
            if self._next < len(self.script):
                step = self.script[self._next]
                self._next += 1
            else:
                step = self.fallback
        while step.fn is not None:
            step = step.fn(body)
        return step

    @property
    def used(self) -> int:
        """How many scripted steps were taken."""
        return self._next

    def bill(self, model: str, step: Step) -> None:
        with self._lock:
            self.billed.append(Billed(model, step.input_tokens, step.output_tokens, step.cached_tokens))
            self.answered_at.append(time.time())

    def wait_hang(self) -> None:
        self.hung_at = time.time()
        self._released.wait(HANG_LIMIT_S)

    def pre(self, step: Step) -> None:
        if step.delay_s:
            time.sleep(step.delay_s)


def send_json(h: BaseHTTPRequestHandler, status: int, obj: dict[str, Any] | list[Any],
              headers: dict[str, str] | None = None) -> None:
    data = json.dumps(obj).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)


def start_sse(h: BaseHTTPRequestHandler, keep_alive: bool = False) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Cache-Control", "no-cache")
    if keep_alive:
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.sse_chunked = True  # type: ignore[attr-defined]
        return
    h.send_header("Connection", "close")
    h.end_headers()
    h.close_connection = True


def sse(h: BaseHTTPRequestHandler, data: dict[str, Any] | str, event: str | None = None) -> None:
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    frame = f"{head}data: {payload}\n\n".encode()
    if getattr(h, "sse_chunked", False):
        frame = f"{len(frame):x}\r\n".encode() + frame + b"\r\n"
    try:
        h.wfile.write(frame)
        h.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass


def chunks(text: str, n: int = 16) -> list[str]:
    return [text[i:i + n] for i in range(0, len(text), n)] or [""]
