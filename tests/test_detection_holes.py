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


def test_tool_call_writes_outside_the_worktree_raise_out_of_scope_with_the_resolved_path(
        git_repo: Path, tmp_path: Path) -> None:
    """A symlink committed in the base tree, an absolute path and ``../``: the real hook records the tool calls
    (as Claude Code runs it), the supervisor resolves them and flags each with where the write really lands."""
    import os
    import sys

    from conftest import git

    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), git_repo / "shared")  # committed in the base tree
    git(git_repo, "add", "shared")
    git(git_repo, "commit", "-q", "-m", "a symlink")
    script = tmp_path / "agent.sh"
    script.write_text(
        "set -e\n"
        "call() { printf '{\"hook_event_name\":\"PreToolUse\",\"tool_name\":\"Write\",\"tool_input\":"
        "{\"file_path\":\"%s\"},\"cwd\":\"%s\"}' \"$1\" \"$PWD\" | "
        f"{sys.executable} -m cortex_tui.hook --events \"$CORTEX_EVENTS_FILE\"; }}\n"
        "call shared/via-link.txt; echo x > shared/via-link.txt\n"
        f"call {tmp_path}/abs.txt; echo x > {tmp_path}/abs.txt\n"
        "call ../../dotdot.txt\n"
        "call src/inside.py; echo 'x = 1' > src/inside.py\n")
    layout = tmp_path / "out.toml"
    layout.write_text(f'[run]\nname = "out"\n[[session]]\nname = "w"\nagent = "shell"\n'
                      f'command = "sh {script}"\n')
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--fail-on", "out_of_scope", check=False,
            timeout=90)
    assert r.returncode == 1, r.stderr
    assert (outside / "via-link.txt").exists()  # it really landed outside
    events = [json.loads(ln) for ln in (git_repo / "coordination/runs/out/events.jsonl").read_text().splitlines()]
    flagged = sorted(e["data"]["evidence"]["path"] for e in events
                     if e["kind"] == "trigger" and e["data"]["kind"] == "out_of_scope")
    wt = git_repo / ".cortex" / "worktrees" / "out" / "w"
    assert flagged == sorted([str(outside / "via-link.txt"), str(tmp_path / "abs.txt"),
                              os.path.realpath(wt / "../../dotdot.txt")])


def test_hookless_writes_through_symlinks_raise_out_of_scope_with_the_resolved_target(
        git_repo: Path, tmp_path: Path) -> None:
    """No hook names the writes (a shell agent): the sweep at the session's end finds what left the worktree
    through a committed directory link, a committed file link and a link the session made (hostile name)."""
    import os

    from conftest import git

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "conf.txt").write_text("base\n")
    (outside / "old.txt").write_text("untouched\n")
    os.symlink(str(outside), git_repo / "shared")
    os.symlink(str(outside / "conf.txt"), git_repo / "conf.link")
    git(git_repo, "add", "shared", "conf.link")
    git(git_repo, "commit", "-q", "-m", "links")
    made = tmp_path / "made-target.txt"
    script = tmp_path / "agent.sh"
    script.write_text(
        "set -e\n"
        "echo x > shared/through.txt\n"
        "echo y >> conf.link\n"
        "name=$(printf 'evil\\033]52;c;aGk=\\007\\nx')\n"
        f"ln -s {made} \"$name\"\n"
        "echo z > \"$name\"\n"
        "echo 'x = 1' > src/inside.py\n")
    layout = tmp_path / "hl.toml"
    layout.write_text(f'[run]\nname = "hl"\n[[session]]\nname = "w"\nagent = "shell"\ncommand = "sh {script}"\n')
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--fail-on", "out_of_scope", check=False,
            timeout=90)
    assert r.returncode == 1, r.stderr
    assert made.read_text() == "z\n" and (outside / "through.txt").exists()  # it all really landed outside
    run_dir = git_repo / "coordination/runs/hl"
    events = [json.loads(ln) for ln in (run_dir / "events.jsonl").read_text().splitlines()]
    flagged = {e["data"]["evidence"]["path"]: e["data"]["evidence"] for e in events
               if e["kind"] == "trigger" and e["data"]["kind"] == "out_of_scope"}
    assert sorted(flagged) == sorted([str(outside / "through.txt"), str(outside / "conf.txt"), str(made)])
    assert flagged[str(outside / "through.txt")]["via"] == "shared"
    assert flagged[str(made)]["via"] == "evil\x1b]52;c;aGk=\x07\nx"  # the evidence keeps the exact name...
    shown = r.stderr + (git_repo / "coordination" / "status.md").read_text() + cli(
        "events", "--repo", str(git_repo)).stdout
    assert "\x1b" not in shown and "\x07" not in shown  # ...and nothing shows it raw
