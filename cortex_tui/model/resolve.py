"""One ``[[session]]`` of a layout as it runs: its ``[[route]]`` applied, then ``[defaults]`` (model/routes.py, model/layout.py).

Apart from model/layout.py so that the layout's models do not import the routes that read them.
"""

from __future__ import annotations

from typing import Any

from cortex_tui.model.layout import TRIGGER_KINDS, Layout, ResolvedSession, SessionSpec
from cortex_tui.model.routes import apply_route

__all__ = ["resolve_session"]


def resolve_session(layout: Layout, spec: SessionSpec) -> ResolvedSession:
    """Apply the first matching ``[[route]]``, then ``[defaults]`` (and the run's verify) to one session."""
    d = layout.defaults
    spec, route = apply_route(layout, spec)

    def pick(field: str, fallback: Any) -> Any:
        v = getattr(spec, field)
        if v is None:
            v = getattr(d, field)
        return fallback if v is None else v

    on_trigger: dict[str, str] = {k: "notify" for k in TRIGGER_KINDS}
    on_trigger.update({str(k): str(v) for k, v in (d.on_trigger or {}).items()})
    on_trigger.update({str(k): str(v) for k, v in (spec.on_trigger or {}).items()})
    env = dict(d.env or {})
    env.update(spec.env or {})
    return ResolvedSession(
        name=spec.name,
        agent=pick("agent", "shell" if spec.command else "sim"),
        prompt=spec.prompt,
        scope=list(spec.scope),
        depends_on=list(spec.depends_on),
        node=spec.node,
        env=env,
        command=spec.command,
        script=spec.script,
        model=pick("model", None),
        permission_mode=pick("permission_mode", None),
        verify=pick("verify", layout.run.verify),
        budget_usd=pick("budget_usd", None),
        budget_tokens=pick("budget_tokens", None),
        timeout=pick("timeout", None),
        memory_limit=pick("memory_limit", None),
        silence_after=pick("silence_after", 600.0),
        silence_cpu_percent=pick("silence_cpu_percent", 5.0),
        error_repeats=pick("error_repeats", 3),
        error_window=pick("error_window", 600.0),
        scope_mode=pick("scope_mode", "warn"),
        on_trigger=on_trigger,
        restart=pick("restart", None),
        extra_args=list(pick("extra_args", [])),
        ignore=list(pick("ignore", [])),
        start_after=spec.start_after,
        handover_preamble=spec.handover_preamble,
        setup=list(pick("setup", [])),
        teardown=list(pick("teardown", [])),
        include=list(pick("include", [])),
        include_mode=pick("include_mode", "copy"),
        ports=pick("ports", 0),
        sandbox=pick("sandbox", "none"),
        network=pick("network", "host"),
        setup_timeout=pick("setup_timeout", 600.0),
        labels=list(spec.labels),
        route=route,
    )
