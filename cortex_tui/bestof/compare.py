"""Compare the variants of a finished best-of run: observe, score, rank, judge, pick the winner.

This is the API a front end calls (the CLI command, a TUI Compare screen, the headless runner):

* :func:`compare_run` — score and rank every session of a run, optionally ask the judge, select the
  top one as winner, write ``bestof.json`` + ``bestof.md`` in the run directory; returns a :class:`Comparison`.
* :func:`load_comparison` — read ``bestof.json`` back (validated).
* :func:`choose_winner` — a human overrides the pick: that variant's queue entry becomes pending, every
  other variant is a loser kept under ``refs/cortex/bestof/<run>/<slug>`` (its entry rejected).
* :func:`variant_diff` — the diff of one variant against the base (what a Compare screen shows).
* :func:`add_to_report` — put ``ranking`` and per-session ``score`` into a headless report dict.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cortex_tui.backends.git import git, rev_parse
from cortex_tui.bestof.judge import Candidate, run_judge
from cortex_tui.bestof.models import BudgetUse, Comparison, JudgeResult, Score
from cortex_tui.bestof.render import render_markdown
from cortex_tui.bestof.score import (
    FileChange,
    Observation,
    Tally,
    budget_spent,
    junit_path,
    merge_judge,
    rank,
    score_variant,
    top_candidates,
    validate_weights,
)
from cortex_tui.errors import CortexError, RefusedError, StateError, UsageError
from cortex_tui.model.state import RunState, SessionRecord
from cortex_tui.review.context import RunContext, current_user
from cortex_tui.review.models import DecisionRecord, QueueEntry
from cortex_tui.scope import in_scope
from cortex_tui.store.files import atomic_write

BESTOF_BY = "cortex-tui best-of"
MAX_VERIFY_LOG = 256 * 1024
MAX_JUNIT = 8 * 1024 * 1024
IGNORED_TRIGGERS = frozenset({"overlap"})
"""Not counted against a variant: variants of one task are expected to touch the same files."""


def bestof_ref(run: str, slug: str) -> str:
    return f"refs/cortex/bestof/{run}/{slug}"


def _read_tail(path: Path, limit: int) -> str | None:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return None


def _base_tip(repo: Path, base: str, fallback: str) -> str:
    return rev_parse(repo, f"refs/heads/{base}") or rev_parse(repo, base) or fallback


def _branch_range(repo: Path, state: RunState, rec: SessionRecord) -> tuple[str, str] | None:
    """(merge base, head) of a session's branch, or None when the branch is gone."""
    head = rev_parse(repo, f"refs/heads/{rec.branch}")
    if head is None:
        return None
    tip = _base_tip(repo, state.base, state.base_commit)
    mb = git(repo, "merge-base", tip, head, check=False).strip() or rec.base_commit or state.base_commit
    return mb, head


def variant_diff(repo: Path, state: RunState, session: str) -> str:
    """The committed diff of ``session``'s branch against its merge base with the base branch."""
    rec = state.sessions.get(session)
    if rec is None:
        raise CortexError(f"no session {session!r} in run {state.run!r}")
    rng = _branch_range(repo, state, rec)
    if rng is None:
        return ""
    return git(repo, "diff", "--no-color", "--no-ext-diff", "--no-renames", rng[0], rng[1])


