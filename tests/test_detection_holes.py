"""Detection holes (#12 items 8, 9): pathspec magic in file names, writes outside the worktree."""

from __future__ import annotations

import json
from pathlib import Path

from engine_helpers import cli

COLON = """
[run]
name = "colon"
[defaults]
agent = "sim"
[[session]]
name = "magic"
scope = ["src/**"]
script = ["write src/ok.py ok", "write :x.py magic", "write :(glob)*.md glob", "write :!src/no.py neg",
          "commit magic names"]
"""


def test_file_names_starting_with_colon_are_paths_not_pathspec_magic(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "colon.toml"
    layout.write_text(COLON)
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--fail-on", "out_of_scope", check=False,
            timeout=90)
    assert r.returncode == 1, r.stderr
    events = [json.loads(ln) for ln in (git_repo / "coordination/runs/colon/events.jsonl").read_text().splitlines()]
    oos = sorted(e["data"]["evidence"]["path"] for e in events
                 if e["kind"] == "trigger" and e["data"]["kind"] == "out_of_scope")
    assert oos == [":!src/no.py", ":(glob)*.md", ":x.py"]
    entry = json.loads(cli("review", "list", "--repo", str(git_repo), "--json").stdout)[0]
    assert sorted(f["path"] for f in entry["files"] if not f["in_scope"]) == oos


TWO = """
[run]
name = "gitfile"
[defaults]
agent = "sim"
[[session]]
name = "good"
script = ["write g.txt g", "commit good"]
[[session]]
name = "vandal"
script = ["write v.txt v", "commit vandal"]
"""


def test_a_worktree_whose_git_file_was_overwritten_does_not_abort_clean(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "gitfile.toml"
    layout.write_text(TWO)
    cli("run", str(layout), "--repo", str(git_repo), "--headless", timeout=90)
    for name in ("good", "vandal"):
        cli("review", "reject", name, "--repo", str(git_repo))
    wts = git_repo / ".cortex" / "worktrees" / "gitfile"
    (wts / "vandal" / ".git").write_text("gitdir: /nonexistent/elsewhere\n")  # what a session may do
    r = cli("clean", "--repo", str(git_repo), "--older-than", "0s", check=False)
    assert "Traceback" not in r.stderr, r.stderr
    assert not (wts / "good").exists(), r.stdout + r.stderr  # the others are cleaned
    assert (wts / "vandal" / "v.txt").exists()  # the broken one is kept, with a message naming it
    assert "vandal" in r.stdout + r.stderr and ".git" in r.stdout + r.stderr
