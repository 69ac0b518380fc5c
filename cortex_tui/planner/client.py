"""The planning model behind the anthropic SDK: one forced ``submit_plan`` tool call per request.

Needs no key when a base URL is given (``--base-url`` or ``ANTHROPIC_BASE_URL``: a loopback server or a
compatible gateway); otherwise ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``) must be set, and a
one-line error says so. Every request's usage is kept so the planning cost can be shown and charged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from cortex_tui.budgets import cost_usd
from cortex_tui.errors import CortexError
from cortex_tui.model.state import TokenUsage
from cortex_tui.planner.schema import PLAN_SCHEMA, TOOL_NAME

NO_KEY = "placeholder-no-key"
"""Sent as the key to a base URL when no key is set (loopback servers do not check it)."""


class PlanError(CortexError):
    """Planning failed: no key, the API failed, or the plan is still invalid after one repair."""


@dataclass
class Answer:
    """One reply: the tool input (None when the model did not call the tool) and the raw content."""

    tool_input: object
    tool_use_id: str | None
    content: list[dict[str, Any]]
    text: str
    problem: str | None = None
    """Why the answer cannot be used even if it has a tool call (cut off at max_tokens)."""


@dataclass
class Usage:
    """Usage of every planning request so far."""

    model: str
    requests: int = 0
    tokens: TokenUsage = field(default_factory=TokenUsage)

    @property
    def cost_usd(self) -> float | None:
        return cost_usd(self.tokens, self.model)

    def add(self, u: Any) -> None:
        self.requests += 1
        t = self.tokens
        self.tokens = TokenUsage(input=t.input + (getattr(u, "input_tokens", 0) or 0),
                                 output=t.output + (getattr(u, "output_tokens", 0) or 0),
                                 cache_read=t.cache_read + (getattr(u, "cache_read_input_tokens", 0) or 0),
                                 cache_write=t.cache_write + (getattr(u, "cache_creation_input_tokens", 0) or 0))

    def line(self) -> str:
        c = self.cost_usd
        cost = "cost unknown (no price for the model)" if c is None else f"${c:.4f}"
        return (f"planning: {self.requests} request(s) to {self.model}, {self.tokens.input:,} in / "
                f"{self.tokens.output:,} out tokens, {cost}")


def make_client(base_url: str | None, *, timeout_s: float = 300.0, max_retries: int = 2) -> Any:
    """An ``anthropic.Anthropic`` client, or a one-line :class:`PlanError` saying what is missing."""
    import anthropic

    url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
    key = os.environ.get("ANTHROPIC_API_KEY")
    token = os.environ.get("ANTHROPIC_AUTH_TOKEN")
    if not key and not token:
        if not url:
            raise PlanError("no API key: set ANTHROPIC_API_KEY, or pass --base-url URL (or set ANTHROPIC_BASE_URL) "
                            "for a compatible endpoint that needs none")
        key = NO_KEY
    return anthropic.Anthropic(api_key=key, auth_token=token if not key else None, base_url=url,
                               timeout=timeout_s, max_retries=max_retries)


class Planner:
    """A conversation with the planning model (the first request and at most one repair)."""

    def __init__(self, client: Any, model: str, system: str, *, max_tokens: int = 8192, stream: bool = True) -> None:
        self.client = client
        self.model = model
        self.system = system
        self.max_tokens = max_tokens
        self.stream = stream
        self.messages: list[dict[str, Any]] = []
        self.usage = Usage(model=model)

    def ask(self, user: str | list[dict[str, Any]]) -> Answer:
        """Send one user turn; return the model's ``submit_plan`` call (or its absence)."""
        import anthropic

        self.messages.append({"role": "user", "content": user})
        kw: dict[str, Any] = dict(
            model=self.model, max_tokens=self.max_tokens, system=self.system, messages=self.messages,
            tools=[{"name": TOOL_NAME, "description": "Submit the plan: tasks, dependencies, scopes, models, "
                    "budgets, verify commands and risks.", "input_schema": PLAN_SCHEMA}],
            tool_choice={"type": "tool", "name": TOOL_NAME})
        try:
            if self.stream:
                with self.client.messages.stream(**kw) as s:
                    msg = s.get_final_message()
            else:
                msg = self.client.messages.create(**kw)
        except anthropic.APIStatusError as e:
            raise PlanError(f"the planning model failed: API error {e.status_code}: {_short(e.message)}") from None
        except anthropic.APIConnectionError as e:
            where = getattr(self.client, "base_url", "")
            raise PlanError(f"the planning model failed: cannot connect to {where}: {_short(str(e))}",
                            "check --base-url / ANTHROPIC_BASE_URL and the network") from None
        except anthropic.APIError as e:
            raise PlanError(f"the planning model failed: {_short(str(e))}") from None
        self.usage.add(msg.usage)
        content = [b.model_dump(exclude_none=True) for b in msg.content]
        self.messages.append({"role": "assistant", "content": content})
        calls = [b for b in msg.content if getattr(b, "type", "") == "tool_use" and b.name == TOOL_NAME]
        text = " ".join(getattr(b, "text", "") for b in msg.content if getattr(b, "type", "") == "text")
        if getattr(msg, "stop_reason", None) == "max_tokens":
            return Answer(None, calls[0].id if calls else None, content, text,
                          f"the answer was cut off at max_tokens={self.max_tokens}: make the plan shorter "
                          "(fewer tasks, shorter missions)")
        if not calls:
            return Answer(None, None, content, text)
        return Answer(calls[0].input, calls[0].id, content, text)

    def repair(self, previous: Answer, errors: list[str]) -> Answer:
        """The one follow-up: the errors as the tool's result (or as text when the tool was not called)."""
        body = ("The plan was refused. Fix every problem below and call submit_plan again with the whole "
                "corrected plan:\n" + "\n".join(f"- {e}" for e in errors))
        if previous.tool_use_id is None:
            return self.ask(body)
        return self.ask([{"type": "tool_result", "tool_use_id": previous.tool_use_id, "is_error": True,
                          "content": body}])


def _short(s: str, n: int = 300) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 1] + "…"