def observe(repo: Path, state: RunState, rec: SessionRecord, entry: QueueEntry | None, scope: list[str],
            verify_command: str | None) -> Observation:
    """Gather what :func:`~cortex_tui.bestof.score.score_variant` needs about one session (git, files)."""
    from cortex_tui.review.diffstat import file_stats

    files: tuple[FileChange, ...] = ()
    rng = _branch_range(repo, state, rec)
    if rng is not None:
        files = tuple(FileChange(f.path, f.added, f.removed, f.in_scope) for f in file_stats(repo, *rng, scope))
    live = set()
    if scope:
        live = {p for p in rec.changed_files if not in_scope(p, scope)}
    for t in rec.triggers:
        if t.kind == "out_of_scope" and isinstance(t.evidence.get("path"), str):
            live.add(t.evidence["path"])
    verify_exit = None
    output = ""
    if entry is not None and entry.verify is not None:
        verify_exit = entry.verify.exit_code
        output = entry.verify.tail
        if entry.verify.log_path:
            output = _read_tail(Path(entry.verify.log_path), MAX_VERIFY_LOG) or output
        verify_command = entry.verify_command or verify_command
    junit_xml = None
    jp = junit_path(verify_command)
    if jp and verify_exit is not None:
        p = Path(jp) if Path(jp).is_absolute() else Path(rec.worktree) / jp
        try:
            if p.is_file() and p.stat().st_size <= MAX_JUNIT:
                junit_xml = p.read_text(encoding="utf-8", errors="replace")
        except OSError:
            junit_xml = None
    return Observation(
        name=rec.name, state=rec.state.value, exit_code=rec.exit_code, verify_command=verify_command,
        verify_exit_code=verify_exit, verify_output=output, junit_xml=junit_xml, files=files,
        live_out_of_scope=tuple(sorted(live)), trigger_kinds=tuple(t.kind for t in rec.triggers if t.kind not in IGNORED_TRIGGERS),
        tokens=rec.tokens.total if rec.tokens is not None else None, cost_usd=rec.cost_usd,
        started_at=rec.started_at, finished_at=rec.finished_at,
    )


def _facts(s: Score) -> str:
    tests = ""
    if s.tests is not None:
        tests = f", tests {s.tests.passed} passed/{s.tests.failed + s.tests.errors} failed"
    scope = ", ".join(s.out_of_scope) or "none"
    return (f"verify {s.verify}{tests}; diff +{s.diff_added}/-{s.diff_removed} in {s.files_changed} files; "
            f"files outside scope: {scope}; triggers: {', '.join(s.trigger_kinds) or 'none'}")


def _layout_bits(state: RunState) -> tuple[Any, dict[str, Any]]:
    """(parsed layout or None, resolved specs by name) from the layout text saved in the run state."""
    from cortex_tui.layout import parse_layout

    try:
        loaded = parse_layout(state.layout_text, Path(state.layout_path))
    except CortexError:
        return None, {}
    return loaded.layout, {s.name: s for s in loaded.sessions}


