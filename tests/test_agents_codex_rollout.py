"""Codex's session file (rollout) as recorded from the real CLI 0.171.0 (tests/fixtures/agents/codex/<version>/):
turn state, usage totals and failed commands, read incrementally — and the CPU of an agent's own UI left
out of silence detection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cortex_tui.agents import get_adapter
from cortex_tui.agents.codex import CodexAdapter
from cortex_tui.agents.codex_rollout import RolloutTail, signals_of
from cortex_tui.budgets import UsageLedger
from cortex_tui.model.layout import Layout
from cortex_tui.model.resolve import resolve_session
from cortex_tui.resources import ProcessSampler, ui_chain

FIX = Path(__file__).parent / "fixtures" / "agents" / "codex" / "0.171.0"


def lines(name: str) -> list[dict[str, object]]:
    return [json.loads(ln) for ln in (FIX / name).read_text().splitlines() if ln.strip()]


def test_rollout_signals_from_the_real_cli() -> None:
    sigs = [s for obj in lines("rollout-repeated-error.jsonl") for s in signals_of(obj)]
    kinds = [s.kind for s in sigs]
    assert kinds[0] == "busy" and kinds[-1] == "idle"
    errors = [s for s in sigs if s.kind == "error"]
    assert len(errors) == 3 and {s.text for s in errors} == {"ValueError: conformance boom"}
    usage = [s for s in sigs if s.kind == "usage"]
    assert usage and all(s.total for s in usage)
    ledger = UsageLedger()
    for s in usage:
        assert s.usage is not None
        ledger.apply(None, s.usage, total=True)
    # four requests of 100 in / 20 out each (what the fake billed), as Codex's own running total
    assert (ledger.usage.input, ledger.usage.output, ledger.usage.cache_read) == (400, 80, 0)


def test_rollout_tail_finds_the_session_by_its_cwd_and_reads_incrementally(tmp_path: Path) -> None:
    src = lines("rollout-repeated-error.jsonl")
    cwd = str(src[0]["payload"]["cwd"])  # type: ignore[index]
    day = tmp_path / "sessions" / time.strftime("%Y/%m/%d")  # Codex files a rollout under the day it began
    day.mkdir(parents=True)
    other = dict(src[0], payload={**src[0]["payload"], "cwd": "/somewhere/else"})  # type: ignore[dict-item]
    (day / "rollout-2026-12-01T00-00-00-other.jsonl").write_text(json.dumps(other) + "\n")
    path = day / "rollout-2026-12-01T00-00-01-mine.jsonl"
    text = "".join(json.dumps(o) + "\n" for o in src)
    cut = text.index('"task_complete"')
    path.write_text(text[:cut])
    old = tmp_path / "sessions" / "2020" / "01" / "01"  # an old day's directory is never looked through
    old.mkdir(parents=True)
    (old / "rollout-2020-01-01T00-00-00-mine.jsonl").write_text(json.dumps(src[0]) + "\n")  # newest, same cwd
    tail = RolloutTail(tmp_path, cwd, time.time())
    first = tail.read()
    assert tail.path == path
    assert "idle" not in [s.kind for s in first]
    with open(path, "a") as f:
        f.write(text[cut:])
    assert [s.kind for s in tail.read()] == ["idle"]
    assert tail.read() == []


def test_a_patch_outside_the_worktree_names_the_resolved_path() -> None:
    """The model ran ``apply_patch <<'EOF' … *** Add File: /abs/outside.txt`` through exec_command: Codex applied
    it itself and recorded a FileChange naming the path (rollout-patch-outside.jsonl, recorded from 0.171.0)."""
    src = lines("rollout-patch-outside.jsonl")
    cwd = str(src[0]["payload"]["cwd"])  # type: ignore[index]
    sigs = [s for obj in src for s in signals_of(obj, cwd)]
    outside = [s.text for s in sigs if s.kind == "outside"]
    assert outside == [os.path.join(os.path.dirname(cwd), "outside.txt")]
    assert "busy" in [s.kind for s in sigs] and "blocked" not in [s.kind for s in sigs]
    # a relative path that climbs out is resolved; one inside the worktree is no signal; a refused one is blocked
    item = {"type": "FileChange", "status": "failed",
            "changes": {"../up.txt": {"type": "add"}, "src/in.py": {"type": "update"}}}
    got = signals_of({"type": "event_msg", "payload": {"type": "item_completed", "item": item}}, "/w/wt")
    assert [(s.kind, s.text) for s in got if s.kind != "busy"] == [("blocked", "/w/up.txt")]


def test_codex_adapter_polls_its_rollout(tmp_path: Path) -> None:
    layout = Layout.model_validate({"run": {"name": "t"}, "session": [
        {"name": "s", "agent": "codex", "env": {"CODEX_HOME": str(tmp_path / "ch")}}]})
    spec = resolve_session(layout, layout.session[0])
    from cortex_tui.agents.base import SpawnContext
    wt = tmp_path / "wt"
    ctx = SpawnContext(run="t", repo=wt, worktree=wt, session_dir=tmp_path / "sd", events_file=tmp_path / "e")
    a = get_adapter("codex")
    assert isinstance(a, CodexAdapter) and a.progress == "events" and a.exposes_usage and a.ui_processes
    a.prepare(spec, ctx)
    assert a.poll_usage() == []  # no session file yet: nothing, not zero usage
    day = tmp_path / "ch" / "sessions" / time.strftime("%Y/%m/%d")
    day.mkdir(parents=True)
    src = lines("rollout-repeated-error.jsonl")
    src[0]["payload"]["cwd"] = str(wt)  # type: ignore[index]
    (day / "rollout-x.jsonl").write_text("".join(json.dumps(o) + "\n" for o in src))
    assert a.finding() and a.watch_files() == []
    time.sleep(0.6)  # the session file is looked for at most every 0.5 s
    assert [s.kind for s in a.poll_usage()].count("error") == 3
    assert not a.finding() and a.watch_files() == [day / "rollout-x.jsonl"]  # read on change from now on
    b = get_adapter("codex")
    assert isinstance(b, CodexAdapter)
    b.restore_usage_checkpoint(json.loads(json.dumps(a.usage_checkpoint())))
    assert [s.kind for s in b.poll_usage()].count("usage") == 4  # totals: re-reading counts nothing twice


def test_ui_chain_leaves_out_the_agents_own_processes() -> None:
    children = {1: [2], 2: [3], 3: [4, 5], 5: [6]}
    names = {1: "sh", 2: "node", 3: "codex", 4: "bash", 5: "node", 6: "node"}
    # the tool (bash, 4) is not the agent; a node under a non-agent process would not be either
    assert ui_chain(1, children, names, frozenset({"node", "codex"})) == {1, 2, 3, 5, 6}
    children2 = {1: [2], 2: [3], 3: [4], 4: [5]}
    names2 = {1: "sh", 2: "node", 3: "codex", 4: "bash", 5: "node"}
    assert ui_chain(1, children2, names2, frozenset({"node", "codex"})) == {1, 2, 3}


def test_work_cpu_counts_only_the_commands_an_agent_runs() -> None:
    """A busy 'agent' process (named like the UI) is not work; the busy command it starts is."""
    spin = "import time\nend = time.time() + 3\nwhile time.time() < end: pass\n"
    agent = subprocess.Popen([sys.executable, "-c", spin])
    try:
        sampler = ProcessSampler()
        ui = {agent.pid: frozenset({os.path.basename(os.path.realpath(sys.executable))[:15]})}
        sampler.sample([agent.pid], ui)
        time.sleep(1.0)
        s = sampler.sample([agent.pid], ui)[agent.pid]
        assert s.cpu_percent is not None and s.cpu_percent > 5  # it really burns CPU (a loaded 2-core box)
        assert s.work_cpu_percent == 0.0  # ... but none of it is work
        plain = ProcessSampler()
        plain.sample([agent.pid])
        time.sleep(0.3)
        assert plain.sample([agent.pid])[agent.pid].work_cpu_percent is None  # no ui names: not computed
    finally:
        agent.kill()
        agent.wait()
