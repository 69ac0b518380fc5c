"""The pinned agent CLIs: installed where the tests look (.cortex-dev/bin first on PATH), at the tested
version, and ``doctor`` tells tested from untested versions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cortex_tui.agents import versions
from cortex_tui.agents.versions import installed, parse_version
from cortex_tui.doctor import agent_check, render

KINDS = sorted(versions.tested_clis())


@pytest.mark.parametrize("kind", KINDS)
def test_pinned_cli_is_installed_at_the_tested_version(kind: str) -> None:
    got = installed(kind)
    if got.path is None:
        pytest.skip(f"{kind}: {versions.tested_clis()[kind].bin} not installed — run scripts/bootstrap.sh --dev")
    assert got.version is not None, got.describe()
    assert got.tested, f"{kind}: {got.path} is {got.version}, tested {got.tested_versions}"


def test_version_parsing() -> None:
    assert parse_version("2.1.331 (Claude Code)") == "2.1.331"
    assert parse_version("codex-cli 0.171.0") == "0.171.0"
    assert parse_version("aider 0.86.2\n") == "0.86.2"
    assert parse_version("no digits") is None


def test_doctor_reports_an_untested_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "codex"
    fake.write_text("#!/bin/sh\necho 'codex-cli 0.1.0'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CORTEX_CODEX_BIN", str(fake))
    got = installed("codex")
    assert got.version == "0.1.0" and not got.tested
    assert "untested" in got.describe() and "0.171.0" in got.describe()
    text, code = render([agent_check("codex")])
    assert "codex" in text and "0.1.0 untested" in text
    assert code == 0  # agent CLIs are optional


def test_doctor_reports_a_missing_cli_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORTEX_GEMINI_BIN", "/nonexistent/gemini")
    monkeypatch.setenv("PATH", os.defpath)
    text, code = render([agent_check("gemini")])
    assert "not installed" in text and "npm install @google/gemini-cli@0.61.0" in text
    assert code == 0  # agent CLIs are optional: their absence alone never fails doctor