def compare_run(repo: Path, state_dir: Path | None = None, run: str | None = None, *,
                weights: dict[str, float] | None = None, judge_model: str | None = None, top_k: int = 3,
                judge_options: dict[str, Any] | None = None, select: bool = True,
                use_layout_settings: bool = True) -> Comparison:
    """Score and rank every session of ``run``; judge the top ``top_k`` with ``judge_model``; pick the winner.

    ``weights``/``judge_model`` default to the layout's ``[bestof]`` table (``use_layout_settings``).
    ``judge_options`` go to :func:`~cortex_tui.bestof.judge.run_judge` (``base_url``, ``api_key``,
    ``max_retries`` …). With ``select`` the winner is selected in the review queue (see :func:`choose_winner`).
    Writes ``bestof.json`` and ``bestof.md`` into the run directory.
    """
    ctx = RunContext.open(repo, state_dir, run)
    state = ctx.state()
    layout, specs = _layout_bits(state)
    bo = layout.bestof if layout is not None else None
    if use_layout_settings and bo is not None:
        weights = weights if weights is not None else bo.weights
        judge_model = judge_model or bo.judge
    try:
        weights = validate_weights(weights or {}) or None
    except ValueError as e:
        raise UsageError(f"weights: {e}") from None
    if not state.sessions:
        raise StateError(f"run {state.run!r} has no sessions to compare")
    entries = ctx.reviews.load().entries
    scores: dict[str, Score] = {}
    for name, rec in state.sessions.items():
        spec = specs.get(name)
        obs = observe(ctx.repo, state, rec, entries.get(name), list(spec.scope) if spec else [],
                      spec.verify if spec else None)
        scores[name] = score_variant(obs)
    heuristic = rank(scores, weights)
    task = (bo.task if bo is not None and bo.task else "") or next(
        (s.prompt for s in specs.values() if s.prompt), "")

    tally = Tally()
    for name, rec in state.sessions.items():
        tally.add(name, rec.tokens.total if rec.tokens else None, rec.cost_usd)
    limit_usd = layout.run.budget_usd if layout is not None else None
    limit_tokens = layout.run.budget_tokens if layout is not None else None
    judge: JudgeResult | None = None
    final = list(heuristic)
    if judge_model:
        cands = top_candidates(heuristic, top_k, scores)
        if budget_spent(tally, limit_usd, limit_tokens):
            judge = JudgeResult(model=judge_model, candidates=cands,
                                error="run budget exhausted by the variants; judge skipped")
        elif len(cands) < 2:
            judge = JudgeResult(model=judge_model, candidates=cands, error="fewer than 2 candidates; judge skipped")
        else:
            prices = layout.run.prices if layout is not None else None
            candidates = [Candidate(n, variant_diff(ctx.repo, state, n), _facts(scores[n])) for n in cands]
            judge = run_judge(task, candidates, judge_model, prices=prices, **(judge_options or {}))
        tally.add("judge", judge.usage.total, judge.cost_usd)
        if judge.ok:
            final = merge_judge(heuristic, judge.ranking, scores, judge.reasons)
        ctx.log("bestof_judge", "", {"model": judge_model, "ok": judge.ok, "error": judge.error,
                                     "ranking": judge.ranking, "tokens": judge.usage.total,
                                     "cost_usd": judge.cost_usd})
    budget = BudgetUse(limit_usd=limit_usd, limit_tokens=limit_tokens, used_usd=tally.cost,
                       used_tokens=tally.tokens, judge_usd=judge.cost_usd if judge else None,
                       judge_tokens=judge.usage.total if judge else 0)
    budget.exceeded = budget_spent(tally, limit_usd, limit_tokens, strict=True)
    cmp = Comparison(run=state.run, task=task, ranking=final, heuristic_ranking=heuristic,
                     basis="weights" if weights else "default", weights=weights, scores=scores, judge=judge,
                     budget=budget, created_at=time.time())
    if select and final:
        _apply_selection(ctx, state, cmp, final[0], by="ranking")
    save_comparison(ctx, cmp)
    return cmp


# --------------------------------------------------------------------------- winner / losers
def _keep_loser(ctx: RunContext, state: RunState, rec: SessionRecord) -> str | None:
    """Write ``refs/cortex/bestof/<run>/<slug>`` at the branch head (plus uncommitted work); read it back."""
    from cortex_tui.review.backup import snapshot_commit
    from cortex_tui.review.diffstat import uncommitted_paths
    from cortex_tui.review.merge import is_ancestor
    from cortex_tui.review.refs import unique_backup_ref, write_ref

    head = rev_parse(ctx.repo, f"refs/heads/{rec.branch}") or rec.head_commit
    if head is None:
        return None
    commit = head
    wt = Path(rec.worktree)
    if (wt / ".git").exists() and uncommitted_paths(wt):
        commit = snapshot_commit(wt, head, f"cortex best-of: uncommitted changes of {rec.name}")
    ref = bestof_ref(state.run, rec.slug)
    prev = rev_parse(ctx.repo, ref)
    if prev and prev != commit and not is_ancestor(ctx.repo, prev, commit):
        write_ref(ctx.repo, unique_backup_ref(ctx.repo, state.run, rec.slug, "-bestof"), prev,
                  f"cortex best-of: earlier kept head of {rec.name}")
    return write_ref(ctx.repo, ref, commit, f"cortex best-of: keep loser {rec.name}")


