"""A loopback fake of the Anthropic Messages API, scripted, for running the real Claude Code CLI offline.

It speaks ``POST /v1/messages`` with SSE streaming exactly as the CLI expects (``message_start`` with
``usage``, ``content_block_start``/``_delta``/``_stop`` for text and ``tool_use`` blocks, ``message_delta``
with ``usage.output_tokens`` and ``stop_reason``, ``message_stop``) and ``POST /v1/messages/count_tokens``.
Every request is recorded; every response's usage is recorded too so tests can compare the CLI's
accounting with what was really "billed".

Binds 127.0.0.1 only. Usage::

    with FakeAnthropic([Reply.text("hi"), Reply.tool("Write", {...}), Reply.text("done")]) as api:
        env["ANTHROPIC_BASE_URL"] = api.url
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from fake_llm import LoopbackServer, ScriptedLLM, chunks, send_json, sse, start_sse

DEFAULT_MODEL = "claude-sonnet-4-5-20250929"


@dataclass
class Reply:
    """One scripted assistant message: content blocks plus the usage it reports."""

    blocks: list[dict[str, Any]]
    input_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0
    output_tokens: int = 0
    status: int = 200
    """Non-200 = answer with this HTTP error instead (e.g. 529 overloaded, 500)."""
    delay_s: float = 0.0
    """Sleep before answering (a slow API)."""
    stop_reason: str | None = None
    """Override the stop reason (e.g. ``max_tokens`` for an answer cut off); default from the blocks."""

    @staticmethod
    def text(text: str, **kw: Any) -> Reply:
        return Reply(blocks=[{"type": "text", "text": text}], **kw)

    @staticmethod
    def tool(name: str, tool_input: dict[str, Any], text: str | None = None, **kw: Any) -> Reply:
        blocks: list[dict[str, Any]] = []
        if text:
            blocks.append({"type": "text", "text": text})
        blocks.append({"type": "tool_use", "name": name, "input": tool_input})
        return Reply(blocks=blocks, **kw)


@dataclass
class Served:
    """What the fake sent back for one request (for assertions)."""

    message_id: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read: int
    cache_write: int
    stop_reason: str


@dataclass
class FakeAnthropic(LoopbackServer):
    script: list[Reply]
    fallback_text: str = "Done."
    """Answer when the script is exhausted (so unexpected extra requests never hang the CLI)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    served: list[Served] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0

    def on_post(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        self._handle(h, body)

    def on_get(self, h: BaseHTTPRequestHandler) -> None:
        self._send_json(h, 404, {"type": "error", "error": {"type": "not_found_error", "message": h.path}})

    def on_head(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "0")
        h.end_headers()

    # -- accounting helpers for tests ------------------------------------------------------------------
    def totals(self) -> dict[str, int]:
        return {
            "input": sum(s.input_tokens for s in self.served),
            "output": sum(s.output_tokens for s in self.served),
            "cache_read": sum(s.cache_read for s in self.served),
            "cache_write": sum(s.cache_write for s in self.served),
        }

    def message_requests(self) -> list[dict[str, Any]]:
        return [r for r, p in zip(self.requests, self.paths, strict=True) if p.split("?")[0] == "/v1/messages"]

    # -- protocol --------------------------------------------------------------------------------------
    def _take(self) -> Reply:
        with self._lock:
            if self._next < len(self.script):
                r = self.script[self._next]
                self._next += 1
                return r
        return Reply.text(self.fallback_text)

    def _handle(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        path = h.path.split("?")[0]
        with self._lock:
            self.requests.append(body)
            self.paths.append(h.path)
        if path == "/v1/messages/count_tokens":
            self._send_json(h, 200, {"input_tokens": max(1, len(json.dumps(body)) // 4)})
            return
        if path != "/v1/messages":
            self._send_json(h, 404, {"type": "error", "error": {"type": "not_found_error", "message": path}})
            return
        reply = self._take()
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.status != 200:
            kind = "overloaded_error" if reply.status == 529 else "api_error"
            self._send_json(h, reply.status, {"type": "error", "error": {"type": kind, "message": "scripted"}})
            return
        model = str(body.get("model") or DEFAULT_MODEL)
        with self._lock:
            msg_id = f"msg_fake{len(self.served) + 1:04d}"
        # realistic defaults: prompt size drives input tokens; the CLI's system prompt is large and cached
        prompt_chars = len(json.dumps(body.get("messages", [])))
        inp = reply.input_tokens or 3 + prompt_chars // 40
        cread = reply.cache_read
        cwrite = reply.cache_write
        out_text = sum(len(b.get("text", "")) + len(json.dumps(b.get("input", {}))) for b in reply.blocks)
        out = reply.output_tokens or 5 + out_text // 4
        has_tool = any(b["type"] == "tool_use" for b in reply.blocks)
        stop_reason = reply.stop_reason or ("tool_use" if has_tool else "end_turn")
        served = Served(msg_id, model, inp, out, cread, cwrite, stop_reason)
        with self._lock:
            self.served.append(served)
        if not body.get("stream"):
            content = [self._final_block(b, i, msg_id) for i, b in enumerate(reply.blocks)]
            self._send_json(h, 200, {
                "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": content,
                "stop_reason": stop_reason, "stop_sequence": None, "usage": self._usage(served, out)})
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Connection", "close")
        h.send_header("request-id", f"req_{msg_id}")
        h.end_headers()
        h.close_connection = True
        w = h.wfile

        def ev(name: str, data: dict[str, Any]) -> None:
            w.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            w.flush()

        ev("message_start", {"type": "message_start", "message": {
            "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": self._usage(served, 1)}})
        for i, b in enumerate(reply.blocks):
            if b["type"] == "text":
                ev("content_block_start", {"type": "content_block_start", "index": i,
                                           "content_block": {"type": "text", "text": ""}})
                text = b["text"]
                for j in range(0, len(text), 24):
                    ev("content_block_delta", {"type": "content_block_delta", "index": i,
                                               "delta": {"type": "text_delta", "text": text[j:j + 24]}})
            else:
                ev("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
                    "type": "tool_use", "id": f"toolu_{msg_id}_{i}", "name": b["name"], "input": {}}})
                js = json.dumps(b["input"])
                for j in range(0, len(js), 40):
                    ev("content_block_delta", {"type": "content_block_delta", "index": i,
                                               "delta": {"type": "input_json_delta", "partial_json": js[j:j + 40]}})
            ev("content_block_stop", {"type": "content_block_stop", "index": i})
        ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                             "usage": {"output_tokens": out}})
        ev("message_stop", {"type": "message_stop"})

    @staticmethod
    def _usage(s: Served, out: int) -> dict[str, Any]:
        return {"input_tokens": s.input_tokens, "cache_creation_input_tokens": s.cache_write,
                "cache_read_input_tokens": s.cache_read, "output_tokens": out,
                "service_tier": "standard"}

    @staticmethod
    def _final_block(b: dict[str, Any], i: int, msg_id: str) -> dict[str, Any]:
        if b["type"] == "tool_use":
            return {"type": "tool_use", "id": f"toolu_{msg_id}_{i}", "name": b["name"], "input": b["input"]}
        return dict(b)

    @staticmethod
    def _send_json(h: BaseHTTPRequestHandler, status: int, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        if status == 529 or status >= 500:
            h.send_header("x-should-retry", "true")
        h.end_headers()
        h.wfile.write(data)


class FakeMessages(ScriptedLLM):
    """The Messages API driven by the shared :class:`fake_llm.Step` scripts (the conformance suite's form).

    A step's ``input_tokens`` *includes* ``cached_tokens`` (OpenAI's convention); they are reported as
    ``input_tokens`` = the uncached part and ``cache_read_input_tokens`` = the cached part.
    """

    def is_model_path(self, path: str) -> bool:
        return path.split("?")[0] == "/v1/messages"

    def handle_post(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        path = h.path.split("?")[0]
        if path == "/v1/messages/count_tokens":
            send_json(h, 200, {"input_tokens": max(1, len(json.dumps(body)) // 4)})
            return
        if path != "/v1/messages":
            send_json(h, 404, {"type": "error", "error": {"type": "not_found_error", "message": path}})
            return
        step = self.take(body)
        self.pre(step)
        if step.status != 200:
            kind = "overloaded_error" if step.status == 529 else ("rate_limit_error" if step.status == 429
                                                                  else "api_error")
            send_json(h, step.status, {"type": "error", "error": {"type": kind, "message": "scripted"}},
                      {"x-should-retry": "false"})
            return
        model = str(body.get("model") or DEFAULT_MODEL)
        msg_id = f"msg_fake{len(self.billed) + 1:04d}"
        usage = {"input_tokens": step.input_tokens - step.cached_tokens, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": step.cached_tokens, "output_tokens": 1, "service_tier": "standard"}
        start_sse(h)
        sse(h, {"type": "message_start", "message": {"id": msg_id, "type": "message", "role": "assistant",
                                                     "model": model, "content": [], "stop_reason": None,
                                                     "stop_sequence": None, "usage": usage}}, "message_start")
        if step.hang:
            sse(h, {"type": "ping"}, "ping")
            self.wait_hang()
            return
        i = 0
        if step.text:
            sse(h, {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}},
                "content_block_start")
            for part in chunks(step.text, 24):
                sse(h, {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": part}},
                    "content_block_delta")
            sse(h, {"type": "content_block_stop", "index": i}, "content_block_stop")
            i += 1
        for tc in step.tools:
            sse(h, {"type": "content_block_start", "index": i, "content_block": {
                "type": "tool_use", "id": f"toolu_{msg_id}_{i}", "name": tc.name, "input": {}}}, "content_block_start")
            js = json.dumps(tc.args)
            for part in chunks(js, 40):
                sse(h, {"type": "content_block_delta", "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": part}}, "content_block_delta")
            sse(h, {"type": "content_block_stop", "index": i}, "content_block_stop")
            i += 1
        self.bill(model, step)
        sse(h, {"type": "message_delta", "delta": {"stop_reason": "tool_use" if step.tools else "end_turn",
                                                   "stop_sequence": None},
                "usage": {"output_tokens": step.output_tokens}}, "message_delta")
        sse(h, {"type": "message_stop"}, "message_stop")
