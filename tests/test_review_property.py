"""Property: random sequences of work/finish/approve/reject/request-changes/clean never lose a commit or a file."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_review_support import Fleet, commit_file, git

from cortex_tui.errors import CortexError
from cortex_tui.model.state import SessionState
from cortex_tui.review.clean import clean
from cortex_tui.review.decisions import approve, reject, request_changes

OPS = ("commit", "detached", "wip", "finish", "approve", "squash", "reject", "request", "base", "rm", "clean")
SESSIONS = ("a", "b")

steps = st.lists(st.tuples(st.sampled_from(OPS), st.sampled_from(SESSIONS), st.booleans()), min_size=1, max_size=10)


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# r\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def objects_reachable(repo: Path) -> set[str]:
    """Objects git keeps: reachable from refs or from a (registered) worktree's HEAD."""
    return {ln.split()[0] for ln in git(repo, "rev-list", "--objects", "--all").splitlines() if ln}


def queued(fl: Fleet, s: str) -> bool:
    try:
        return fl.queue().get(s).status == "pending"
    except CortexError:
        return False


def blob_id(repo: Path, content: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "hash-object", "--stdin"], input=content, capture_output=True,
                          text=True, check=True).stdout.strip()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=steps)
@example(seq=[("wip", "a", False), ("commit", "a", False), ("reject", "a", False), ("clean", "a", True)])
@example(seq=[("detached", "b", False), ("wip", "b", True), ("approve", "b", False), ("clean", "a", True)])
@example(seq=[("commit", "a", True), ("base", "a", True), ("squash", "a", False), ("rm", "a", False),
              ("clean", "b", True)])
def test_no_sequence_loses_a_commit_or_a_file(seq: list[tuple[str, str, bool]], tmp_path: Path) -> None:
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    repo = make_repo(root)
    fl = Fleet(repo)
    for s in SESSIONS:
        fl.add(s)
    commits: set[str] = set()
    wip: dict[str, str] = {}  # blob content written but never committed, by a unique path
    n = 0
    for op, s, flag in seq:
        n += 1
        wt = fl.worktree(s)
        try:
            if op == "commit" and wt.exists():
                # flag: touch the shared README (provokes conflicts) or a private file
                rel = "README.md" if flag else f"{s}-{n}.txt"
                commits.add(commit_file(wt, rel, f"{s} step {n}\n"))
            elif op == "detached" and wt.exists():
                git(wt, "checkout", "-q", "--detach")
                commits.add(commit_file(wt, f"{s}-detached-{n}.txt", f"detached {n}\n"))
            elif op == "wip" and wt.exists():
                rel = f"wip-{s}-{n}.txt"
                (wt / rel).write_text(f"uncommitted {s} {n}\n")
                wip[rel] = f"uncommitted {s} {n}\n"
            elif op == "finish":
                fl.finish(s, verify=False)
            elif op in ("approve", "squash"):
                if not queued(fl, s):
                    fl.finish(s, verify=False)
                approve(fl.queue(), s, squash=op == "squash")
            elif op == "reject":
                if not queued(fl, s):
                    fl.finish(s, verify=False)
                reject(fl.queue(), s)
            elif op == "rm" and wt.exists():
                shutil.rmtree(wt)  # the user deletes the directory by hand: its wip files are gone by choice
                wip = {k: v for k, v in wip.items() if not k.startswith(f"wip-{s}-")}
            elif op == "request":
                request_changes(fl.queue(), s, "more", lambda _s, _t: None)
                fl.set_state(s, SessionState.RUNNING)
            elif op == "base":
                commits.add(commit_file(repo, "README.md" if flag else f"base-{n}.txt", f"base {n}\n"))
            elif op == "clean":
                clean(repo, fl.state_dir, older_than_s=0 if flag else 10**9, max_keep=0 if flag else 20)
        except CortexError:
            pass  # refusals are fine; losing work is not
        reachable = objects_reachable(repo)
        lost = commits - reachable
        assert not lost, f"after {op} {s}: commits {lost} unreachable"
        for rel, content in wip.items():
            owner = fl.worktree(rel.split("-")[1])
            on_disk = (owner / rel).is_file() and (owner / rel).read_text() == content
            assert on_disk or blob_id(repo, content) in reachable, f"after {op} {s}: {rel} lost"
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
