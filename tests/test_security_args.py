"""Names are data, never flags or bad refs (#12 "smaller ones"): a session named ``-n`` runs (the sim
agent gets ``--name=-n``), a model starting with ``-`` stays one ``--model=VALUE`` argument for every
real agent, and ``validate`` refuses run names git cannot use in a branch (``a..b``, ``foo.lock``) —
checked against the real ``git check-ref-format``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from claude_harness import make_ctx, make_session
from engine_helpers import cli, make_sup, run_to_end

from cortex_tui.agents import get_adapter

ODD_NAMES = ["-n", "--help", "-"]


def test_sessions_named_like_flags_run(git_repo: Path, tmp_path: Path) -> None:
    sessions = "".join(f'[[session]]\nname = "{n}"\nscript = ["say hi from {n}"]\n' for n in ODD_NAMES)
    sup = make_sup(git_repo, f'[run]\nname = "flags"\n[defaults]\nagent = "sim"\n{sessions}', tmp_path)
    run_to_end(sup)
    for n in ODD_NAMES:
        rec = sup.state.sessions[n]
        assert rec.state.value == "finished", (n, rec.state, rec.reason)
        log = next((git_repo / "coordination/runs/flags/logs").glob(f"{rec.slug}.log")).read_text()
        assert f"session {n}\n" in log.replace("\r", ""), log


@pytest.mark.parametrize("agent", ["claude-code", "codex", "aider", "gemini", "opencode"])
def test_model_is_one_argument(agent: str, tmp_path: Path) -> None:
    s = make_session(agent=agent, prompt="go", model="-oops")
    argv = get_adapter(agent).command(s, make_ctx(tmp_path, tmp_path))
    assert "--model=-oops" in argv, argv
    assert "-oops" not in argv and "--model" not in argv, argv


def _git_accepts(run: str) -> bool:
    return subprocess.run(["git", "check-ref-format", f"refs/heads/cortex/{run}/session"],
                          capture_output=True).returncode == 0


@pytest.mark.parametrize("run", ["a..b", "foo.lock", "x.", "a...b", "ok.lock.d", "v1.2", "a-b_c", "x.locked"])
def test_validate_agrees_with_git_check_ref_format(run: str, tmp_path: Path) -> None:
    layout = tmp_path / "l.toml"
    layout.write_text(f'[run]\nname = "{run}"\n[[session]]\nname = "s"\nagent = "sim"\nscript = ["say x"]\n')
    r = cli("validate", str(layout), check=False)
    if _git_accepts(run):
        assert r.returncode == 0, (run, r.stdout, r.stderr)
    else:
        assert r.returncode == 2, (run, r.stdout, r.stderr)
        assert f"{layout}:2: field 'run.name'" in r.stderr and "git" in r.stderr, r.stderr
