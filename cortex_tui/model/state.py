"""Run state as stored in ``coordination/runs/<run>/state.json`` and shown by ``status --json``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SessionState(StrEnum):
    PENDING = "pending"
    """Waiting on dependencies (or a free slot)."""
    STARTING = "starting"
    RUNNING = "running"
    WAITING = "waiting"
    """Needs a human (approval prompt)."""
    IDLE = "idle"
    """Agent finished its turn but the process is still alive."""
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    UNKNOWN = "unknown"
    """State cannot be observed (remote link down)."""
    BLOCKED = "blocked"
    """Not started: its dependencies' branches conflict (``cortex-tui continue`` resolves it). Neither live
    nor terminal: it waits for a human, and its dependents wait with it."""

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def live(self) -> bool:
        return self in _LIVE


_TERMINAL = frozenset((SessionState.FINISHED, SessionState.FAILED, SessionState.STOPPED))
_LIVE = frozenset((SessionState.STARTING, SessionState.RUNNING, SessionState.WAITING, SessionState.IDLE,
                   SessionState.UNKNOWN))


class TriggerRecord(BaseModel):
    """One trigger raised for a session, with the evidence that fired it."""

    model_config = ConfigDict(extra="ignore")

    kind: str
    active: bool = True
    severity: str = "warning"
    evidence: dict[str, Any] = Field(default_factory=dict)
    at: float
    cleared_at: float | None = None
    key: str = ""
    """Distinguishes triggers of the same kind (e.g. the path for out_of_scope)."""
    cause_at: float | None = None
    """When what raised it happened (the output or agent record written, the silence threshold passed);
    ``at - cause_at`` is the trigger latency (``cortex_trigger_latency_seconds``). None: not known."""


class TokenUsage(BaseModel):
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    def as_dict(self) -> dict[str, int]:
        return {"input": self.input, "output": self.output, "cache_read": self.cache_read,
                "cache_write": self.cache_write, "total": self.total}


class SessionRecord(BaseModel):
    """Everything the supervisor knows about one session; survives supervisor restarts."""

    model_config = ConfigDict(extra="ignore")

    name: str
    slug: str
    agent: str
    node: str = "local"
    state: SessionState = SessionState.PENDING
    reason: str | None = None
    branch: str
    worktree: str
    base_commit: str | None = None
    window_id: str | None = None
    pane_id: str | None = None
    pane_pid: int | None = None
    exit_code: int | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    last_output_at: float | None = None
    last_progress_at: float | None = None
    log_offset: int = 0
    events_offset: int = 0
    remote_pid: int | None = None
    """Remote sessions: the pane's pid on the node (its process tree is sampled with the node's `ps`)."""
    remote_log_offset: int = 0
    """Remote sessions: bytes of the node's log already mirrored locally."""
    remote_events_offset: int = 0
    remote_files: dict[str, int] = Field(default_factory=dict)
    """Remote sessions: other files of the node mirrored locally (agent transcripts) -> bytes mirrored."""
    restarts: int = 0
    attempt: int = 0
    restart_at: float | None = None
    """Wall-clock time of a pending automatic restart (kept so a supervisor crash does not lose it)."""
    review_due: bool = False
    """Finished with exit 0 and its review entry (diff, verify) not written yet: a re-attaching supervisor
    re-verifies and queues it."""
    triggers: list[TriggerRecord] = Field(default_factory=list)
    tokens: TokenUsage | None = None
    cost_usd: float | None = None
    usage_by_model: dict[str, TokenUsage] = Field(default_factory=dict)
    adapter_state: dict[str, Any] = Field(default_factory=dict)
    """The adapter's usage checkpoint (what was already counted), for re-attaching without double counting."""
    reported_cost: dict[str, float] = Field(default_factory=dict)
    """The agent's own cost figures per model (when it reports them)."""
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    disk_bytes: int | None = None
    head_commit: str | None = None
    changed_files: list[str] = Field(default_factory=list)
    diff_added: int | None = None
    """Lines added/removed vs the base in tracked files (committed or not); None until measured."""
    diff_removed: int | None = None
    handover: dict[str, str] = Field(default_factory=dict)
    """Dependency name -> the head of its branch this session started from (engine/handover.py)."""
    handover_from_base: bool = False
    """The user chose to start it from the run's base without its dependencies' work."""
    stale_base: dict[str, list[str]] = Field(default_factory=dict)
    """Dependency -> subjects of its commits this session did not start from (it was restarted after)."""
    verify_exit: int | None = None
    """Exit code of its verify command in the review queue (None: not run, or none configured)."""
    blocked_paths: list[str] = Field(default_factory=list)
    """While ``blocked``: the paths the dependencies' branches conflict in."""
    phase: str | None = None
    """What a ``starting`` session is doing before its agent runs (``setup``); None otherwise."""
    setup_done: bool = False
    """Its ``setup`` steps all succeeded in its worktree (a restart does not run them again)."""
    ports: list[int] = Field(default_factory=list)
    """TCP ports reserved for it (``ports = N``), kept for its life."""
    teardown: list[str] = Field(default_factory=list)
    """Its ``teardown`` steps, run by ``clean`` before the worktree is removed."""
    teardown_env: dict[str, str] = Field(default_factory=dict)
    """The layout's ``env`` of the session (placeholders unrendered), kept for ``teardown`` (which runs from
    ``clean``, without the layout) only when it has teardown steps."""
    sandbox: str | None = None
    """The sandbox it runs in (``bwrap``), None: none."""
    serving: list[int] = Field(default_factory=list)
    """TCP ports its process tree listens on (sampled with its CPU)."""
    prompt_typed_at: float | None = None
    """When its prompt was typed into the agent's own input (adapters that take it so: engine/typed_prompt.py);
    None: not yet in this attempt (or the agent takes it on its command line)."""
    budget_usd: float | None = None
    """Its resolved ``budget_usd`` (the engine copies it from the layout or the added task), so that
    ``status`` reads budgets without parsing the layout. Absent from state files of older versions."""
    budget_tokens: int | None = None

    def active_triggers(self) -> list[TriggerRecord]:
        return [t for t in self.triggers if t.active]


class RunState(BaseModel):
    """The whole run."""

    model_config = ConfigDict(extra="ignore")

    version: int = 1
    run: str
    layout_path: str
    layout_text: str
    repo: str
    base: str
    base_commit: str
    socket: str
    created_at: float
    updated_at: float = 0.0
    supervisor_pid: int | None = None
    sessions: dict[str, SessionRecord] = Field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Health of remote nodes: name, reachable, latency_ms, error, checked_at."""
    added: list[dict[str, Any]] = Field(default_factory=list)
    """Sessions added to the live run (``cortex-tui add``, the TUI's ``n``, the API) as ``[[session]]`` tables,
    so a re-attached supervisor rebuilds them (engine/intake.py)."""
    instance: str = ""
    """A random id of this run, made when it is created: every window it makes carries it (``@cortex_instance``),
    and it only ever adopts windows that do. An earlier run of the same name and directory whose tmux server
    outlived its state has other ids (runs made before this field: ``""``, as their windows)."""
    pool: dict[str, Any] = Field(default_factory=dict)
    """``[pool]``: slots, running, queued and each node's room as the last scheduling pass saw them
    (engine/pool.py); ``warm``: the warm worktrees ready (engine/warm.py)."""
