"""The comparison table: ``bestof.md`` and what ``cortex-tui best-of`` prints."""

from __future__ import annotations

from cortex_tui.bestof.models import Comparison, Score


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _tests(s: Score) -> str:
    if s.tests is None:
        return "-"
    t = s.tests
    out = f"{t.passed} passed"
    if t.failed:
        out += f", {t.failed} failed"
    if t.errors:
        out += f", {t.errors} errors"
    return out


def _verify(s: Score) -> str:
    if s.verify == "fail":
        return f"fail ({s.verify_exit_code})"
    if s.verify == "not_run":
        return f"not run ({s.state}" + (f", exit {s.exit_code})" if s.exit_code is not None else ")")
    return s.verify


def _time(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.1f}s" if v < 120 else f"{v / 60:.1f}m"


HEADER = ["#", "variant", "verify", "tests", "diff", "files", "out of scope", "triggers", "tokens", "cost", "time"]


def table_rows(cmp: Comparison) -> list[list[str]]:
    weighted = cmp.basis == "weights"
    judged = cmp.judge is not None and cmp.judge.ok
    rows: list[list[str]] = []
    for name in cmp.ranking:
        s = cmp.scores[name]
        row = [
            str(s.rank), name + (" ★" if name == cmp.winner else ""), _verify(s), _tests(s),
            f"+{s.diff_added}/-{s.diff_removed}", str(s.files_changed),
            ", ".join(s.out_of_scope) if s.out_of_scope else "0",
            ", ".join(s.trigger_kinds) if s.trigger_kinds else "0",
            "-" if s.tokens is None else f"{s.tokens:,}",
            "-" if s.cost_usd is None else f"${s.cost_usd:.4f}",
            _time(s.wall_time_s),
        ]
        if weighted:
            row.append("-" if s.weighted is None else f"{s.weighted:.3f}")
        if judged:
            row.append(f"{s.judge_rank}: {s.judge_reason}" if s.judge_rank else "-")
        rows.append(row)
    return rows


def header(cmp: Comparison) -> list[str]:
    h = list(HEADER)
    if cmp.basis == "weights":
        h.append("weighted")
    if cmp.judge is not None and cmp.judge.ok:
        h.append("judge")
    return h


def render_markdown(cmp: Comparison) -> str:
    """``bestof.md``: a heading, the table (best first), the winner, the judge and budget lines."""
    h = header(cmp)
    lines = [f"# Best-of: run `{cmp.run}`", ""]
    if cmp.task:
        lines += [f"Task: {_cell(cmp.task)}", ""]
    lines.append("| " + " | ".join(h) + " |")
    lines.append("|" + "|".join("---" for _ in h) + "|")
    for row in table_rows(cmp):
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    lines.append("")
    lines.extend(summary_lines(cmp))
    return "\n".join(lines) + "\n"


def summary_lines(cmp: Comparison) -> list[str]:
    basis = "weights " + ", ".join(f"{k}={v:g}" for k, v in (cmp.weights or {}).items()) \
        if cmp.basis == "weights" else "default order (verify, scope, diff, cost, time)"
    out = [f"Ranking by {basis}" + ("; reordered by the LLM judge." if cmp.judge and cmp.judge.ok else ".")]
    if cmp.winner:
        queued = "in the review queue" if cmp.winner_queued else "not in the review queue (it did not finish)"
        out.append(f"Winner: {cmp.winner} ({queued}).")
    for name, ref in cmp.losers.items():
        out.append(f"Loser {name}: kept at {ref}" if ref else f"Loser {name}: no branch head to keep")
    j = cmp.judge
    if j is not None:
        cost = "unknown cost" if j.cost_usd is None else f"${j.cost_usd:.4f}"
        if j.ok:
            out.append(f"Judge {j.model}: {j.summary or 'ranked ' + ', '.join(j.ranking)} "
                       f"({j.usage.total:,} tokens, {cost}).")
        else:
            out.append(f"Judge {j.model} failed: {j.error} ({j.usage.total:,} tokens, {cost}); "
                       "the non-LLM ranking stands.")
    b = cmp.budget
    if b.limit_usd is not None or b.limit_tokens is not None:
        used = "unknown" if b.used_usd is None else f"${b.used_usd:.4f}"
        out.append(f"Run budget: {used} of ${b.limit_usd if b.limit_usd is not None else '-'}, "
                   f"{b.used_tokens:,} of {b.limit_tokens if b.limit_tokens is not None else '-'} tokens"
                   + (" — EXCEEDED" if b.exceeded else "") + ".")
    return out


def render_text(cmp: Comparison) -> str:
    """A plain aligned table for the terminal."""
    h = header(cmp)
    rows = table_rows(cmp)
    widths = [max(len(h[i]), *(len(r[i]) for r in rows)) if rows else len(h[i]) for i in range(len(h))]
    widths = [min(w, 48) for w in widths]

    def line(cells: list[str]) -> str:
        return "  ".join((c if len(c) <= 48 else c[:47] + "…").ljust(w) for c, w in zip(cells, widths, strict=True))

    out = [line(h), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join([*(x.rstrip() for x in out), "", *summary_lines(cmp)]) + "\n"
