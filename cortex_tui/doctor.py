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
    from cortex_tui.agents.versions import tested_clis

    checks.extend(agent_check(kind) for kind in tested_clis())
    for mod in ("textual", "libtmux", "watchfiles", "pydantic", "psutil", "typer", "anthropic"):
        try:
            m = __import__(mod)
            checks.append(Check(mod, True, str(getattr(m, "__version__", "installed")), "python package", ""))
        except ImportError:
            checks.append(Check(mod, False, "not importable", "python package", "pip install -e ."))
    return checks


def agent_check(kind: str) -> Check:
    """An agent CLI: installed or not, and whether its version is one detection was tested against."""
    from cortex_tui.agents.versions import installed, tested_clis

    cli = tested_clis()[kind]
    got = installed(kind)
    how = f"npm install {cli.npm}@{cli.tested[0]}" if cli.npm else f"pip install {cli.pypi}=={cli.tested[0]}"
    return Check(kind, got.tested, got.describe(), f"{cli.bin} {' or '.join(cli.tested)} (agent = {kind})",
                 how if got.path is None else f"tested version: {how} (or scripts/bootstrap.sh --dev)",
                 required=False)


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


def check_node(name: str, layout_path: str | None) -> tuple[str, bool]:
    """Reachability, latency, tmux, git and python on a remote node declared in a layout."""
    import time

    from cortex_tui.backends.remote import RemoteNode
    from cortex_tui.backends.ssh import SshTransport
    from cortex_tui.errors import CortexError, UsageError
    from cortex_tui.layout import load_layout

    if not layout_path:
        raise UsageError("--node needs --layout FILE (the layout that declares the node)")
    spec = load_layout(layout_path).layout.node_by_name(name)
    if spec is None:
        raise UsageError(f"{layout_path}: no [[node]] named {name!r}")
    rn = RemoteNode(SshTransport(spec), "doctor")
    lines = [f"node {name} ({spec.user + '@' if spec.user else ''}{spec.host}:{spec.port})"]
    try:
        t0 = time.perf_counter()
        rn.setup()
        lines.append(f"  reachable   ok  connect {1000 * (time.perf_counter() - t0):.0f} ms, "
                     f"ping {rn.transport.ping() or 0:.1f} ms, workdir {rn.workdir}")
        info = rn.doctor()
    except CortexError as e:
        lines.append(f"  reachable   MISSING  {e.message}")
        if e.hint:
            lines.append(f"              → {e.hint}")
        return "\n".join(lines), False
    finally:
        rn.transport.close()
    ok = True
    needs = {"tmux": ("tmux ≥ 3.2", "apt-get install tmux"), "git": ("git ≥ 2.38", "apt-get install git"),
             "python": (f"{spec.python} ≥ 3.11", "install Python 3.11+ or set `python` in the [[node]] table")}
    for key, (need, hint) in needs.items():
        val = info.get(key)
        good = val is not None and (key != "tmux" or _ver_tuple(val) >= (3, 2)) and \
            (key != "git" or _ver_tuple(val) >= (2, 38)) and (key != "python" or _ver_tuple(val) >= (3, 11))
        ok = ok and good
        lines.append(f"  {key:<11} {'ok ' if good else 'MISSING'}  {val or 'not found'}  (need {need})")
        if not good:
            lines.append(f"              → {hint}")
    helper = info.get("cortex_tui")
    lines.append(f"  cortex_tui  {'ok ' if helper else 'optional'}  {helper or 'not installed on the node'}"
                 "  (the sim agent needs it; other agents do not)")
    lines.append(f"  load        {info.get('load') or 'unknown'}")
    return "\n".join(lines), ok
