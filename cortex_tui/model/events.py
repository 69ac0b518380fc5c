"""Run events: every kind declared once, one envelope (:class:`Event`) and one payload model per kind.

An event is ``{"ts", "run", "kind", "session", "data"}``; the engine publishes it on its bus and, unless it is
ephemeral (``output``, ``stats``), :meth:`~cortex_tui.store.files.RunStore.append_event` writes it to
``events.jsonl``. Readers (``RunStore.read_events``) parse each line into an :class:`Event` and skip (and count)
lines that are not one. ``Event.payload()`` checks ``data`` against the model of its kind: the fields listed
there are always present; payloads may carry more (``extra="allow"``), so adding a field is not a break.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

EventKind = Literal[
    # run lifecycle
    "run_started", "attached", "run_done", "run_budget", "down",
    # sessions
    "session_added", "state", "spawned", "finished", "action", "output", "stats",
    # triggers
    "trigger", "trigger_cleared",
    # engine health
    "engine_error", "watch_error",
    # remote nodes
    "node_up", "node_down", "fetched", "fetch_error",
    # review queue and best-of
    "review_queued", "review_verified", "review", "review_decision", "review_error", "review_rebuilt", "clean",
    "bestof", "bestof_judge",
    # observers and plugins (notifier, metrics, the local API)
    "notify_sent", "notify_error", "metrics_serving", "api_serving", "plugin_error",
    # a TUI mirroring a supervisor in another process (the browser view) lost or found it again
    "supervisor_gone", "supervisor_back",
    # dependencies handing over their work (engine/handover.py) and the integration gate (review/integrate.py)
    "handover", "blocked", "stale_base", "integration",
    # a session's runtime: setup/teardown steps, include warnings, the sandbox's refused connections
    "setup", "setup_warning", "network_refused",
    # pools (engine/pool.py, engine/warm.py): where a task was placed, the pool's slots, warm worktrees
    "placed", "pool_scaled", "warm_slot",
    # the integration entry no longer describes the branches (engine/integration_desk.py)
    "integration_stale",
]
EVENT_KINDS: frozenset[str] = frozenset(get_args(EventKind))
EPHEMERAL_KINDS: frozenset[str] = frozenset({"output", "stats"})
"""High-rate kinds for live displays only: never written to events.jsonl."""


class Event(BaseModel):
    """One event of a run (the line format of events.jsonl)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ts: float
    run: str
    kind: EventKind
    session: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def payload(self) -> Payload:
        """``data`` checked against the model of this kind (raises ``pydantic.ValidationError``)."""
        return PAYLOADS[self.kind].model_validate(self.data)


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


class RunStarted(Payload):
    """``run_started`` (a new run) / ``attached`` (a supervisor took over an existing one)."""

    repo: str
    socket: str
    pid: int
    foreign: str | None = None
    """Windows on the run's tmux socket that an earlier run made: said, never adopted (engine/reattach.py)."""


class RunDone(Payload):
    states: dict[str, str]
    """Session name -> final state."""


class RunBudget(Payload):
    metric: str
    used: float
    limit: float
    fraction: float
    threshold: str
    """``warn`` (80 %) or ``exceed`` (100 %)."""


class Empty(Payload):
    pass


class SessionAdded(Payload):
    """A session added to a running run (from the TUI)."""

    agent: str
    scope: list[str]


class StateChange(Payload):
    state: str
    prev: str
    reason: str | None = None


class Spawned(Payload):
    window: str | None
    branch: str
    worktree: str
    attempt: int


class Finished(Payload):
    exit_code: int | None
    stopped: bool = False
    exited_at: float | None = None
    """When the exit was seen (before the final look): from then on the session held no pool slot."""


class Action(Payload):
    """A human or trigger action on a session (send, approve, deny, interrupt, stop, restart, ...)."""

    action: str
    detail: str = ""
    by: str | None = None


class Output(Payload):
    lines: list[str]


class Stats(Payload):
    """Any of tokens/cost, diff size, CPU/RSS/disk (each sample carries the ones it measured)."""

    tokens: dict[str, int] | None = None
    cost_usd: float | None = None
    diff_added: int | None = None
    diff_removed: int | None = None
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    disk_bytes: int | None = None


class Trigger(Payload):
    """A trigger raised (the fields of :class:`~cortex_tui.model.state.TriggerRecord`)."""

    kind: str
    active: bool
    severity: str
    evidence: dict[str, Any]
    at: float
    key: str = ""
    cause_at: float | None = None
    """When its cause happened (``at - cause_at``: the trigger latency)."""


class TriggerCleared(Payload):
    kind: str
    key: str
    active: bool
    evidence: dict[str, Any]
    at: float


class Failure(Payload):
    """``engine_error`` (with the task), ``watch_error``, ``review_error``, ``fetch_error``."""

    error: str
    task: str | None = None


class NodeUp(Payload):
    node: str
    latency_ms: float | None


class NodeDown(Payload):
    node: str
    error: str


class Fetched(Payload):
    node: str
    head: str | None


class ReviewQueued(Payload):
    branch: str
    head: str
    round: int
    ready: bool
    conflicts: list[str]


class ReviewVerified(Payload):
    verify: dict[str, Any] | None
    """What review/rebuild.py ``verify_event`` keeps of the result (exit code, head, duration, command...)."""


class ReviewRebuilt(Payload):
    message: str


