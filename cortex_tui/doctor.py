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
    present: bool = True
    """False when the tool is not there at all (vs. there but too old or not working)."""

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        if not self.required:
            return "optional, missing" if not self.present else "optional, not usable"
        return "MISSING" if not self.present else "TOO OLD"


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


def tool_checks() -> list[Check]:
    """The tools every run needs on this machine: python, tmux, git (what ``demo``/``run``/``up`` check first)."""
    py = sys.version_info
    checks = [Check("python", py >= (3, 11), f"{py.major}.{py.minor}.{py.micro}", ">= 3.11",
                    "install Python 3.11 or newer (e.g. `apt-get install python3.11`)")]
    tm = _version(["tmux", "-V"])
    checks.append(Check("tmux", tm is not None and _ver_tuple(tm) >= (3, 2), tm or "not found", ">= 3.2",
                        "apt-get install tmux   (macOS: brew install tmux)" if tm is None else
                        "upgrade tmux to 3.2 or newer (Debian 12 / Ubuntu 22.04 and later ship one)",
                        present=tm is not None))
    gv = _version(["git", "--version"])
    checks.append(Check("git", gv is not None and _ver_tuple(gv) >= (2, 38), gv or "not found",
                        ">= 2.38 (merge-tree --write-tree)",
                        "apt-get install git   (macOS: brew install git)" if gv is None else
                        "upgrade git to 2.38 or newer (Debian 12 backports, Ubuntu 24.04, or the git PPA)",
                        present=gv is not None))
    return checks


def require_tools() -> None:
    """Refuse to start a run when a required tool is missing or too old: name each and how to get it."""
    from cortex_tui.errors import PrerequisiteError

    bad = [c for c in tool_checks() if c.required and not c.ok]
    if bad:
        what = "; ".join(f"{c.name} {'not found' if not c.present else f'too old ({c.found})'}, need {c.need}"
                         for c in bad)
        raise PrerequisiteError(f"cannot start: {what}", "; ".join(c.hint for c in bad) +
                                "  — `cortex-tui doctor` checks everything")


def run_checks() -> list[Check]:
    checks: list[Check] = []
    checks.extend(tool_checks())
    sv = _version(["ssh", "-V"])
    checks.append(Check("ssh", sv is not None, sv or "not found", "OpenSSH client (remote nodes only)",
                        "apt-get install openssh-client", required=False))
    checks.append(bwrap_check())
    from cortex_tui.agents.versions import tested_clis

    for kind in tested_clis():
        checks.append(agent_check(kind))
        auth = auth_check(kind)
        if auth is not None:
            checks.append(auth)
    for mod in ("textual", "watchfiles", "pydantic", "psutil", "typer", "anthropic"):
        try:
            m = __import__(mod)
            checks.append(Check(mod, True, str(getattr(m, "__version__", "installed")), "python package", ""))
        except ImportError:
            checks.append(Check(mod, False, "not importable", "python package",
                                "run scripts/bootstrap.sh (installs cortex-tui and its packages into .venv/)"))
    return checks


def bwrap_check() -> Check:
    """bubblewrap, for ``sandbox = "bwrap"``: present *and* able to make a sandbox here (a real one is run)."""
    from cortex_tui.backends.sandbox import BWRAP, INSTALL_HINT, probe

    ver = _version([BWRAP, "--version"])
    why = probe()
    return Check("bwrap", why is None, (ver or "") if why is None else (why if ver else "not found"),
                 'bubblewrap that can make a sandbox here (sandbox = "bwrap" only)',
                 INSTALL_HINT if ver is None else "user namespaces must be allowed (see docs/isolation.md)",
                 required=False, present=ver is not None)


def agent_check(kind: str) -> Check:
    """An agent CLI: installed or not, and whether its version is one detection was tested against."""
    from cortex_tui.agents.versions import installed, tested_clis

    cli = tested_clis()[kind]
    got = installed(kind)
    how = f"npm install {cli.npm}@{cli.tested[0]}" if cli.npm else f"pip install {cli.pypi}=={cli.tested[0]}"
    return Check(kind, got.tested, got.describe(), f"{cli.bin} {' or '.join(cli.tested)} (agent = {kind})",
                 how if got.path is None else f"tested version: {how} (or scripts/bootstrap.sh --dev)",
                 required=False)


def auth_check(kind: str) -> Check | None:
    """For an installed agent CLI: can it authenticate — an API key in the environment, or a login on disk?"""
    from cortex_tui.agent_auth import AGENTS, check_auth
    from cortex_tui.agents.versions import binary

    spec = next((a for a in AGENTS if a.agent == kind), None)
    if spec is None or shutil.which(binary(kind)) is None:
        return None
    auth = check_auth(spec)
    return Check(f"{kind} auth", auth.ok, auth.how if auth.ok else "cannot authenticate",
                 "an API key or a login", auth.how, required=False)


def render(checks: list[Check]) -> tuple[str, int]:
    lines = []
    bad_required = 0
    for c in checks:
        mark = c.status
        lines.append(f"  {c.name:<11} {mark:<18} {c.found}  (need {c.need})")
        if not c.ok:
            lines.append(f"  {'':<11} → {c.hint}")
            bad_required += c.required
    lines.append("")
    lines.append("all required tools present" if not bad_required else f"{bad_required} required tool(s) missing")
    return "\n".join(lines), (1 if bad_required else 0)


def node_bwrap_line(raw: str | None) -> str:
    """The ``bwrap`` line of ``doctor --node``: ``raw`` is the version line and ``rc=N last-error`` (or None)."""
    if not raw:
        return "  bwrap       optional  not found  (sandbox = \"bwrap\"; apt-get install bubblewrap)"
    version, _, result = raw.partition("\n")
    rc, _, err = result.strip().removeprefix("rc=").partition(" ")
    if rc == "0":
        return f"  bwrap       ok   {version.strip()}  (can make a sandbox there: sandbox = \"bwrap\" sessions on it " \
               "run in one)"
    return f"  bwrap       optional  {version.strip()} cannot make a sandbox: {err.strip() or 'exit ' + rc}"


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
    lines.append(node_bwrap_line(info.get("bwrap")))
    lines.append(f"  load        {info.get('load') or 'unknown'}")
    return "\n".join(lines), ok
