"""A repository's own ``.codex/config.toml`` hook that the user trusted in their main checkout, on the real Codex
CLI (0.171.0) against the loopback provider fake.

Codex keys a project hook's trust by its config file's path. Measured on 0.171.0: a *local* linked worktree
(``git worktree add`` of the main checkout: every local session) is read from the main checkout's
``.codex/config.toml`` — trusted already, nothing to carry — while a worktree whose ``.git`` leads to no main
checkout (a remote session's worktree of the node's bare repository) is read from its own file, keyed by its
own path, so the user's trust is missing there: the adapter carries it (``-c hooks.state={…}``, this
invocation only, bound to the hook's content hash). The trusted cases of the bare-repo and the remote test
fail without the carry ("Hooks need review")."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from claude_harness import make_session
from conftest import git
from drivers import CodexDriver, driver
from engine_helpers import run_to_end, triggers
from fake_llm import ScriptedLLM
from sshd import SshServer
from test_conformance import NAME, RUN, _toml, expect, finish, state, supervise
from test_remote_engine import node_toml

from cortex_tui.agents.base import SpawnContext
from cortex_tui.agents.codex import CodexAdapter
from cortex_tui.agents.codex_hooks import trusted_hash
from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout

pytestmark = pytest.mark.conformance

HOOK = "true # the repository's own hook"
PROJECT_HOOK = f'[[hooks.Stop]]\n[[hooks.Stop.hooks]]\ntype = "command"\ncommand = "{HOOK}"\n'
REVIEW = "Hooks need review"
PROMPT_LINE = "Ask Codex to do anything"


def trust(repo: Path, command: str = HOOK) -> str:
    """What Codex writes in the user's config.toml when they trust the repo's Stop hook in its checkout."""
    return (f'[hooks.state."{repo}/.codex/config.toml:stop:0:0"]\n'
            f'trusted_hash = "{trusted_hash("stop", command)}"\n')


def commit_hook(repo: Path) -> None:
    (repo / ".codex").mkdir()
    (repo / ".codex" / "config.toml").write_text(PROJECT_HOOK)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the repository's own Codex hook")


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
def test_local_worktree_reads_the_main_checkouts_hooks_and_their_trust(trusted: bool, git_repo: Path,
                                                                      tmp_path: Path) -> None:
    """Every local session: trusted in the main checkout → its prompt's turn runs (no dialog); never
    trusted → "Hooks need review" (waiting) as before."""
    commit_hook(git_repo)
    d = driver("codex", CodexDriver, user_config=trust(git_repo) if trusted else "")

    asked: list[int] = []

    async def during(sup: Supervisor, api: ScriptedLLM) -> None:
        if trusted:
            await expect(sup, lambda: state(sup) == "idle", 90, "codex: idle after the prompt's turn")
        else:
            await expect(sup, lambda: state(sup) == "waiting", 90, "codex: waiting at 'Hooks need review'")
            asked.append(api.used)  # (the stop's Escape skips the dialog: the turn may run after it)
        await finish(sup)

    events, _, api = supervise(d, git_repo, tmp_path, [d.say("Hello.")], during=during)
    _started_as_trusted(events, api, trusted, asked)


def _started_as_trusted(events: list[Event], api: ScriptedLLM, trusted: bool, asked: list[int]) -> None:
    """Trusted: no dialog, the prompt's one turn ran; else one 'Hooks need review' raised before any turn."""
    ap = triggers(events, "approval_waiting", NAME)
    if trusted:
        assert ap == [] and api.used == 1, [e.data for e in ap]
    else:
        assert len(ap) == 1 and ap[0].data["evidence"]["prompt"].startswith(REVIEW), [e.data for e in ap]
        assert asked == [0]


def _screen(sock: str) -> str:
    return subprocess.run(["tmux", "-L", sock, "capture-pane", "-p", "-t", "a"], capture_output=True,
                          text=True).stdout


