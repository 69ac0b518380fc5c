"""The integration gate on real git: a conflict matrix before any merge; three branches that pass verify alone
and fail together name the failing pair (issue #16)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import git
from engine_helpers import cli
from registry_runs import VERIFY, registry_layout

from cortex_tui.review.integrate import Gate


def _branch(repo: Path, name: str, files: dict[str, str]) -> None:
    git(repo, "checkout", "-q", "-b", name, "main")
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{name}: register")
    git(repo, "checkout", "-q", "main")


def test_three_branches_pass_alone_and_the_failing_pair_is_named(git_repo: Path, tmp_path: Path) -> None:
    _branch(git_repo, "cortex/r/a", {"registry/a.txt": "parse\n"})
    _branch(git_repo, "cortex/r/b", {"registry/b.txt": "render\n"})
    _branch(git_repo, "cortex/r/c", {"registry/c.txt": "parse\n"})
    gate = Gate(git_repo, "r", "main", {n: f"cortex/r/{n}" for n in "abc"}, tmp_path / "integration",
                tmp_path / "logs", verify=VERIFY)
    res = gate.integrate(["a", "b", "c"])
    assert res.pair_conflicts == [] and res.left_out == []
    assert res.verify is not None and res.verify.exit_code != 0
    assert res.failing_set == ["a", "c"]
    alone = {tuple(s.sessions): s.exit_code for s in res.steps if len(s.sessions) == 1}
    assert alone == {("a",): 0, ("b",): 0, ("c",): 0}
    assert all(Path(s.log_path).is_file() for s in res.steps)
    # the integration branch holds the whole combination; the base did not move
    assert git(git_repo, "ls-tree", "--name-only", "cortex/r/integration", "registry/").split() == [
        "registry/a.txt", "registry/b.txt", "registry/c.txt"]
    assert git(git_repo, "rev-parse", "main").strip() == res.base_tip
    assert not res.ok


def test_a_pairwise_conflict_is_reported_before_any_merge(git_repo: Path, tmp_path: Path) -> None:
    _branch(git_repo, "cortex/r/x", {"src/app.py": "x\n"})
    _branch(git_repo, "cortex/r/y", {"src/app.py": "y\n"})
    _branch(git_repo, "cortex/r/z", {"docs/z.md": "z\n"})
    gate = Gate(git_repo, "r", "main", {n: f"cortex/r/{n}" for n in "xyz"}, tmp_path / "integration",
                tmp_path / "logs", verify="true")
    res = gate.integrate(["x", "y", "z"])
    assert [(p.a, p.b, p.paths) for p in res.pair_conflicts] == [("x", "y", ["src/app.py"])]
    assert res.left_out == ["y"] and res.cumulative_conflicts == ["src/app.py"]
    assert res.verify is not None and res.verify.exit_code == 0 and res.verify.sessions == ["x", "z"]
    assert not res.ok  # a branch left out is not a passing gate


def test_a_passing_combination(git_repo: Path, tmp_path: Path) -> None:
    _branch(git_repo, "cortex/r/a", {"registry/a.txt": "parse\n"})
    _branch(git_repo, "cortex/r/b", {"registry/b.txt": "render\n"})
    gate = Gate(git_repo, "r", "main", {"a": "cortex/r/a", "b": "cortex/r/b"}, tmp_path / "integration",
                tmp_path / "logs", verify=VERIFY)
    res = gate.integrate(["a", "b"])
    assert res.ok and res.failing_set == [] and len(res.steps) == 1


RUN = registry_layout("gate")


def test_cli_integrate_after_a_headless_run_names_the_pair(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "gate.toml"
    layout.write_text(RUN)
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", check=False, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr  # each branch passes verify alone
    out = cli("integrate", "--repo", str(git_repo), "--json", check=False, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is False and data["failing_set"] == ["a", "c"] and data["order"] == ["a", "b", "c"]
    text = cli("integrate", "--repo", str(git_repo), "--sessions", "a,b", check=False, timeout=120)
    assert text.returncode == 0 and "OK: the combination works" in text.stdout


def test_headless_integrate_fails_the_run_and_junit_agrees(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "gate.toml"
    layout.write_text(RUN)
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--integrate", "--report", str(report),
            "--junit", str(junit), check=False, timeout=180)
    assert r.returncode == 1, r.stdout + r.stderr  # every branch passed alone; the combination did not
    data = json.loads(report.read_text())
    assert data["exit_code"] == 1 and data["exit_reason"] == "integration"
    assert data["failures"] == {} and data["integration"]["failing_set"] == ["a", "c"]
    assert "a + c fail together" in data["reason"]
    root = ET.fromstring(junit.read_text())
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"a", "b", "c", "integration"}
    assert cases["integration"].find("failure") is not None
    assert all(cases[n].find("failure") is None for n in "abc")
    assert root.get("tests") == "4" and root.get("failures") == "1"


def test_approve_integration_fast_forwards_the_base_and_keeps_a_backup(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "gate.toml"
    layout.write_text(RUN)
    cli("run", str(layout), "--repo", str(git_repo), "--headless", check=False, timeout=120)
    old = git(git_repo, "rev-parse", "main").strip()
    bad = cli("integrate", "--repo", str(git_repo), check=False, timeout=120)  # a + c fail together
    assert bad.returncode == 1
    refused = cli("review", "approve", "--integration", "--repo", str(git_repo), check=False)
    assert refused.returncode != 0 and "did not pass" in refused.stdout + refused.stderr
    assert git(git_repo, "rev-parse", "main").strip() == old
    cli("integrate", "--repo", str(git_repo), "--sessions", "a,b", timeout=120)
    commit = git(git_repo, "rev-parse", "cortex/gate/integration").strip()
    cli("review", "approve", "--integration", "--repo", str(git_repo))
    assert git(git_repo, "rev-parse", "main").strip() == commit  # one fast-forward to the combination
    assert (git_repo / "registry" / "a.txt").is_file() and (git_repo / "registry" / "b.txt").is_file()
    backups = git(git_repo, "for-each-ref", "--format=%(objectname)", "refs/cortex/gate/backup/").split()
    assert backups == [old]
    again = cli("review", "approve", "--integration", "--repo", str(git_repo), check=False)
    assert again.returncode != 0 and "moved since" in again.stdout + again.stderr
