"""The API's OpenAPI document (served at ``/v1/openapi.json``; a copy is kept in docs/api-openapi.json and a
test checks both match the routes the server really has)."""

from __future__ import annotations

from typing import Any

from cortex_tui.api.review_routes import OPENAPI_PATHS

_ERR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_OK = {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}
_NAME = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]


def _action(summary: str, body: dict[str, Any] | None = None, conflict: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "parameters": _NAME,
                          "responses": {"200": _OK, "404": _ERR, "400": _ERR}}
    if conflict:
        op["responses"]["409"] = {**_ERR, "description": conflict}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return {"post": op}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "cortex-tui local API", "version": "1",
             "description": "JSON over the run's unix socket (0600) or TCP on loopback with a bearer token. "
                            "Every action is an engine command and an event naming its origin (api, mcp, web, cli)."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "TCP only; the token is in the run directory's api.token"}},
        "schemas": {"Error": {"type": "object", "required": ["error"],
                              "properties": {"error": {"type": "string"}, "hint": {"type": ["string", "null"]},
                                             "key_hint": {"type": "string"}}}},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": _OK}}},
        "/v1/status": {"get": {"summary": "The run: the shape of `cortex-tui status --json`", "responses": {"200": _OK}}},
        "/v1/sessions": {"get": {"summary": "Same as /v1/status", "responses": {"200": _OK}}},
        "/v1/state": {"get": {"summary": "The whole run state (the model of state.json)", "responses": {"200": _OK}}},
        "/v1/sessions/{name}": {"get": {"summary": "One session with its triggers and evidence", "parameters": _NAME,
                                        "responses": {"200": _OK, "404": _ERR}}},
        "/v1/sessions/{name}/screen": {"get": {
            "summary": "The session's screen as plain text", "parameters": [
                *_NAME, {"name": "lines", "in": "query", "schema": {"type": "integer", "default": 60}},
                {"name": "escapes", "in": "query", "schema": {"type": "integer", "enum": [0, 1], "default": 0}}],
            "responses": {"200": _OK, "404": _ERR}}},
        "/v1/events": {"get": {
            "summary": "The event stream (Server-Sent Events); ids are byte offsets, resume with Last-Event-ID",
            "parameters": [{"name": "since", "in": "query", "schema": {"type": "integer"}},
                           {"name": "follow", "in": "query", "schema": {"type": "integer", "enum": [0, 1]}},
                           {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "text/event-stream",
                                  "content": {"text/event-stream": {"schema": {"type": "string"}}}}}}},
        "/v1/events/end": {"get": {"summary": "The offset after the last event (resume from here for new events only)",
                                   "responses": {"200": _OK}}},
        "/v1/sessions/{name}/approve": _action("Answer the approval prompt with yes (explicitly, never a blind Enter)",
                                               conflict="the session is not waiting for approval"),
        "/v1/sessions/{name}/deny": _action("Answer the approval prompt with no",
                                            conflict="the session is not waiting for approval"),
        "/v1/sessions/{name}/send": _action("Type text into the session, then Enter",
                                            {"type": "object", "required": ["text"],
                                             "properties": {"text": {"type": "string"}}}),
        "/v1/sessions/{name}/interrupt": _action("The agent's interrupt key"),
        "/v1/sessions/{name}/stop": _action("Stop the session (its worktree and branch stay)"),
        "/v1/sessions/{name}/restart": _action("Restart the session"),
        "/v1/sessions/{name}/continue": _action("Start a blocked session with its merge resolved in its worktree"),
        "/v1/sessions/{name}/continue-from-base": _action("Start a blocked session from the base, without its "
                                                          "dependencies' work"),
        "/v1/queue": {"get": {"summary": "The task queue: pending (with why each waits), running, done, per label; "
                                         "the pool's limits and warm slots (the shape of `cortex-tui queue --json`)",
                              "responses": {"200": _OK}}},
        "/v1/tasks": {"post": {
            "summary": "Add a task (a [[session]] table as JSON; name optional) to the live run",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["prompt"],
                "properties": {"name": {"type": "string"}, "prompt": {"type": "string"},
                               "agent": {"type": "string"}, "model": {"type": "string"},
                               "scope": {"type": "array", "items": {"type": "string"}},
                               "depends_on": {"type": "array", "items": {"type": "string"}}}}}}},
            "responses": {"201": _OK, "400": _ERR, "409": {**_ERR, "description": "the name is taken"}}}},
        "/v1/revive": {"post": {
            "summary": "After the run's tmux server died: start it again, then the sessions that failed because it "
                       "went away and their dependents (what `cortex-tui up` does); answers their names",
            "responses": {"200": _OK}}},
        "/v1/review": {"get": {"summary": "The review queue (the shape of `review list --json`)",
                               "responses": {"200": _OK}}},
        "/v1/review/{name}": {"get": {"summary": "One review entry", "parameters": _NAME,
                                      "responses": {"200": _OK, "404": _ERR}}},
        "/v1/review/{name}/approve": _action("Merge the reviewed head into the base",
                                             conflict="already decided, or the branch moved since review"),
        "/v1/review/{name}/reject": _action("Reject (the head is kept under refs/cortex/rejected/…)",
                                            {"type": "object", "properties": {"reason": {"type": "string"}}},
                                            conflict="already approved"),
        "/v1/review/{name}/request-changes": _action("Send the reviewer's message to the session",
                                                     {"type": "object", "required": ["message"],
                                                      "properties": {"message": {"type": "string"}}},
                                                     conflict="already approved or rejected"),
        "/v1/bestof": {"get": {"summary": "Best-of ranking of the run", "responses": {"200": _OK, "400": _ERR}}},
        **OPENAPI_PATHS,
    },
}
