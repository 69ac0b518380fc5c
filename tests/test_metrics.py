"""Prometheus metrics: scraped over HTTP from a real sim run (real tmux, git) and parsed with
prometheus-client's own parser; the values equal ``status --json``; label cardinality stays bounded."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

from engine_helpers import cli, make_sup, run_to_end, wait_for
from prometheus_client.parser import text_string_to_metric_families

from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.metrics import Snapshot, exposition
from cortex_tui.model.state import RunState, SessionRecord, SessionState, TokenUsage, TriggerRecord
from cortex_tui.store.status import status_dict

LAYOUT = """
[run]
name = "metrics"
[defaults]
agent = "sim"
[[session]]
name = "api"
scope = ["src/**"]
script = ["tokens 1200 300", "write docs/x.md wander", "ask Proceed?", "commit api"]
[[session]]
name = "web"
script = ["tokens 500 50", "write src/web.py x = 1", "commit web"]
"""

Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse(text: str) -> Samples:
    out: Samples = defaultdict(list)
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[s.name].append((dict(s.labels), s.value))
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    hits = [v for lab, v in samples[name] if all(lab.get(k) == x for k, x in labels.items())]
    assert len(hits) == 1, (name, labels, samples[name])
    return hits[0]


def check_against_status(samples: Samples, st: dict[str, Any]) -> None:
    states: dict[str, int] = defaultdict(int)
    for s in st["sessions"]:
        states[s["state"]] += 1
        assert value(samples, "cortex_session_info", session=s["name"], state=s["state"]) == 1
        if s["tokens"] is not None:
            total = sum(v for lab, v in samples["cortex_session_tokens_total"] if lab["session"] == s["name"])
            assert total == s["tokens"]["total"]
        if s["cost_usd"] is not None:
            assert abs(value(samples, "cortex_session_cost_usd", session=s["name"]) - s["cost_usd"]) < 1e-9
    for state, n in states.items():
        assert value(samples, "cortex_sessions", state=state) == n
    raised: dict[str, int] = defaultdict(int)
    for s in st["sessions"]:
        for t in s["triggers"]:
            raised[t["kind"]] += 1
    for kind, n in raised.items():
        assert value(samples, "cortex_triggers_raised_total", kind=kind) == n


def test_metrics_scraped_during_a_run_equal_status(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, LAYOUT, tmp_path)
    sup.metrics_addr = ("127.0.0.1", 0)
    seen: list[Event] = []
    sup.subscribe(seen.append)
    scraped: dict[str, Samples] = {}

    async def during(s: Supervisor) -> None:
        await wait_for(lambda: s.state.sessions["api"].state is SessionState.WAITING, timeout=30, what="waiting")
        await wait_for(lambda: s.state.sessions["web"].state.terminal, timeout=30, what="web done")
        url = next(e.data["url"] for e in seen if e.kind == "metrics_serving")
        assert url.startswith("http://127.0.0.1:")
        import asyncio

        text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read().decode())
        scraped["live"] = parse(text)
        check_against_status(scraped["live"], status_dict(s.state))
        await s.approve("api")

    run_to_end(sup, during=during)
    live = scraped["live"]
    assert value(live, "cortex_sessions", state="waiting") == 1
    assert value(live, "cortex_triggers_active", kind="approval_waiting") == 1
    assert value(live, "cortex_triggers_raised_total", kind="out_of_scope") == 1
    assert value(live, "cortex_session_tokens_total", session="api", type="input") == 1200
    assert value(live, "cortex_spawn_duration_seconds_count") == 2
    assert value(live, "cortex_supervisor_up") == 1
    for name in ("cortex_session_cpu_percent", "cortex_review_queue", "cortex_verify_results_total"):
        assert name in live, name
    # after the run: the one-shot exposition equals `status --json` too
    after = parse(cli("metrics", "--repo", str(git_repo)).stdout)
    check_against_status(after, json.loads(cli("status", "--repo", str(git_repo), "--json").stdout))
    assert value(after, "cortex_sessions", state="finished") == 2
    assert value(after, "cortex_review_queue", status="pending") == 2
    assert value(after, "cortex_supervisor_up") == 0
    assert value(after, "cortex_spawn_duration_seconds_count") == 2


def test_label_cardinality_stays_bounded_at_100_sessions() -> None:
    st = RunState(run="big", layout_path="x", layout_text="", repo="/r", base="main", base_commit="0" * 40,
                  socket="s", created_at=time.time())
    for i in range(100):
        rec = SessionRecord(name=f"s{i}", slug=f"s{i}", agent="sim", branch=f"b{i}", worktree=f"/w/{i}",
                            state=SessionState.RUNNING, cpu_percent=1.0, rss_bytes=10, cost_usd=0.01,
                            usage_by_model={"m": TokenUsage(input=1)})
        for k in range(30):  # many triggers per session must not add series
            rec.triggers.append(TriggerRecord(kind="out_of_scope", at=0, key=f"/path/{k}",
                                              evidence={"path": f"secret/path/{k}"}))
        st.sessions[rec.name] = rec
    text = exposition(Snapshot(state=st))
    samples = parse(text)
    series = sum(len(v) for v in samples.values())
    assert series <= 100 * 9 + 60, series  # per session: info, 4 token types, cost, cpu, rss (+ slack)
    assert "secret/path" not in text  # no paths, prompts or evidence as label values
    assert value(samples, "cortex_triggers_raised_total", kind="out_of_scope") == 3000


def test_the_example_dashboard_and_alert_rules_name_only_series_that_exist() -> None:
    import re

    st = RunState(run="r", layout_path="x", layout_text="", repo="/r", base="main", base_commit="0" * 40,
                  socket="s", created_at=0.0, nodes={"n1": {"reachable": True, "latency_ms": 3}})
    st.sessions["a"] = SessionRecord(name="a", slug="a", agent="sim", branch="b", worktree="/w", cpu_percent=1,
                                     rss_bytes=1, disk_bytes=1, cost_usd=0.1, tokens=TokenUsage(input=1),
                                     triggers=[TriggerRecord(kind="silence", at=1.5, cause_at=1.0)])
    produced = set(parse(exposition(Snapshot(state=st))))
    docs = Path(__file__).parent.parent / "docs" / "monitoring"
    text = (docs / "grafana-dashboard.json").read_text() + (docs / "prometheus-alerts.yml").read_text()
    named = set(re.findall(r"\bcortex_[a-z_]+", text)) - {"cortex_tui"}
    assert named and named <= produced, named - produced


LATENCY_LAYOUT = """
[run]
name = "latency"
[defaults]
agent = "sim"
[[session]]
name = "asker"
script = ["say about to ask", "ask Proceed?", "say went on"]
[[session]]
name = "errs"
script = ["error ValueError: bad value at 0x7f01 (/tmp/a1/x.py:3)", "error ValueError: bad value at 0x7f99 (/tmp/b2/x.py:8)",
          "say between", "error ValueError: bad value at 0x1234 (/tmp/c3/x.py:42)", "sleep 1"]
