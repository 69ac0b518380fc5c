"""Plain-text rendering of queue entries for the CLI."""

from __future__ import annotations

from cortex_tui.durations import format_duration
from cortex_tui.review.models import QueueEntry
from cortex_tui.text import visible

LANDED = {"content": "its changes are there", "rebase": "rebased or cherry-picked", "squash": "squash-merged"}
"""How an entry's work reached the base without ancestry (:attr:`QueueEntry.landed`), in words."""


def verify_label(e: QueueEntry, *, with_duration: bool = True) -> str:
    """What verify said about an entry: "passed in 1.2s", "failed (exit 1)", "not verified yet", …"""
    if e.verify_command is None:
        return "no verify command"
    if e.verify is None:
        return "not verified yet"
    v = e.verify
    if v.timed_out:
        return f"timed out after {format_duration(v.duration_s)}"
    verdict = "passed" if v.exit_code == 0 else f"failed (exit {v.exit_code})"
    return f"{verdict} in {v.duration_s:.1f}s" if with_duration else verdict


def list_line(e: QueueEntry) -> str:
    added = sum(f.added for f in e.files)
    removed = sum(f.removed for f in e.files)
    flags = ["ready"] if e.ready and e.status == "pending" else []
    if e.conflicts:
        flags.append(f"{len(e.conflicts)} conflict(s)")
    if e.out_of_scope:
        flags.append(f"{len(e.out_of_scope)} out of scope")
    if e.landed:
        flags.append(f"already in the base ({LANDED[e.landed]})")
    return (f"{visible(e.session):<24} {e.status:<18} {len(e.commits):>3} commit(s) {len(e.files):>3} file(s) "
            f"+{added}/-{removed}  {verify_label(e)}" + (f"  [{', '.join(flags)}]" if flags else ""))


def show_text(e: QueueEntry) -> str:
    v = visible
    lines = [f"session   {v(e.session)}", f"branch    {v(e.branch)}  head {v((e.head or '?')[:12])}",
             f"status    {e.status}{'  (ready)' if e.ready else ''}  round {e.round}",
             f"verify    {verify_label(e)}" + (f"  `{v(e.verify_command)}`" if e.verify_command else "")]
    if e.cost_usd is not None or e.tokens is not None:
        tok = e.tokens.total if e.tokens else 0
        lines.append(f"usage     {tok} tokens" + (f", ${e.cost_usd:.2f}" if e.cost_usd is not None else ""))
    if e.landed:
        lines.append(f"landed    already in the base ({LANDED[e.landed]}): approving it merges nothing")
    if e.conflicts:
        lines.append("conflicts " + ", ".join(v(c) for c in e.conflicts))
    lines.append(f"commits   ({len(e.commits)})")
    lines += [f"  - {v(s)}" for s in e.commits]
    lines.append(f"files     ({len(e.files)})")
    for f in e.files:
        mark = "" if f.in_scope else "  OUT OF SCOPE"
        stat = "binary" if f.binary else f"+{f.added} -{f.removed}"
        lines.append(f"  {stat:>12}  {v(f.path)}{mark}")
    if e.uncommitted:
        lines.append("uncommitted (not part of the branch): " + ", ".join(v(u) for u in e.uncommitted[:20]))
    if e.triggers:
        lines.append("triggers  " + ", ".join(sorted({t.kind for t in e.triggers})))
    if e.verify and e.verify.tail:
        lines.append("verify output (tail):")
        lines += ["  " + v(ln) for ln in e.verify.tail.split("\n")]
    for d in e.decisions:
        lines.append(f"decision  {d.decision} by {v(d.by)}: {v(d.detail)}")
    return "\n".join(lines)