def _apply_selection(ctx: RunContext, state: RunState, cmp: Comparison, winner: str, by: str) -> None:
    if winner not in state.sessions:
        raise UsageError(f"no variant named {winner!r} in run {state.run!r}",
                         f"variants: {', '.join(state.sessions)}")
    losers: dict[str, str | None] = {}
    with ctx.reviews.edit() as doc:
        approved = [n for n, e in doc.entries.items() if e.status == "approved" and n != winner]
        if approved:
            raise RefusedError(f"variant {approved[0]!r} is already approved and merged; cannot pick {winner!r}")
        for name, rec in state.sessions.items():
            if name == winner:
                continue
            ref = _keep_loser(ctx, state, rec)
            losers[name] = ref
            e = doc.entries.get(name)
            if e is not None and e.status in ("pending", "changes_requested"):
                e.status = "rejected"
                detail = f"best-of loser (winner {winner})" + (f"; kept at {ref}" if ref else "")
                e.decisions.append(DecisionRecord(decision="reject", by=BESTOF_BY, at=time.time(), detail=detail,
                                                  head=e.head))
                ctx.log("review", name, {"decision": "reject", "by": BESTOF_BY, "detail": detail})
        w = doc.entries.get(winner)
        if w is not None and w.status == "rejected":
            w.status = "pending"  # a loser picked by a human re-enters the queue
        cmp.winner_queued = w is not None and w.status in ("pending", "changes_requested", "approved")
    cmp.winner = winner
    cmp.chosen_by = by
    cmp.losers = losers
    ctx.log("bestof", winner, {"winner": winner, "chosen_by": by, "ranking": cmp.ranking, "losers": losers})


def choose_winner(repo: Path, state_dir: Path | None, run: str | None, session: str, *,
                  by: str | None = None) -> Comparison:
    """Make ``session`` the winner of a compared run (the Compare screen's "pick"): it (re-)enters the
    review queue as pending; every other variant is kept under its best-of ref and rejected."""
    ctx = RunContext.open(repo, state_dir, run)
    cmp = load_comparison(repo, state_dir, ctx.run)
    if cmp is None:
        raise StateError(f"run {ctx.run!r} has not been compared yet", "run `cortex-tui best-of` or compare_run()")
    _apply_selection(ctx, ctx.state(), cmp, session, by=by or current_user())
    save_comparison(ctx, cmp)
    return cmp


# --------------------------------------------------------------------------- files
def comparison_path(ctx: RunContext) -> Path:
    return ctx.store.dir / "bestof.json"


def save_comparison(ctx: RunContext, cmp: Comparison) -> None:
    atomic_write(comparison_path(ctx), cmp.model_dump_json(indent=1) + "\n")
    atomic_write(ctx.store.dir / "bestof.md", render_markdown(cmp))


def load_comparison(repo: Path, state_dir: Path | None = None, run: str | None = None) -> Comparison | None:
    """``bestof.json`` of a run (None when the run was not compared); StateError when unreadable."""
    ctx = RunContext.open(repo, state_dir, run)
    path = comparison_path(ctx)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return Comparison.model_validate_json(text)
    except ValidationError as e:
        first = e.errors()[0]
        raise StateError(f"{path}: unreadable comparison (field '{'.'.join(map(str, first['loc']))}': "
                         f"{first['msg']})", "run the comparison again") from None


def add_to_report(report: dict[str, Any], cmp: Comparison) -> dict[str, Any]:
    """Add ``ranking``, per-session ``score`` and a ``bestof`` summary (winner, losers, judge, budget)."""
    report["ranking"] = list(cmp.ranking)
    for s in report.get("sessions", []):
        sc = cmp.scores.get(s.get("name"))
        s["score"] = sc.model_dump(mode="json") if sc is not None else None
    report["bestof"] = cmp.model_dump(mode="json", exclude={"scores", "ranking", "version", "run"})
    return report


def write_next_to(report_path: Path, report: dict[str, Any], cmp: Comparison) -> tuple[Path, Path]:
    """Rewrite the report with the comparison and put ``bestof.json`` + ``bestof.md`` beside it."""
    atomic_write(report_path, json.dumps(add_to_report(report, cmp), indent=2, default=str) + "\n")
    j, m = report_path.parent / "bestof.json", report_path.parent / "bestof.md"
    atomic_write(j, cmp.model_dump_json(indent=1) + "\n")
    atomic_write(m, render_markdown(cmp))
    return j, m
