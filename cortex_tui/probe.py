"""``cortex-tui doctor --agent X --probe``: start the installed agent CLI briefly against its configured
endpoint and say what was found — its version (tested or not), whether it can authenticate, whether its
endpoint is reachable, and what one short headless turn did — with what to install or set when something
is missing.

The endpoint is the one the CLI itself would use: ``ANTHROPIC_BASE_URL`` (claude-code), the
``model_provider``'s ``base_url`` in ``$CODEX_HOME/config.toml`` or ``OPENAI_BASE_URL`` (codex),
``GOOGLE_GEMINI_BASE_URL`` (gemini), ``OPENAI_API_BASE`` (aider), each provider's ``options.baseURL`` in
``~/.config/opencode/opencode.json`` (opencode); else the vendor's public API. The probe turn runs in a
fresh temporary git repository (never the user's), headless, bounded by ``timeout`` seconds, and costs one
short model request when the endpoint is a paid API.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PROMPT = "Reply with the single word OK."
DEFAULTS = {"claude-code": "https://api.anthropic.com", "codex": "https://api.openai.com/v1",
            "gemini": "https://generativelanguage.googleapis.com", "aider": "https://api.openai.com/v1",
            "opencode": "https://opencode.ai"}


@dataclass
class ProbeReport:
    kind: str
    lines: list[tuple[str, bool, str]] = field(default_factory=list)
    """(what, ok, text) — printed in order."""

    def add(self, what: str, ok: bool, text: str) -> None:
        self.lines.append((what, ok, text))

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.lines)

    def render(self) -> str:
        out = [f"probe of agent {self.kind!r}:"]
        out += [f"  {what:<9} {'ok' if ok else 'PROBLEM':<8} {text}" for what, ok, text in self.lines]
        out.append("probe: all good" if self.ok else "probe: problems found (see above)")
        return "\n".join(out)


def endpoints(kind: str, env: dict[str, str]) -> list[str]:
    """The base URL(s) the CLI is configured to call."""
    home = Path(env.get("HOME") or Path.home())
    if kind == "claude-code":
        return [env.get("ANTHROPIC_BASE_URL") or DEFAULTS[kind]]
    if kind == "gemini":
        return [env.get("GOOGLE_GEMINI_BASE_URL") or DEFAULTS[kind]]
    if kind == "aider":
        return [env.get("OPENAI_API_BASE") or env.get("OPENAI_BASE_URL") or DEFAULTS[kind]]
    if kind == "codex":
        cfg = Path(env.get("CODEX_HOME") or home / ".codex") / "config.toml"
        try:
            data = tomllib.loads(cfg.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            data = {}
        prov = data.get("model_providers", {}).get(data.get("model_provider", ""), {})
        url = prov.get("base_url") if isinstance(prov, dict) else None
        return [url if isinstance(url, str) else env.get("OPENAI_BASE_URL") or DEFAULTS[kind]]
    if kind == "opencode":
        cfg = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "opencode" / "opencode.json"
        try:
            data = json.loads(cfg.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        urls = [p.get("options", {}).get("baseURL") for p in (data.get("provider") or {}).values()
                if isinstance(p, dict) and isinstance(p.get("options"), dict)]
        return [u for u in urls if isinstance(u, str)] or [DEFAULTS[kind]]
    return []


def reachable(url: str, timeout: float = 5.0) -> tuple[bool, str]:
    """A TCP connection to the URL's host and port (no request is sent)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False, f"{url}: not a URL"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    t0 = time.monotonic()
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except OSError as e:
        return False, f"{url}: cannot connect to {parts.hostname}:{port} ({e.strerror or e}) — is the server up, " \
                      f"the URL right, a proxy needed?"
    return True, f"{url} (connected in {(time.monotonic() - t0) * 1000:.0f} ms)"


def _turn(kind: str, env: dict[str, str], model: str | None, timeout: float) -> tuple[bool, str]:
    """One headless turn in a throwaway git repo: exit code, duration, the last line it printed."""
    from cortex_tui.agents import get_adapter
    from cortex_tui.agents.base import SpawnContext
    from cortex_tui.model.layout import Layout
    from cortex_tui.model.resolve import resolve_session

    with tempfile.TemporaryDirectory(prefix="cortex-probe-") as tmp:
        wt = Path(tmp) / "repo"
        wt.mkdir()
        subprocess.run(["git", "init", "-q", str(wt)], check=False, capture_output=True)
        sess: dict[str, object] = {"name": "probe", "agent": kind, "prompt": PROMPT}
        if model:
            sess["model"] = model
        layout = Layout.model_validate({"run": {"name": "probe"}, "session": [sess]})
        spec = resolve_session(layout, layout.session[0])
        sdir = Path(tmp) / "session"
        sdir.mkdir()
        ctx = SpawnContext(run="probe", repo=wt, worktree=wt, session_dir=sdir, events_file=sdir / "events.jsonl",
                           headless=True)
        adapter = get_adapter(kind)
        adapter.prepare(spec, ctx)
        argv = adapter.command(spec, ctx)
        full = {**env, **adapter.env(spec, ctx), "CORTEX_EVENTS_FILE": str(ctx.events_file)}
        t0 = time.monotonic()
        try:
            r = subprocess.run(argv, cwd=wt, env=full, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False, f"no answer within {timeout:g} s (`{' '.join(argv[:3])} …`): the endpoint hangs or the CLI " \
                          "waits for input (run it by hand to see)"
        except OSError as e:
            return False, f"cannot start {argv[0]}: {e}"
        took = time.monotonic() - t0
        said = [ln.strip() for ln in (r.stdout + "\n" + r.stderr).splitlines() if ln.strip()]
        last = said[-1][:200] if said else "(nothing printed)"
        if r.returncode != 0:
            return False, f"exited {r.returncode} after {took:.1f} s: {last}"
        return True, f"answered in {took:.1f} s (exit 0)"


def probe(kind: str, *, env: dict[str, str] | None = None, model: str | None = None,
          timeout: float = 120.0) -> ProbeReport:
    from cortex_tui.agent_auth import AGENTS, check_auth
    from cortex_tui.agents.versions import binary, installed, tested_clis

    env = dict(os.environ) if env is None else env
    clis = tested_clis()
    if kind not in clis:
        rep = ProbeReport(kind)
        rep.add("agent", False, f"unknown agent kind; one of {', '.join(sorted(clis))}")
        return rep
    cli = clis[kind]
    rep = ProbeReport(kind)
    how = f"npm install {cli.npm}@{cli.tested[0]}" if cli.npm else f"pip install {cli.pypi}=={cli.tested[0]}"
    if shutil.which(binary(kind), path=env.get("PATH")) is None:
        rep.add("version", False, f"{binary(kind)} not installed — install it: {how} (or scripts/bootstrap.sh --dev)")
        return rep
    got = installed(kind)
    rep.add("version", got.tested, got.describe() if got.tested else f"{got.describe()}; tested: {how}")
    spec = next(a for a in AGENTS if a.agent == kind)
    auth = check_auth(spec, env)
    rep.add("auth", auth.ok, auth.how)
    urls = endpoints(kind, env)
    reach = [reachable(u) for u in urls]
    for ok, text in reach:
        rep.add("endpoint", ok, text)
    if not auth.ok or not all(ok for ok, _ in reach):
        rep.add("turn", False, "not tried (fix the above first)")
        return rep
    ok, text = _turn(kind, env, model, timeout)
    rep.add("turn", ok, text)
    return rep
