"""Log ingestion cost (#18): CPU per MB of output turned into rule inputs, skimmed vs line by line, and the
longest single turn of a streamed catch-up — both paths measured in the same run.

    python benchmarks/ingest.py [--mb 50] [--rounds 3]

* line by line (the floor: what every chunk cost before, and what chunks with escape sequences still cost):
  ``every_line`` over the chunk's lines — decode, clean, error test per line;
* skimmed: ``split_chunk`` as the engine calls it (256 KB chunks, ``Ingest.CHUNK``), on plain build-log output
  with one error line per ~1,000;
* a TUI agent's output (escape sequences on every line): ``split_chunk`` cleans the whole chunk
  (``clean_chunk``: escapes, carriage returns) and skims the cleaned bytes;
* real agents' output: the raw pane logs of Claude Code, Codex, Gemini CLI, OpenCode and Aider
  (tests/fixtures/agents/*/*/pane-repeated-error.log, recorded by the conformance suite) repeated to size —
  full-screen TUIs (Codex, OpenCode) draw with cursor moves and hardly a newline;
* the whole path: the real engine (a started, headless Supervisor; one running ``shell`` session whose log
  gets the plain corpus appended, as its pane's pipe-pane does) reading it all with ``Ingest.drain_log`` —
  read in 256 KB turns, lines, error rule (repeated_error triggers), progress, output events, the prompt
  check — CPU per MB and the longest turn, triggers counted; for the plain corpus, the TUI corpus and the
  real agents' output.

Reported: ms of CPU per MB (process time), the longest 1 MB turn, and the peak RSS growth of the process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep

from cortex_tui.agents import get_adapter
from cortex_tui.engine.ingest import CHUNK
from cortex_tui.engine.log_lines import every_line, split_chunk


def corpus(mb: int, ansi: bool) -> list[bytes]:
    """``mb`` MB in chunks of ``Ingest.CHUNK`` bytes of complete lines."""
    out = []
    i = 0
    for _ in range(mb * (1 << 20) // CHUNK):
        lines = []
        size = 0
        while size < CHUNK - 200:
            i += 1
            if i % 1000 == 0:
                line = f"Error: step {i % 7} failed".encode()
            elif ansi:
                line = f"\x1b[2K\x1b[32m✓\x1b[0m compiling module_{i:07d}.py \x1b[2m(ok)\x1b[0m".encode()
            else:
                line = f"12:00:01 compiling module_{i:07d}.py ... ok".encode()
            lines.append(line)
            size += len(line) + 1
        out.append(b"\n".join(lines))
    return out


AGENT_LOGS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "agents"


def agents_corpus(mb: int) -> list[bytes]:
    """``mb`` MB of the real agents' pane logs, repeated, in chunks of complete lines of at most ``Ingest.CHUNK``
    bytes (a line longer than that — a full-screen TUI's redraw — is a chunk of its own, cut at ``CHUNK``)."""
    logs = b"\n".join(p.read_bytes().rstrip(b"\n") for p in sorted(AGENT_LOGS.glob("*/*/pane-repeated-error.log")))
    data = (logs + b"\n") * (mb * (1 << 20) // (len(logs) + 1) + 1)
    out, pos = [], 0
    while pos < mb * (1 << 20):
        end = data.rfind(b"\n", pos, pos + CHUNK)
        end = pos + CHUNK if end <= pos else end
        out.append(data[pos:end])
        pos = end + (data[end:end + 1] == b"\n")
    return out


def run(chunks: list[bytes], fn: str) -> tuple[float, float, int]:
    adapter = get_adapter("shell")
    worst = 0.0
    errors = 0
    c0 = time.process_time()
    for ch in chunks:
        t = time.process_time()
        got = split_chunk(adapter, ch) if fn == "skim" else every_line(adapter, ch.split(b"\n"))
        errors += len(got.errors)
        worst = max(worst, time.process_time() - t)
    mb = sum(map(len, chunks)) / 1e6
    return (time.process_time() - c0) * 1000 / mb, worst * 1000, errors


async def _engine(chunks: list[bytes], root: Path) -> tuple[float, float, int]:
    from _common import make_repo

    from cortex_tui.engine.supervisor import Supervisor
    from cortex_tui.layout import parse_layout
    from cortex_tui.model.state import SessionState

    repo = make_repo(root / f"repo-{time.monotonic_ns()}")
    text = '[run]\nname = "ingest"\n[[session]]\nname = "flood"\nagent = "shell"\ncommand = "true"\n'
    path = root / "ingest.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), repo, headless=True)
    await sup.start()
    rt = sup.rt["flood"]
    rt.rec.state = SessionState.RUNNING
    triggers: list[object] = []
    sup.subscribe(lambda ev: triggers.append(ev) if ev.kind == "trigger" else None)
    log = sup.store.log_path(rt.rec.slug)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as f:
        for ch in chunks:
            f.write(ch + b"\n")
    rt.rec.log_offset = 0
    worst = 0.0
    c0 = time.process_time()
    while True:
        t = time.process_time()
        more = sup.ingest._read_chunk(rt)
        worst = max(worst, time.process_time() - t)
        if not more:
            break
    cpu = time.process_time() - c0
    await sup.shutdown()
    sup.tmux.kill_server()
    return cpu * 1000 / (sum(map(len, chunks)) / 1e6), worst * 1000, len(triggers)


def engine_path(chunks: list[bytes], keep: bool = False) -> tuple[float, float, int]:
    import asyncio

    from _common import scratch

    with scratch(keep) as root:
        return asyncio.run(_engine(chunks, root))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    add_keep(ap)
    args = ap.parse_args()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    plain, ansi, agents = corpus(args.mb, False), corpus(args.mb, True), agents_corpus(args.mb)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{args.mb} MB each of plain build output, TUI output and real agents' output "
          f"(corpus: {(rss1 - rss0) / 1024:.0f} MB)")
    for r in range(args.rounds):
        floor, fworst, fe = run(plain, "every")
        skim, sworst, se = run(plain, "skim")
        tui_floor, _, tfe = run(ansi, "every")
        tui, tworst, te = run(ansi, "skim")
        ag_floor, _, afe = run(agents, "every")
        ag, aworst, ae = run(agents, "skim")
        assert (fe, tfe, afe) == (se, te, ae), (fe, se, tfe, te, afe, ae)  # the skim finds every error line
        print(f"round {r + 1}: line by line {floor:6.1f} ms/MB (worst turn {fworst:5.1f} ms) | skimmed "
              f"{skim:5.1f} ms/MB (worst {sworst:4.1f} ms) = {floor / skim:4.1f}× cheaper, same {se} errors | "
              f"TUI output {tui:6.1f} ms/MB (worst {tworst:5.1f} ms; line by line {tui_floor:5.1f}), same {te} "
              f"errors | real agents {ag:6.1f} ms/MB (worst {aworst:5.1f} ms; line by line {ag_floor:5.1f}), "
              f"same {ae} errors")
    for r in range(args.rounds):
        for name, chunks in (("plain", plain), ("TUI", ansi), ("real agents", agents)):
            cpu, worst, trig = engine_path(chunks, args.keep)
            print(f"round {r + 1}: the engine's whole path (read → lines → rules → triggers → output events), "
                  f"{name} output: {cpu:5.1f} ms/MB (goal ≤ 5), longest turn {worst:4.1f} ms, {trig} triggers")
    rss2 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS growth while ingesting: {(rss2 - rss1) / 1024:.0f} MB")


if __name__ == "__main__":
    main()
