"""The changed files of a branch, one option each, out-of-scope files marked."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option


class FileList(OptionList):
    """Pick a file to see its diff. Callers hand it finished labels keyed by path."""

    DEFAULT_CSS = """
    FileList {
        height: auto;
        max-height: 10;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._paths: tuple[str, ...] = ()

    @property
    def current_path(self) -> str | None:
        idx = self.highlighted
        if idx is None or not (0 <= idx < len(self._paths)):
            return None
        return self._paths[idx]

    def show_files(self, files: Sequence[tuple[str, Text]], keep: str | None = None) -> None:
        """Replace the options with ``files`` (path, label); highlight ``keep`` if listed, else the first."""
        paths = tuple(p for p, _ in files)
        if paths == self._paths and self.option_count:
            return
        self._paths = paths
        self.clear_options()
        self.add_options([Option(label, id=path) for path, label in files])
        if paths:
            self.highlighted = paths.index(keep) if keep in paths else 0
