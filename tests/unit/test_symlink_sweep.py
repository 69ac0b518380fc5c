"""watch/symlinks.py on a real git worktree: which symlinks count as writes outside it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from cortex_tui.watch.symlinks import made, sweep


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_links_made_and_committed_links_written_through(tmp_path: Path) -> None:
    wt, out = tmp_path / "wt", tmp_path / "out"
    wt.mkdir()
    out.mkdir()
    (out / "old.txt").write_text("old\n")
    os.utime(out / "old.txt", (1, 1))  # long before the attempt
    (wt / "src").mkdir()
    (wt / "src" / "a.py").write_text("a\n")
    os.symlink("src", wt / "inner")  # inside: never a finding
    os.symlink(str(out), wt / "shared")
    _git(wt, "init", "-q")
    _git(wt, "add", "-A")
    since = time.time() - 1
    (out / "new.txt").write_text("new\n")  # through the committed link (no git path shows it)
    os.symlink(str(tmp_path / "elsewhere"), wt / "src" / "esc")  # made by the session, dangling is fine
    found = sweep(wt, ["src/esc", "src/a.py"], since)
    assert [(e.target, e.link, e.how) for e in found] == [
        (str(tmp_path / "elsewhere"), "src/esc", "made by the session"),
        (str(out / "new.txt"), "shared", "written through a committed link")]
    assert made(wt, ["inner/a.py", "src/a.py"]) == []
    assert [e.link for e in made(wt, ["shared/new.txt"])] == ["shared"]  # a changed path through a link