class Review(Payload):
    """Two shapes share this kind: a decision (``decision``, ``by``, ``detail``, from review/decisions.py) and
    the engine's "entry queued/verified" note (``status``, ``conflicts``, ``verify``, ``files``)."""

    decision: str | None = None
    by: str | None = None
    detail: str | None = None
    status: str | None = None


class ReviewDecision(Payload):
    """A decision taken through the local API (``origin`` names the caller); the decision's own ``review``
    event is written by review/decisions.py as for the TUI and the CLI."""

    decision: str
    origin: str


class Clean(Payload):
    action: str
    path: str
    reason: str
    backups: list[str]
    saved_files: list[str]


class BestOf(Payload):
    winner: str
    chosen_by: str
    ranking: list[str]
    losers: list[str]


class BestOfJudge(Payload):
    model: str | None
    ok: bool
    error: str | None
    ranking: list[str]


class Notify(Payload):
    """``notify_sent`` / ``notify_error`` (then with ``error``); the rest describes the notification."""

    error: str | None = None


class MetricsServing(Payload):
    url: str


class ApiServing(Payload):
    socket: str
    tcp: str | None


class PluginError(Payload):
    plugin: str
    error: str


class Handover(Payload):
    """A dependent starts from its dependencies' work: ``method`` base | fast-forward | merge, ``start`` commit."""

    method: str
    start: str
    merged: list[str]


class Blocked(Payload):
    """A dependency's branch conflicts with the others: the session waits for ``cortex-tui continue``."""

    dependency: str
    paths: list[str]


class StaleBase(Payload):
    """A dependency has commits its dependent did not start from (e.g. it was restarted)."""

    dependency: str
    commits: list[str]


class Integration(Payload):
    """The integration gate ran: ``ok`` and the smallest failing set (when the combination failed)."""

    ok: bool
    sessions: list[str]
    failing: list[str] = Field(default_factory=list)


class IntegrationStale(Payload):
    """A member branch moved, a branch joined or left the queue, or the base moved since the gate ran."""

    reasons: list[str]
    rerun: bool = False
    """The gate re-runs by itself (``[run] integrate = "auto"``)."""


class SupervisorGone(Payload):
    """The mirrored supervisor stopped answering (every session ended, or it was stopped)."""

    error: str


class SetupStep(Payload):
    """A ``setup``/``teardown`` step ended (``phase``); ``exit_code`` != 0 fails the session's start."""

    phase: str
    index: int
    total: int
    step: str
    exit_code: int
    duration_s: float
    timed_out: float | None = None
    """The phase's time limit (``setup_timeout``) when the step was killed for passing it."""


class SetupWarning(Payload):
    """Something the session's runtime could not provide (e.g. an ``include`` missing in the checkout)."""

    message: str
    path: str | None = None


class NetworkRefused(Payload):
    """The sandbox's proxy refused a connection to a host outside the session's ``network`` allowlist."""

    host: str
    port: int
class Placed(Payload):
    """A ``node = "auto"`` (or node group) task was placed: on ``node``, ``why``, among ``candidates``."""

    node: str
    why: str
    candidates: list[str]


class PoolScaled(Payload):
    """The pool's slots changed (``[pool] size`` at start, ``min``/``max`` following the queue)."""

    slots: int
    prev: int | None
    running: int
    queued: int
    why: str


class WarmSlot(Payload):
    """A warm worktree was made (``ready``), refreshed to a new base, taken by a task (``claimed``), dropped, or
    ``kept`` (left where it is, never handed out: tracked files changed in it; ``why`` says so)."""

    action: str
    slot: str
    ms: float
    why: str | None = None


PAYLOADS: dict[EventKind, type[Payload]] = {
    "run_started": RunStarted, "attached": RunStarted, "run_done": RunDone, "run_budget": RunBudget,
    "down": Empty, "session_added": SessionAdded, "state": StateChange, "spawned": Spawned, "finished": Finished, "action": Action,
    "output": Output, "stats": Stats, "trigger": Trigger, "trigger_cleared": TriggerCleared,
    "engine_error": Failure, "watch_error": Failure, "review_error": Failure, "fetch_error": Failure,
    "node_up": NodeUp, "node_down": NodeDown, "fetched": Fetched, "review_queued": ReviewQueued, "review_verified": ReviewVerified,
    "review_rebuilt": ReviewRebuilt, "review": Review,
    "clean": Clean, "bestof": BestOf, "bestof_judge": BestOfJudge, "notify_sent": Notify, "notify_error": Notify,
    "metrics_serving": MetricsServing, "api_serving": ApiServing, "plugin_error": PluginError,
    "review_decision": ReviewDecision, "supervisor_gone": SupervisorGone, "supervisor_back": Empty,
    "handover": Handover, "blocked": Blocked, "stale_base": StaleBase, "integration": Integration,
    "setup": SetupStep, "setup_warning": SetupWarning, "network_refused": NetworkRefused,
    "placed": Placed, "pool_scaled": PoolScaled, "warm_slot": WarmSlot,
    "integration_stale": IntegrationStale,
}


def parse_event(line: bytes | str) -> Event | None:
    """One line of events.jsonl as an :class:`Event`, or None when it is not one (cut off, unknown kind...)."""
    from pydantic import ValidationError

    try:
        return Event.model_validate_json(line)
    except ValidationError:
        return None
