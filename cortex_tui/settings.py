"""The user's own settings: ``$XDG_CONFIG_HOME/cortex-tui/config.toml`` (``~/.config/…``), or the file named
by ``CORTEX_TUI_CONFIG``. Optional; a malformed file is an error naming file, line and field."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cortex_tui.errors import CortexError
from cortex_tui.model.notify import NotifySpec

ENV_VAR = "CORTEX_TUI_CONFIG"


class UserConfig(BaseModel):
    """What a user may set once for every run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notify: list[NotifySpec] = Field(default_factory=list)
    """Notification sinks used by every run (in addition to a layout's own ``[[notify]]``)."""
    terminal_notify: bool | Literal["osc9", "osc777", "bell"] = False
    """The TUI rings the terminal bell and sends a desktop notification through the terminal when a trigger
    fires: ``true`` picks OSC 9 or OSC 777 for the terminal, ``"osc9"``/``"osc777"`` force one, ``"bell"``
    only rings (see ``notify/terminal.py``)."""


def config_path() -> Path:
    """Where the user config lives (it need not exist)."""
    if env := os.environ.get(ENV_VAR):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cortex-tui" / "config.toml"


def load_user_config(path: Path | None = None) -> UserConfig:
    """The user config, or the defaults when there is no file."""
    p = path or config_path()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UserConfig()
    except (OSError, UnicodeDecodeError) as e:
        raise CortexError(f"cannot read the user config {p}: {e}", f"fix or remove it (or point {ENV_VAR} elsewhere)") from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CortexError(f"{p}: {e}", "the user config must be TOML") from e
    try:
        return UserConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        line = _line_of(text, str(err["loc"][0])) if err["loc"] else 1
        raise CortexError(f"{p}:{line}: field '{field}': {err['msg']}", "see docs/notify.md") from e


def _line_of(text: str, key: str) -> int:
    for i, ln in enumerate(text.splitlines(), 1):
        s = ln.strip()
        if s.startswith((key, f"[{key}", f"[[{key}")):
            return i
    return 1
