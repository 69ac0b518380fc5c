"""``agent = "opencode"``: sst's OpenCode (tested 1.18.33).

Started as ``opencode [--model PROVIDER/MODEL] [extra args] --prompt PROMPT`` (its TUI), or headless as
``opencode run --format json [--model M] [extra args] -- PROMPT`` (JSONL on stdout). ``CORTEX_OPENCODE_BIN``
overrides the binary. ``permission_mode`` sets ``OPENCODE_PERMISSION``: ``ask`` (shell commands and edits
ask first), ``allow`` (they run unasked); unset keeps the user's own configuration.

Structured signals: a plugin of ours (``cortex_tui/data/opencode_plugin.js``), loaded through
``OPENCODE_CONFIG_CONTENT`` (merged over the user's own configuration, which is never written), appends
OpenCode's bus events to the session's events file (``source: "opencode"``):

* ``session.status`` ``busy`` / ``session.idle`` → busy / idle; a ``step-finish`` part whose reason is not
  ``tool-calls`` (the model ended its turn) → idle at once (``session.idle`` follows; OpenCode's ``busy``
  status just before it is nothing — no new turn, no progress that would show the idle session running);
* ``permission.asked`` → waiting (the permission and its patterns/command as evidence),
  ``permission.replied`` → the dialog is gone;
* ``message.updated`` of an assistant message → its ``tokens`` (``input`` excludes ``cache.read``) and
  ``cost``: running totals per model, every message counted once at its latest figure;
* ``message.part.updated`` of a ``tool`` part: ``state.status = "error"`` (not a rejected permission) or a
  ``bash`` part completed with ``metadata.exit`` ≠ 0 → the repeated-error rule;
  ``write``/``edit`` with a ``filePath`` outside the worktree → out_of_scope;
* ``session.error`` → progress with the error text.

OpenCode's own worktree snapshots are off in a supervised session (``"snapshot": false`` in the same
``OPENCODE_CONFIG_CONTENT``; :func:`snapshots_kept`): it takes one (``git add`` over the whole worktree into a
store of its own) before it records each step's ``step-finish``, which put the turn's end 240-390 ms after the
answer was complete. ``CORTEX_OPENCODE_SNAPSHOT=1`` in the session's env, or a session
``OPENCODE_CONFIG_CONTENT`` with its own ``snapshot``, keeps OpenCode's choice (and its ``/undo`` of files).

The permission dialog is answered on the screen (``△ Permission required`` … ``Allow once   Allow always
Reject``): ``Enter`` approves once only when the drawn choices start with ``Allow once`` (the cursor's
place; otherwise nothing is sent and approve says why), ``Escape`` rejects.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from cortex_tui.agents.base import AgentAdapter, AgentSignal, ApprovalPrompt, KeyInput, SpawnContext
from cortex_tui.agents.dialogs import clean
from cortex_tui.errors import CortexError
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import TokenUsage

PLUGIN_NAME = "cortex-opencode-plugin.js"
PERMISSIONS = {"ask": {"bash": "ask", "edit": "ask", "webfetch": "ask"},
               "allow": {"bash": "allow", "edit": "allow", "webfetch": "allow", "external_directory": "allow"}}
WRITE_TOOLS = ("write", "edit")
_QUESTION = re.compile(r"^(?:△\s*)?Permission required\b")
_ALLOW = re.compile(r"\bAllow once\b")
_REJECT = re.compile(r"\bReject\b")


def _int(v: object) -> int:
    return max(0, int(v)) if isinstance(v, int | float) and not isinstance(v, bool) else 0


def usage_of(tokens: dict[str, Any]) -> TokenUsage:
    cache = tokens.get("cache") if isinstance(tokens.get("cache"), dict) else {}
    assert isinstance(cache, dict)
    return TokenUsage(input=_int(tokens.get("input")), output=_int(tokens.get("output")) + _int(tokens.get("reasoning")),
                      cache_read=_int(cache.get("read")), cache_write=_int(cache.get("write")))


def _describe_permission(p: dict[str, Any]) -> str:
    """``bash: echo hi > made.txt`` from a permission.asked payload (its type, then what it is about)."""
    kind = p.get("permission") or p.get("type") or "permission"
    meta = p.get("metadata") if isinstance(p.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    what = meta.get("command") or meta.get("filepath") or meta.get("filePath")
    pats = p.get("patterns") or p.get("pattern")
    if not what and isinstance(pats, list):
        what = " ".join(str(x) for x in pats)
    return f"{kind}: {what}" if what else str(kind)


@dataclass
class OpenCodeAdapter(AgentAdapter):
    _usage: dict[str, tuple[str, TokenUsage, float]] = field(default_factory=dict, repr=False, compare=False)
    """assistant message id -> (model, usage, cost) at its latest update."""
    _failed: set[str] = field(default_factory=set, repr=False, compare=False)
    _asked: set[str] = field(default_factory=set, repr=False, compare=False)
    """permission requests asked and not replied yet: meanwhile other events are progress, never ``busy``
    (a ``busy`` ends the waiting state, and the dialog would be raised twice)."""
    _turn_over: bool = field(default=False, repr=False, compare=False)
    """The model ended its turn (a ``step-finish`` whose reason is not ``tool-calls``): OpenCode's own work
    after it (its diff summary, a ``busy`` status before ``session.idle``) is neither a new turn nor progress;
    a new message (the next prompt, another assistant step) ends this."""
    _messages: set[str] = field(default_factory=set, repr=False, compare=False)
    _root: str = ""

    def command(self, session: ResolvedSession, ctx: SpawnContext) -> list[str]:
        if session.command:
            return ["/bin/sh", "-c", session.command]
        argv = [os.environ.get("CORTEX_OPENCODE_BIN") or "opencode"]
        if ctx.headless:
            argv += ["run", "--format", "json"]
        if session.model:
            argv += [f"--model={session.model}"]  # one token: a model "-x" is not read as a flag
        argv += list(session.extra_args)
        if ctx.headless:
            argv += ["--", session.prompt] if session.prompt else []
        elif session.prompt:
            argv += [f"--prompt={session.prompt}"]
        return argv

    def prepare(self, session: ResolvedSession, ctx: SpawnContext) -> None:
        ctx.session_dir.mkdir(parents=True, exist_ok=True)
        src = files("cortex_tui").joinpath("data", "opencode_plugin.js").read_text(encoding="utf-8")
        (ctx.session_dir / PLUGIN_NAME).write_text(src, encoding="utf-8")
        self._root = str(ctx.worktree)

    def env(self, session: ResolvedSession, ctx: SpawnContext) -> dict[str, str]:
        """Our plugin (merged into the session's own ``OPENCODE_CONFIG_CONTENT`` if it sets one), the events
        file it writes, no self-update, OpenCode's snapshots off (:func:`snapshots_kept`: a session's own
        ``snapshot`` key, or ``CORTEX_OPENCODE_SNAPSHOT=1``, keeps them); ``OPENCODE_PERMISSION`` from
        ``permission_mode``."""
        base: dict[str, Any] = {}
        raw = session.env.get("OPENCODE_CONFIG_CONTENT")
        if raw:
            try:
                got = json.loads(raw)
            except ValueError:
                raise ValueError(f"session {session.name!r}: env OPENCODE_CONFIG_CONTENT is not JSON") from None
            if isinstance(got, dict):
                base = got
        plugins = [p for p in base.get("plugin") or [] if isinstance(p, str)]
        plugins.append((ctx.session_dir / PLUGIN_NAME).resolve().as_uri())
        ours: dict[str, Any] = {} if snapshots_kept(dict(session.env)) else {"snapshot": False}
        env = {"OPENCODE_CONFIG_CONTENT": json.dumps({**ours, **base, "plugin": plugins}),
               "CORTEX_OPENCODE_EVENTS": str(ctx.events_file), "OPENCODE_DISABLE_AUTOUPDATE": "1"}
        if session.permission_mode:
            if session.permission_mode not in PERMISSIONS:
                raise ValueError(f"session {session.name!r}: permission_mode {session.permission_mode!r} for opencode "
                                 f"must be one of {', '.join(PERMISSIONS)}")
            env["OPENCODE_PERMISSION"] = json.dumps(PERMISSIONS[session.permission_mode])
        return env

    # ------------------------------------------------------------------ screen
    def find_approval(self, screen_lines: list[str]) -> ApprovalPrompt | None:
        """The permission dialog: ``Permission required`` with ``Allow once`` … ``Reject`` under it."""
        lines = [clean(ln) for ln in screen_lines if ln.strip()][-30:]
        for i in range(len(lines) - 1, -1, -1):
            if _QUESTION.search(lines[i]):
                rest = lines[i:]
                if any(_ALLOW.search(ln) for ln in rest) and any(_REJECT.search(ln) for ln in rest):
                    return ApprovalPrompt(text="\n".join(rest).strip())
                return None
        return None

    def approve_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        if prompt is not None and _first_is_allow(prompt):
            return [("key", "Enter")]
        raise CortexError("the OpenCode permission dialog does not start with 'Allow once' (untested layout): "
                          "no key sent", "attach to the session and answer it there")

    def deny_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        return [("key", "Escape")]

    def interrupt_keys(self) -> list[KeyInput]:
        return [("key", "Escape")]

    # ------------------------------------------------------------------ events
    def interpret_event(self, event: dict[str, Any]) -> list[AgentSignal]:
        sigs = self._interpret(event)
        if self._turn_over:  # OpenCode's own work after the turn's end (a busy status just before session.idle):
            # nothing — the engine takes progress of an idle session as a new turn (running), then idle again
            return [s for s in sigs if s.kind not in ("busy", "progress")]
        if self._asked:
            sigs = [AgentSignal("progress", text=s.text) if s.kind == "busy" else s for s in sigs]
        return sigs

    def _interpret(self, event: dict[str, Any]) -> list[AgentSignal]:
        if event.get("source") != "opencode":
            return self._from_stdout(event)
        kind = event.get("event")
        p = event.get("payload") if isinstance(event.get("payload"), dict) else {}
        assert isinstance(p, dict)
        if kind == "session.status":
            st = p.get("status")
            typ = st.get("type") if isinstance(st, dict) else None
            if typ == "busy":
                return [AgentSignal("busy", text="busy")]
            if typ == "idle":
                return [AgentSignal("idle", text="idle")]
            return [AgentSignal("progress", text=str(typ))]
        if kind == "session.idle":
            return [AgentSignal("idle", text="session idle")]
        if kind == "permission.asked":
            self._asked.add(str(p.get("id")))
            return [AgentSignal("waiting", text=_describe_permission(p))]
        if kind == "permission.replied":
            self._asked.discard(str(p.get("requestID") or p.get("id")))
            return [AgentSignal("busy", text=f"permission {p.get('reply') or p.get('response') or 'answered'}")]
        if kind == "session.error":
            err = p.get("error")
            data = err.get("data") if isinstance(err, dict) else None
            msg = data.get("message") if isinstance(data, dict) else err
            return [AgentSignal("progress", text=f"error: {msg}")]
        if kind == "message.updated":
            return self._message(p.get("info"))
        if kind == "message.part.updated":
            return self._part(p.get("part"))
        return []

    def _message(self, info: object) -> list[AgentSignal]:
        if isinstance(info, dict) and isinstance(info.get("id"), str) and info["id"] not in self._messages:
            self._messages.add(info["id"])
            self._turn_over = False  # a new prompt or another step of the model: a turn runs
        if not isinstance(info, dict) or info.get("role") != "assistant" or not isinstance(info.get("id"), str):
            return []
        tokens = info.get("tokens")
        if not isinstance(tokens, dict):
            return [AgentSignal("progress", text="assistant message")]
        mid = info.get("modelID")
        model = mid if isinstance(mid, str) else ""
        cost = info.get("cost")
        self._usage[info["id"]] = (model, usage_of(tokens), float(cost) if isinstance(cost, int | float) else 0.0)
        per: dict[str, tuple[TokenUsage, float]] = {}
        for m, u, c in self._usage.values():
            t, tc = per.get(m, (TokenUsage(), 0.0))
            per[m] = (TokenUsage(input=t.input + u.input, output=t.output + u.output, cache_read=t.cache_read + u.cache_read,
                                 cache_write=t.cache_write + u.cache_write), tc + c)
        # OpenCode prices only models it knows (0 for a custom provider's): its 0 is no cost figure
        return [AgentSignal("usage", usage=u, model=m or None, total=True, cost_usd=c or None) for m, (u, c) in per.items()]

    def _part(self, part: object) -> list[AgentSignal]:
        if isinstance(part, dict) and part.get("type") == "step-finish":
            reason = part.get("reason")
            if reason in ("tool-calls", "tool_calls") or self._asked:  # it goes on with the tools' results
                return [AgentSignal("progress", text=f"step finished ({reason})")]
            self._turn_over = True  # the turn's end, ~1-2 s before OpenCode's session.idle
            return [AgentSignal("idle", text=f"turn ended ({reason})")]
        if not isinstance(part, dict) or part.get("type") != "tool":
            return []
        st = part.get("state") if isinstance(part.get("state"), dict) else {}
        assert isinstance(st, dict)
        status = st.get("status")
        out: list[AgentSignal] = [AgentSignal("busy", text=f"{part.get('tool')} {status}")]
        key = f"{part.get('callID') or part.get('id')}:{status}"
        rejected = "rejected permission" in str(st.get("error"))  # a denied approval is not a failing command
        if status == "error" and not rejected and key not in self._failed:
            self._failed.add(key)
            out.append(AgentSignal("error", text=str(st.get("error") or f"{part.get('tool')} failed")[:500]))
        meta = st.get("metadata") if isinstance(st.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        code = meta.get("exit")
        if (status == "completed" and part.get("tool") == "bash" and isinstance(code, int) and code != 0
                and key not in self._failed):  # a command that failed is a completed tool call with its exit code
            self._failed.add(key)
            lines = [ln.strip() for ln in str(meta.get("output") or st.get("output") or "").splitlines() if ln.strip()]
            out.append(AgentSignal("error", text=(lines[-1] if lines else f"exit code {code}")[:500]))
        inp = st.get("input") if isinstance(st.get("input"), dict) else {}
        assert isinstance(inp, dict)
        path = inp.get("filePath")
        if part.get("tool") in WRITE_TOOLS and isinstance(path, str) and self._root and status in ("completed", "error"):
            full = os.path.realpath(os.path.join(self._root, path))
            base = os.path.realpath(self._root)
            if full != base and not full.startswith(base.rstrip(os.sep) + os.sep):
                out.append(AgentSignal("outside" if status == "completed" else "blocked", text=full))
        return out

    def _from_stdout(self, event: dict[str, Any]) -> list[AgentSignal]:
        """``opencode run --format json`` lines: state only (usage comes from the plugin, counted once)."""
        kind = event.get("type")
        if kind in ("step_start", "text", "tool_use", "step_finish"):
            return [AgentSignal("busy")]
        if kind == "error":
            return [AgentSignal("progress", text=f"error: {event.get('error')}")]
        return super().interpret_event(event)


def snapshots_kept(env: dict[str, str]) -> bool:
    """Whether a supervised session keeps OpenCode's own snapshots (``CORTEX_OPENCODE_SNAPSHOT=1`` in its env).

    OpenCode (1.18.33) snapshots the whole worktree into a git store of its own (``git add`` + ``write-tree``
    over every file) at the start of each model step and again at its end *before* it records the step's
    ``step-finish`` — the turn's end, 240-390 ms after the answer's text was complete on a loaded 2-core
    machine (``benchmarks/detect.py --trace``), and more the bigger the worktree. They serve OpenCode's
    ``/undo`` of file changes and its session diff; a supervised session is already a branch of its own in a
    worktree of its own (cortex-tui's review shows its diff). Off by default in the session's
    ``OPENCODE_CONFIG_CONTENT`` (never in the user's files); a session ``OPENCODE_CONFIG_CONTENT`` that sets
    ``snapshot`` itself wins."""
    return env.get("CORTEX_OPENCODE_SNAPSHOT", os.environ.get("CORTEX_OPENCODE_SNAPSHOT", "0")) == "1"


def _first_is_allow(prompt: ApprovalPrompt) -> bool:
    """The dialog's choices line starts with ``Allow once`` (where the cursor starts: Enter picks it)."""
    for ln in prompt.text.splitlines():
        if _ALLOW.search(ln) and _REJECT.search(ln):
            return ln.lstrip().startswith("Allow once")
    return False


def make() -> AgentAdapter:
    return OpenCodeAdapter(kind="opencode", progress="events", exposes_usage=True,
                           ui_processes=frozenset({"opencode", ".opencode"}))

