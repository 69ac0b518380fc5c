"""``agent = "claude-code"``: Anthropic's Claude Code CLI.

How it is started: ``claude --permission-mode MODE --settings <session_dir>/claude-settings.json
[--model M] [extra args] -- PROMPT`` (interactive), or with ``-p --output-format stream-json --verbose``
when the run is headless. ``CORTEX_CLAUDE_BIN`` overrides the binary.

What it is watched by, best first:

* **hooks** — ``prepare()`` writes a settings file whose hooks run ``python -m cortex_tui.hook`` (see
  :mod:`cortex_tui.hook`) for every lifecycle event; each appends a line to the session's events file.
  :meth:`ClaudeCodeAdapter.interpret_event` turns those lines into :class:`AgentSignal` s. In enforce
  mode the PreToolUse hook also refuses writes outside the session's scope.
* **the transcript** ``~/.claude/projects/<munged cwd>/<session_id>.jsonl`` (named by every hook
  payload) — per-message ``usage``, deduplicated by message id; read incrementally and reported as
  usage increments per model.
* **stream-json** (headless) — the final ``result`` line has usage and ``total_cost_usd``.
* **the screen**, last — only for the permission dialog (numbered choices, answered by number).

Progress is ``events``: Claude Code animates its spinner even when its API has gone silent.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cortex_tui.agents.base import AgentAdapter, AgentSignal, ApprovalPrompt, KeyInput, SpawnContext
from cortex_tui.agents.dialogs import NumberedDialogAdapter, find_numbered_dialog
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import TokenUsage
from cortex_tui.selfpath import PACKAGE_PARENT

SOURCE = "claude-code"
SETTINGS_FILE = "claude-settings.json"
SCOPE_FILE = "scope.json"
HOOK_EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest", "Notification", "Stop",
               "SessionStart", "SessionEnd", "UserPromptSubmit")
_TOOL_EVENTS = {"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest"}
HOOK_TIMEOUT_S = 30

QUESTIONS = [
    re.compile(r"^Do you want to (?:proceed|make this edit|create|allow|run|overwrite|delete|fetch|use)\b.*\?\s*$"),
    re.compile(r"^Do you want to .+\?\s*$"),
]


# ---------------------------------------------------------------------------------------------------------
# Usage: transcripts and stream-json


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


# ---------------------------------------------------------------------------------------------------------
# The adapter


class _HookLine(BaseModel):
    """A line written by :mod:`cortex_tui.hook`."""

    model_config = ConfigDict(extra="ignore")

    source: str
    event: str
    ts: float | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


def _summary(payload: dict[str, Any]) -> str:
    tool = payload.get("tool_name") or "?"
    raw = payload.get("tool_input")
    ti: dict[str, Any] = raw if isinstance(raw, dict) else {}
    detail = ti.get("command") or ti.get("file_path") or ti.get("notebook_path") or ti.get("url") or ti.get("pattern")
    text = f"{tool}: {detail}" if detail else str(tool)
    return text if len(text) <= 300 else text[:299] + "…"


_MENU_TAG = "[start-up] "
_MENU_QUESTIONS = [re.compile(r"Is this a project you created or one you trust\?"),
                   re.compile(r"Bypass Permissions mode")]
_SELECTED = re.compile(r"^\s*❯\s+(\S.*)$")
_YES_ITEM = re.compile(r"^Yes\b")


def find_startup_menu(screen_lines: list[str]) -> ApprovalPrompt | None:
    """Claude's start-up menus (2.1.331): the workspace-trust question ("Is this a project you created or one
    you trust?") and the bypass-permissions warning — unnumbered items (``❯ No, exit`` / ``Yes, I trust
    this folder``) over ``Enter to confirm · Esc to cancel``. Shown as waiting; approve moves to "Yes"."""
    lines = [ln.rstrip() for ln in screen_lines if ln.strip()][-20:]
    if not lines or "Enter to confirm" not in lines[-1]:
        return None
    start = next((i for i, ln in enumerate(lines) if any(q.search(ln) for q in _MENU_QUESTIONS)), None)
    if start is None or not any(_SELECTED.match(ln) for ln in lines[start:]):
        return None
    return ApprovalPrompt(text=_MENU_TAG + "\n".join(ln.strip() for ln in lines[start:]))


def _menu_moves(prompt: ApprovalPrompt | None, want: re.Pattern[str]) -> list[KeyInput] | None:
    """Arrow keys from the selected item to the one matching ``want``, then Enter (None: not a menu)."""
    if prompt is None or not prompt.text.startswith(_MENU_TAG):
        return None
    items: list[tuple[bool, str]] = []
    for ln in prompt.text[len(_MENU_TAG):].splitlines():
        m = _SELECTED.match(ln)
        if m:
            items.append((True, m.group(1).strip()))
        elif items and not ln.startswith(("Enter to confirm", "Esc")):
            items.append((False, ln.strip()))
    cur = next((i for i, (sel, _) in enumerate(items) if sel), None)
    target = next((i for i, (_, label) in enumerate(items) if want.search(label)), None)
    if cur is None or target is None:
        return None
    step: KeyInput = ("key", "Down") if target > cur else ("key", "Up")
    return [step] * abs(target - cur) + [("key", "Enter")]


_WRITE_KEYS = {"Edit": "file_path", "Write": "file_path", "MultiEdit": "file_path", "NotebookEdit": "notebook_path"}


def _outside_write(p: dict[str, Any]) -> list[AgentSignal]:
    """A write tool that changed a file outside the worktree (the payload's ``cwd``): the watcher, which
    sees only worktrees, cannot flag it, so the hook payload does (warn mode; enforce mode blocks it)."""
    key = _WRITE_KEYS.get(str(p.get("tool_name")))
    ti = p.get("tool_input")
    cwd = p.get("cwd")
    if key is None or not isinstance(ti, dict) or not isinstance(ti.get(key), str) or not isinstance(cwd, str):
        return []
    full = os.path.realpath(os.path.join(cwd, ti[key]))
    base = os.path.realpath(cwd)
    if full == base or full.startswith(base.rstrip(os.sep) + os.sep):
        return []
    return [AgentSignal("outside", text=full)]


def hook_command(ctx: SpawnContext, *, enforce: bool) -> str:
    """The shell command Claude Code runs for each hook (``-S``: skip site, the hook needs only stdlib)."""
    argv = [sys.executable, "-S", "-m", "cortex_tui.hook", "--events", str(ctx.events_file),
            "--root", str(ctx.worktree)]
    if enforce:
        argv += ["--scope-file", str(ctx.session_dir / SCOPE_FILE), "--enforce"]
    return f"PYTHONPATH={shlex.quote(PACKAGE_PARENT)} {shlex.join(argv)}"


def settings_json(ctx: SpawnContext, *, enforce: bool) -> dict[str, Any]:
    cmd = {"type": "command", "command": hook_command(ctx, enforce=enforce), "timeout": HOOK_TIMEOUT_S}
    hooks: dict[str, Any] = {}
    for ev in HOOK_EVENTS:
        entry: dict[str, Any] = {"hooks": [cmd]}
        if ev in _TOOL_EVENTS:
            entry = {"matcher": "*", **entry}
        hooks[ev] = [entry]
    return {"hooks": hooks}


@dataclass
class ClaudeCodeAdapter(NumberedDialogAdapter):
    _readers: dict[str, TranscriptReader] = field(default_factory=dict, repr=False, compare=False)
    _reported: dict[tuple[str, str], TokenUsage] = field(default_factory=dict, repr=False, compare=False)
    """Per (transcript, model): the totals already turned into usage increments."""

    def binary(self) -> str:
        return os.environ.get("CORTEX_CLAUDE_BIN") or "claude"

    def command(self, session: ResolvedSession, ctx: SpawnContext) -> list[str]:
        if session.command:
            return ["/bin/sh", "-c", session.command]
        argv = [self.binary(), "--permission-mode", session.permission_mode or "default",
                "--settings", str(ctx.session_dir / SETTINGS_FILE)]
        if session.model:
            argv += [f"--model={session.model}"]  # one token: a model "-x" is not read as a flag
        if ctx.headless:
            argv += ["-p", "--output-format", "stream-json", "--verbose"]
        argv += list(session.extra_args)
        if session.prompt:
            argv += ["--", session.prompt]
        return argv

    def prepare(self, session: ResolvedSession, ctx: SpawnContext) -> None:
        ctx.session_dir.mkdir(parents=True, exist_ok=True)
        enforce = session.scope_mode == "enforce"
        if enforce:
            (ctx.session_dir / SCOPE_FILE).write_text(json.dumps(list(session.scope)), encoding="utf-8")
        (ctx.session_dir / SETTINGS_FILE).write_text(
            json.dumps(settings_json(ctx, enforce=enforce), indent=2), encoding="utf-8")

    # -- screen ----------------------------------------------------------------------------------------
    def find_approval(self, screen_lines: list[str]) -> ApprovalPrompt | None:
        """The permission dialog, with the lines above its question (the tool and its command) as evidence;
        else a start-up menu (workspace trust, bypass-permissions warning) that waits for a human."""
        return find_numbered_dialog(screen_lines, self.approval_patterns, before=4) or find_startup_menu(screen_lines)

    def approve_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        moves = _menu_moves(prompt, _YES_ITEM)
        return moves if moves is not None else super().approve_keys(prompt)

    def deny_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        if prompt is not None and prompt.text.startswith(_MENU_TAG):
            return [("key", "Escape")]  # the start-up menus: Esc = no (Claude exits)
        return super().deny_keys(prompt)

    def screen_idle(self, screen_lines: list[str]) -> bool:
        """At its input box after a turn: the footer says ``? for shortcuts`` and nowhere ``esc to
        interrupt``, above it ``· done`` or ``Interrupted ·`` (after a denied approval Claude shows "Interrupted · What should Claude do
        instead?" and no Stop hook fires)."""
        tail = [ln for ln in screen_lines if ln.strip()][-8:]
        text = "\n".join(tail)
        ended = "Interrupted ·" in text or "· done" in text  # a turn ended (not the start-up screen)
        return ended and "? for shortcuts" in text and "esc to interrupt" not in text.lower()

    # -- structured events -----------------------------------------------------------------------------
    def usage_checkpoint(self) -> dict[str, Any]:
        return {"reported": [[path, model, u.model_dump()] for (path, model), u in self._reported.items()]}

    def restore_usage_checkpoint(self, data: dict[str, Any]) -> None:
        """Totals already reported per (transcript, model); the transcripts are re-read for what is new."""
        for item in data.get("reported") or []:
            try:
                path, model, usage = item
                self._reported[(str(path), str(model))] = TokenUsage.model_validate(usage)
            except (ValueError, TypeError):
                continue
            self._readers.setdefault(str(path), TranscriptReader(Path(str(path))))

    def interpret_event(self, event: dict[str, Any]) -> list[AgentSignal]:
        """Signals from a hook line (``source: claude-code``) or a stream-json line (``type: result`` …).

        On tool completion, Stop and SessionEnd it reads what was appended to the transcript named in the
        payload and emits usage *increments* per model (what grew since the last signal). A stream-json
        ``result`` line gives the run's totals instead (``total=True``, with the CLI's own cost): feed the
        engine one source or the other, not both.
        """
        if event.get("source") == SOURCE:
            try:
                line = _HookLine.model_validate(event)
            except ValidationError:
                return []
            return self._from_hook(line)
        if event.get("type") in ("result", "assistant", "user", "system"):
            return self._from_stream(event)
        return super().interpret_event(event)

    def _from_hook(self, line: _HookLine) -> list[AgentSignal]:
        p = line.payload
        ev = line.event
        out: list[AgentSignal] = []
        if ev == "PermissionRequest":
            out.append(AgentSignal("waiting", text=_summary(p)))
        elif ev == "Notification":
            kind = p.get("notification_type")
            if kind == "permission_prompt":
                out.append(AgentSignal("waiting", text=str(p.get("message") or "permission prompt")))
            elif kind == "idle_prompt":
                out.append(AgentSignal("idle", text=str(p.get("message") or "idle")))
        elif ev == "PostToolUseFailure" and not p.get("is_interrupt"):
            # the pane shows only "Ran 3 shell commands · 3 failed": the hook's error feeds repeated_error
            err = p.get("error")
            out.append(AgentSignal("busy", text=_summary(p)))
            out.append(AgentSignal("error", text=f"{_summary(p)}: {err if isinstance(err, str) else 'failed'}"[:500]))
        elif ev in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
            out.append(AgentSignal("busy", text=_summary(p)))
        elif ev == "UserPromptSubmit":
            out.append(AgentSignal("busy", text="prompt submitted"))
        elif ev == "SessionStart":
            out.append(AgentSignal("progress", text=f"session start ({p.get('source') or '?'})",
                                   model=p.get("model") if isinstance(p.get("model"), str) else None))
        elif ev == "Stop":
            out.append(AgentSignal("idle", text="turn finished"))
        elif ev == "SessionEnd":
            out.append(AgentSignal("finished", text=f"session ended ({p.get('reason') or '?'})"))
        elif ev == "blocked":  # evidence: the resolved path (the reason is what Claude was told)
            path = p.get("path")
            out.append(AgentSignal("blocked", text=str(path if isinstance(path, str) and path else
                                                       p.get("reason") or _summary(p))))
        if ev == "PostToolUse":
            out.extend(_outside_write(p))
        if ev in ("PostToolUse", "PostToolUseFailure", "Stop", "SessionEnd"):
            out.extend(self._usage_signals(p.get("transcript_path")))
        return out

    def poll_usage(self) -> list[AgentSignal]:
        """Re-read every transcript seen so far; usage increments for those that grew.

        Claude Code may fire ``Stop`` a moment *before* it appends the turn's last assistant message to
        the transcript (observed with 2.1.331), so the usage read at ``Stop`` can lag by one message. Call
        this periodically while the session lives (a few seconds apart) and once after it ends.
        """
        out: list[AgentSignal] = []
        for path in list(self._readers):
            out.extend(self._usage_signals(path))
        return out

    def _usage_signals(self, path: object) -> list[AgentSignal]:
        if not isinstance(path, str) or not path:
            return []
        reader = self._readers.get(path)
        if reader is None:
            reader = self._readers[path] = TranscriptReader(Path(path))
        if not reader.read():
            return []
        out: list[AgentSignal] = []
        for model, now in reader.by_model().items():
            before = self._reported.get((path, model), TokenUsage())
            delta = TokenUsage(input=max(0, now.input - before.input), output=max(0, now.output - before.output),
                               cache_read=max(0, now.cache_read - before.cache_read),
                               cache_write=max(0, now.cache_write - before.cache_write))
            self._reported[(path, model)] = now
            if delta.total:
                out.append(AgentSignal("usage", usage=delta, model=model or None))
        return out

    def _from_stream(self, obj: dict[str, Any]) -> list[AgentSignal]:
        if obj.get("type") != "result":
            return [AgentSignal("busy")] if obj.get("type") == "assistant" else []
        try:
            res = StreamResult.model_validate(obj)
        except ValidationError:
            return []
        out: list[AgentSignal] = []
        if res.modelUsage:
            for model, mu in res.modelUsage.items():
                out.append(AgentSignal("usage", model=model, total=True, cost_usd=mu.costUSD, usage=TokenUsage(
                    input=mu.inputTokens, output=mu.outputTokens, cache_read=mu.cacheReadInputTokens,
                    cache_write=mu.cacheCreationInputTokens)))
        else:
            got = usage_from_stream_result(obj)
            if got is not None:
                out.append(AgentSignal("usage", usage=got[0], total=True, cost_usd=got[1]))
        text = "error" if res.is_error else (res.subtype or "done")
        out.append(AgentSignal("finished", text=text))
        return out


def make() -> AgentAdapter:
    return ClaudeCodeAdapter(
        kind="claude-code",
        approval_patterns=list(QUESTIONS),
        progress="events",
        exposes_usage=True,
        ui_processes=frozenset({"claude", "node"}),
    )
