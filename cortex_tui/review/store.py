"""``coordination/runs/<run>/review.json``: atomic writes, a lock around read-modify-write."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from cortex_tui.errors import StateError
from cortex_tui.review.models import ReviewDoc
from cortex_tui.store.files import atomic_write


class ReviewStore:
    """The review queue file of one run. Use :meth:`edit` for every change (engine and CLI both write)."""

    def __init__(self, run_dir: Path, run: str) -> None:
        self.run = run
        self.dir = run_dir
        self.path = run_dir / "review.json"
        self.lock_path = run_dir / "review.lock"
        self.verify_dir = run_dir / "verify"

    def load(self) -> ReviewDoc:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ReviewDoc(run=self.run)
        try:
            return ReviewDoc.model_validate_json(text)
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise StateError(f"{self.path}: unreadable review queue (field '{loc}': {first['msg']})",
                             "move the file aside; the queue is rebuilt as sessions finish") from None

    def save(self, doc: ReviewDoc) -> None:
        atomic_write(self.path, doc.model_dump_json(indent=1))

    @contextmanager
    def locked(self) -> Iterator[None]:
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
            doc = self.load()
            yield doc
            self.save(doc)
