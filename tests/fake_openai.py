"""Loopback fakes of OpenAI's APIs, scripted per test, for running real agent CLIs offline.

* :class:`FakeResponses` — ``POST /v1/responses`` with SSE (``response.created``,
  ``response.output_item.added``/``.done``, ``response.output_text.delta``, ``response.completed`` with
  ``usage``), as Codex speaks it; tool calls are ``function_call`` output items.
* :class:`FakeChat` — ``POST /v1/chat/completions`` with SSE ``chat.completion.chunk`` lines (text deltas,
  ``tool_calls`` deltas, ``finish_reason``, a final usage chunk, ``data: [DONE]``), as Aider (through
  litellm) and OpenCode (``@ai-sdk/openai-compatible``) speak it. ``GET /v1/models`` lists the model.

Errors are OpenAI-shaped JSON bodies (``{"error": {"message", "type", "code"}}``); 429 carries
``retry-after``. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from fake_llm import HANG_LIMIT_S, ScriptedLLM, Step, ToolCall, chunks, send_json, sse, start_sse

__all__ = ["HANG_LIMIT_S", "FakeChat", "FakeResponses", "Step", "ToolCall"]

_ERROR_TYPES = {429: "rate_limit_exceeded", 500: "server_error", 503: "server_error", 529: "overloaded"}


def _error(h: BaseHTTPRequestHandler, status: int) -> None:
    kind = _ERROR_TYPES.get(status, "invalid_request_error")
    headers = {"retry-after": "1"} if status == 429 else {}
    send_json(h, status, {"error": {"message": f"scripted {status}", "type": kind, "code": kind}}, headers)


@dataclass
class FakeResponses(ScriptedLLM):
    """The OpenAI Responses API (streaming)."""

    def is_model_path(self, path: str) -> bool:
        return path.split("?")[0].endswith("/responses")

    def handle_get(self, h: BaseHTTPRequestHandler) -> None:
        if h.path.split("?")[0].endswith("/models"):
            send_json(h, 200, {"object": "list", "data": [{"id": "gpt-5-codex", "object": "model"}], "models": []})
            return
        super().handle_get(h)

    def handle_post(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if not self.is_model_path(h.path):
            send_json(h, 404, {"error": {"message": h.path, "type": "not_found"}})
            return
        step = self.take(body)
        self.pre(step)
        if step.status != 200:
            _error(h, step.status)
            return
        model = str(body.get("model") or "gpt-5-codex")
        n = len(self.billed) + 1
        resp_id = f"resp_fake{n:04d}"
        base = {"id": resp_id, "object": "response", "created_at": int(time.time()), "model": model,
                "status": "in_progress", "output": []}
        start_sse(h)
        sse(h, {"type": "response.created", "sequence_number": 0, "response": base}, "response.created")
        if step.hang:
            sse(h, {"type": "response.in_progress", "response": base}, "response.in_progress")
            self.wait_hang()
            return
        items: list[dict[str, Any]] = []
        idx = 0
        if step.text:
            mid = f"msg_fake{n:04d}"
            item = {"type": "message", "id": mid, "role": "assistant", "status": "in_progress", "content": []}
            sse(h, {"type": "response.output_item.added", "output_index": idx, "item": item},
                "response.output_item.added")
            for part in chunks(step.text):
                sse(h, {"type": "response.output_text.delta", "item_id": mid, "output_index": idx,
                        "content_index": 0, "delta": part}, "response.output_text.delta")
            done = {**item, "status": "completed",
                    "content": [{"type": "output_text", "text": step.text, "annotations": []}]}
            sse(h, {"type": "response.output_item.done", "output_index": idx, "item": done},
                "response.output_item.done")
            items.append(done)
            idx += 1
        for j, tc in enumerate(step.tools):
            item = {"type": "function_call", "id": f"fc_fake{n:04d}_{j}", "call_id": f"call_fake{n:04d}_{j}",
                    "name": tc.name, "arguments": json.dumps(tc.args), "status": "completed"}
            sse(h, {"type": "response.output_item.added", "output_index": idx, "item": {**item, "arguments": ""}},
                "response.output_item.added")
            sse(h, {"type": "response.output_item.done", "output_index": idx, "item": item},
                "response.output_item.done")
            items.append(item)
            idx += 1
        self.bill(model, step)
        usage = {"input_tokens": step.input_tokens, "input_tokens_details": {"cached_tokens": step.cached_tokens},
                 "output_tokens": step.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": step.input_tokens + step.output_tokens}
        sse(h, {"type": "response.completed", "response": {**base, "status": "completed", "output": items,
                                                            "usage": usage}}, "response.completed")


@dataclass
class FakeChat(ScriptedLLM):
    """OpenAI Chat Completions (streaming, and non-streaming for callers that ask so)."""

    model_id: str = "fake-coder"

    def is_model_path(self, path: str) -> bool:
        return path.split("?")[0].endswith("/chat/completions")

    def handle_get(self, h: BaseHTTPRequestHandler) -> None:
        if h.path.split("?")[0].endswith("/models"):
            send_json(h, 200, {"object": "list", "data": [{"id": self.model_id, "object": "model",
                                                            "owned_by": "cortex-test"}]})
            return
        super().handle_get(h)

    def handle_post(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if not self.is_model_path(h.path):
            send_json(h, 404, {"error": {"message": h.path, "type": "not_found"}})
            return
        step = self.take(body)
        self.pre(step)
        if step.status != 200:
            _error(h, step.status)
            return
        model = str(body.get("model") or self.model_id)
        n = len(self.billed) + 1
        cid = f"chatcmpl-fake{n:04d}"
        usage = {"prompt_tokens": step.input_tokens, "completion_tokens": step.output_tokens,
                 "total_tokens": step.input_tokens + step.output_tokens,
                 "prompt_tokens_details": {"cached_tokens": step.cached_tokens}}
        finish = "tool_calls" if step.tools else "stop"
        calls: list[dict[str, Any]] = [{"id": f"call_fake{n:04d}_{j}", "type": "function",
                  "function": {"name": tc.name, "arguments": json.dumps(tc.args)}} for j, tc in enumerate(step.tools)]
        if not body.get("stream"):
            if step.hang:
                self.wait_hang()
                _error(h, 500)
                return
            self.bill(model, step)
            msg: dict[str, Any] = {"role": "assistant", "content": step.text or ""}
            if calls:
                msg["tool_calls"] = calls
            send_json(h, 200, {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
                               "choices": [{"index": 0, "message": msg, "finish_reason": finish}], "usage": usage})
            return
        start_sse(h, self.keep_alive)

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

        sse(h, chunk({"role": "assistant", "content": ""}))
        if step.hang:
            self.wait_hang()
            return
        for part in chunks(step.text or ""):
            if part:
                sse(h, chunk({"content": part}))
        for j, call in enumerate(calls):
            sse(h, chunk({"tool_calls": [{"index": j, "id": call["id"], "type": "function",
                                          "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            for part in chunks(call["function"]["arguments"], 40):
                sse(h, chunk({"tool_calls": [{"index": j, "function": {"arguments": part}}]}))
        sse(h, chunk({}, finish))
        self.bill(model, step)
        sse(h, {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                "choices": [], "usage": usage})
        sse(h, "[DONE]")
