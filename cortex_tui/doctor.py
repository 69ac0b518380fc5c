"""``cortex-tui doctor``: check the tools cortex-tui needs and say how to install what is missing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    found: str
    need: str
    hint: str
    required: bool = True


def _version(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else ""


def _ver_tuple(text: str | None) -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return tuple(int(x) for x in m.groups() if x is not None) if m else ()


def run_checks() -> list[Check]:
    checks: list[Check] = []
    py = sys.version_info
    checks.append(Check("python", py >= (3, 11), f"{py.major}.{py.minor}.{py.micro}", ">= 3.11",
                        "install Python 3.11 or newer (e.g. `apt-get install python3.11`)"))
    tm = _version(["tmux", "-V"])
    checks.append(Check("tmux", tm is not None and _ver_tuple(tm) >= (3, 2), tm or "not found", ">= 3.2",
                        "apt-get install tmux   (macOS: brew install tmux)"))
    gv = _version(["git", "--version"])
    checks.append(Check("git", gv is not None and _ver_tuple(gv) >= (2, 38), gv or "not found",
                        ">= 2.38 (merge-tree --write-tree)", "apt-get install git   (macOS: brew install git)"))
    sv = _version(["ssh", "-V"])
    checks.append(Check("ssh", sv is not None, sv or "not found", "OpenSSH client (remote nodes only)",
                        "apt-get install openssh-client", required=False))
    cv = _version(["claude", "--version"])
    checks.append(Check("claude", cv is not None, cv or "not found", "Claude Code CLI (agent = claude-code)",
                        "npm install -g @anthropic-ai/claude-code", required=False))
    for mod in ("textual", "libtmux", "watchfiles", "pydantic", "psutil", "typer", "anthropic"):
        try:
            m = __import__(mod)
            checks.append(Check(mod, True, str(getattr(m, "__version__", "installed")), "python package", ""))
        except ImportError:
            checks.append(Check(mod, False, "not importable", "python package", "pip install -e ."))
    return checks


def render(checks: list[Check]) -> tuple[str, int]:
    lines = []
    bad_required = 0
    for c in checks:
        mark = "ok " if c.ok else ("MISSING" if c.required else "optional, missing")
        lines.append(f"  {c.name:<11} {mark:<18} {c.found}  (need {c.need})")
        if not c.ok:
            lines.append(f"  {'':<11} → {c.hint}")
            bad_required += c.required
    lines.append("")
    lines.append("all required tools present" if not bad_required else f"{bad_required} required tool(s) missing")
    return "\n".join(lines), (1 if bad_required else 0)
