"""The integration gate: do the branches work *together*? (issue #16)

1. A conflict matrix first: ``git merge-tree --write-tree`` over every pair and over the cumulative merge, in
   the object database only (no worktree touched).
2. An order (the given one — dependencies first — with conflicting branches left out of the combination).
3. The combination built as merge commits on ``cortex/<run>/integration`` from the base tip, checked out in
   an integration worktree, and the verify command run there (timeout, full log kept).
4. When the combination fails: the smallest failing set, found by adding branches in order until verify
   fails and then dropping every branch the failure does not need (:func:`smallest_failing`).

Blocking (git and verify subprocesses): call it in a thread.
"""

from __future__ import annotations

import itertools
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cortex_tui.backends import git as gitb
from cortex_tui.errors import CortexError
from cortex_tui.model.state import RunState
from cortex_tui.review.integration_models import IntegrationResult, PairConflict, VerifyStep

VERIFY_TIMEOUT_S = 600.0
TAIL_LINES = 30
__all__ = ["VERIFY_TIMEOUT_S", "Gate", "IntegrationResult", "PairConflict", "VerifyStep", "run_gate", "smallest_failing",
           "summary"]


def smallest_failing(names: Sequence[str], fails: Callable[[list[str]], bool]) -> list[str]:
    """The smallest subset (in ``names`` order) whose combination ``fails``, given that all of ``names`` fail.

    Adds names in order until the prefix fails (its last name is needed), then drops each earlier name the
    failure does not need. Single names are assumed to pass (checked by the caller); returns ``[]`` when no
    prefix fails (a flaky verify)."""
    prefix: list[str] = []
    for n in names:
        prefix.append(n)
        if len(prefix) > 1 and fails(prefix):
            break
    else:
        return []
    need = list(prefix)
    for n in prefix[:-1]:
        trial = [m for m in need if m != n]
        if len(trial) >= 2 and fails(trial):
            need = trial
    return need


