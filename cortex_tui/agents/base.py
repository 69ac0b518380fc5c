"""What every agent adapter declares: command line, detection patterns, how to talk to it."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import TokenUsage

# A key sent to the pane: ("literal", text) is typed as-is, ("key", name) is a tmux key name (Enter, Escape, C-c).
KeyInput = tuple[Literal["literal", "key"], str]

DEFAULT_ERROR_RE = re.compile(
    r"(?:^|\s)(?:[A-Za-z_][\w.]*(?:Error|Exception)\b|Traceback \(most recent call last\)|error(?:\[\w+\])?:|"
    r"fatal:|FAILED\b|panic:|ERROR\b|Error\b)"
)


@dataclass(frozen=True)
class SpawnContext:
    """Where a session's files live, handed to the adapter when building its command."""

    run: str
    repo: Path
    worktree: Path
    session_dir: Path
    """coordination/runs/<run>/sessions/<slug>/ — scripts, settings, the events file."""
    events_file: Path
    """JSONL file the agent's hooks (or the sim) append structured events to."""
    headless: bool = False


@dataclass(frozen=True)
class ApprovalPrompt:
    """An approval prompt found on the screen."""

    text: str
    """The prompt text as shown (evidence)."""


SignalKind = Literal["usage", "waiting", "busy", "idle", "finished", "progress", "blocked", "error", "outside"]


@dataclass(frozen=True)
class AgentSignal:
    """What one structured event (a line of the session's events file) tells the supervisor.

    ``usage`` signals come in two flavours: an *increment* (``total=False``: add it to what is known for
    ``model``) or the agent's own *running total* for ``model`` (``total=True``: replace what is known for
    ``model``). Keep usage per model and sum the models; price each model separately.
    Every signal except ``usage`` is also evidence of progress (the agent did something).
    """

    kind: SignalKind
    usage: TokenUsage | None = None
    text: str | None = None
    """Evidence for humans: the tool waiting for approval, the blocked path, the stop reason. For ``error``
    (a failed tool call, fed to the repeated-error rule) the error text; for ``outside`` (a write outside
    the session's worktree) the resolved absolute path."""
    model: str | None = None
    total: bool = False
    cost_usd: float | None = None
    """The agent's own cost figure for ``model`` when it reports one (same increment/total rule as usage)."""


