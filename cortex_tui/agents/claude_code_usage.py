"""Claude Code's token usage: its transcripts (read incrementally, per model) and stream-json ``result`` lines.

Part of ``agent = "claude-code"`` (:mod:`cortex_tui.agents.claude_code`, which re-exports these names).
A transcript is ``~/.claude/projects/<munged cwd>/<session_id>.jsonl`` (named by every hook payload), with
per-message ``usage`` deduplicated by message id; the final stream-json line of a headless run has usage and
``total_cost_usd``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cortex_tui.model.state import TokenUsage


class _Usage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_read_input_tokens: int = Field(default=0, ge=0)
    cache_creation_input_tokens: int = Field(default=0, ge=0)


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    model: str | None = None
    usage: _Usage | None = None


class _TranscriptEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    message: _Message | None = None
    requestId: str | None = None


def transcript_path(cwd: str | Path, session_id: str, home: str | Path | None = None) -> Path:
    """Where Claude Code keeps the transcript of ``session_id`` started in ``cwd``."""
    munged = re.sub(r"[^A-Za-z0-9]", "-", str(cwd))
    base = Path(home) if home is not None else Path(os.path.expanduser("~"))
    return base / ".claude" / "projects" / munged / f"{session_id}.jsonl"


@dataclass
class TranscriptReader:
    """Incremental reader of one transcript file (and its ``<session>/subagents/*.jsonl`` side files).

    Each assistant message appears once per content block, all with the same ``message.id``; usage is
    counted once per id (the largest figures seen for it).
    """

    path: Path
    _offsets: dict[Path, int] = field(default_factory=dict)
    _partial: dict[Path, bytes] = field(default_factory=dict)
    _by_id: dict[str, tuple[str, TokenUsage]] = field(default_factory=dict)

    def read(self) -> bool:
        """Read what was appended since the last call; True when usage changed."""
        changed = False
        files = [self.path]
        sub = self.path.with_suffix("") / "subagents"
        if sub.is_dir():
            files.extend(sorted(sub.glob("*.jsonl")))
        for f in files:
            changed |= self._read_file(f)
        return changed

    def _read_file(self, f: Path) -> bool:
        try:
            with open(f, "rb") as fh:
                fh.seek(self._offsets.get(f, 0))
                data = fh.read()
        except OSError:
            return False
        if not data:
            return False
        self._offsets[f] = self._offsets.get(f, 0) + len(data)
        data = self._partial.pop(f, b"") + data
        lines = data.split(b"\n")
        if lines[-1]:
            self._partial[f] = lines[-1]  # a line still being written
        changed = False
        for raw in lines[:-1]:
            if b'"usage"' not in raw or b'"assistant"' not in raw:
                continue  # cheap skip of the big request blobs
            changed |= self._take(raw)
        return changed

    def _take(self, raw: bytes) -> bool:
        try:
            entry = _TranscriptEntry.model_validate_json(raw)
        except ValidationError:
            return False
        msg = entry.message
        if entry.type != "assistant" or msg is None or msg.usage is None:
            return False
        if msg.model == "<synthetic>":
            return False  # local error placeholders, never billed
        key = msg.id or entry.requestId or f"anon-{len(self._by_id)}"
        u = msg.usage
        new = TokenUsage(input=u.input_tokens, output=u.output_tokens, cache_read=u.cache_read_input_tokens,
                         cache_write=u.cache_creation_input_tokens)
        old = self._by_id.get(key)
        if old is not None:
            o = old[1]
            new = TokenUsage(input=max(o.input, new.input), output=max(o.output, new.output),
                             cache_read=max(o.cache_read, new.cache_read),
                             cache_write=max(o.cache_write, new.cache_write))
            if new == o:
                return False
        self._by_id[key] = (msg.model or "", new)
        return True

    def by_model(self) -> dict[str, TokenUsage]:
        out: dict[str, TokenUsage] = {}
        for model, u in self._by_id.values():
            o = out.get(model, TokenUsage())
            out[model] = TokenUsage(input=o.input + u.input, output=o.output + u.output,
                                    cache_read=o.cache_read + u.cache_read, cache_write=o.cache_write + u.cache_write)
        return out

    def total(self) -> TokenUsage | None:
        if not self._by_id:
            return None
        t = TokenUsage()
        for u in self.by_model().values():
            t = TokenUsage(input=t.input + u.input, output=t.output + u.output,
                           cache_read=t.cache_read + u.cache_read, cache_write=t.cache_write + u.cache_write)
        return t


def usage_from_transcript(path: str | Path) -> TokenUsage | None:
    """Total usage recorded in a transcript; None when it has no assistant message with usage (or is missing)."""
    r = TranscriptReader(Path(path))
    r.read()
    return r.total()


def usage_by_model_from_transcript(path: str | Path) -> dict[str, TokenUsage]:
    r = TranscriptReader(Path(path))
    r.read()
    return r.by_model()


class _ModelUsage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    inputTokens: int = Field(default=0, ge=0)
    outputTokens: int = Field(default=0, ge=0)
    cacheReadInputTokens: int = Field(default=0, ge=0)
    cacheCreationInputTokens: int = Field(default=0, ge=0)
    costUSD: float | None = Field(default=None, ge=0)


class StreamResult(BaseModel):
    """The final ``{"type": "result", ...}`` line of ``--output-format stream-json`` (or ``json``)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    subtype: str | None = None
    is_error: bool = False
    total_cost_usd: float | None = Field(default=None, ge=0)
    usage: _Usage | None = None
    modelUsage: dict[str, _ModelUsage] = Field(default_factory=dict)
    permission_denials: list[Any] = Field(default_factory=list)
    result: str | None = None


def usage_from_stream_result(obj: dict[str, Any] | str) -> tuple[TokenUsage, float | None] | None:
    """(usage, cost in USD) from a stream-json ``result`` line; None when it is not one."""
    try:
        res = StreamResult.model_validate_json(obj) if isinstance(obj, str) else StreamResult.model_validate(obj)
    except ValidationError:
        return None
    if res.type != "result" or res.usage is None:
        return None
    u = res.usage
    return (TokenUsage(input=u.input_tokens, output=u.output_tokens, cache_read=u.cache_read_input_tokens,
                       cache_write=u.cache_creation_input_tokens), res.total_cost_usd)