@dataclass
class Gate:
    """One integration run over ``branches`` (session -> branch) of ``run``."""

    repo: Path
    run: str
    base: str
    branches: dict[str, str]
    worktree: Path
    log_dir: Path
    verify: str | None = None
    timeout: float = VERIFY_TIMEOUT_S
    heads: dict[str, str] = field(default_factory=dict)

    @property
    def branch(self) -> str:
        return f"cortex/{self.run}/integration"

    def conflicts(self, tip: str, order: list[str]) -> tuple[list[PairConflict], list[str], list[str]]:
        """Pairs that conflict, the cumulative merge's conflicting paths, and the branches left out of it."""
        pairs = []
        for a, b in itertools.combinations(order, 2):
            r = gitb.merge_tree(self.repo, self.heads[a], self.heads[b])
            if not r.clean:
                pairs.append(PairConflict(a=a, b=b, paths=r.conflicts))
        cur, cumulative, left = tip, [], []
        for n in order:
            r = gitb.merge_tree(self.repo, cur, self.heads[n])
            if not r.clean:
                cumulative += [p for p in r.conflicts if p not in cumulative]
                left.append(n)
                continue
            cur = gitb.commit_tree(self.repo, r.tree, [cur, self.heads[n]], f"cortex: integrate {n}\n")
        return pairs, cumulative, left

    def combine(self, tip: str, names: list[str]) -> str:
        """A commit of the base tip with ``names`` merged in order (no worktree touched)."""
        cur = tip
        for n in names:
            if gitb.is_ancestor(self.repo, self.heads[n], cur):
                continue
            r = gitb.merge_tree(self.repo, cur, self.heads[n])
            if not r.clean:
                raise CortexError(f"integration: {n} conflicts in {', '.join(r.conflicts[:5])}")
            cur = gitb.commit_tree(self.repo, r.tree, [cur, self.heads[n]], f"cortex: integrate {n}\n")
        return cur

    def run_verify(self, names: list[str], commit: str) -> VerifyStep:
        """Check ``commit`` out in the integration worktree and run verify there (timeout, log kept)."""
        if self.verify is None:
            raise CortexError("integration: no verify command")
        if not (self.worktree / ".git").exists():  # detached: bisect steps never move a branch
            self.worktree.parent.mkdir(parents=True, exist_ok=True)
            gitb.git(self.repo, "worktree", "add", "--detach", "--quiet", str(self.worktree), commit)
        gitb.git(self.worktree, "reset", "--hard", "--quiet", commit)
        gitb.git(self.worktree, "clean", "-fdq")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"verify-{len(names)}-{'+'.join(names)[:80]}-{int(time.time() * 1000)}.log"
        start = time.monotonic()
        timed_out = False
        with open(log, "wb") as f:
            try:
                p = subprocess.run(["/bin/sh", "-c", self.verify], cwd=self.worktree, stdout=f, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, timeout=self.timeout)
                code = p.returncode
            except subprocess.TimeoutExpired:
                code, timed_out = 124, True
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-TAIL_LINES:])
        return VerifyStep(sessions=names, commit=commit, exit_code=code, duration_s=round(time.monotonic() - start, 3),
                          timed_out=timed_out, tail=tail, log_path=str(log))

    def integrate(self, order: list[str]) -> IntegrationResult:
        tip = gitb.rev_parse(self.repo, self.base)
        if tip is None:
            raise CortexError(f"integration: no base branch {self.base!r} in {self.repo}")
        for n in order:
            head = gitb.rev_parse(self.repo, self.branches[n])
            if head is None:
                raise CortexError(f"integration: the branch {self.branches[n]!r} of {n!r} is gone")
            self.heads[n] = head
        pairs, cumulative, left = self.conflicts(tip, order)
        res = IntegrationResult(run=self.run, base=self.base, base_tip=tip, branch=self.branch, order=order,
                                pair_conflicts=pairs, cumulative_conflicts=cumulative, left_out=left,
                                verify_command=self.verify, worktree=str(self.worktree), heads=dict(self.heads))
        names = [n for n in order if n not in left]
        res.commit = self.combine(tip, names)
        gitb.git(self.repo, "update-ref", f"refs/heads/{self.branch}", res.commit)
        if self.verify is None:
            return res
        res.verify = self.run_verify(names, res.commit)
        res.steps.append(res.verify)
        if res.verify.exit_code == 0 or len(names) < 2:
            return res
        memo: dict[tuple[str, ...], bool] = {}

        def fails(subset: list[str]) -> bool:
            key = tuple(subset)
            if key not in memo:
                step = self.run_verify(subset, self.combine(tip, subset))
                res.steps.append(step)
                memo[key] = step.exit_code != 0
            return memo[key]

        alone_fail = [n for n in names if fails([n])]
        if alone_fail:  # a branch that fails alone is the failing set by itself
            res.failing_set = [alone_fail[0]]
        else:
            res.failing_set = smallest_failing(names, fails)
        gitb.git(self.worktree, "reset", "--hard", "--quiet", res.commit)  # the worktree shows the combination
        return res


def run_gate(repo: Path, run_dir: Path, state: RunState, names: list[str], verify: str | None,
             timeout: float = VERIFY_TIMEOUT_S) -> IntegrationResult:
    """The gate over ``names`` of a run (its worktree ``.cortex/integration/<run>``, logs in ``run_dir``)."""
    gate = Gate(repo, state.run, state.base, {n: state.sessions[n].branch for n in names},
                repo / ".cortex" / "integration" / state.run, run_dir / "integration", verify=verify, timeout=timeout)
    return gate.integrate(names)


def summary(res: IntegrationResult) -> str:
    """One line: what failed (the reason of a failed headless run) or that it passed."""
    if res.pair_conflicts:
        p = res.pair_conflicts[0]
        return f"integration: {p.a} + {p.b} conflict in {', '.join(p.paths[:3])}"
    if res.left_out:
        return f"integration: {', '.join(res.left_out)} left out (conflicts)"
    if res.failing_set:
        return f"integration: {' + '.join(res.failing_set)} fail together (verify exit {res.verify.exit_code if res.verify else '?'})"
    if res.verify is not None and res.verify.exit_code != 0:
        return f"integration: the combination fails verify (exit {res.verify.exit_code})"
    return "integration: the combination works" + (" and passed verify" if res.verify else "")
