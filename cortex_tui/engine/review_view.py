"""What the review desk answers (the TUI, the CLI and the API read these, never the review library itself).

Plain pydantic models, so the same answers cross the local API unchanged: the TUI's review and compare
screens work the same on a supervisor in this process and on one behind ``api/remote_engine.py``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from cortex_tui.review.models import QueueEntry


class QueueView(BaseModel):
    """The review queue of a run as stored (entries in no particular order) and the base they merge into."""

    base: str
    entries: list[QueueEntry] = Field(default_factory=list)


class BranchDiff(BaseModel):
    """One session's diff against the base. After its merge the branch has no diff of its own: ``text`` is the
    diff recorded when it was queued, or empty with ``gone`` set when those commits no longer exist."""

    session: str
    text: str = ""
    merged: bool = False
    gone: bool = False


class Decision(BaseModel):
    """What a review command did: ``summary`` is the sentence a front end shows."""

    session: str
    decision: str
    """approve, reject, request_changes, reverify."""
    summary: str
    entry: QueueEntry | None = None
    refreshed: list[str] = Field(default_factory=list)
    """Approve: other entries whose conflict check was re-run after the merge."""
