"""Models of notification sinks (``[[notify]]`` in a layout or in the user config file)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from cortex_tui.durations import parse_duration

Severity = Literal["info", "warning", "attention", "error"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "attention": 2, "error": 3}

NOTIFY_KINDS: tuple[str, ...] = (
    "approval_waiting", "silence", "repeated_error", "out_of_scope", "overlap", "exited", "budget", "memory",
    "idle", "run_done", "run_budget", "engine_error",
)
"""What a sink can ask for: the trigger kinds, plus ``idle`` (a turn ended), ``run_done``, ``run_budget``
(the run's budget warning/exceeded) and ``engine_error``."""

DEFAULT_ON: tuple[str, ...] = ("approval_waiting", "silence", "repeated_error", "exited", "budget", "run_done")

_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def _duration(v: Any) -> float:
    return parse_duration(v)


class NotifySpec(BaseModel):
    """One notification sink."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    """Any apprise URL: ``json://127.0.0.1:8099/hook``, ``ntfy://topic``, ``slack://…``, ``mailto://…``,
    ``dbus://``. Secrets in it never reach logs or events (only its scheme is shown)."""
    on: list[str] = Field(default_factory=lambda: list(DEFAULT_ON))
    """Trigger kinds and states this sink wants (see ``NOTIFY_KINDS``)."""
    min_severity: Severity = "info"
    """Leave out triggers below this severity (info < warning < attention < error)."""
    digest_window: Annotated[float, BeforeValidator(_duration)] = 0.5
    """Notifications raised within this window of the first one go out as one digest."""
    max_per_minute: int = Field(default=6, ge=1)
    """At most this many messages a minute to this sink; the rest wait and are merged into one digest."""
    quiet_hours: str | None = None
    """``"22:00-07:00"`` (local time): hold notifications meanwhile, send one digest when the hours end."""
    timeout: Annotated[float, BeforeValidator(_duration)] = 5.0
    """Seconds a delivery may take before it counts as failed."""

    @field_validator("on")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for k in v:
            if k not in NOTIFY_KINDS:
                raise ValueError(f"unknown notification kind {k!r} (one of: {', '.join(NOTIFY_KINDS)})")
        return v

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is not None and not _QUIET.match(v):
            raise ValueError(f"quiet_hours must look like '22:00-07:00', not {v!r}")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if "://" not in v:
            raise ValueError(f"not an apprise URL (scheme://…): {redact_url(v)!r}")
        return v

    def quiet_at(self, minutes_of_day: int) -> bool:
        """Whether ``minutes_of_day`` (0..1439, local time) falls inside the quiet hours."""
        if self.quiet_hours is None:
            return False
        m = _QUIET.match(self.quiet_hours)
        assert m is not None
        start = int(m[1]) * 60 + int(m[2])
        end = int(m[3]) * 60 + int(m[4])
        if start <= end:
            return start <= minutes_of_day < end
        return minutes_of_day >= start or minutes_of_day < end


def redact_url(url: str) -> str:
    """The part of a sink URL that is safe to show: its scheme (tokens and passwords live in the rest)."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://…" if sep else "…"
