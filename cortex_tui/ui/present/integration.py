"""Presentation of the integration entry (issue #16): one line for the review queue, a page for ``I``.

Pure functions (Rich only): which branches merged cleanly, which conflicted (and were left out), the verify
verdict of the combination, the smallest failing set, and whether the entry is stale. Names, paths and log
lines can carry what an agent chose: they pass through :func:`~cortex_tui.text.visible` first.
"""

from __future__ import annotations

from rich.text import Text

from cortex_tui.review.integration_models import IntegrationResult
from cortex_tui.text import visible
from cortex_tui.ui.present.format import Palette

TAIL_SHOWN = 12


def verdict(res: IntegrationResult) -> tuple[str, str]:
    """(words, palette attribute) of the gate's outcome."""
    if res.pair_conflicts or res.left_out:
        return "conflicts", "error"
    if res.failing_set:
        return f"{' + '.join(visible(n) for n in res.failing_set)} fail together", "error"
    if res.verify is None:
        return "merges cleanly (no verify command)", "warning"
    if res.verify.exit_code != 0:
        return f"verify failed (exit {res.verify.exit_code})", "error"
    return "works together: verify passed", "success"


def integration_line(res: IntegrationResult | None, pal: Palette, *, running: bool = False) -> Text:
    """The review queue's one line about the integration entry."""
    t = Text("integration: ", style="bold")
    if running:
        return t.append("running…", style=pal.accent)
    if res is None:
        return t.append("not run yet (I runs it)", style=pal.muted)
    words, attr = verdict(res)
    t.append(words, style=getattr(pal, attr))
    t.append(f"  ({len(res.order)} branches, {res.trigger})", style=pal.muted)
    if res.stale:
        t.append("  stale: ", style=pal.warning).append(visible(res.stale[0]), style=pal.warning)
    return t


def integration_page(res: IntegrationResult | None, pal: Palette, *, running: bool = False) -> Text:
    """The whole entry: per branch merged / conflicted, the pairs, the verify verdict and the failing set."""
    t = integration_line(res, pal, running=running)
    if res is None:
        return t
    t.append(f"\n\nbase {visible(res.base)} at {res.base_tip[:12]}  ->  {visible(res.branch)}"
             + (f" at {res.commit[:12]}" if res.commit else ""), style=pal.muted)
    t.append("\n\nbranches (in merge order)\n", style="bold")
    for name in res.order:
        if name in res.left_out:
            t.append("  ✗ ", style=pal.error).append(visible(name)).append("  conflicts: left out\n", style=pal.error)
        else:
            t.append("  ✓ ", style=pal.success).append(visible(name)).append("  merged cleanly\n", style=pal.muted)
    if res.pair_conflicts:
        t.append("\nconflicting pairs\n", style="bold")
        for p in res.pair_conflicts:
            paths = ", ".join(visible(x) for x in p.paths[:5]) + (" …" if len(p.paths) > 5 else "")
            t.append(f"  {visible(p.a)} + {visible(p.b)}: {paths}\n", style=pal.error)
    t.append("\nverify\n", style="bold")
    if res.verify is None:
        t.append("  no verify command ([run] verify)\n", style=pal.muted)
    else:
        v = res.verify
        style = pal.success if v.exit_code == 0 else pal.error
        t.append(f"  {visible(res.verify_command or '')}: exit {v.exit_code}"
                 + (" (timed out)" if v.timed_out else "") + f" in {v.duration_s:.1f}s\n", style=style)
    if res.failing_set:
        step = next((s for s in res.steps if s.sessions == res.failing_set), None)
        t.append(f"\n{' + '.join(visible(n) for n in res.failing_set)} fail together", style=pal.error)
        t.append(" (each passes alone)\n" if len(res.failing_set) > 1 else "\n", style=pal.muted)
        if step is not None:
            t.append(f"  log {visible(step.log_path)}\n", style=pal.muted)
            for line in step.tail.splitlines()[-TAIL_SHOWN:]:
                t.append(f"    {visible(line)}\n")
    if res.stale:
        t.append("\nstale (r re-runs it)\n", style="bold")
        for r in res.stale:
            t.append(f"  {visible(r)}\n", style=pal.warning)
    elif res.ok:
        t.append("\na approves it: the base fast-forwards to the combination\n", style=pal.muted)
    return t
