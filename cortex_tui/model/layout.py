"""Pydantic models of a layout file (``layouts/*.toml``).

A layout declares one run: ``[run]``, optional ``[defaults]`` applied to every session,
``[[session]]`` tables and ``[[node]]`` tables. Unknown keys are errors. ``[pool]``/``[[route]]`` are in
:mod:`cortex_tui.model.pool`, ``[[notify]]`` in :mod:`cortex_tui.model.notify`, the shared field types in
:mod:`cortex_tui.model.fields`; all are importable from here.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cortex_tui.model.fields import CONTROL_CHARS as _CONTROL
from cortex_tui.model.fields import (
    RUN_NAME_RE,
    TRIGGER_KINDS,
    AgentKind,
    Duration,
    ScopeMode,
    Size,
    TriggerAction,
    TriggerKind,
)
from cortex_tui.model.fields import Strict as _Strict
from cortex_tui.model.notify import NotifySpec
from cortex_tui.model.pool import PoolSpec, RouteMatch, RouteSpec

__all__ = ["RUN_NAME_RE", "TRIGGER_KINDS", "AgentKind", "BestOfSpec", "Duration", "Layout", "NodeSpec", "PoolSpec",
           "ResolvedSession", "RestartPolicy", "RouteMatch", "RouteSpec", "RunSpec", "ScopeMode", "SessionSettings",
           "SessionSpec", "Size", "TriggerAction", "TriggerKind"]

class RestartPolicy(_Strict):
    """Restart a failed session with backoff (seed 002)."""

    max: int = Field(default=3, ge=0, description="How many restarts at most.")
    backoff_s: list[float] = Field(default_factory=lambda: [5.0, 30.0, 120.0], description="Delay before each restart.")


class SessionSettings(_Strict):
    """Settings that may be given in ``[defaults]`` and overridden per ``[[session]]``."""

    agent: AgentKind | None = None
    """Agent kind that runs the session."""
    model: str | None = None
    """Model name passed to the agent (and used for pricing)."""
    permission_mode: str | None = None
    """Permission mode passed to agents that have one (claude-code)."""
    env: dict[str, str] | None = None
    """Extra environment variables for the agent."""
    verify: str | None = None
    """Verify command run in the worktree when the session finishes."""
    budget_usd: float | None = Field(default=None, ge=0)
    budget_tokens: int | None = Field(default=None, ge=0)
    timeout: Duration | None = None
    memory_limit: Size | None = None
    silence_after: Duration | None = None
    silence_cpu_percent: float | None = Field(default=None, ge=0)
    error_repeats: int | None = Field(default=None, ge=1)
    error_window: Duration | None = None
    scope_mode: ScopeMode | None = None
    on_trigger: dict[TriggerKind, TriggerAction] | None = None
    restart: RestartPolicy | None = None
    extra_args: list[str] | None = None
    """Extra command-line arguments appended to the agent's command."""
    ignore: list[str] | None = None
    """Extra glob patterns ignored by the worktree watcher (besides .git/ and .gitignore)."""
    setup: list[str] | None = None
    """Shell commands run in the worktree, one after another, before the agent starts (docs/isolation.md)."""
    teardown: list[str] | None = None
    """Shell commands run in the worktree before ``clean`` (or ``reject --remove-worktree``) removes it."""
    include: list[str] | None = None
    """Git-ignored files/directories (relative to the repo) brought from the main checkout into the worktree."""
    include_mode: Literal["copy", "link"] | None = None
    ports: int | None = Field(default=None, ge=0, le=32)
    """Free TCP ports reserved for the session (``PORT``, ``CORTEX_PORT_1..N``, ``{port}`` in ``env``)."""
    sandbox: Literal["none", "bwrap"] | None = None
    """Run the agent in a bubblewrap sandbox: read-only filesystem but what the session may write."""
    network: Literal["host", "none"] | list[str] | None = None
    """The sandbox's network: the host's, none, or only these hosts (through the supervisor's proxy)."""
    setup_timeout: Duration | None = Field(default=None, gt=0)
    """How long its ``setup`` steps may take together (default 10 min): past it the running step's process
    group is killed and the session fails."""

    @field_validator("env")
    @classmethod
    def _env_keys(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v is not None:
            for k in v:
                if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
                    raise ValueError(f"invalid environment variable name {k!r}")
        return v


class SessionSpec(SessionSettings):
    """One ``[[session]]``: an agent in its own worktree, branch and tmux window."""

    name: str
    prompt: str = ""
    scope: list[str] = Field(default_factory=list)
    """Globs (relative to the repo) the session may edit; empty = everything."""
    depends_on: list[str] = Field(default_factory=list)
    node: str = "local"
    command: str | None = None
    """Shell command for ``agent = "shell"``, or an override of the agent's command line."""
    script: list[str] | None = None
    """Steps for ``agent = "sim"``."""
    variants: int = Field(default=1, ge=1, le=64)
    start_after: Literal["finished", "approved"] = "finished"
    """When a dependent starts: its dependencies finished (exit 0, verify passed when one is set), or were
    approved in review (it then starts from the base after their merge)."""
    handover_preamble: bool = True
    """Tell the agent which dependency branches it starts from (a short preamble to its prompt)."""
    labels: list[str] = Field(default_factory=list)
    """Tags of the task (``[[route]]`` rules match them: a type-specific pool)."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("session name must not be empty")
        if _CONTROL.search(v):
            raise ValueError("session name must not contain control characters (tabs, newlines)")
        if len(v) > 100:
            raise ValueError("session name is longer than 100 characters")
        return v

    @field_validator("scope")
    @classmethod
    def _scope(cls, v: list[str]) -> list[str]:
        from cortex_tui.scope import validate_glob

        for g in v:
            validate_glob(g)
        return v


class RunSpec(_Strict):
    """``[run]``: the run as a whole."""

    name: str
    base: str = "main"
    """Base branch the sessions branch from and merge into."""
    verify: str | None = None
    """Default verify command."""
    mode: Literal["normal", "best-of"] = "normal"
    budget_usd: float | None = Field(default=None, ge=0)
    budget_tokens: int | None = Field(default=None, ge=0)
    max_parallel: int | None = Field(default=None, ge=1)
    """At most this many sessions running at once (others wait as pending)."""
    prices: dict[str, dict[str, float]] | None = None
    """Price table overrides: model -> {input, output, cache_read, cache_write} USD per Mtok."""
    log_max: Size | None = None
    """Session logs keep at most this much on disk (default 50 MB; their head is dropped, offsets stay; 0: never)."""
    integrate: Literal["manual", "auto"] = "manual"
    """The integration gate: ``manual`` (``cortex-tui integrate``, ``I`` on the review screen) or ``auto``: it
    also re-runs by itself (debounced) when a branch joins the review queue or finishes again after a change
    request, and when the base moves, over every entry awaiting a decision."""
    integrate_debounce_s: float = Field(default=5.0, ge=0, le=3600)
    """``integrate = "auto"``: how long the queue must be quiet before the gate re-runs."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not RUN_NAME_RE.match(v):
            raise ValueError("run name must be 1-64 characters of letters, digits, '.', '_' or '-'")
        # it becomes a component of git refs (cortex/<run>/<session>): git check-ref-format's rules
        for bad, why in ((".." in v, "contain '..'"), (v.startswith("."), "start with '.'"),
                         (v.endswith(".lock"), "end with '.lock'")):
            if bad:
                raise ValueError(f"run name {v!r} must not {why} (it names git branches cortex/<run>/...)")
        return v


class NodeSpec(_Strict):
    """``[[node]]``: a remote machine reached over SSH."""

    name: str
    host: str
    user: str | None = None
    port: int = Field(default=22, ge=1, le=65535)
    identity: str | None = None
    workdir: str = "~/.cortex-node"
    python: str = "python3"
    host_key_policy: Literal["strict", "accept-new"] = "strict"
    ssh_options: list[str] = Field(default_factory=list)
    max_sessions: int | None = Field(default=None, ge=0)
    """At most this many live sessions on the node (``node = "auto"`` placement; None: no limit)."""
    memory_limit: Size | None = None
    """The RSS this run's sessions on the node may use in all (placement treats it as the node's memory)."""
    memory_floor: Size | None = None
    """No task starts on the node while its available memory is below this (overrides ``[pool]``'s)."""
    group: str | None = None
    """A node group: ``node = "<group>"`` (a task's or a route's) places on one of its nodes."""
    checkout: str | None = None
    """A checkout of the repo on the node: ``include`` brings its git-ignored files from there (what it lacks, or
    everything without it, is copied from this machine's checkout; docs/isolation.md)."""
    warm: int | None = Field(default=None, ge=0, le=64)
    """Warm slots kept on this node for a pool's tasks (default: ``[pool] warm``; engine/remote_warm.py)."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not RUN_NAME_RE.match(v):
            raise ValueError("node name must be letters, digits, '.', '_' or '-'")
        if v == "local":
            raise ValueError("'local' is reserved for this machine")
        return v


class BestOfSpec(_Strict):
    """``[bestof]``: one task fanned out to N variants."""

    n: int = Field(default=3, ge=1, le=64)
    task: str | None = None
    agents: list[AgentKind] | None = None
    models: list[str] | None = None
    weights: dict[str, float] | None = None
    judge: str | None = None


class Layout(_Strict):
    """A whole layout file."""

    run: RunSpec
    defaults: SessionSettings = Field(default_factory=SessionSettings)
    session: list[SessionSpec] = Field(default_factory=list)
    node: list[NodeSpec] = Field(default_factory=list)
    bestof: BestOfSpec | None = None
    notify: list[NotifySpec] = Field(default_factory=list)
    """``[[notify]]``: notification sinks for this run (docs/notify.md)."""
    pool: PoolSpec | None = None
    """``[pool]``: run queued tasks in slots (engine/pool.py)."""
    route: list[RouteSpec] = Field(default_factory=list)
    """``[[route]]``: rules that send tasks to an agent, a model, a node (model/routes.py)."""

    def session_by_name(self, name: str) -> SessionSpec:
        for s in self.session:
            if s.name == name:
                return s
        raise KeyError(name)

    def node_by_name(self, name: str) -> NodeSpec | None:
        for n in self.node:
            if n.name == name:
                return n
        return None


class ResolvedSession(BaseModel):
    """A session with defaults applied and every setting concrete."""

    model_config = ConfigDict(frozen=True)

    name: str
    agent: AgentKind
    prompt: str
    scope: list[str]
    depends_on: list[str]
    node: str
    env: dict[str, str]
    command: str | None
    script: list[str] | None
    model: str | None
    permission_mode: str | None
    verify: str | None
    budget_usd: float | None
    budget_tokens: int | None
    timeout: float | None
    memory_limit: int | None
    silence_after: float
    silence_cpu_percent: float
    error_repeats: int
    error_window: float
    scope_mode: ScopeMode
    on_trigger: dict[str, str]
    restart: RestartPolicy | None
    extra_args: list[str]
    ignore: list[str]
    start_after: Literal["finished", "approved"] = "finished"
    handover_preamble: bool = True
    setup: list[str] = Field(default_factory=list)
    teardown: list[str] = Field(default_factory=list)
    include: list[str] = Field(default_factory=list)
    include_mode: Literal["copy", "link"] = "copy"
    ports: int = 0
    sandbox: Literal["none", "bwrap"] = "none"
    network: str | list[str] = "host"
    setup_timeout: float = 600.0
    labels: list[str] = Field(default_factory=list)
    route: int | None = None
    """Index of the ``[[route]]`` that matched it (None: none did)."""
