"""``U`` in the TUI: after the run's tmux server died, bring its sessions back — what ``cortex-tui up`` does
(the server again, the sessions that failed because it went away, then their dependents)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from textual.app import App

from cortex_tui.engine.events import Event
from cortex_tui.engine.reattach import SERVER_GONE

KEY = "U"
HINT = f"the tmux server of this run went away: press {KEY} to bring its sessions back"


@runtime_checkable
class RevivesSessions(Protocol):
    """An engine that can start the run's tmux server and its lost sessions again."""

    async def revive_sessions(self) -> list[str]: ...


def server_gone(ev: Event) -> bool:
    """A session failed because the run's tmux server died (the event the TUI offers the key on)."""
    return ev.kind == "state" and ev.data.get("state") == "failed" and str(ev.data.get("reason") or "").startswith(
        SERVER_GONE)


async def revive(app: App[None], engine: object) -> list[str]:
    """Run the engine's revive and say what happened (a notification either way)."""
    if not isinstance(engine, RevivesSessions):
        app.notify("this engine cannot restart the run's tmux server; run `cortex-tui up` in a shell",
                   title="bring back", severity="error", timeout=8)
        return []
    names = await engine.revive_sessions()
    if names:
        app.notify(f"bringing back {len(names)} session(s): {', '.join(names)}", title="bring back", timeout=6,
                   markup=False)
    else:
        app.notify("nothing to bring back: no session failed because the tmux server went away",
                   title="bring back", timeout=6)
    return names
