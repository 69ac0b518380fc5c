"""Per-agent drivers of the conformance suite: how to point each real CLI at its loopback provider fake,
and how the generic scenario actions (say, run a shell command, write a file) look in its provider's API.

A driver writes everything the CLI needs into the test's own HOME (never the developer's), names the
CLI's binary (the pinned one in .cortex-dev/bin, see tests/conftest.py) and says which scenarios it
cannot support, with the reason (the test then skips, printing it).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from claude_harness import MODEL, claude_env, prepare_home
from fake_anthropic import FakeMessages
from fake_gemini import FakeGemini
from fake_llm import ScriptedLLM, Step
from fake_openai import FakeChat, FakeResponses

from cortex_tui.agents.versions import InstalledCli, binary, installed


@dataclass
class Driver:
    kind: str
    model: str
    unsupported: dict[str, str] = field(default_factory=dict)
    """scenario -> why this agent cannot do it (the test skips with that reason)."""
    usage_headless: bool = False
    """The usage scenario runs headless (the agent cannot be driven interactively yet)."""
    reports_cache: bool = True
    """The agent's own records split cached input out (else only the input total is compared)."""
    start_s: float = 0.0
    """Extra seconds the CLI may take to reach its first model request (added to the first wait)."""
    only_written_flagged: bool = False
    """out_of_scope names the written path only (no file the agent writes for itself; Claude Code's atomic-write
    temp file ``<path>.tmp.<pid>.<hash>`` is flagged too)."""

    def available(self) -> str | None:
        """None when the CLI is installed at a tested version, else why not (the skip reason)."""
        path = shutil.which(binary(self.kind))
        if path is None:
            return f"{self.kind}: {binary(self.kind)} not installed — run scripts/bootstrap.sh --dev"
        got = _installed(self.kind, path)
        if not got.tested:
            return f"{self.kind}: {got.describe()}"
        return None

    def fake(self, script: list[Step]) -> ScriptedLLM:
        raise NotImplementedError

    def env(self, home: Path, worktree: Path, api: ScriptedLLM) -> dict[str, str]:
        """Environment of the session (its HOME prepared for ``worktree``)."""
        raise NotImplementedError

    def layout_extra(self) -> dict[str, Any]:
        """Extra ``[[session]]`` keys (permission_mode, extra_args)."""
        return {}

    def auto_mode(self) -> str | None:
        """permission_mode under which shell commands and edits run without asking (None: the default does)."""
        return None

    # generic actions
    def say(self, text: str, **kw: Any) -> Step:
        return Step.say(text, **kw)

    def shell(self, cmd: str, *, ask: bool = True, **kw: Any) -> Step:
        raise NotImplementedError

    def write(self, path: str, content: str, **kw: Any) -> Step:
        raise NotImplementedError

    def failing(self, cmd: str, **kw: Any) -> Step:
        """A reply after which the agent runs the failing ``cmd`` by itself (repeated_error)."""
        return self.shell(cmd, ask=False, **kw)

    def repeat_session(self, cmd: str) -> dict[str, Any]:
        """Session keys of the repeated_error scenario (the failing ``cmd`` runs without asking)."""
        mode = self.auto_mode()
        return {"permission_mode": mode} if mode else {}

    def fail_session(self) -> dict[str, Any] | None:
        """Session keys for exit_failed when API errors do not make the CLI exit non-zero (None: they do)."""
        return None


@functools.cache
def _installed(kind: str, path: str) -> InstalledCli:
    """``--version`` once per CLI and test process (aider takes ~20 s to answer it on a loaded machine)."""
    return installed(kind)


def base_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm-256color",
            "LANG": "C.UTF-8", "NO_UPDATE_NOTIFIER": "1"}


DEV_DIR = Path(os.environ.get("CORTEX_DEV_DIR") or Path(__file__).resolve().parents[2] / ".cortex-dev")
"""Where scripts/bootstrap.sh --dev installed the agent CLIs (as tests/conftest.py finds it)."""

API_KEY = "sk-cortex-test-0123456789abcdef"


