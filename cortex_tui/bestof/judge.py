"""Optional LLM judge: the task plus the top-k diffs go to a model, which answers a ranked verdict in JSON.

Uses the ``anthropic`` SDK (Messages API). The reply is asked for through a forced tool call
(``record_verdict``) and, failing that, read as JSON from the text; either way it is validated with
:class:`~cortex_tui.bestof.models.JudgeVerdict`. Nothing here raises for API errors, malformed replies
or a missing key: the result carries ``error`` and the caller keeps the non-LLM ranking.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cortex_tui.bestof.models import JudgeResult, JudgeUsage, JudgeVerdict
from cortex_tui.bestof.score import check_verdict

TOOL_NAME = "record_verdict"
MAX_DIFF_CHARS = 12_000
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)

SYSTEM = (
    "You judge competing solutions to one software task. Each candidate is a git diff made by a coding agent "
    "in its own branch, with facts about it (verify command result, tests, files outside its scope). Rank the "
    "candidates best first by how well they solve the task: correctness first, then scope discipline, then "
    "simplicity. Answer ONLY with the verdict: a JSON object "
    '{"ranking": [candidate names, best first], "reasons": {name: one-sentence reason}, "summary": "..."}.'
)

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ranking": {"type": "array", "items": {"type": "string"}, "description": "candidate names, best first"},
        "reasons": {"type": "object", "additionalProperties": {"type": "string"}},
        "summary": {"type": "string"},
    },
    "required": ["ranking", "reasons"],
}


@dataclass(frozen=True)
class Candidate:
    """One variant as the judge sees it."""

    name: str
    diff: str
    facts: str
    """One line: verify result, tests, diff size, scope violations."""


def build_prompt(task: str, candidates: list[Candidate], max_diff_chars: int = MAX_DIFF_CHARS) -> str:
    parts = [f"# Task\n{task.strip() or '(no task text given)'}\n", f"# Candidates ({len(candidates)})"]
    for c in candidates:
        diff = c.diff
        if len(diff) > max_diff_chars:
            diff = diff[:max_diff_chars] + f"\n[... diff truncated: {len(c.diff) - max_diff_chars} more characters]"
        parts.append(f"\n## {c.name}\nfacts: {c.facts}\n```diff\n{diff}\n```")
    names = ", ".join(json.dumps(c.name) for c in candidates)
    parts.append(f"\nRank all of: {names}. Call the {TOOL_NAME} tool with the verdict.")
    return "\n".join(parts)


def parse_reply(content: list[Any]) -> JudgeVerdict:
    """The verdict from a reply's content blocks: the tool call's input, else JSON in the text.

    Raises ValueError (or pydantic's ValidationError, a ValueError) when neither holds a valid verdict.
    """
    texts: list[str] = []
    for block in content:
        kind = getattr(block, "type", None)
        if kind == "tool_use" and getattr(block, "name", None) == TOOL_NAME:
            return JudgeVerdict.model_validate(getattr(block, "input", None))
        if kind == "text":
            texts.append(str(getattr(block, "text", "")))
    text = _FENCE.sub("", "\n".join(texts)).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError(f"reply holds no JSON object: {text[:120]!r}")
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError as e:
        raise ValueError(f"reply is not valid JSON ({e.msg} at char {e.pos}): {text[:120]!r}") from None
    return JudgeVerdict.model_validate(data)


def _error_text(e: Exception) -> str:
    import anthropic

    if isinstance(e, anthropic.APIStatusError):
        return f"API error {e.status_code}: {e.message}"
    if isinstance(e, anthropic.APIConnectionError):
        return f"API connection error: {e}"
    if isinstance(e, ValidationError):
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(root)"
        return f"malformed verdict: field '{loc}': {first['msg']}"
    if isinstance(e, ValueError):
        return f"malformed verdict: {e}"
    return f"{type(e).__name__}: {e}"


def run_judge(task: str, candidates: list[Candidate], model: str, *, api_key: str | None = None,
              base_url: str | None = None, max_tokens: int = 2048, timeout_s: float = 120.0,
              max_retries: int = 2, prices: dict[str, dict[str, float]] | None = None) -> JudgeResult:
    """Ask ``model`` to rank ``candidates``. Never raises for API or reply problems (see ``error``).

    ``api_key``/``base_url`` default to ``ANTHROPIC_API_KEY``/``ANTHROPIC_BASE_URL``. A ranking that omits
    candidates is completed with them in the given (heuristic) order; one naming unknown variants is malformed.
    """
    from cortex_tui.budgets import cost_usd
    from cortex_tui.model.state import TokenUsage

    names = [c.name for c in candidates]
    result = JudgeResult(model=model, candidates=names)
    key = api_key or os.environ.get("ANTHROPIC_API_KEY")
    if not key:
        result.error = "ANTHROPIC_API_KEY is not set; judge skipped"
        return result
    import anthropic

    started = time.monotonic()
    try:
        client = anthropic.Anthropic(api_key=key, base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL") or None,
                                     max_retries=max_retries, timeout=timeout_s)
        msg = client.messages.create(
            model=model, max_tokens=max_tokens, system=SYSTEM,
            messages=[{"role": "user", "content": build_prompt(task, candidates)}],
            tools=[{"name": TOOL_NAME, "description": "Record the ranked verdict.", "input_schema": VERDICT_SCHEMA}],
            tool_choice={"type": "tool", "name": TOOL_NAME},
        )
    except Exception as e:  # the SDK's errors, timeouts, anything: the run must still finish
        result.error = _error_text(e)
        result.duration_s = round(time.monotonic() - started, 3)
        return result
    result.duration_s = round(time.monotonic() - started, 3)
    u = msg.usage
    result.usage = JudgeUsage(input=u.input_tokens or 0, output=u.output_tokens or 0,
                              cache_read=getattr(u, "cache_read_input_tokens", None) or 0,
                              cache_write=getattr(u, "cache_creation_input_tokens", None) or 0)
    result.cost_usd = cost_usd(TokenUsage(**result.usage.model_dump()), model, prices)
    try:
        verdict = check_verdict(parse_reply(list(msg.content)), names)
    except ValueError as e:
        result.error = _error_text(e)
        return result
    result.ok = True
    result.ranking = verdict.ranking + [n for n in names if n not in verdict.ranking]
    result.reasons = {k: v for k, v in verdict.reasons.items() if k in names}
    result.summary = verdict.summary
    return result
