"""Which agent CLI versions cortex-tui's detection was tested against (``data/agent_clis.json``).

``doctor`` reports each installed agent CLI as *tested* or *untested*: an untested version may draw
other screens or send other events, so detection may be wrong until the conformance suite has run on it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

_ENV_BIN = {"claude-code": "CORTEX_CLAUDE_BIN", "codex": "CORTEX_CODEX_BIN", "gemini": "CORTEX_GEMINI_BIN",
            "opencode": "CORTEX_OPENCODE_BIN", "aider": "CORTEX_AIDER_BIN"}
_VERSION_RE = re.compile(r"\d+\.\d+\.\d+(?:[-.\w]*)?")


class AgentCli(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bin: str
    npm: str | None = None
    pypi: str | None = None
    tested: list[str] = Field(min_length=1)


def tested_clis() -> dict[str, AgentCli]:
    raw = json.loads(resources.files("cortex_tui.data").joinpath("agent_clis.json").read_text(encoding="utf-8"))
    return {k: AgentCli.model_validate(v) for k, v in raw.items() if not k.startswith("_")}


def binary(kind: str) -> str:
    """The binary an agent kind runs (its ``CORTEX_*_BIN`` override, else the CLI's name)."""
    env = _ENV_BIN.get(kind)
    return (os.environ.get(env) if env else None) or tested_clis()[kind].bin


def parse_version(text: str) -> str | None:
    m = _VERSION_RE.search(text)
    return m.group(0) if m else None


@dataclass(frozen=True)
class InstalledCli:
    kind: str
    path: str | None
    version: str | None
    tested: bool
    tested_versions: tuple[str, ...]

    def describe(self) -> str:
        if self.path is None:
            return "not installed"
        if self.version is None:
            return f"{self.path}: version unknown (`--version` said nothing usable) — untested"
        if self.tested:
            return f"{self.version} (tested)"
        return (f"{self.version} untested (tested: {', '.join(self.tested_versions)}) — detection may be wrong; "
                f"run the conformance suite against it: `pytest -m conformance -k {self.kind}`")


def installed(kind: str, timeout: float = 60.0) -> InstalledCli:
    cli = tested_clis()[kind]
    path = shutil.which(binary(kind))
    if path is None:
        return InstalledCli(kind, None, None, False, tuple(cli.tested))
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
        version = parse_version(r.stdout + "\n" + r.stderr)
    except (OSError, subprocess.TimeoutExpired):
        version = None
    return InstalledCli(kind, path, version, version in cli.tested, tuple(cli.tested))