@dataclass
class CodexDriver(Driver):
    """Codex: a custom model provider (``wire_api = "responses"``) in ``$CODEX_HOME/config.toml``; the
    worktree is pre-trusted there (else Codex starts at its "Trust this folder?" dialog)."""

    daemon: bool = False
    """Let Codex start its app-server daemon (tests/conformance/test_codex_daemon.py); off elsewhere, so a
    scenario's failure never leaves one behind."""
    hooks: bool = True
    """The adapter's PermissionRequest hook (off: ``CORTEX_CODEX_HOOKS=0``, waiting from the screen only —
    and Codex 0.171.0 starts its daemon only then)."""
    user_config: str = ""
    """TOML appended to the test HOME's ``config.toml`` (the user's own, e.g. a hook of theirs)."""

    def fake(self, script: list[Step]) -> ScriptedLLM:
        return CodexFake(script)

    def env(self, home: Path, worktree: Path, api: ScriptedLLM) -> dict[str, str]:
        codex_home = home / ".codex"
        codex_home.mkdir(parents=True, exist_ok=True)
        (codex_home / "config.toml").write_text(
            f'model = "{self.model}"\nmodel_provider = "fake"\n'
            f'[model_providers.fake]\nname = "fake"\nbase_url = "{api.url}/v1"\nenv_key = "FAKE_OPENAI_KEY"\n'
            f'wire_api = "responses"\nrequest_max_retries = 0\nstream_max_retries = 0\n'
            + ('' if self.daemon else '[features]\ndaemon_auto_start = false\n') +
            f'[projects."{worktree}"]\ntrust_level = "trusted"\n' + self.user_config, encoding="utf-8")
        tmp = home / "tmp"  # Codex refuses to set up its sandbox helper under the system temp dir (/tmp)
        tmp.mkdir(exist_ok=True)
        env = {**base_env(home), "CODEX_HOME": str(codex_home), "FAKE_OPENAI_KEY": API_KEY, "TMPDIR": str(tmp)}
        return env if self.hooks else {**env, "CORTEX_CODEX_HOOKS": "0"}

    def layout_extra(self) -> dict[str, Any]:
        return {"permission_mode": "on-request"}

    def shell(self, cmd: str, *, ask: bool = True, **kw: Any) -> Step:
        args: dict[str, Any] = {"cmd": cmd}
        if ask:  # on-request: the model asks to leave the sandbox, which is what needs a human
            args.update(sandbox_permissions="require_escalated", justification=f"Run {cmd}?")
        return Step.call("exec_command", args, **kw)

    def write(self, path: str, content: str, **kw: Any) -> Step:
        """An ``apply_patch`` the model runs through the shell tool, as Codex's models do: Codex intercepts
        it, applies the patch itself and records a ``FileChange`` with the paths in its session file."""
        lines = "".join(f"+{ln}\n" for ln in content.splitlines())
        patch = f"*** Begin Patch\n*** Add File: {path}\n{lines}*** End Patch\n"
        return Step.call("exec_command", {"cmd": f"apply_patch <<'EOF'\n{patch}EOF\n"}, **kw)


class CodexFake(FakeResponses):
    """Codex also asks the model for a thread title (a request without tools): answered aside, not from
    the script (Codex keeps that request's usage out of its session file)."""

    def take(self, body: dict[str, Any]) -> Step:
        if not body.get("tools"):
            return Step.say("Conformance task", input_tokens=0, output_tokens=0)
        return super().take(body)

    def bill(self, model: str, step: Step) -> None:
        if step.input_tokens or step.output_tokens:
            super().bill(model, step)


@dataclass
class ClaudeDriver(Driver):
    """Claude Code: ``ANTHROPIC_BASE_URL`` at the Messages fake; the test HOME's ``~/.claude.json`` has the
    worktree trusted and onboarding done (tests/claude_harness.py)."""

    def fake(self, script: list[Step]) -> ScriptedLLM:
        return FakeMessages(script)

    def env(self, home: Path, worktree: Path, api: ScriptedLLM) -> dict[str, str]:
        prepare_home(home, worktree)
        cfg = json.loads((home / ".claude.json").read_text())
        (home / ".claude.json").write_text(json.dumps({**cfg, "bypassPermissionsModeAccepted": True,
                                                       "fullscreenUpsellSeenCount": 3}))  # a one-off tip dialog
        return {k: v for k, v in claude_env(home, api.url).items() if k != "CLAUDE_CODE_MAX_RETRIES"} | {
            "CLAUDE_CODE_MAX_RETRIES": "0"}

    def auto_mode(self) -> str | None:
        return "bypassPermissions"

    def shell(self, cmd: str, *, ask: bool = True, **kw: Any) -> Step:
        return Step.call("Bash", {"command": cmd, "description": "Run a command"}, **kw)

    def write(self, path: str, content: str, **kw: Any) -> Step:
        return Step.call("Write", {"file_path": path, "content": content}, **kw)


