"""A keyed, line-cached table: each row is rendered once per change, a repaint only copies cached strips.

Textual's ``DataTable`` re-renders every visible cell whenever anything in the table changed (its line
cache is keyed by a table-wide update counter) and again after a screen switch; at 100 live sessions that
cost 20–70 ms per frame. :class:`KeyedGrid` keeps one rendered strip per (row, look) instead:

* a cell update re-renders that row only, and repaints that one line if it is on screen;
* a cursor move repaints two lines;
* a full repaint (screen switch, scroll) copies ~40 cached strips.

Rows are addressed by string keys and shown in a caller-given order. The grid knows nothing about
sessions: callers hand it finished :class:`~rich.text.Text` cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

CELL_PADDING = 1
"""Blank columns on each side of a cell."""


@dataclass(frozen=True)
class GridColumn:
    key: str
    label: str
    width: int
    """Content width, without padding."""


class GridMessage(Message):
    """Something happened to a row or column (``key``) of a :class:`KeyedGrid`."""

    def __init__(self, grid: KeyedGrid, key: str) -> None:
        super().__init__()
        self.grid = grid
        self.key = key

    @property
    def control(self) -> KeyedGrid:
        return self.grid


class KeyedGrid(ScrollView, can_focus=True):
    """Rows keyed by strings, a row cursor, a fixed header; renders from per-row strip caches."""

    ALLOW_MAXIMIZE = True
    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "scroll_top", "Top", show=False),
        Binding("end,G", "scroll_bottom", "Bottom", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
        Binding("enter", "select_cursor", "Select", show=False),
    ]

    COMPONENT_CLASSES = {"grid--header", "grid--cursor", "grid--even-row", "grid--odd-row"}

    DEFAULT_CSS = """
    KeyedGrid {
        background: $surface;
        color: $foreground;
        height: 1fr;
        &:focus {
            background-tint: $foreground 5%;
            & > .grid--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .grid--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .grid--even-row {
            background: $surface-darken-1 40%;
        }
        & > .grid--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .grid--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .grid--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .grid--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    class RowHighlighted(GridMessage):
        """The cursor moved to another row (``key``)."""

    class RowSelected(GridMessage):
        """Enter (or a click on the cursor row) chose row ``key``."""

    class HeaderSelected(GridMessage):
        """The header of column ``key`` was clicked."""

        @property
        def column(self) -> str:
            return self.key

    def __init__(self, columns: Sequence[GridColumn], *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.columns: tuple[GridColumn, ...] = tuple(columns)
        self._col_index = {c.key: i for i, c in enumerate(self.columns)}
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._order: list[str] = []
        self._pos: dict[str, int] = {}
        self._cursor = 0
        self._segments: dict[str, list[Segment]] = {}
        """Rendered content of a row (cell styles only, no row background), full table width."""
        self._cell_segs: dict[tuple[str, int], tuple[Text, list[Segment]]] = {}
        """(row key, column index) -> (the cell object, its rendering): a row re-renders only changed cells."""
        self._strips: dict[tuple[str, str, bool], Strip] = {}
        """(row key, look, focused) -> finished strip; look is 'even', 'odd' or 'cursor'."""
        self._headers: dict[bool, Strip] = {}
        self._styles: dict[tuple[str, bool], Style] = {}
        """(look, focused) -> base style under the cells (the widget's own style plus the look's)."""
        self._width = 0
        """Width of the visible content (without scrollbar), as the strips were built for."""
        self._last_highlighted: str | None = None
        self.cursor_moved = False
        """Whether the cursor was ever moved on purpose (keys, mouse, :meth:`focus_key`)."""
        self.renders = 0
        """Rows rendered from their cells (tests and the benchmark read this)."""

    # ------------------------------------------------------------------ queries
    @property
    def table_width(self) -> int:
        return sum(c.width + 2 * CELL_PADDING for c in self.columns)

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def cursor_row(self) -> int:
        return self._cursor if self._order else -1

    @property
    def current_key(self) -> str | None:
        """Key of the row under the cursor."""
        return self._order[self._cursor] if self._order else None

    @property
    def _first_key(self) -> str | None:
        return self._order[0] if self._order else None

    def keys_in_order(self) -> list[str]:
        return list(self._order)

    def get_row(self, key: str) -> list[Text]:
        """The cells of a row (KeyError when there is no such row)."""
        return list(self._cells[key])

    def cell(self, key: str, column: str) -> Text:
        """One cell (KeyError when there is no such row or column)."""
        return self._cells[key][self._col_index[column]]

    def cell_text(self, key: str, column: str) -> str:
        """Plain text of one cell ('' when there is no such row)."""
        cells = self._cells.get(key)
        return "" if cells is None else cells[self._col_index[column]].plain

    # ------------------------------------------------------------------ updates
    def upsert(self, key: str, cells: Sequence[Text]) -> int:
        """Add a row (at the end) or update its changed cells; returns how many cells changed."""
        new = tuple(cells)
        if len(new) != len(self.columns):
            raise ValueError(f"row {key!r} has {len(new)} cells, the grid has {len(self.columns)} columns")
        old = self._cells.get(key)
        if old is None:
            self._cells[key] = new
            self._pos[key] = len(self._order)
            self._order.append(key)
            self._sync_size()
            self._refresh_row(key)
            return len(new)
        merged = tuple(a if a == b else b for a, b in zip(old, new, strict=True))
        changed = sum(1 for a, b in zip(old, merged, strict=True) if a is not b)
        if changed:
            self._cells[key] = merged  # unchanged cells keep their object: their rendering is reused
            self._refresh_row(key)
        return changed

    def update_cell(self, key: str, column: str, value: Text) -> None:
        cells = list(self._cells[key])
        cells[self._col_index[column]] = value
        self._cells[key] = tuple(cells)
        self._refresh_row(key)

    def remove_row(self, key: str) -> None:
        if key not in self._cells:
            return
        keep = self.current_key
        del self._cells[key]
        self._segments.pop(key, None)
        for i in range(len(self.columns)):
            self._cell_segs.pop((key, i), None)
        self._drop_strips(key)
        self._order.remove(key)
        self._reindex()
        self._sync_size()
        if keep is not None and keep != key:
            self._cursor = self._pos[keep]
        self._cursor = max(0, min(self._cursor, len(self._order) - 1))
        self.refresh()
        self._announce()

    def clear(self) -> None:
        self._cells.clear()
        self._order.clear()
        self._pos.clear()
        self._segments.clear()
        self._cell_segs.clear()
        self._strips.clear()
        self._cursor = 0
        self._sync_size()
        self.refresh()

    def set_order(self, keys: Sequence[str], *, follow: str | None = None) -> None:
        """Show the rows in this order (every current key exactly once).

        The cursor moves with row ``follow`` (default: the row under it); without one it stays put.
        """
        if list(keys) == self._order:
            return
        if sorted(keys) != sorted(self._order):
            raise ValueError("set_order needs exactly the grid's keys")
        keep = follow if follow is not None else self.current_key
        self._order = list(keys)
        self._reindex()
        if keep is not None and keep in self._pos:
            self._cursor = self._pos[keep]
        self._scroll_cursor_into_view()
        self.refresh()

    def apply_rows(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Make the grid show exactly ``rows`` (key, cells), in that order; the cursor stays on its key."""
        keep = self.current_key
        wanted = {k for k, _ in rows}
        for gone in [k for k in self._order if k not in wanted]:
            self.remove_row(gone)
        for key, cells in rows:
            self.upsert(key, cells)
        self.set_order([k for k, _ in rows], follow=keep if keep in wanted else self._first_key)
        self._announce()

    # ------------------------------------------------------------------ cursor
    def move_cursor(self, row: int, *, animate: bool = False) -> None:
        if not self._order:
            return
        self.cursor_moved = True
        row = max(0, min(row, len(self._order) - 1))
        if row != self._cursor:
            old = self._cursor
            self._cursor = row
            self._refresh_index(old)
            self._refresh_index(row)
        self._scroll_cursor_into_view(animate=animate)
        self._announce()

    def focus_key(self, key: str) -> bool:
        """Move the cursor to the row of ``key``."""
        if key not in self._pos:
            return False
        self.move_cursor(self._pos[key])
        return True

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self._cursor - max(1, self._body_height - 1))

    def action_page_down(self) -> None:
        self.move_cursor(self._cursor + max(1, self._body_height - 1))

    def action_scroll_top(self) -> None:
        self.move_cursor(0)

    def action_scroll_bottom(self) -> None:
        self.move_cursor(len(self._order) - 1)

    def action_select_cursor(self) -> None:
        key = self.current_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def _announce(self) -> None:
        key = self.current_key
        if key is not None and key != self._last_highlighted:
            self._last_highlighted = key
            self.post_message(self.RowHighlighted(self, key))

    @property
    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_cursor_into_view(self, animate: bool = False) -> None:
        if not self._order:
            return
        top = round(self.scroll_y)
        height = self._body_height
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=animate, immediate=True)
        elif self._cursor >= top + height:
            self.scroll_to(y=self._cursor - height + 1, animate=animate, immediate=True)

    # ------------------------------------------------------------------ mouse
    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = event.x + round(self.scroll_x)
            for col in self.columns:
                x -= col.width + 2 * CELL_PADDING
                if x < 0:
                    self.post_message(self.HeaderSelected(self, col.key))
                    return
            return
        index = round(self.scroll_y) + event.y - 1
        if 0 <= index < len(self._order):
            if index == self._cursor or event.chain > 1:
                self.move_cursor(index)
                self.action_select_cursor()
            else:
                self.move_cursor(index)

    # ------------------------------------------------------------------ rendering
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._forget_looks()
        self.refresh()

    def _forget_looks(self) -> None:
        self._strips.clear()
        self._headers.clear()
        self._styles.clear()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        changed = super()._size_updated(size, virtual_size, container_size, layout)
        self._sync_size()  # the scrollbars may have come or gone: the visible width may differ
        return changed

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self._width
        if y == 0:
            strip = self._header_strip()
        else:
            index = scroll_y + y - 1
            if not 0 <= index < len(self._order):
                return Strip.blank(width, self._look("blank"))
            strip = self._row_strip(self._order[index], index)
        if scroll_x == 0 and strip.cell_length == width:
            return strip
        return strip.crop_extend(scroll_x, scroll_x + width, self._look("blank"))

    def _look(self, look: str) -> Style:
        focused = self.has_focus
        style = self._styles.get((look, focused))
        if style is None:
            component = {"header": "grid--header", "cursor": "grid--cursor", "even": "grid--even-row",
                         "odd": "grid--odd-row"}.get(look)
            style = self.rich_style
            if component is not None:
                style += self.get_component_rich_style(component)
            self._styles[(look, focused)] = style
        return style

    def _header_strip(self) -> Strip:
        focused = self.has_focus
        strip = self._headers.get(focused)
        if strip is None:
            segs: list[Segment] = []
            for col in self.columns:
                segs.extend(self._cell_segments(Text(col.label, no_wrap=True, overflow="ellipsis"), col.width))
            strip = self._headers[focused] = self._finish(segs, self._look("header"))
        return strip

    def _row_strip(self, key: str, index: int) -> Strip:
        look = "cursor" if index == self._cursor else ("odd" if index % 2 else "even")
        focused = self.has_focus
        strip = self._strips.get((key, look, focused))
        if strip is None:
            segs = self._segments.get(key)
            if segs is None:
                segs = self._segments[key] = self._render_row(key)
            strip = self._strips[(key, look, focused)] = self._finish(segs, self._look(look))
        return strip

    def _finish(self, segs: list[Segment], base: Style) -> Strip:
        """Lay ``base`` under the cells' own styles and extend the row to the widget's width."""
        width = max(self.table_width, self._width)
        line = list(Segment.apply_style(segs, base))
        pad = width - self.table_width
        if pad > 0:
            line.append(Segment(" " * pad, base))
        return Strip(line, width)

    def _render_row(self, key: str) -> list[Segment]:
        self.renders += 1
        segs: list[Segment] = []
        cache = self._cell_segs
        for i, (col, cell) in enumerate(zip(self.columns, self._cells[key], strict=True)):
            hit = cache.get((key, i))
            if hit is None or hit[0] is not cell:
                hit = cache[(key, i)] = (cell, self._cell_segments(cell, col.width))
            segs.extend(hit[1])
        return segs

    def _cell_segments(self, cell: Text, width: int) -> list[Segment]:
        text = cell.copy()
        text.no_wrap = True
        text.end = ""
        if "\n" in text.plain:
            text = text.split("\n")[0]
        text.truncate(width, overflow="ellipsis")
        justify = cell.justify if cell.justify in ("right", "center") else "left"
        text.align(justify, width)
        pad = Segment(" " * CELL_PADDING)
        console = self.app.console
        if text.spans:
            body = list(text.render(console))
        else:  # Text.render drops the base style of a span-less text
            body = [Segment(text.plain, console.get_style(text.style, default=Style.null()))]
        return [pad, *body, pad]

    # ------------------------------------------------------------------ internals
    def _reindex(self) -> None:
        self._pos = {k: i for i, k in enumerate(self._order)}

    def _sync_size(self) -> None:
        size = Size(self.table_width, len(self._order) + 1)
        if size != self.virtual_size:
            self.virtual_size = size
        width = self.scrollable_content_region.width
        if width != self._width:
            self._width = width
            self._strips.clear()
            self._headers.clear()

    def _drop_strips(self, key: str) -> None:
        for look in ("even", "odd", "cursor"):
            self._strips.pop((key, look, True), None)
            self._strips.pop((key, look, False), None)

    def _refresh_row(self, key: str) -> None:
        self._segments.pop(key, None)
        self._drop_strips(key)
        self._refresh_index(self._pos[key])

    def _refresh_index(self, index: int) -> None:
        y = index - round(self.scroll_y) + 1
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))
