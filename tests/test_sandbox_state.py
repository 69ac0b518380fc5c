"""An agent's own state and output in the bubblewrap sandbox (issue #19): real bwrap, tmux, git and shells.

- a refused write is read back from a line the agent has not finished (a full-screen TUI, e.g. OpenCode, may
  write no newline for minutes), while the session still runs;
- Claude Code's per-session ``CLAUDE_CONFIG_DIR`` is seeded from the user's own (``~/.claude.json``, or the
  user's ``CLAUDE_CONFIG_DIR``) and never writes the user's files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_helpers import make_sup, run_to_end, wait_for

from cortex_tui.backends.sandbox import probe
from cortex_tui.backends.sandbox_state import CLAUDE_STATE, claude_state
from cortex_tui.engine.supervisor import Supervisor

WHY = probe()
needs_bwrap = pytest.mark.skipif(WHY is not None, reason=f"no bubblewrap sandbox here: {WHY}")


@needs_bwrap
def test_a_refused_write_on_an_unfinished_line_is_flagged_while_the_session_runs(git_repo: Path,
                                                                                  tmp_path: Path) -> None:
    target = git_repo / "stray"  # the main checkout: read-only inside
    # the error without its newline (as a TUI draws it), then nothing more for a long while
    sup = make_sup(git_repo, f"""
[run]
name = "nl"
[[session]]
name = "a"
agent = "shell"
sandbox = "bwrap"
command = "(echo x > {target}) 2>&1 | tr -d '\\\\n'; sleep 120"
""", tmp_path)
    seen: dict[str, object] = {}

    async def during(s: Supervisor) -> None:
        rec = s.state.sessions["a"]

        def flagged() -> bool:
            return any(t.kind == "out_of_scope" and t.evidence.get("path") == str(target) for t in rec.triggers)
        await wait_for(flagged, 30, "out_of_scope from the unfinished line")
        seen["state"] = rec.state.value
        await s.stop_session("a")

    run_to_end(sup, timeout=90, during=during)
    assert seen["state"] == "running"
    assert not target.exists()
    log = sup.store.log_path(sup.state.sessions["a"].slug).read_bytes()
    assert b"Read-only file system" in log


@needs_bwrap
def test_a_refused_write_drawn_out_of_order_is_read_from_the_screen(git_repo: Path, tmp_path: Path) -> None:
    """A TUI that redraws only what changed puts the error's line together on the screen, not in the log: the
    tail first, then the head at the start of the row (the log holds no whole line naming the path)."""
    target = git_repo / "stray"
    head = f"sh: 1: cannot create {target}"
    draw = git_repo / "draw.sh"
    draw.write_text(f"printf '\\033[2J\\033[3;{len(head) + 1}H: Read-only file system\\033[3;1H%s' '{head}'\n"
                    "sleep 120\n")
    sup = make_sup(git_repo, f"""
[run]
name = "scr"
[[session]]
name = "a"
agent = "shell"
sandbox = "bwrap"
command = "sh {draw}"
""", tmp_path)
    seen: dict[str, list[dict[str, object]]] = {}

    async def during(s: Supervisor) -> None:
        rec = s.state.sessions["a"]

        def flagged() -> list[dict[str, object]]:
            return [t.evidence for t in rec.triggers if t.kind == "out_of_scope"]
        await wait_for(lambda: any(e.get("path") == str(target) for e in flagged()), 30,
                       "out_of_scope read from the screen")
        seen["evidence"] = flagged()
        await s.stop_session("a")

    run_to_end(sup, timeout=90, during=during)
    log = sup.store.log_path(sup.state.sessions["a"].slug).read_bytes()
    assert f"{target}: Read-only".encode() not in log  # never whole in the log
    assert [e["path"] for e in seen["evidence"]] == [str(target)]
    assert seen["evidence"][0]["evidence"] == "blocked by sandbox"


def test_claude_state_copies_the_users_config_and_links_the_rest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".claude" / "agents").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text('{"model": "x"}')
    (home / ".claude.json").write_text(json.dumps({"numStartups": 7}))
    session = tmp_path / "session"
    env = {"HOME": str(home)}
    extra = claude_state(session, env)
    own = session / CLAUDE_STATE
    assert env["CLAUDE_CONFIG_DIR"] == str(own) and extra == [home / ".claude"]
    assert json.loads((own / ".claude.json").read_text()) == {"numStartups": 7}
    assert not (own / ".claude.json").is_symlink() and (own / ".claude.json").stat().st_mode & 0o077 == 0
    assert (own / "settings.json").resolve() == home / ".claude" / "settings.json"
    assert (own / "agents").resolve() == home / ".claude" / "agents"
    assert (own / "projects").resolve() == home / ".claude" / "projects"  # transcripts: the user's, as ever
    # a later attempt keeps what the session wrote, and links what appeared since
    (own / ".claude.json").write_text(json.dumps({"numStartups": 8}))
    (home / ".claude" / "CLAUDE.md").write_text("memory")
    claude_state(session, {"HOME": str(home)})
    assert json.loads((own / ".claude.json").read_text()) == {"numStartups": 8}
    assert (own / "CLAUDE.md").read_text() == "memory"
    assert json.loads((home / ".claude.json").read_text()) == {"numStartups": 7}


def test_claude_state_seeds_from_the_users_own_config_dir(tmp_path: Path) -> None:
    mine = tmp_path / "my-claude"
    mine.mkdir()
    (mine / ".claude.json").write_text(json.dumps({"theme": "light"}))
    (mine / ".claude.json.lock").mkdir()  # Claude's lock of the user's file is no part of the copy
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".claude.json").write_text(json.dumps({"theme": "dark"}))
    env = {"HOME": str(tmp_path / "home"), "CLAUDE_CONFIG_DIR": str(mine)}
    assert claude_state(tmp_path / "s", env) == [mine]
    own = Path(env["CLAUDE_CONFIG_DIR"])
    assert own == tmp_path / "s" / CLAUDE_STATE
    assert json.loads((own / ".claude.json").read_text()) == {"theme": "light"}
    assert not (own / ".claude.json.lock").exists()
