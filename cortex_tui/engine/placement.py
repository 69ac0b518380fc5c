"""Where a task may start now: each node's room (free slots, available memory against its floor, load) and
the choice among nodes (``least-loaded`` or ``round-robin``). :func:`choose` is pure; :func:`probe_local`
and :func:`probe_remote` read a node's memory and load (``/proc/meminfo``, ``/proc/loadavg``)."""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from cortex_tui.model.describe import fmt_bytes as human_bytes

DEFAULT_TASK_MEMORY: dict[str, int] = {
    "claude-code": 400 << 20, "codex": 300 << 20, "gemini": 400 << 20, "aider": 300 << 20,
    "opencode": 400 << 20, "shell": 16 << 20, "sim": 32 << 20,
}
"""What one agent of a kind needs while no peer on the node can be measured (RSS of its process tree)."""
FALLBACK_TASK_MEMORY = 256 << 20


@dataclass(frozen=True)
class Probe:
    """A node's memory and load as last read (None: not known)."""

    available: int | None
    load_per_core: float | None
    error: str | None = None


@dataclass
class NodeRoom:
    """One node as placement sees it in this pass (``admitted`` grows as tasks are placed on it)."""

    name: str
    live: int
    max_sessions: int | None
    available: int | None
    """Bytes a new task may use: the node's MemAvailable, capped by its ``memory_limit`` minus what the
    run's sessions there use."""
    floor: int
    load_per_core: float | None = None
    up: bool = True
    error: str | None = None
    peers: dict[str, list[int]] = field(default_factory=dict)
    """Agent kind -> RSS of its live sessions on the node (what one more of them will likely need)."""
    admitted: int = 0
    reserved: int = 0
    """Memory set aside for tasks placed in this pass (their RSS is not measured yet)."""

    @property
    def used(self) -> int:
        return self.live + self.admitted

    def need(self, agent: str, default: int | None) -> int:
        rss = self.peers.get(agent)
        if rss:
            return int(statistics.median(rss))
        return default if default is not None else DEFAULT_TASK_MEMORY.get(agent, FALLBACK_TASK_MEMORY)

    def refusal(self, agent: str, default: int | None, max_load: float | None) -> str | None:
        """Why one more ``agent`` task may not start here (None: it may). ``max_load``: only above ``min``."""
        if not self.up:
            return f"{self.name} unreachable" + (f" ({self.error})" if self.error else "")
        if self.max_sessions is not None and self.used >= self.max_sessions:
            return f"{self.name} full ({self.max_sessions} sessions)"
        if self.available is not None:
            need = self.need(agent, default)
            if self.available - self.reserved - need < self.floor:
                return (f"{self.name} memory: one {agent} task needs {human_bytes(need)} above the floor "
                        f"{human_bytes(self.floor)}")
        if max_load is not None and self.load_per_core is not None and self.load_per_core > max_load:
            return f"{self.name} load {self.load_per_core:.1f} per core above max_load {max_load:g}"
        return None

    def take(self, agent: str, default: int | None) -> None:
        self.admitted += 1
        self.reserved += self.need(agent, default)


def choose(rooms: Iterable[NodeRoom], agent: str, default: int | None, *, strategy: str, turn: int,
           max_load: float | None = None) -> tuple[NodeRoom | None, str]:
    """The node for one task among ``rooms`` (in preference order) and why: the chosen one's reason, or
    every node's refusal when none has room."""
    ok: list[NodeRoom] = []
    refused: list[str] = []
    for r in rooms:
        why = r.refusal(agent, default, max_load)
        if why is None:
            ok.append(r)
        else:
            refused.append(why)
    if not ok:
        return None, "; ".join(refused) or "no node to place on"
    if len(ok) == 1:
        return ok[0], "the only node with room"
    if strategy == "round-robin":
        pick = ok[turn % len(ok)]
        return pick, f"round-robin over {len(ok)} nodes with room"

    def free_slots(r: NodeRoom) -> float:
        return float("inf") if r.max_sessions is None else r.max_sessions - r.used

    def free_mem(r: NodeRoom) -> float:
        return float("inf") if r.available is None else r.available - r.reserved

    pick = min(ok, key=lambda r: (r.used, -free_slots(r), -free_mem(r)))  # stable: earlier nodes win ties
    mem = "" if pick.available is None else f", {human_bytes(pick.available - pick.reserved)} available"
    return pick, f"least loaded: {pick.used} live{mem}"


def parse_meminfo(text: str) -> int | None:
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def parse_load(text: str, cores: int) -> float | None:
    try:
        return float(text.split()[0]) / max(1, cores)
    except (IndexError, ValueError):
        return None


def probe_local() -> Probe:
    """This machine's MemAvailable and 1-minute load per core."""
    try:
        with open("/proc/meminfo") as f:
            mem = parse_meminfo(f.read())
    except OSError as e:
        return Probe(None, None, f"cannot read /proc/meminfo: {e.strerror}")
    try:
        load = os.getloadavg()[0] / max(1, os.cpu_count() or 1)
    except OSError:
        load = None
    return Probe(mem, load)


PROBE_SCRIPT = "cat /proc/meminfo /proc/loadavg 2>/dev/null; echo; getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1"


def parse_probe(out: str) -> Probe:
    """What :data:`PROBE_SCRIPT` printed on a node (Linux; elsewhere memory is not known)."""
    lines = [x for x in out.splitlines() if x.strip()]
    mem = parse_meminfo(out)
    cores = int(lines[-1]) if lines and lines[-1].strip().isdigit() else 1
    load_line = next((x for x in lines if len(x.split()) >= 5 and "/" in x.split()[3]), "")
    return Probe(mem, parse_load(load_line, cores) if load_line else None)


def cap(available: int | None, limit: int | None, used: int) -> int | None:
    """Available memory as placement counts it: ``limit`` (what the run may use on the node) minus ``used``,
    and never more than the node's own."""
    if limit is None:
        return available
    left = max(0, limit - used)
    return left if available is None else min(available, left)
