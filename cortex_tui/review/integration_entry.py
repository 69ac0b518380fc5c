"""The integration entry: the gate's last result kept next to review.json, and approving it in one step.

``integration.json`` (the :class:`~cortex_tui.review.integrate.IntegrationResult` of the last ``integrate``)
is what ``review approve --integration`` acts on: the base fast-forwards to the integration commit when the
base has not moved since (a backup ref of the old tip first; a checked-out base must be clean and is moved
with ``git merge --ff-only`` there; otherwise ``update-ref`` with the old value, so a concurrent move is
refused, never overwritten). A failing or stale combination is refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from cortex_tui.backends import git as gitb
from cortex_tui.errors import CortexError, RefusedError
from cortex_tui.review.integrate import IntegrationResult
from cortex_tui.store.files import atomic_write

ENTRY = "integration.json"


def save(run_dir: Path, res: IntegrationResult) -> Path:
    path = run_dir / ENTRY
    atomic_write(path, res.model_dump_json(indent=2))
    return path


def load(run_dir: Path) -> IntegrationResult | None:
    path = run_dir / ENTRY
    try:
        return IntegrationResult.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValidationError, ValueError) as e:
        raise CortexError(f"{path}: not an integration entry ({str(e).splitlines()[0]})",
                          "run `cortex-tui integrate` again") from None


@dataclass(frozen=True)
class Approved:
    base: str
    old: str
    new: str
    backup: str
    method: str


def approve(repo: Path, run_dir: Path) -> Approved:
    """Fast-forward the base to the last integration commit (blocking)."""
    res = load(run_dir)
    if res is None or res.commit is None:
        raise RefusedError("no integration entry for this run", "run `cortex-tui integrate` first")
    if not res.ok:
        raise RefusedError(f"the integration of {', '.join(res.order)} did not pass"
                           + (f" ({' + '.join(res.failing_set)} fail together)" if res.failing_set else ""),
                           "fix the branches and run `cortex-tui integrate` again")
    tip = gitb.rev_parse(repo, res.base)
    if tip != res.base_tip:
        raise RefusedError(f"the base {res.base!r} moved since the integration ran ({res.base_tip[:12]} -> "
                           f"{(tip or 'gone')[:12]})", "run `cortex-tui integrate` again")
    if not gitb.is_ancestor(repo, tip, res.commit):
        raise RefusedError("the integration commit does not contain the base tip", "run `cortex-tui integrate` again")
    backup = f"refs/cortex/{res.run}/backup/base-{int(time.time() * 1000)}"
    gitb.git(repo, "update-ref", backup, tip)
    checked_out = [w for w in gitb.list_worktrees(repo) if w.branch == res.base]
    if checked_out:
        wt = checked_out[0].path
        if gitb.is_dirty(wt):
            raise RefusedError(f"the base {res.base!r} is checked out in {wt} with local changes",
                               "commit or stash them, then approve again")
        gitb.git(wt, "merge", "--ff-only", "--quiet", res.commit)
        method = f"fast-forward in {wt}"
    else:
        gitb.git(repo, "update-ref", f"refs/heads/{res.base}", res.commit, tip)
        method = "fast-forward (update-ref)"
    return Approved(res.base, tip, res.commit, backup, method)
