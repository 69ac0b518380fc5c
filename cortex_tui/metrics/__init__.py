"""Prometheus metrics of a run: every value read from the run's state at scrape time (so ``/metrics`` and
``status --json`` can never disagree), plus spawn durations from the event log. Trigger latency is each
trigger's ``at - cause_at`` (when the output or record that raised it was written, or the silence threshold
passed, to when the engine raised it). Labels are bounded: run,
session, agent, model, node, kind, state — never a prompt, a path or an error text."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from cortex_tui.model.state import RunState, SessionState

SPAWN_BUCKETS: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Trigger latency: an approval prompt should reach the user well within a second; silence within a tick."""
REVIEW_STATUSES: tuple[str, ...] = ("pending", "approved", "rejected", "changes_requested")


@dataclass
class Snapshot:
    """Everything one scrape shows (built on the engine's thread, read on the HTTP thread)."""

    state: RunState
    review: dict[str, int] = field(default_factory=dict)
    """Review entries by status."""
    verify: dict[str, int] = field(default_factory=dict)
    """Verify results: ``pass`` / ``fail`` counts over the review queue."""
    spawn_durations: list[float] = field(default_factory=list)
    supervisor_alive: bool = True


def spawn_durations(events: Iterable[dict[str, Any]]) -> list[float]:
    """Seconds from a session's ``starting`` state to its ``spawned`` event, per spawn, from event dicts."""
    begun: dict[str, float] = {}
    out: list[float] = []
    for ev in events:
        s = ev.get("session")
        if not isinstance(s, str):
            continue
        data = ev.get("data") or {}
        if ev.get("kind") == "state" and data.get("state") == "starting":
            begun[s] = float(ev["ts"])
        elif ev.get("kind") == "spawned" and s in begun:
            out.append(max(0.0, float(ev["ts"]) - begun.pop(s)))
    return out


def _histogram(name: str, doc: str, values: list[float], labels: dict[str, str],
               bounds: tuple[float, ...] = SPAWN_BUCKETS) -> HistogramMetricFamily:
    h = HistogramMetricFamily(name, doc, labels=list(labels))
    _observe(h, values, list(labels.values()), bounds)
    return h


def _observe(h: HistogramMetricFamily, values: list[float], labels: list[str], bounds: tuple[float, ...]) -> None:
    buckets = [(repr(b), float(sum(1 for v in values if v <= b))) for b in bounds]
    buckets.append(("+Inf", float(len(values))))
    h.add_metric(labels, buckets, sum(values))


def trigger_latencies(st: RunState) -> dict[str, list[float]]:
    """Seconds from cause to raise, per trigger kind, over the triggers whose cause time is known."""
    out: dict[str, list[float]] = {}
    for r in st.sessions.values():
        for t in r.triggers:
            if t.cause_at is not None:
                out.setdefault(t.kind, []).append(max(0.0, t.at - t.cause_at))
    return out


