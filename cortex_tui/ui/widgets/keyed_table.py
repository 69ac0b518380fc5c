"""A small keyed table (review queue, best-of scores): a :class:`KeyedGrid` sized to its rows."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from cortex_tui.ui.widgets.grid import GridColumn, KeyedGrid


class KeyedTable(KeyedGrid):
    """Rows keyed by a string, shown in the order :meth:`apply` gives; the cursor stays on its key.

    Knows nothing about sessions or variants: callers hand it finished cells.
    """

    DEFAULT_CSS = """
    KeyedTable {
        height: auto;
        max-height: 50%;
    }
    """

    def __init__(self, columns: Sequence[tuple[str, str, int]], *, key_column: str, id: str | None = None) -> None:
        super().__init__([GridColumn(key, label, width) for key, label, width in columns], id=id)
        self.key_column = key_column
        """The column whose text names the row (kept for callers that show it)."""

    def apply(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Make the table show exactly ``rows`` (key, cells), in that order."""
        with self.app.batch_update():
            self.apply_rows(rows)