@dataclass
class AgentAdapter:
    """Base adapter: a plain command, output-only detection. Subclasses override what they know better."""

    kind: str = "shell"
    approval_patterns: list[re.Pattern[str]] = field(default_factory=list)
    error_pattern: re.Pattern[str] = DEFAULT_ERROR_RE
    progress: Literal["output", "lines", "events"] = "output"
    """What counts as progress for silence detection: new output, new complete output lines (a spinner that
    redraws one line with ``\\r`` is not progress), or new structured events only."""
    exposes_usage: bool = False
    """False = usage is unknown (reported as null, never 0)."""
    detached: tuple[str, ...] = ()
    """Command-line fragments of processes the agent starts detached from its own tree (a daemon in a
    session of its own, re-parented to init) that must not outlive it: when the session's tree has ended
    (exit or stop), the local node ends those whose environment carries this session's own
    ``CORTEX_EVENTS_FILE`` — never anyone else's."""
    own_files: tuple[str, ...] = ()
    """Globs (relative to the worktree) of files the agent writes there for itself — caches, not its work: they
    are not changes of the session (no scope check, no overlap, not in its changed files), like its ``ignore``."""
    answer_retry: bool = False
    """After an approve/deny the dialog is looked at again: still drawn, the screen unchanged, the keys are sent
    once more (the agent dropped them); still drawn then, the answer is reported as not taken. Only for an agent
    whose answered dialog leaves the screen at once (Codex): one whose answered dialog stays drawn a while
    (OpenCode) or in the scrollback (Aider) would be answered twice."""
    ui_processes: frozenset[str] = frozenset()
    """Process names of the agent itself (``/proc/<pid>/comm``). When set, silence detection counts only
    the CPU of the commands it runs, not its own: an agent that animates a spinner while its API hangs
    burns a few % CPU doing nothing."""

    def command(self, session: ResolvedSession, ctx: SpawnContext) -> list[str]:
        """The agent's argv (run by ``/bin/sh -c`` after shell-quoting)."""
        if session.command:
            return ["/bin/sh", "-c", session.command]
        raise ValueError(f"session {session.name!r}: agent {self.kind!r} needs a command")

    def env(self, session: ResolvedSession, ctx: SpawnContext) -> dict[str, str]:
        """Environment for the agent, on top of the session's ``env``."""
        return {}

    def prepare(self, session: ResolvedSession, ctx: SpawnContext) -> None:
        """Write any files the agent needs (settings, scripts) into ``ctx.session_dir``."""

    def find_approval(self, screen_lines: list[str]) -> ApprovalPrompt | None:
        """Return the approval prompt if the last lines of the screen show one waiting."""
        # Only the last non-empty line counts: once anything follows the question (the echoed answer,
        # the agent's next output) it is no longer waiting.
        tail = [ln for ln in screen_lines if ln.strip()]
        if not tail:
            return None
        last = tail[-1].rstrip()
        for pat in self.approval_patterns:
            if pat.search(last):
                return ApprovalPrompt(text=last.strip())
        return None

    def typed_prompt(self, session: ResolvedSession, headless: bool) -> str | None:
        """The text the engine types into the agent's input once :meth:`input_ready` (engine/typed_prompt.py),
        for CLIs that cannot start an interactive session on a prompt from their command line; None (the
        default): the prompt is on the command line, or there is none."""
        return None

    def input_ready(self, screen_lines: list[str]) -> bool:
        """True when the screen shows the agent at its input, ready for typed text (see :meth:`typed_prompt`)."""
        return False

    def screen_idle(self, screen_lines: list[str]) -> bool:
        """True when the screen shows the agent at its input prompt with no turn running (for agents whose
        structured signals miss some turn ends, e.g. Claude Code after a denied approval)."""
        return False

    def output_signals(self, lines: list[str]) -> list[AgentSignal]:
        """Signals in new complete output lines (escapes removed), for agents whose only record of a turn's end
        is what they print (aider: its cost line, then its input prompt). Default: none."""
        return []

    def approve_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        """Keys answering "yes" to the waiting prompt. Never a blind Enter on a default-No menu."""
        return [("literal", "y"), ("key", "Enter")]

    def deny_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        return [("literal", "n"), ("key", "Enter")]

    def message_keys(self, text: str) -> list[KeyInput]:
        """Keys that send a message to the agent (typed literally, then submitted)."""
        keys: list[KeyInput] = []
        for i, line in enumerate(text.split("\n")):
            if i:
                keys.append(("key", "Enter"))
            if line:
                keys.append(("literal", line))
        keys.append(("key", "Enter"))
        return keys

    def interrupt_keys(self) -> list[KeyInput]:
        return [("key", "C-c")]

    def is_error(self, line: str) -> bool:
        return bool(self.error_pattern.search(line))

    def usage_checkpoint(self) -> dict[str, Any]:
        """Adapter state that must survive a supervisor restart so no usage is counted twice."""
        return {}

    def restore_usage_checkpoint(self, data: dict[str, Any]) -> None:
        """Undo :meth:`usage_checkpoint` in a fresh adapter (after re-attaching)."""

    def watch_files(self) -> list[Path]:
        """The agent's own session files ``poll_usage`` reads (once found): the engine watches them and
        reads them as soon as they are written (else only on its sample tick)."""
        return []

    def look_at_screen(self) -> bool:
        """Asked after ``poll_usage``: True when what the agent just recorded means its screen tells something
        now (Gemini: its chat recorded the end of a turn, and only the screen shows it back at its input box).
        The engine then looks at once instead of waiting for the output to go quiet."""
        return False

    def finding(self) -> bool:
        """True while the adapter still looks for its session file (``poll_usage`` is then called on every
        engine tick, not only on the sample tick: the first turn may end soon after the file appears)."""
        return False

    def interpret_event(self, event: dict[str, Any]) -> list[AgentSignal]:
        """Signals carried by one decoded line of the session's events file (unknown lines: none).

        The base handles the sim's ``{"source": "sim", "event": "usage", "input_tokens": N,
        "output_tokens": M, "model": ...}`` lines (usage increments); adapters add their own sources.
        """
        if event.get("event") == "usage":
            usage = TokenUsage(
                input=_nonneg_int(event.get("input_tokens")), output=_nonneg_int(event.get("output_tokens")),
                cache_read=_nonneg_int(event.get("cache_read_tokens")),
                cache_write=_nonneg_int(event.get("cache_write_tokens")),
            )
            model = event.get("model")
            return [AgentSignal("usage", usage=usage, model=model if isinstance(model, str) else None)]
        return []


def _nonneg_int(v: object) -> int:
    """A token count from untrusted JSON: non-negative int, anything else counts as 0."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return 0
    return max(0, int(v))


def shell_join(argv: list[str]) -> str:
    return shlex.join(argv)
