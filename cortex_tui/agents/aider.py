"""``agent = "aider"``: the aider pair-programming CLI.

Started as ``aider --no-check-update --no-gitignore --no-show-release-notes --no-analytics --analytics-log <events>
--chat-history-file <session_dir>/aider.chat.history.md --input-history-file <session_dir>/aider.input.history
[--yes-always] [--model M] [extra args]`` (interactive), or headless as ``aider … --yes-always --no-pretty
--no-stream --message-file <session_dir>/prompt.txt`` (does the one task, then exits).
``--no-gitignore`` keeps aider from offering to edit ``.gitignore`` (which would dirty the worktree),
``--no-show-release-notes`` from asking about them in a fresh HOME; its transcripts go to the session
directory, not the worktree. ``permission_mode``: ``ask`` (the default) or ``yes-always`` (``--yes-always``:
aider answers its own questions yes — except "Run shell command?", which it then declines).
``CORTEX_AIDER_BIN`` overrides the binary.

**The prompt is typed.** aider cannot start an interactive session on a prompt from its command line
(``--message`` does the task and exits; ``--load`` runs ``/code`` in a throwaway coder and then reports it
"only supported in interactive mode"). So the engine starts it bare and, once a screen check shows its input
prompt (``> ``, ``diff> ``, ``ask multi> ``…), types the session's prompt into it through the ordinary send path
(engine/typed_prompt.py): as one bracketed paste (``ESC[200~…ESC[201~``, so newlines and tabs arrive as text,
never as Enter or completion), then Enter. Control characters other than newline and tab are dropped (an
``ESC[201~`` inside the text would end the paste early and type the rest as keys). A prompt that starts with
``/``, ``!`` or ``{`` gets one leading space, so aider sends it to the model instead of running it as one of
its own commands (``/run …``, ``!cmd``) or opening a multi-line block. ``send`` text is typed the same way,
without that guard (a user's ``/add x.py`` is a command).

Approval prompts are one-line questions ending in ``(Y)es/(N)o [Yes]:`` (sometimes with ``/(A)ll/(S)kip all``
or ``/(D)on't ask again``), printed below their subject (the command to run, the file to create or add); the
evidence is the subject and the question. The default is Yes, so answers are always typed: ``y``/``n`` + Enter.
The turn's end is aider back at its input prompt; it records nothing structured then, but its own output says
so: every model reply ends with its ``Tokens: … sent, … received.`` line, and the next line that is its input
prompt alone (``diff>``; after any question it asked) is the turn's end — ``idle`` from the output stream
(:meth:`AiderAdapter.output_signals`), without waiting for the output to go quiet and a screen look. A screen
check showing the input prompt stays the fallback (a denied command, a turn with no reply). Progress for silence detection is new complete output lines: aider's "Waiting for <model>" spinner
redraws one line with ``\r`` and is not progress.

Usage: aider's own analytics log (``--analytics-log``, written locally even with ``--no-analytics``) is
pointed at the session's events file: every reply adds ``{"event": "message_send", "properties":
{"prompt_tokens", "completion_tokens", "cost", …}}`` with the figures the API returned — exact, unlike the
rounded ``Tokens: 13k sent, 830 received. Cost: …`` line it prints (:func:`parse_cost_line`, for reports).
``message_send_starting`` marks a request going out (busy). The figures are the API's only for non-streamed
replies: headless runs add ``--no-stream``; a streamed (interactive) reply's ``prompt_tokens`` is aider's own
estimate (known gap).

Edits outside the worktree: aider refuses any edit whose resolved path is outside its git root and records
the refusal in its chat history (aider_history.py): that attempt is flagged ``out_of_scope`` with the path.

Offline: ``LITELLM_LOCAL_MODEL_COST_MAP=True`` keeps litellm from fetching its price table at start.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from cortex_tui.agents.aider_history import HistoryTail
from cortex_tui.agents.base import AgentAdapter, AgentSignal, ApprovalPrompt, KeyInput, SpawnContext
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import TokenUsage

PROMPT_FILE = "prompt.txt"
HISTORY_FILE = "aider.chat.history.md"
INPUT_HISTORY_FILE = "aider.input.history"
PERMISSION_MODES = ("ask", "yes-always")
INPUT_RE = re.compile(r"^(?:[\w-]+(?: multi)?|multi)?> ?$")
"""aider's input prompt, alone on the last line: ``> ``, ``diff> ``, ``ask multi> ``."""
_SUBJECT_STOP = re.compile(r"^(?:Tokens: |```|Applied edit to |Running )|\(Y\)es/\(N\)o")
"""Lines above a question that are not its subject (the cost line, a fence, an earlier question)."""
MAX_SUBJECT = 6
_RULE = re.compile(r"^─{20,}$")
"""The horizontal rule aider (pretty) draws above its input prompt."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"
LITERAL_CHARS = 2000
"""A paste is typed in pieces of at most this many characters (tmux refuses a command over ~16 KB: "command too
long"; 2000 characters are at most 8 KB of UTF-8)."""
_HOUSEKEEPING = re.compile(r"raw\.githubusercontent\.com.*model_prices_and_context_window\.json|openrouter\.ai/api/v1/models")
"""aider's own model-metadata downloads: offline, each start (and each model lookup) prints the failure, e.g.
``HTTPSConnectionPool(host='raw.githubusercontent.com', …) … NameResolutionError(…)`` — not an error of the task."""
CONFIRM_RE = re.compile(r"\(Y\)es/\(N\)o(?:/\([A-Z]\)[\w' ]+)*\s*(?:\[(?:Yes|No)\])?:\s*$")
_COST_RE = re.compile(
    r"Tokens:\s*([\d.]+)(k|M)?\s+sent(?:,\s*([\d.]+)(k|M)?\s+cache write)?(?:,\s*([\d.]+)(k|M)?\s+cache hit)?,\s*"
    r"([\d.]+)(k|M)?\s+received\.(?:\s*Cost:\s*\$([\d.]+)\s+message,\s*\$([\d.]+)\s+session\.)?")


def _num(v: str | None, unit: str | None) -> int:
    if v is None:
        return 0
    return round(float(v) * {"k": 1_000, "M": 1_000_000}.get(unit or "", 1))


def parse_cost_line(line: str) -> dict[str, float | int | None] | None:
    """Figures from aider's ``Tokens: … Cost: …`` report line (approximate: aider rounds them)."""
    m = _COST_RE.search(line)
    if not m:
        return None
    g = m.groups()
    return {"sent": _num(g[0], g[1]), "cache_write": _num(g[2], g[3]), "cache_hit": _num(g[4], g[5]),
            "received": _num(g[6], g[7]), "message_usd": float(g[8]) if g[8] else None,
            "session_usd": float(g[9]) if g[9] else None}


@dataclass
class AiderAdapter(AgentAdapter):
    _history: HistoryTail | None = field(default=None, repr=False, compare=False)
    _replied: bool = field(default=False, repr=False, compare=False)
    """A reply's cost line was printed since the last request went out (and no input prompt since)."""
    _last_line: str = field(default="", repr=False, compare=False)

    def command(self, session: ResolvedSession, ctx: SpawnContext) -> list[str]:
        if session.command:
            return ["/bin/sh", "-c", session.command]
        mode = session.permission_mode
        if mode is not None and mode not in PERMISSION_MODES:
            raise ValueError(f"session {session.name!r}: permission_mode {mode!r} for aider must be one of "
                             f"{', '.join(PERMISSION_MODES)}")
        argv = [os.environ.get("CORTEX_AIDER_BIN") or "aider", "--no-check-update", "--no-gitignore",
                "--no-show-release-notes", "--no-analytics", "--analytics-log", str(ctx.events_file),
                "--chat-history-file", str(ctx.session_dir / HISTORY_FILE),
                "--input-history-file", str(ctx.session_dir / INPUT_HISTORY_FILE)]
        if mode == "yes-always" and not ctx.headless:
            argv += ["--yes-always"]
        if session.model:
            argv += [f"--model={session.model}"]  # one token: a model "-x" is not read as a flag
        argv += list(session.extra_args)
        if ctx.headless:
            # --no-stream: aider records the API's own usage only for non-streamed replies (streamed, it
            # counts the prompt itself, an estimate)
            argv += ["--yes-always", "--no-pretty", "--no-stream", "--message-file", str(ctx.session_dir / PROMPT_FILE)]
        return argv

    def prepare(self, session: ResolvedSession, ctx: SpawnContext) -> None:
        ctx.session_dir.mkdir(parents=True, exist_ok=True)
        (ctx.session_dir / PROMPT_FILE).write_text(session.prompt, encoding="utf-8")
        self._history = HistoryTail(ctx.session_dir / HISTORY_FILE, str(ctx.worktree))

    def env(self, session: ResolvedSession, ctx: SpawnContext) -> dict[str, str]:
        return {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    # -- the prompt, typed (engine/typed_prompt.py) -------------------------------------------------------
    def typed_prompt(self, session: ResolvedSession, headless: bool) -> str | None:
        if headless or session.command or not session.prompt.strip():
            return None
        text = session.prompt.strip("\r\n")
        return " " + text if text[:1] in ("/", "!", "{") else text

    def input_ready(self, screen_lines: list[str]) -> bool:
        tail = [ln.rstrip() for ln in screen_lines if ln.strip()]
        return bool(tail) and bool(INPUT_RE.match(tail[-1]))

    def screen_idle(self, screen_lines: list[str]) -> bool:
        return self.input_ready(screen_lines)

    def output_signals(self, lines: list[str]) -> list[AgentSignal]:
        """``idle`` at the first input-prompt line after a reply's cost line (see the module doc)."""
        out: list[AgentSignal] = []
        for ln in lines:
            text = ln.strip()
            if _COST_RE.search(ln):
                self._replied = True
            elif self._replied and INPUT_RE.match(text) and (text not in (">", "") or _RULE.match(self._last_line)):
                # a bare ">" (no edit-format name) only under the rule aider draws above its prompt: a command's
                # output may print one
                self._replied = False
                out.append(AgentSignal("idle", text="back at its input after the reply"))
            if text:
                self._last_line = text
        return out

    def message_keys(self, text: str) -> list[KeyInput]:
        """One bracketed paste (newlines and tabs are text, not Enter or completion), then Enter."""
        clean = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
        paste = PASTE_START + clean + PASTE_END
        keys: list[KeyInput] = [("literal", paste[i:i + LITERAL_CHARS]) for i in range(0, len(paste), LITERAL_CHARS)]
        return [*keys, ("key", "Enter")]

    def is_error(self, line: str) -> bool:
        """The error rule's lines, less aider's own offline downloads and a bare Python traceback header (the
        same for every Python failure: the exception line that ends the traceback is the one fingerprinted)."""
        if _HOUSEKEEPING.search(line) or line.strip() == "Traceback (most recent call last):":
            return False
        return super().is_error(line)

    # -- approvals --------------------------------------------------------------------------------------
    def find_approval(self, screen_lines: list[str]) -> ApprovalPrompt | None:
        """The question on the last line, with its subject (the lines just above it: the command, the file)."""
        lines = [ln.rstrip() for ln in screen_lines]
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines or not CONFIRM_RE.search(lines[-1]):
            return None
        subject: list[str] = []
        for ln in reversed(lines[:-1]):
            if not ln.strip() or _SUBJECT_STOP.search(ln) or _HOUSEKEEPING.search(ln) or INPUT_RE.match(ln) \
                    or len(subject) >= MAX_SUBJECT:
                break
            subject.insert(0, ln.strip())
        return ApprovalPrompt(text="\n".join([*subject, lines[-1].strip()]))

    def approve_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        return [("literal", "y"), ("key", "Enter")]

    def deny_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        return [("literal", "n"), ("key", "Enter")]

    # -- structured records -------------------------------------------------------------------------------
    def interpret_event(self, event: dict[str, Any]) -> list[AgentSignal]:
        """Lines of aider's analytics log: ``message_send`` = one reply's exact usage (and aider's cost)."""
        name = event.get("event")
        props = event.get("properties")
        if name == "message_send" and isinstance(props, dict):
            usage = TokenUsage(input=_count(props.get("prompt_tokens")), output=_count(props.get("completion_tokens")))
            cost = props.get("cost")
            # aider reports 0 when it has no price for the model: that is an unknown cost, not a free one
            known = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) and cost > 0 else None
            return [AgentSignal("usage", usage=usage, cost_usd=known)]
        if name == "message_send_starting":
            self._replied = False
            return [AgentSignal("busy", text="request sent")]
        if name == "message_send_exception":
            return [AgentSignal("error", text=str(props.get("exception") if isinstance(props, dict) else "")[:500])]
        return super().interpret_event(event)

    def poll_usage(self) -> list[AgentSignal]:
        """What aider appended to its chat history: edits it refused outside the worktree."""
        return self._history.read() if self._history is not None else []

    def usage_checkpoint(self) -> dict[str, Any]:
        return {"history": self._history.checkpoint()} if self._history is not None else {}

    def restore_usage_checkpoint(self, data: dict[str, Any]) -> None:
        h = data.get("history")
        if isinstance(h, dict):
            self._history = HistoryTail.restore(h)


def _count(v: object) -> int:
    return max(0, int(v)) if isinstance(v, int | float) and not isinstance(v, bool) else 0


def make() -> AgentAdapter:
    # its repo-map cache is written into the git root whatever the options (aider 0.86.2: .aider.tags.cache.v4/)
    return AiderAdapter(kind="aider", approval_patterns=[CONFIRM_RE], progress="lines", exposes_usage=True,
                        own_files=(".aider.tags.cache.v*/**",))