class RunCollector(Collector):
    """A custom collector over a :class:`Snapshot` provider."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot()
        st = snap.state
        run = st.run
        recs = list(st.sessions.values())

        up = GaugeMetricFamily("cortex_supervisor_up", "1 while a supervisor watches the run.", labels=["run"])
        up.add_metric([run], 1.0 if snap.supervisor_alive else 0.0)
        yield up

        by_state = GaugeMetricFamily("cortex_sessions", "Sessions by state.", labels=["run", "state"])
        for s in SessionState:
            by_state.add_metric([run, s.value], float(sum(1 for r in recs if r.state is s)))
        yield by_state

        info = GaugeMetricFamily("cortex_session_info", "One series per session: its agent, node and state.",
                                 labels=["run", "session", "agent", "node", "state"])
        for r in recs:
            info.add_metric([run, r.name, r.agent, r.node, r.state.value], 1.0)
        yield info

        kinds = sorted({t.kind for r in recs for t in r.triggers})
        raised = CounterMetricFamily("cortex_triggers_raised", "Triggers raised, by kind.", labels=["run", "kind"])
        active = GaugeMetricFamily("cortex_triggers_active", "Triggers active now, by kind.", labels=["run", "kind"])
        for k in kinds:
            raised.add_metric([run, k], float(sum(1 for r in recs for t in r.triggers if t.kind == k)))
            active.add_metric([run, k], float(sum(1 for r in recs for t in r.triggers if t.kind == k and t.active)))
        yield raised
        yield active

        tokens = CounterMetricFamily("cortex_session_tokens", "Tokens used, by session, agent, model and type.",
                                     labels=["run", "session", "agent", "model", "type"])
        cost = GaugeMetricFamily("cortex_session_cost_usd", "Cost so far in USD (sessions that report usage).",
                                 labels=["run", "session", "agent"])
        cpu = GaugeMetricFamily("cortex_session_cpu_percent", "CPU of the session's process tree (live sessions).",
                                labels=["run", "session"])
        rss = GaugeMetricFamily("cortex_session_rss_bytes", "RSS of the session's process tree (live sessions).",
                                labels=["run", "session"])
        disk = GaugeMetricFamily("cortex_session_disk_bytes", "Disk used by the session's worktree.",
                                 labels=["run", "session"])
        for r in recs:
            per_model = r.usage_by_model or ({"unknown": r.tokens} if r.tokens is not None else {})
            for model, u in per_model.items():
                for typ, v in (("input", u.input), ("output", u.output), ("cache_read", u.cache_read),
                               ("cache_write", u.cache_write)):
                    tokens.add_metric([run, r.name, r.agent, model, typ], float(v))
            if r.cost_usd is not None:
                cost.add_metric([run, r.name, r.agent], r.cost_usd)
            if r.cpu_percent is not None:
                cpu.add_metric([run, r.name], r.cpu_percent)
            if r.rss_bytes is not None:
                rss.add_metric([run, r.name], float(r.rss_bytes))
            if r.disk_bytes is not None:
                disk.add_metric([run, r.name], float(r.disk_bytes))
        yield from (tokens, cost, cpu, rss, disk)

        total = GaugeMetricFamily("cortex_run_cost_usd", "Cost of the whole run so far in USD.", labels=["run"])
        total.add_metric([run], sum(r.cost_usd or 0.0 for r in recs))
        yield total

        yield _histogram("cortex_spawn_duration_seconds", "From a session's start to its running agent.",
                         snap.spawn_durations, {"run": run})
        latency = HistogramMetricFamily(
            "cortex_trigger_latency_seconds", "From a trigger's cause (the output or agent record written, the "
            "silence threshold passed) to the engine raising it, by kind.", labels=["run", "kind"])
        for k, values in sorted(trigger_latencies(st).items()):
            _observe(latency, values, [run, k], LATENCY_BUCKETS)
        yield latency

        depth = GaugeMetricFamily("cortex_review_queue", "Review entries by status.", labels=["run", "status"])
        for status in REVIEW_STATUSES:
            depth.add_metric([run, status], float(snap.review.get(status, 0)))
        yield depth
        verify = CounterMetricFamily("cortex_verify_results", "Verify outcomes over the review queue.",
                                     labels=["run", "result"])
        for result in ("pass", "fail"):
            verify.add_metric([run, result], float(snap.verify.get(result, 0)))
        yield verify

        node_up = GaugeMetricFamily("cortex_node_up", "1 when the node's link is up.", labels=["run", "node"])
        rtt = GaugeMetricFamily("cortex_node_poll_rtt_seconds", "Round trip of the node's last poll.",
                                labels=["run", "node"])
        for name, health in st.nodes.items():
            node_up.add_metric([run, name], 1.0 if health.get("reachable") else 0.0)
            if isinstance(health.get("latency_ms"), int | float):
                rtt.add_metric([run, name], float(health["latency_ms"]) / 1000.0)
        yield node_up
        yield rtt


def registry_for(snapshot: Callable[[], Snapshot]) -> CollectorRegistry:
    """A registry holding only the run's metrics (no process/platform collectors: those are node_exporter's)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(RunCollector(snapshot))
    return reg


def exposition(snapshot: Snapshot) -> str:
    """The text exposition of one snapshot (``cortex-tui metrics``; node_exporter's textfile collector)."""
    from prometheus_client import generate_latest

    return generate_latest(registry_for(lambda: snapshot)).decode()
