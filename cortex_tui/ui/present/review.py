"""Presentation of review-queue entries and best-of scores for the Review and Compare screens.

Pure functions (Rich only, no Textual, no git): rows of the queue and score tables, detail panes, and
a unified diff split per file and highlighted with Rich ``Syntax``. The highlighting runs in the
screens' worker threads, so the event loop only paints finished :class:`~rich.text.Text`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rich.syntax import Syntax
from rich.text import Text

from cortex_tui.bestof.models import Comparison, Score
from cortex_tui.durations import format_duration
from cortex_tui.review.models import FileStat, QueueEntry
from cortex_tui.review.render import verify_label
from cortex_tui.text import visible, visible_block
from cortex_tui.ui.present.format import UNKNOWN, Palette, fmt_cost, fmt_count

AWAITING = ("pending", "changes_requested")
MAX_DIFF_LINES = 4000
"""Longer per-file (or per-variant) diffs are cut: the widget paints every line it holds."""
TAIL_LINES = 40
DIFF_THEME = "ansi_dark"
"""ANSI colours: Textual maps them through the active theme, so light and dark both read."""

# ----------------------------------------------------------------------------- table columns
# (key, label, width)
QUEUE_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("session", "session", 22),
    ("status", "status", 13),
    ("verify", "verify", 7),
    ("conflicts", "conflicts", 9),
    ("files", "files", 7),
    ("lines", "+/-", 11),
    ("commits", "commits", 7),
)

SCORE_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("rank", "rank", 4),
    ("name", "variant", 16),
    ("verify", "verify", 7),
    ("tests", "tests", 8),
    ("scope", "scope", 5),
    ("diff", "diff", 10),
    ("tokens", "tokens", 6),
    ("cost", "cost", 6),
    ("time", "time", 6),
    ("judge", "judge", 22),
)


# ----------------------------------------------------------------------------- diffs
@dataclass(frozen=True)
class RenderedDiff:
    """A highlighted diff and the line numbers (0-based) where its hunks start."""

    text: Text
    hunks: tuple[int, ...] = ()
    truncated: bool = False


@dataclass(frozen=True)
class DiffFiles:
    """One session's diff: the whole of it and each file's part, highlighted."""

    head: str | None
    whole: RenderedDiff
    files: Mapping[str, RenderedDiff] = field(default_factory=dict)


def _header_path(header: str, known: Iterable[str]) -> str:
    """The path of a ``diff --git a/P b/P`` line (renames are off, so both sides name the same path)."""
    rest = header[len("diff --git "):]
    if rest.startswith("a/") and len(rest) % 2 == 1:
        half = (len(rest) - 3) // 2
        a, b = rest[2:2 + half], rest[half + 5:]
        if a == b and rest[2 + half:half + 5] == " b/":
            return a
    for p in known:  # quoted paths (special characters): match against the stat's names
        if p in rest:
            return p
    return rest


def split_diff(diff: str, known: Iterable[str] = ()) -> dict[str, str]:
    """Split a ``git diff --no-renames`` output into ``{path: that file's part}`` (order kept)."""
    known = list(known)
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            current = out.setdefault(_header_path(line, known), [])
        if current is not None:
            current.append(line)
    return {p: "\n".join(lines) + "\n" for p, lines in out.items()}


def hunk_starts(diff: str) -> tuple[int, ...]:
    return tuple(i for i, line in enumerate(diff.splitlines()) if line.startswith("@@"))


def render_diff(diff: str, empty: str = "no changes", max_lines: int = MAX_DIFF_LINES) -> RenderedDiff:
    """Highlight a unified diff with Rich ``Syntax`` (the pygments diff lexer)."""
    if not diff.strip():
        return RenderedDiff(Text(empty, style="italic"))
    lines = diff.splitlines()
    truncated = len(lines) > max_lines
    if truncated:
        diff = "\n".join(lines[:max_lines]) + "\n"
    code = visible_block(diff.rstrip("\n"))  # file contents and names are the agent's: no raw escapes
    text = Syntax(code, "diff", theme=DIFF_THEME, background_color="default").highlight(code)
    text.rstrip()
    text.no_wrap = True
    text.overflow = "ignore"
    if truncated:
        text.append(f"\n… {len(lines) - max_lines} more lines not shown", style="italic")
    return RenderedDiff(text, hunk_starts(diff), truncated)


def render_session_diff(diff: str, head: str | None, files: Iterable[FileStat] = ()) -> DiffFiles:
    paths = [f.path for f in files]
    parts = split_diff(diff, paths)
    return DiffFiles(head=head, whole=render_diff(diff),
                     files={p: render_diff(part) for p, part in parts.items()})


# ----------------------------------------------------------------------------- review queue
def total_lines(e: QueueEntry) -> tuple[int, int]:
    return sum(f.added for f in e.files), sum(f.removed for f in e.files)


def no_changes(e: QueueEntry) -> bool:
    """The branch has no commits of its own: nothing to review or merge (it is not counted as awaiting)."""
    return e.status in AWAITING and not e.commits


def to_review(entries: Iterable[QueueEntry]) -> list[QueueEntry]:
    """Entries that wait for a decision on real changes."""
    return [e for e in entries if e.status in AWAITING and not no_changes(e)]


def status_cell(e: QueueEntry, pal: Palette) -> Text:
    if no_changes(e):
        return Text("∅ no changes", style=pal.muted)
    if e.status == "pending":
        return Text("● ready", style=f"bold {pal.success}") if e.ready else Text("○ pending", style=pal.warning)
    if e.status == "changes_requested":
        return Text("↺ changes", style=pal.accent)
    if e.status == "approved":
        return Text("✔ approved", style=pal.success)
    return Text("✖ rejected", style=pal.muted)


def verify_cell(e: QueueEntry, pal: Palette, running: bool = False) -> Text:
    if running:
        return Text("…", style=pal.accent)
    if e.verify is None:
        return Text(UNKNOWN, style=pal.muted)
    if e.verify.exit_code == 0:
        return Text("✓", style=f"bold {pal.success}")
    return Text(f"✗ {e.verify.exit_code}", style=f"bold {pal.error}")


def queue_row(e: QueueEntry, pal: Palette, verifying: bool = False) -> tuple[Text, ...]:
    added, removed = total_lines(e)
    outside = len(e.out_of_scope)
    files = Text(str(len(e.files)))
    if outside:
        files.append(f" ⚠{outside}", style=pal.warning)
    lines = Text.assemble((f"+{added}", pal.success), " ", (f"-{removed}", pal.error))
    conflicts = Text(str(len(e.conflicts)), style=f"bold {pal.error}") if e.conflicts else Text("0", style=pal.muted)
    return (Text(visible(e.session)), status_cell(e, pal), verify_cell(e, pal, verifying), conflicts, files, lines,
            Text(str(len(e.commits))))


def tail(text: str, n: int = TAIL_LINES) -> str:
    lines = text.rstrip("\n").splitlines()
    return "\n".join(lines[-n:])


def verify_text(e: QueueEntry, pal: Palette, running: bool = False) -> Text:
    head = Text()
    if running:
        head.append("verifying…", style=f"bold {pal.accent}")
    else:
        ok = e.verify is not None and e.verify.exit_code == 0
        style = pal.muted if e.verify is None else (pal.success if ok else pal.error)
        head.append(verify_label(e, with_duration=False), style=f"bold {style}")
    if e.verify is not None and not running:
        head.append(f" in {format_duration(e.verify.duration_s)}", style=pal.muted)
    if e.verify_command:
        head.append(f"\n$ {visible(e.verify_command)}", style=pal.muted)
    if e.verify is not None and e.verify.tail.strip():
        head.append("\n")
        head.append(visible(tail(e.verify.tail), keep_newlines=True))
    return head


def file_label(f: FileStat, pal: Palette) -> Text:
    """One line of the file list: scope mark, +/- and the path."""
    t = Text()
    t.append("  " if f.in_scope else "⚠ ", style=pal.warning)
    stat = "binary" if f.binary else f"+{f.added} -{f.removed}"
    t.append(f"{stat:>9} ", style=pal.muted)
    t.append(visible(f.path), style="" if f.in_scope else f"bold {pal.warning}")
    if not f.in_scope:
        t.append("  out of scope", style=pal.warning)
    return t


def entry_info(e: QueueEntry, pal: Palette) -> Text:
    """Conflicts, commits, uncommitted files, triggers, usage and the last decision of an entry."""
    t = Text()
    if e.conflicts:
        t.append(f"conflicts with the base ({len(e.conflicts)})\n", style=f"bold {pal.error}")
        for p in e.conflicts:
            t.append(f"  {visible(p)}\n", style=pal.error)
    if no_changes(e):
        t.append("no changes: the session made no commits on its branch, so there is nothing to merge\n",
                 style=f"bold {pal.muted}")
    t.append(f"commits ({len(e.commits)})\n", style="bold")
    for s in e.commits[:20]:
        t.append(f"  • {visible(s)}\n")
    if len(e.commits) > 20:
        t.append(f"  … {len(e.commits) - 20} more\n", style=pal.muted)
    if e.uncommitted:
        t.append(f"uncommitted, not in the branch: {', '.join(visible(u) for u in e.uncommitted[:8])}\n",
                 style=pal.warning)
    if e.triggers:
        t.append(f"triggers: {', '.join(sorted({tr.kind for tr in e.triggers}))}\n", style=pal.warning)
    if e.tokens is not None or e.cost_usd is not None:
        tok = e.tokens.total if e.tokens is not None else None
        t.append(f"usage: {fmt_count(tok)} tokens · {fmt_cost(e.cost_usd)}\n", style=pal.muted)
    if e.decisions:
        d = e.decisions[-1]
        t.append(f"last decision: {d.decision} by {visible(d.by)}", style=pal.muted)
        if d.detail:
            t.append(f" — {visible(d.detail)}", style=pal.muted)
    t.rstrip()
    return t


def queue_title(run: str, base: str | None, entries: list[QueueEntry], squash: bool, pal: Palette) -> Text:
    awaiting = to_review(entries)
    ready = [e for e in awaiting if e.ready and e.status == "pending"]
    empty = sum(1 for e in entries if no_changes(e))
    t = Text(" Review ", style="bold reverse")
    t.append(f"  run {run}")
    if base:
        t.append(f" · base {base}")
    if entries:
        t.append(f" · {len(awaiting)} awaiting", style=pal.warning if awaiting else pal.muted)
        t.append(f" ({len(ready)} ready)", style=pal.success if ready else pal.muted)
        if empty:
            t.append(f" · {empty} with no changes", style=pal.muted)
        t.append(f" · {len(entries)} in queue", style=pal.muted)
    else:
        t.append(" · the queue is empty — sessions join it when they finish", style=pal.muted)
    t.append(" · squash ")
    t.append("on" if squash else "off", style=f"bold {pal.accent}" if squash else pal.muted)
    return t


def entry_title(e: QueueEntry, pal: Palette) -> Text:
    t = Text(visible(e.session), style="bold")
    t.append(f"  {visible(e.branch)}", style=pal.muted)
    if e.round > 1:
        t.append(f"  round {e.round}", style=pal.accent)
    return t


# ----------------------------------------------------------------------------- best-of scores
def tests_label(s: Score) -> str:
    if s.tests is None:
        return UNKNOWN
    bad = s.tests.failed + s.tests.errors
    return f"{s.tests.passed}✓ {bad}✗" if bad else f"{s.tests.passed}✓"


def score_verify_cell(s: Score, pal: Palette) -> Text:
    look = {"pass": ("✓ pass", pal.success), "fail": ("✗ fail", pal.error), "none": ("–", pal.muted),
            "not_run": ("not run", pal.warning)}
    label, style = look.get(s.verify, (s.verify, pal.muted))
    return Text(label, style=style)


def score_row(name: str, s: Score, winner: str | None, pal: Palette) -> tuple[Text, ...]:
    rank = Text(str(s.rank or UNKNOWN))
    if name == winner:
        rank.append(" ★", style=f"bold {pal.warning}")
    scope = Text(str(s.scope_violations), style=f"bold {pal.warning}" if s.scope_violations else pal.muted)
    diff = Text.assemble((f"+{s.diff_added}", pal.success), " ", (f"-{s.diff_removed}", pal.error))
    time_s = format_duration(s.wall_time_s) if s.wall_time_s is not None else UNKNOWN
    judge = Text(visible(s.judge_reason or UNKNOWN), style="" if s.judge_reason else pal.muted, no_wrap=True,
                 overflow="ellipsis")
    return (rank, Text(visible(name), style="bold" if name == winner else ""), score_verify_cell(s, pal), Text(tests_label(s)),
            scope, diff, Text(fmt_count(s.tokens)), Text(fmt_cost(s.cost_usd)), Text(time_s), judge)


def compare_title(cmp: Comparison | None, run: str, pal: Palette) -> Text:
    t = Text(" Compare ", style="bold reverse")
    t.append(f"  run {run}")
    if cmp is None:
        t.append(" · not compared yet — a best-of run's variants are compared when they have all ended",
                 style=pal.muted)
        return t
    t.append(f" · {len(cmp.ranking)} variants · ranking: {cmp.basis}")
    if cmp.judge is not None:
        t.append(f" + judge {cmp.judge.model}" if cmp.judge.ok else " (judge failed)",
                 style=pal.accent if cmp.judge.ok else pal.warning)
    if cmp.winner:
        t.append(" · winner ")
        t.append(visible(cmp.winner), style=f"bold {pal.warning}")
        t.append(f" ({'ranking' if cmp.chosen_by == 'ranking' else 'picked by ' + cmp.chosen_by})", style=pal.muted)
    return t


def variant_info(name: str, cmp: Comparison, entry: QueueEntry | None, pal: Palette) -> Text:
    """Facts of one variant beside its diff: outcome, tests, scope, triggers, queue status, kept ref, judge."""
    s = cmp.scores[name]
    t = Text(visible(name), style="bold")
    t.append(f"  rank {s.rank}", style=pal.muted)
    if s.heuristic_rank and s.heuristic_rank != s.rank:
        t.append(f" (heuristic {s.heuristic_rank})", style=pal.muted)
    t.append("\n")
    t.append(f"session {s.state}" + (f", exit {s.exit_code}" if s.exit_code is not None else "") + "\n")
    t.append("verify ")
    t.append_text(score_verify_cell(s, pal))
    if s.verify_exit_code not in (None, 0):
        t.append(f" (exit {s.verify_exit_code})", style=pal.error)
    if s.tests is not None:
        t.append(f" · tests {s.tests.passed} passed, {s.tests.failed + s.tests.errors} failed, "
                 f"{s.tests.skipped} skipped")
    t.append("\n")
    t.append(f"diff +{s.diff_added} -{s.diff_removed} in {s.files_changed} files\n")
    if s.out_of_scope:
        t.append(f"out of scope: {', '.join(visible(p) for p in s.out_of_scope)}\n", style=pal.warning)
    if s.trigger_kinds:
        t.append(f"triggers: {', '.join(s.trigger_kinds)}\n", style=pal.warning)
    if s.weighted is not None:
        t.append(f"weighted score {s.weighted:.3f}\n")
    if entry is not None:
        t.append(f"review queue: {entry.status}\n", style=pal.success if entry.status in AWAITING else pal.muted)
    ref = cmp.losers.get(name)
    if ref:
        t.append(f"kept at {visible(ref)}\n", style=pal.muted)
    if s.judge_reason:
        t.append(f"judge: {visible(s.judge_reason)}\n", style=pal.accent)
    t.rstrip()
    return t


def variant_verify(entry: QueueEntry | None, pal: Palette) -> Text:
    if entry is None:
        return Text("not in the review queue (no verify output)", style=pal.muted)
    return verify_text(entry, pal)