@pytest.mark.parametrize("case", ["trusted", "changed", "untrusted"])
def test_bare_repo_worktree_gets_the_users_trust_of_the_same_hook_only(case: str, git_repo: Path,
                                                                       tmp_path: Path) -> None:
    """A worktree of a bare clone (how a remote node checks a session out), started with the adapter's own
    command line: the hook the user trusted in their checkout → its prompt reaches the model (before the
    carry: "Hooks need review"); the same hook changed in the worktree, or one never trusted → still asked."""
    commit_hook(git_repo)
    bare, wt = tmp_path / "node.git", tmp_path / "worktrees" / "s"
    subprocess.run(["git", "clone", "-q", "--bare", str(git_repo), str(bare)], check=True)
    git(bare, "worktree", "add", "-q", "-b", "s", str(wt), "main")
    if case == "changed":  # an agent (or the branch) changed it: not what the user trusted
        (wt / ".codex" / "config.toml").write_text(PROJECT_HOOK.replace(HOOK, HOOK + "; touch pwned"))
    home = tmp_path / "agent-home"
    # the user's own trusted hook: the one -c hooks.state override must not drop the file's table
    own = (f'[[hooks.Stop]]\n[[hooks.Stop.hooks]]\ntype = "command"\ncommand = "true # theirs"\n'
           f'[hooks.state."{home}/.codex/config.toml:stop:0:0"]\ntrusted_hash = "{trusted_hash("stop", "true # theirs")}"\n')
    d = driver("codex", CodexDriver, user_config=own + (trust(git_repo) if case != "untrusted" else ""))
    with d.fake([d.say("Hello.")]) as api:
        env = d.env(home, wt, api)
        session = make_session(agent="codex", prompt="say hello", model=d.model, permission_mode="on-request",
                               env={k: v for k, v in env.items() if k != "PATH"})
        sdir = tmp_path / "session"
        sdir.mkdir()
        ctx = SpawnContext(run="t", repo=git_repo, worktree=wt, session_dir=sdir, events_file=sdir / "events.jsonl")
        argv = CodexAdapter(kind="codex").command(session, ctx)
        sock = f"carry-{case}"
        subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-s", "a", "-x", "160", "-y", "45", "-c", str(wt),
                        "env", *[f"{k}={v}" for k, v in {**env, "CORTEX_EVENTS_FILE": str(ctx.events_file)}.items()],
                        *argv], check=True)
        try:
            end = time.monotonic() + 90 + d.start_s
            while time.monotonic() < end and not (REVIEW in _screen(sock) or api.used):
                time.sleep(0.2)
            screen = _screen(sock)
            if case == "trusted":
                assert api.used == 1 and REVIEW not in screen, screen
            else:
                assert REVIEW in screen and api.used == 0, screen
        finally:
            subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    assert not (wt / "pwned").exists()
    assert f"{wt}/.codex" not in (home / ".codex" / "config.toml").read_text()  # carried on the command line only


@pytest.mark.ssh
@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
def test_remote_session_starts_at_its_prompt_with_the_users_trust(trusted: bool, sshd: SshServer, git_repo: Path,
                                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end on a node (a real sshd on loopback; its worktree is one of the node's bare repository):
    the hook the user trusted in their checkout → the prompt's turn runs to idle with no dialog (before the
    carry: "Hooks need review"); never trusted → waiting at "Hooks need review"."""
    commit_hook(git_repo)
    monkeypatch.setenv("CORTEX_CODEX_BIN", str(shutil.which("codex")))  # the node's PATH is sshd's
    d = driver("codex", CodexDriver, user_config=trust(git_repo) if trusted else "")
    wt = Path(os.path.realpath(sshd.workdir)) / "runs" / RUN / "worktrees" / NAME
    home = tmp_path / "agent-home"
    home.mkdir()
    asked: list[int] = []

    async def during(sup: Supervisor) -> None:
        if trusted:
            await expect(sup, lambda: state(sup) == "idle", 120, "codex on the node: idle after the prompt's turn")
        else:
            await expect(sup, lambda: state(sup) == "waiting", 120, "codex on the node: waiting at 'Hooks need review'")
            asked.append(api.used)
        await finish(sup)

    with d.fake([d.say("Hello.")]) as api:
        env = d.env(home, wt, api)
        keys = {"name": NAME, "agent": "codex", "model": d.model, "prompt": "say hello", "node": "box1",
                **d.layout_extra(), "env": {k: v for k, v in env.items() if k != "PATH"}}
        text = f'[run]\nname = "{RUN}"\n{node_toml(sshd)}[[session]]\n' + "".join(
            f"{k} = {_toml(v)}\n" for k, v in keys.items())
        (tmp_path / "layout.toml").write_text(text)
        sup = Supervisor(parse_layout(text, tmp_path / "layout.toml"), git_repo)
        events = run_to_end(sup, timeout=180 + d.start_s, during=during)
    assert sup.state.sessions[NAME].worktree == str(wt)
    _started_as_trusted(events, api, trusted, asked)