@dataclass
class AiderDriver(Driver):
    """Aider through litellm's OpenAI provider: ``OPENAI_API_BASE`` at the Chat Completions fake, model
    ``openai/<id>``, interactive and pretty (its "Waiting for" spinner runs while the API is silent). Its edits
    are SEARCH/REPLACE blocks (``--edit-format diff``; an empty SEARCH creates the file), its shell commands
    ```bash blocks it asks to run. It never runs a shell command unasked (``--yes-always`` declines them), so
    the same failing command three times is its own test loop: ``--auto-test --test-cmd CMD`` runs CMD after
    every edit and sends the failure back to the model (three reflections)."""

    ARGS = ("--no-show-model-warnings", "--no-auto-commits", "--edit-format", "diff")

    def fake(self, script: list[Step]) -> ScriptedLLM:
        return FakeChat(script)

    def env(self, home: Path, worktree: Path, api: ScriptedLLM) -> dict[str, str]:
        # a git identity, as a user has one: without it aider writes a placeholder into the repo's shared
        # .git/config at start (which the sandbox refuses: aider then dies of EROFS)
        (home / ".gitconfig").write_text("[user]\n\tname = cortex-test\n\temail = test@cortex.invalid\n")
        return {**base_env(home), "OPENAI_API_KEY": API_KEY, "OPENAI_API_BASE": f"{api.url}/v1"}

    def layout_extra(self) -> dict[str, Any]:
        return {"extra_args": list(self.ARGS)}

    def auto_mode(self) -> str | None:
        return "yes-always"

    def repeat_session(self, cmd: str) -> dict[str, Any]:
        return {"permission_mode": "yes-always", "extra_args": [*self.ARGS, "--auto-test", "--test-cmd", cmd]}

    def failing(self, cmd: str, **kw: Any) -> Step:
        return self.write("src/attempt.py", "x = 1\n", **kw)  # an edit: aider runs its --test-cmd after it

    def fail_session(self) -> dict[str, Any] | None:
        # API errors never end aider non-zero (it reports them; --message then exits 0): its failing exits are
        # its own start checks — here an edit format this version does not know (argparse: exit 2)
        return {"extra_args": [*self.ARGS[:-2], "--edit-format", "no-such-format"]}

    def shell(self, cmd: str, *, ask: bool = True, **kw: Any) -> Step:
        return Step.say(f"I will run it.\n\n```bash\n{cmd}\n```\n", **kw)

    def write(self, path: str, content: str, **kw: Any) -> Step:
        return Step.say(f"Editing it.\n\n{path}\n```\n<<<<<<< SEARCH\n=======\n{content}>>>>>>> REPLACE\n```\n", **kw)


@dataclass
class GeminiDriver(Driver):
    """Gemini CLI: ``GOOGLE_GEMINI_BASE_URL`` at the Gemini API fake with ``GEMINI_API_KEY``; the test HOME's
    ``~/.gemini/settings.json`` selects API-key auth and turns off usage statistics and update checks (the
    adapter trusts the worktree itself through ``GEMINI_CLI_TRUST_WORKSPACE``)."""

    def fake(self, script: list[Step]) -> ScriptedLLM:
        return FakeGemini(script, model_id=self.model)

    def env(self, home: Path, worktree: Path, api: ScriptedLLM) -> dict[str, str]:
        gem = home / ".gemini"
        gem.mkdir(parents=True, exist_ok=True)
        (gem / "settings.json").write_text(json.dumps({
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": False},
            "general": {"disableAutoUpdate": True, "disableUpdateNag": True, "maxAttempts": 1}}), encoding="utf-8")
        return {**base_env(home), "GEMINI_API_KEY": API_KEY, "GOOGLE_GEMINI_BASE_URL": api.url}

    def auto_mode(self) -> str | None:
        return "yolo"

    def shell(self, cmd: str, *, ask: bool = True, **kw: Any) -> Step:
        return Step.call("run_shell_command", {"command": cmd, "description": f"Run {cmd}"}, **kw)

    def write(self, path: str, content: str, **kw: Any) -> Step:
        return Step.call("write_file", {"file_path": path, "content": content}, **kw)


