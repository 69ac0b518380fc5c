"""Loopback fake of Google's Gemini API (``generativelanguage`` v1beta), scripted per test, for running the
real Gemini CLI offline (``GOOGLE_GEMINI_BASE_URL`` at :attr:`FakeGemini.url`, any ``GEMINI_API_KEY``).

* ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` — SSE ``data:`` lines, each a
  ``GenerateContentResponse`` (``candidates[0].content.parts`` with ``text`` or ``functionCall``), the last
  one with ``finishReason: STOP`` and ``usageMetadata`` (``promptTokenCount`` including
  ``cachedContentTokenCount``, ``candidatesTokenCount``, ``totalTokenCount``), as the service streams it.
* ``POST /v1beta/models/{model}:generateContent`` — the same answer as one JSON object.
* ``POST /v1beta/models/{model}:countTokens`` — ``{"totalTokens": N}`` (a rough count, never billed).
* ``GET /v1beta/models`` — the model list.

Errors are Google-shaped (``{"error": {"code", "message", "status"}}``); 429 is ``RESOURCE_EXHAUSTED``.
A request without ``tools`` (the CLI's own side calls: routing, next-speaker and loop checks, titles) is
answered by :meth:`FakeGemini.aside` and not taken from the script. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from fake_llm import HANG_LIMIT_S, ScriptedLLM, Step, ToolCall, chunks, send_json, sse, start_sse

__all__ = ["HANG_LIMIT_S", "FakeGemini", "Step", "ToolCall"]

_STATUS = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
           529: "UNAVAILABLE"}


def _error(h: BaseHTTPRequestHandler, status: int) -> None:
    send_json(h, status, {"error": {"code": status, "message": f"scripted {status}",
                                    "status": _STATUS.get(status, "UNKNOWN")}})


def _model_of(path: str) -> tuple[str, str]:
    """("gemini-2.5-pro", "streamGenerateContent") from ``/v1beta/models/gemini-2.5-pro:streamGenerateContent``."""
    tail = path.split("?")[0].rsplit("/", 1)[-1]
    model, _, method = tail.partition(":")
    return model, method


def _usage(step: Step) -> dict[str, int]:
    u = {"promptTokenCount": step.input_tokens, "candidatesTokenCount": step.output_tokens,
         "totalTokenCount": step.input_tokens + step.output_tokens}
    if step.cached_tokens:
        u["cachedContentTokenCount"] = step.cached_tokens
    return u


def _json_aside(body: dict[str, Any]) -> Step:
    """A side request asking for JSON (e.g. the next-speaker check): an answer that ends the turn."""
    schema = json.dumps((body.get("generationConfig") or {}).get("responseJsonSchema")
                        or (body.get("generationConfig") or {}).get("responseSchema") or {})
    if "next_speaker" in schema:
        return Step.say(json.dumps({"reasoning": "the model answered", "next_speaker": "user"}),
                        input_tokens=0, output_tokens=0)
    if "model_choice" in schema:
        return Step.say(json.dumps({"reasoning": "simple", "model_choice": "flash"}), input_tokens=0, output_tokens=0)
    return Step.say("{}", input_tokens=0, output_tokens=0)


@dataclass
class FakeGemini(ScriptedLLM):
    """The Gemini API (generateContent / streamGenerateContent with function calls)."""

    model_id: str = "gemini-2.5-pro"
    aside: Callable[[dict[str, Any]], Step] = field(default=_json_aside)
    """Answers the CLI's own tool-less side requests (not scripted, not billed)."""
    asides: int = 0

    def is_model_path(self, path: str) -> bool:
        return _model_of(path)[1] in ("streamGenerateContent", "generateContent")

    def handle_get(self, h: BaseHTTPRequestHandler) -> None:
        if h.path.split("?")[0].rstrip("/").endswith("/models"):
            send_json(h, 200, {"models": [{"name": f"models/{self.model_id}", "displayName": self.model_id,
                                           "supportedGenerationMethods": ["generateContent", "countTokens"]}]})
            return
        super().handle_get(h)

    def handle_post(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        model, method = _model_of(h.path)
        if method == "countTokens":
            text = json.dumps(body.get("contents") or body.get("generateContentRequest") or {})
            send_json(h, 200, {"totalTokens": max(1, len(text) // 4)})
            return
        if not self.is_model_path(h.path):
            send_json(h, 404, {"error": {"code": 404, "message": h.path, "status": "NOT_FOUND"}})
            return
        side = not body.get("tools")
        if side:
            self.asides += 1
            step = self.aside(body)
        else:
            step = self.take(body)
        self.pre(step)
        if step.status != 200:
            _error(h, step.status)
            return
        parts: list[dict[str, Any]] = []
        if step.text:
            parts.append({"text": step.text})
        for tc in step.tools:
            parts.append({"functionCall": {"name": tc.name, "args": tc.args}})
        version = model or self.model_id
        if method == "generateContent":
            if step.hang:
                self.wait_hang()
                _error(h, 500)
                return
            if not side:
                self.bill(version, step)
            send_json(h, 200, {"candidates": [{"content": {"role": "model", "parts": parts or [{"text": ""}]},
                                               "finishReason": "STOP", "index": 0}],
                               "usageMetadata": _usage(step), "modelVersion": version})
            return
        start_sse(h)
        if step.hang:
            sse(h, {"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "index": 0}],
                    "modelVersion": version})
            self.wait_hang()
            return
        pieces: list[dict[str, Any]] = [{"text": c} for c in chunks(step.text, 24)] if step.text else []
        pieces += [p for p in parts if "functionCall" in p]
        if not pieces:
            pieces = [{"text": ""}]
        for i, part in enumerate(pieces):
            chunk: dict[str, Any] = {"candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}],
                                     "modelVersion": version}
            if i == len(pieces) - 1:
                chunk["candidates"][0]["finishReason"] = "STOP"
                chunk["usageMetadata"] = _usage(step)
                if not side:
                    self.bill(version, step)
            sse(h, chunk)
