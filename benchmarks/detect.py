"""Detection latency per agent: how fast cortex-tui's state lands after the provider fake sends a tool call
(→ waiting) or ends a turn (→ idle), beside the moment the agent's own screen showed it, measured in the
same run, on the real agent CLIs (the conformance drivers, tests/conformance/drivers.py).

    python benchmarks/detect.py [--agents claude-code,codex,gemini,opencode,aider] [--samples 2]

Per sample, one supervised session (real tmux, git worktree) runs the script "shell command (approval) →
'Made it.'":

* ``api``: the fake finished sending the response (its last SSE byte; ``ScriptedLLM.answered_at``);
* ``screen`` (the floor): a 20 ms capture-pane poll of the benchmark's own sees the dialog drawn / the
  answer text shown — when the agent's screen changed;
* ``state``: the supervisor published ``waiting`` / ``idle`` (event timestamp).

Aider makes no second model request after an approved command ("Add command output to the chat?", then its
input prompt): its sample answers both questions, then sends a second message that the fake answers with
"Made it." — the idle columns are that turn's (its cost line, then its input prompt).

It prints api→screen, api→state and screen→state (p50 over the samples; negative screen→state: the state
landed before the screen showed it — a structured signal beat the redraw), and sig→waiting: the state's lag
behind the last write to the session's events file before it (the hook/plugin line of the dialog). For an
agent whose input prompt the adapter knows (aider), also the input prompt's return to the screen → idle. Silence: the hang scenario's
``fired − hung − silence_after`` is printed by ``pytest -m conformance -k silence -s``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "conformance"))
import conftest  # noqa: F401,E402  (puts the pinned agent CLIs in .cortex-dev/bin first on PATH)
from _common import add_keep, make_repo, scratch  # noqa: E402
from drivers import DRIVERS  # noqa: E402
from test_conformance import NAME, answer, expect, finish, state, supervise  # noqa: E402

from cortex_tui.agents import get_adapter  # noqa: E402
from cortex_tui.engine.events import Event  # noqa: E402
from cortex_tui.engine.supervisor import Supervisor  # noqa: E402
from cortex_tui.errors import CortexError  # noqa: E402

POLL_S = 0.02
HOOKED = ("claude-code", "codex", "gemini", "opencode")
"""Agents whose waiting comes from a line in the session's events file (a hook, a plugin): ``sig→waiting`` is the
state's lag behind that file's last write before the state landed."""


def _obj(v: object) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _timeline(got: dict[str, float], seen: list[Event], events: Path | None, since: float) -> list[tuple[float, str]]:
    """``--trace``: what happened after ``since`` (the fake's tool-call answer), in order — the benchmark's own
    marks, the supervisor's state events, and every line the agent's hook/plugin wrote to the events file."""
    rows = [(t, f"bench {k}") for k, t in got.items()]
    rows += [(e.ts, f"state {e.data.get('state')}") for e in seen if e.kind == "state"]
    if events is not None and events.exists():
        for raw in events.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                ev = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(ev, dict) or not isinstance(ev.get("ts"), int | float):
                continue
            p = _obj(ev.get("payload"))
            part = _obj(p.get("part"))
            bits = (ev.get("event"), part.get("type"), part.get("reason"), _obj(part.get("state")).get("status"),
                    _obj(p.get("status")).get("type"))
            what = " ".join(str(x) for x in bits if x)
            rows.append((float(ev["ts"]), f"line  {what}"))
    return sorted((t, w) for t, w in rows if t >= since - 0.001)


def one(agent: str, root: Path, i: int, trace: bool = False) -> dict[str, float]:
    d = DRIVERS[agent]
    repo = make_repo(root / f"{agent}-{i}" / "repo")
    tmp = root / f"{agent}-{i}"
    adapter = get_adapter(agent)
    got: dict[str, float] = {}
    asked: list[str] = []
    last: list[str] = []
    seen: list[Event] = []

    async def during(sup: Supervisor, api: object) -> None:
        sup.subscribe(seen.append)
        stop = asyncio.Event()

        async def watch() -> None:
            while not stop.is_set():
                try:
                    text = await sup.screen(NAME, escapes=False, lines=80)
                except CortexError:  # the window is not there yet / any more: nothing to see this round
                    text = ""
                now = time.time()
                lines = text.splitlines()
                found = adapter.find_approval(lines)
                last[:] = [ln for ln in lines if ln.strip()][-3:]  # the screen's last lines, for a failure message
                if "dialog" not in got and found is not None:
                    got["dialog"] = now
                    asked.append(found.text)
                elif found is not None and "answered" in got and "second" not in got and found.text != asked[0]:
                    got["second"] = now  # aider's follow-up question (the same trigger may stay raised)
                if "answer" not in got and "dialog" in got and "Made it." in text:
                    got["answer"] = now
                if "answer" in got and "ready" not in got and adapter.input_ready(lines):
                    got["ready"] = now  # aider: back at its input prompt (drawn after its cost line)
                await asyncio.sleep(POLL_S)

        w = asyncio.create_task(watch())
        await expect(sup, lambda: state(sup) == "waiting", 60 + d.start_s, f"{agent}: waiting")
        await expect(sup, lambda: "dialog" in got, 10, f"{agent}: the dialog on the screen")
        events = sup.store.events_file(sup.state.sessions[NAME].slug)
        if agent in HOOKED and events.exists():  # its last write: the structured signal of the dialog
            got["signal"] = events.stat().st_mtime
        await answer(sup, True)
        got["answered"] = time.time()
        if follow_up:  # aider: "Add command output to the chat?" (the engine may keep one approval_waiting over
            # both questions: the screen is what tells); yes adds it and aider is back at its input — no request.
            # Aider asks only when it captured some output: its pexpect `interact()` loop can miss a fast command's
            # whole output (the child exits before it is read), and then it is back at its input prompt at once —
            # idle, rightly (1 sample in 10 at load ~6, 2026-12-03).
            def back_at_input() -> bool:
                return state(sup) == "idle" and adapter.input_ready(last)

            try:
                await expect(sup, lambda: "second" in got or back_at_input(), 30,
                             f"{agent}: the follow-up question on the screen (or its input prompt)")
            except AssertionError as e:  # say which side missed it: the benchmark's poll or the engine
                died = w.exception() if w.done() else None
                raise AssertionError(f"{e}\nthe poll saw the questions {asked!r}; its last lines {last!r}"
                                     + (f"; the poll died: {died!r}" if died else "")) from None
            if "second" in got:
                await expect(sup, lambda: state(sup) == "waiting", 30, f"{agent}: waiting at the follow-up question")
                await answer(sup, True)
                await expect(sup, lambda: state(sup) == "idle", 30, f"{agent}: idle after the command")
            else:
                print(f"{agent:<12} sample {i}: aider lost the command's output (no follow-up question): idle at once")
            # the turn that ends with a model reply (its cost line, then its input prompt): a second message
            got["sent"] = time.time()
            await sup.send(NAME, "Say it is done.")
            await expect(sup, lambda: any(e.kind == "state" and e.data.get("state") == "running"
                                          and e.ts >= got["sent"] for e in seen), 30, f"{agent}: running again")
        await expect(sup, lambda: state(sup) == "idle", 30, f"{agent}: idle")
        await expect(sup, lambda: "answer" in got, 10, f"{agent}: the answer on the screen")
        stop.set()
        await w
        answered = getattr(api, "answered_at", [])
        got["api_tool"], got["api_done"] = answered[0], answered[-1]
        if trace:
            events_file = sup.store.events_file(sup.state.sessions[NAME].slug)
            for t, what in _timeline(got, seen, events_file, got["api_tool"]):
                print(f"  {agent} #{i} {(t - got['api_done']) * 1000:+9.0f} ms  {what}")
        await finish(sup)

    # aider makes no second model request after an approved command (it asks whether to add the output, then is
    # back at its input): its reply-ending turn is a second message, answered with text
    follow_up = agent == "aider"
    cmd = "echo hi > made.txt && echo made" if follow_up else "echo hi > made.txt"
    session = {"extra_args": [*d.layout_extra().get("extra_args", []), "--no-stream"]} if d.usage_headless else None
    supervise(d, repo, tmp, [d.shell(cmd), d.say("Made it.")], during=during, session=session)
    waiting = next(e.ts for e in seen if e.kind == "state" and e.data.get("state") == "waiting")
    after = got.get("sent", waiting)
    idle = next(e.ts for e in seen if e.kind == "state" and e.data.get("state") == "idle" and e.ts > after)
    out = {"wait_screen": got["dialog"] - got["api_tool"], "wait_state": waiting - got["api_tool"],
           "idle_screen": got["answer"] - got["api_done"], "idle_state": idle - got["api_done"]}
    if "ready" in got:
        out["idle_ready"] = idle - got["ready"]
    if "signal" in got and got["signal"] <= waiting:
        out["wait_signal"] = waiting - got["signal"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", default="claude-code,codex,gemini,opencode,aider")
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--verbose", action="store_true", help="print the whole failure (the screen) of a failed sample")
    ap.add_argument("--trace", action="store_true",
                    help="per sample, the timeline from the tool call on (ms relative to the turn's last API byte): "
                         "the benchmark's marks, the states, the agent's events-file lines")
    add_keep(ap)
    args = ap.parse_args()
    with scratch(args.keep) as root:
        table(args, root)


def table(args: argparse.Namespace, root: Path) -> None:
    print(f"detection latency, {args.samples} sample(s) per agent (ms; p50; floor = the agent's own screen)")
    print(f"{'agent':<12} {'api→screen':>11} {'api→waiting':>12} {'screen→waiting':>15} {'sig→waiting':>12}   "
          f"{'api→screen':>11} {'api→idle':>9} {'screen→idle':>12}")
    for agent in args.agents.split(","):
        why = DRIVERS[agent].available()
        if why or "approve" in DRIVERS[agent].unsupported:
            print(f"{agent:<12} skipped: {why or DRIVERS[agent].unsupported['approve']}")
            continue
        runs = []
        for i in range(args.samples):
            try:
                runs.append(one(agent, Path(tempfile.mkdtemp(dir=root)), i, args.trace))
            except AssertionError as e:
                print(f"{agent:<12} sample {i} failed: {str(e) if args.verbose else str(e).splitlines()[0]}")
        if not runs:
            continue

        def p50(k: str, rs: list[dict[str, float]] = runs) -> float:
            return statistics.median(r[k] for r in rs) * 1000

        sig = [r for r in runs if "wait_signal" in r]
        sig_s = f"{p50('wait_signal', sig):.0f}" if sig else "-"
        print(f"{agent:<12} {p50('wait_screen'):>11.0f} {p50('wait_state'):>12.0f} "
              f"{p50('wait_state') - p50('wait_screen'):>15.0f} {sig_s:>12}   {p50('idle_screen'):>11.0f} "
              f"{p50('idle_state'):>9.0f} {p50('idle_state') - p50('idle_screen'):>12.0f}   n={len(runs)}")
        ready = [r for r in runs if "idle_ready" in r]
        if ready:  # the turn's end as the agent draws it: its input prompt back on the screen
            print(f"{'':<12} input prompt on the screen → idle: {p50('idle_ready', ready):.0f} ms (p50)")


if __name__ == "__main__":
    main()