@dataclass
class OpenCodeDriver(Driver):
    """OpenCode: an OpenAI-compatible provider ``fake`` (``@ai-sdk/openai-compatible``, ``baseURL`` at the Chat
    Completions fake) in the test HOME's ``~/.config/opencode/opencode.json``; models.dev is not fetched.
    The adapter adds its plugin through ``OPENCODE_CONFIG_CONTENT``."""

    snapshot: bool = False
    """Keep OpenCode's own worktree snapshots (``CORTEX_OPENCODE_SNAPSHOT=1``; the adapter turns them off)."""

    def fake(self, script: list[Step]) -> ScriptedLLM:
        return OpenCodeFake(script, model_id=self.model.split("/", 1)[1], keep_alive=True)

    def env(self, home: Path, worktree: Path, api: ScriptedLLM) -> dict[str, str]:
        cfg = home / ".config" / "opencode"
        cfg.mkdir(parents=True, exist_ok=True)
        model = self.model.split("/", 1)[1]
        seed = DEV_DIR / "opencode-config"  # scripts/bootstrap.sh --dev: @opencode-ai/plugin, pinned
        if (seed / "node_modules").is_dir():  # else OpenCode npm-installs it into this fresh HOME (30-60 s)
            (cfg / "node_modules").symlink_to(seed / "node_modules")
            ver = json.loads((seed / "node_modules" / "@opencode-ai" / "plugin" / "package.json").read_text())["version"]
            (cfg / "package.json").write_text(json.dumps({"dependencies": {"@opencode-ai/plugin": ver}}))
            shutil.copy(seed / "package-lock.json", cfg / "package-lock.json")
        (cfg / "opencode.json").write_text(json.dumps({
            "provider": {"fake": {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
                                  "options": {"baseURL": f"{api.url}/v1", "apiKey": API_KEY},
                                  "models": {model: {"name": "Fake Coder"}}}},
            "share": "disabled", "autoupdate": False}), encoding="utf-8")
        env = {**base_env(home), "OPENCODE_DISABLE_MODELS_FETCH": "1"}
        return {**env, "CORTEX_OPENCODE_SNAPSHOT": "1"} if self.snapshot else env

    def layout_extra(self) -> dict[str, Any]:
        return {"permission_mode": "ask"}

    def auto_mode(self) -> str | None:
        return "allow"

    def shell(self, cmd: str, *, ask: bool = True, **kw: Any) -> Step:
        return Step.call("bash", {"command": cmd, "description": f"Run {cmd}"}, **kw)

    def write(self, path: str, content: str, **kw: Any) -> Step:
        return Step.call("write", {"filePath": path, "content": content}, **kw)


class OpenCodeFake(FakeChat):
    """OpenCode also asks the model for a session title (a request without tools): answered aside."""

    def take(self, body: dict[str, Any]) -> Step:
        if not body.get("tools"):
            return Step.say("Conformance task", input_tokens=0, output_tokens=0)
        return super().take(body)

    def bill(self, model: str, step: Step) -> None:
        if step.input_tokens or step.output_tokens:
            super().bill(model, step)


_ALL = ("approve", "deny", "repeated_error", "silence", "out_of_scope_scope", "out_of_scope_worktree", "usage",
        "exit_finished", "exit_failed")


@dataclass
class NotYetDriver(Driver):
    """An installed CLI the suite does not drive yet: every scenario skips, saying so (never a silent pass)."""

    why: str = ""

    def available(self) -> str | None:
        return f"{self.kind}: not done — {self.why}"


DRIVERS: dict[str, Driver] = {
    "gemini": GeminiDriver("gemini", "gemini-2.5-pro"),
    "opencode": OpenCodeDriver("opencode", "fake/fake-coder", start_s=60.0),  # 20-50 s to boot on a loaded 2-core box
    "aider": AiderDriver("aider", "openai/fake-coder", usage_headless=True, reports_cache=False, start_s=30.0,
                         only_written_flagged=True),
    "claude-code": ClaudeDriver("claude-code", MODEL),
    "codex": CodexDriver("codex", "gpt-5-codex"),
}


D = TypeVar("D", bound=Driver)


def driver(agent: str, kind: type[D], **changes: Any) -> D:
    """``agent``'s driver with ``changes`` (dataclass fields); the test skips, saying why, when its CLI cannot run."""
    base = DRIVERS[agent]
    assert isinstance(base, kind)
    why = base.available()
    if why:
        pytest.skip(why)
    return dataclasses.replace(base, **changes)