"""


def test_trigger_latency_histogram_scraped_over_http(git_repo: Path, tmp_path: Path) -> None:
    """#21: cortex_trigger_latency_seconds, from each trigger's cause (the output written) to its raise, equals
    the run state's ``at - cause_at`` for every trigger, by kind."""
    import asyncio

    sup = make_sup(git_repo, LATENCY_LAYOUT, tmp_path)
    sup.metrics_addr = ("127.0.0.1", 0)
    seen: list[Event] = []
    sup.subscribe(seen.append)
    got: dict[str, Any] = {}

    def raised(kind: str) -> bool:
        return any(t.kind == kind for r in sup.state.sessions.values() for t in r.triggers)

    async def during(s: Supervisor) -> None:
        await wait_for(lambda: raised("approval_waiting") and raised("repeated_error"), timeout=60,
                       what="both triggers")
        url = next(e.data["url"] for e in seen if e.kind == "metrics_serving")
        got["state"] = s.state.model_copy(deep=True)  # before the scrape: triggers only ever get added
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read().decode())
        got["samples"] = parse(text)
        await s.approve("asker")

    run_to_end(sup, during=during, timeout=90)
    samples: Samples = got["samples"]
    st: RunState = got["state"]
    for kind in ("approval_waiting", "repeated_error"):
        ts = [t for r in st.sessions.values() for t in r.triggers if t.kind == kind]
        assert ts and all(t.cause_at is not None and st.created_at <= t.cause_at <= t.at for t in ts), ts
        assert value(samples, "cortex_trigger_latency_seconds_count", kind=kind) == len(ts)
        total = value(samples, "cortex_trigger_latency_seconds_sum", kind=kind)
        assert abs(total - sum(t.at - (t.cause_at or 0) for t in ts)) < 1e-6
        assert value(samples, "cortex_trigger_latency_seconds_bucket", kind=kind, le="+Inf") == len(ts)
