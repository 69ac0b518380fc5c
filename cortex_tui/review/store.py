"""``coordination/runs/<run>/review.json``: atomic writes, a lock around read-modify-write."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from cortex_tui.errors import StateError
from cortex_tui.review.models import ReviewDoc
from cortex_tui.store.files import atomic_write, io_at

Rebuild = Callable[[], ReviewDoc]
"""Makes the document anew from the run's finished sessions (see :mod:`cortex_tui.review.rebuild`)."""


class ReviewStore:
    """The review queue file of one run. Use :meth:`edit` for every change (engine and CLI both write).

    With a ``rebuild`` function, a missing or unreadable file is rebuilt (the unreadable one is kept as
    ``review.json.broken-<time>``) and ``on_rebuilt`` is told what happened; without one, an unreadable
    file is a :class:`StateError` naming it.
    """

    def __init__(self, run_dir: Path, run: str, *, rebuild: Rebuild | None = None,
                 on_rebuilt: Callable[[str], None] | None = None) -> None:
        self.run = run
        self.dir = run_dir
        self.path = run_dir / "review.json"
        self.lock_path = run_dir / "review.lock"
        self.verify_dir = run_dir / "verify"
        self.rebuild = rebuild
        self.on_rebuilt = on_rebuilt
        self._held = False

    def _read(self) -> ReviewDoc | str | None:
        """The document; None when there is no file; a reason (str) when it cannot be read."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return ReviewDoc.model_validate_json(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            return f"not UTF-8 (byte {e.start})"
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            return f"field '{loc}': {first['msg']}" if loc else str(first["msg"])

    def load(self) -> ReviewDoc:
        got = self._read()
        if isinstance(got, ReviewDoc):
            return got
        if self.rebuild is None:
            if got is None:
                return ReviewDoc(run=self.run)
            raise StateError(f"{self.path}: unreadable review queue ({got})",
                             "move the file aside; the queue is rebuilt from the run's finished sessions")
        if self._held:
            return self._rebuild(got)
        with self.locked():
            again = self._read()  # another process may have rebuilt it meanwhile
            return again if isinstance(again, ReviewDoc) else self._rebuild(again)

    def _rebuild(self, why: str | None) -> ReviewDoc:
        assert self.rebuild is not None
        doc = self.rebuild()
        if why is None and not doc.entries:
            return doc  # nothing has finished yet: no file is the normal case
        kept = ""
        if why is not None:
            aside = self.path.with_name(f"{self.path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(self.path, aside)
            kept = f"; the unreadable file is kept as {aside}"
        self.save(doc)
        msg = (f"{self.path} was {'unreadable (' + why + ')' if why else 'missing'}: rebuilt from the run's "
               f"finished sessions and their branches ({len(doc.entries)} entr{'y' if len(doc.entries) == 1 else 'ies'})"
               f"{kept}")
        if self.on_rebuilt is not None:
            self.on_rebuilt(msg)
        return doc

    def save(self, doc: ReviewDoc) -> None:
        atomic_write(self.path, doc.model_dump_json(indent=1))

    @contextmanager
    def locked(self) -> Iterator[None]:
        with io_at(self.lock_path, "taking the review lock"):
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextmanager
    def edit(self) -> Iterator[ReviewDoc]:
        """Lock, load, yield the document, save it if the block did not raise."""
        with self.locked():
            self._held = True
            try:
                doc = self.load()
            finally:
                self._held = False
            yield doc
            self.save(doc)
