"""Mirroring a polled session into its local files (log, events, transcripts, exit code).

What a node poll brought is appended to the *local* files of the session, so the engine's ordinary
watcher, rules and re-attach logic apply unchanged. Offsets live in the session record, so after an
outage (or a supervisor restart) the poll catches up exactly.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cortex_tui.backends.node import SessionPaths
from cortex_tui.backends.remote_poll import PollResult
from cortex_tui.model.state import SessionRecord
from cortex_tui.private import open_private
from cortex_tui.store.files import atomic_write


def mirror_path(session_dir: Path, remote_path: str) -> Path:
    """Where a node file (an agent transcript) is mirrored for the adapter to read locally."""
    name = Path(remote_path).name or "file"
    return session_dir / "mirror" / f"{hashlib.sha1(remote_path.encode()).hexdigest()[:12]}-{name}"


def mirror(rec: SessionRecord, paths: SessionPaths, res: PollResult) -> None:
    """Append what ``res`` brought to the session's local files and advance the record's offsets."""
    if res.log:
        with open_private(paths.log) as f:
            f.write(res.log)
        rec.remote_log_offset += len(res.log)
    for path, data in res.files.items():
        local = mirror_path(paths.session_dir, path)
        local.parent.mkdir(parents=True, exist_ok=True)
        with open_private(local) as f:
            f.write(data)
        rec.remote_files[path] = rec.remote_files.get(path, 0) + len(data)
    if res.events:
        end = res.events.rfind(b"\n") + 1  # only whole lines; the rest comes with the next poll
        if end:
            paths.events.parent.mkdir(parents=True, exist_ok=True)
            with open_private(paths.events) as f:
                f.write(localize(rec, paths.session_dir, res.events[:end]))
            rec.remote_events_offset += end
    if res.exit_code is not None:
        atomic_write(paths.exit, f"{res.exit_code}\n")


def localize(rec: SessionRecord, session_dir: Path, data: bytes) -> bytes:
    """Event lines naming a file on the node (Claude Code's ``transcript_path``) get the local mirror's
    path instead, and the file is mirrored from then on, so usage is read as for a local session."""
    if b"transcript_path" not in data:
        return data
    out: list[bytes] = []
    for line in data.splitlines(keepends=True):
        try:
            ev = json.loads(line)
        except ValueError:  # not an event: passed on as it is (the reader skips it and says so)
            out.append(line)
            continue
        payload = ev.get("payload") if isinstance(ev, dict) else None
        if not isinstance(payload, dict):
            out.append(line)
            continue
        path = payload.get("transcript_path")
        if isinstance(path, str) and path:
            rec.remote_files.setdefault(path, 0)
            payload["transcript_path"] = str(mirror_path(session_dir, path))
            line = (json.dumps(ev) + "\n").encode()
        out.append(line)
    return b"".join(out)
