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
