"""KeyedGrid (the line-cached table under the dashboard, review and compare tables), in a real Textual app."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.message import Message

from cortex_tui.ui.widgets.grid import GridColumn, KeyedGrid
from cortex_tui.ui.widgets.key_bar import KeyBar

COLUMNS = [GridColumn("name", "Name", 10), GridColumn("value", "Value", 6), GridColumn("note", "Note", 30)]


def row(i: int, value: str = "") -> list[Text]:
    return [Text(f"row-{i:02d}"), Text(value or str(i), justify="right"), Text(f"note {i}", style="bold")]


class GridApp(App[None]):
    BINDINGS = [("x", "bell", "Ring")]

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.messages: list[Message] = []

    def compose(self) -> ComposeResult:
        yield KeyedGrid(COLUMNS, id="grid")
        yield KeyBar()

    def on_mount(self) -> None:
        self.grid.apply_rows([(f"k{i}", row(i)) for i in range(self.n)])
        self.grid.focus()

    @property
    def grid(self) -> KeyedGrid:
        return self.query_one(KeyedGrid)

    def on_keyed_grid_row_selected(self, m: KeyedGrid.RowSelected) -> None:
        self.messages.append(m)

    def on_keyed_grid_header_selected(self, m: KeyedGrid.HeaderSelected) -> None:
        self.messages.append(m)

    def on_keyed_grid_row_highlighted(self, m: KeyedGrid.RowHighlighted) -> None:
        self.messages.append(m)


def lines(grid: KeyedGrid) -> list[str]:
    return [grid.render_line(y).text for y in range(grid.size.height)]


async def test_renders_header_and_rows_aligned_and_pads_justified_cells() -> None:
    app = GridApp(3)
    async with app.run_test(size=(60, 10)) as pilot:
        await pilot.pause(0.05)
        shown = lines(app.grid)
        # each cell: 1 blank, the content padded to the column width, 1 blank
        assert shown[0][:12] == " Name       " and shown[0][12:20] == " Value  " and shown[0][20:26] == " Note "
        assert shown[1][:12] == " row-00     " and shown[1][12:20] == "      0 "  # "Value" is right-justified
        assert shown[1][20:28] == " note 0 "
        assert all(len(ln) == shown[0].__len__() for ln in shown)
        assert shown[4].strip() == ""  # below the rows: blank


async def test_cursor_keys_page_and_scroll_keep_the_cursor_visible() -> None:
    app = GridApp(50)
    async with app.run_test(size=(60, 12)) as pilot:
        grid = app.grid
        await pilot.press("down", "down", "j")
        assert grid.cursor_row == 3 and grid.current_key == "k3"
        await pilot.press("k")
        assert grid.current_key == "k2"
        await pilot.press("pagedown")
        assert grid.cursor_row > 2
        await pilot.press("end")
        await pilot.pause(0.05)
        assert grid.current_key == "k49"
        top = round(grid.scroll_y)
        assert top <= 49 < top + grid.size.height - 1  # the last row is on screen
        assert any("row-49" in ln for ln in lines(grid))
        await pilot.press("home")
        await pilot.pause(0.05)
        assert grid.cursor_row == 0 and round(grid.scroll_y) == 0
        highlighted = [m.key for m in app.messages if isinstance(m, KeyedGrid.RowHighlighted)]
        assert highlighted[-1] == "k0" and "k49" in highlighted


async def test_mouse_header_click_row_click_and_select() -> None:
    app = GridApp(5)
    async with app.run_test(size=(60, 10)) as pilot:
        grid = app.grid
        await pilot.click(KeyedGrid, offset=(14, 0))  # header of the second column
        assert [m.column for m in app.messages if isinstance(m, KeyedGrid.HeaderSelected)] == ["value"]
        await pilot.click(KeyedGrid, offset=(3, 3))  # third row: moves the cursor only
        assert grid.current_key == "k2"
        assert not [m for m in app.messages if isinstance(m, KeyedGrid.RowSelected)]
        await pilot.click(KeyedGrid, offset=(3, 3))  # the cursor row again: selects it
        await pilot.press("enter")
        assert [m.key for m in app.messages if isinstance(m, KeyedGrid.RowSelected)] == ["k2", "k2"]


async def test_updates_rerender_only_changed_rows_and_order_follows_the_cursor() -> None:
    app = GridApp(6)
    async with app.run_test(size=(60, 12)) as pilot:
        grid = app.grid
        await pilot.pause(0.05)
        lines(grid)  # everything rendered once
        before = grid.renders
        assert grid.upsert("k4", row(4, "99")) == 1  # one cell changed
        assert grid.upsert("k5", row(5)) == 0  # nothing changed
        lines(grid)
        assert grid.renders - before == 1
        assert "99" in lines(grid)[5]
        await pilot.press("down")
        assert grid.current_key == "k1"
        grid.set_order(["k5", "k4", "k3", "k2", "k1", "k0"])
        assert grid.current_key == "k1" and grid.cursor_row == 4  # the cursor moved with its row
        grid.remove_row("k1")
        assert grid.row_count == 5 and grid.current_key in grid.keys_in_order()
        grid.apply_rows([("k9", row(9)), ("k5", row(5))])
        assert grid.keys_in_order() == ["k9", "k5"]
        assert lines(grid)[1].startswith(" row-09")


async def test_narrow_terminal_scrolls_horizontally() -> None:
    app = GridApp(3)
    async with app.run_test(size=(22, 8)) as pilot:
        grid = app.grid
        await pilot.pause(0.05)
        assert "Note" not in lines(grid)[0]
        await pilot.press("right", "right", "right", "right", "right", "right", "right", "right", "right", "right")
        await pilot.pause(0.05)
        assert grid.scroll_x > 0
        assert any("note" in ln for ln in lines(grid)[1:4])


async def test_key_bar_shows_bindings_and_clicking_a_key_presses_it() -> None:
    app = GridApp(2)
    rang: list[bool] = []
    app.bell = lambda: rang.append(True)  # type: ignore[method-assign]
    async with app.run_test(size=(60, 8)) as pilot:
        await pilot.pause(0.05)
        bar = app.query_one(KeyBar)
        assert [(h.key, h.description) for h in bar.hints] == [("x", "Ring")]
        assert bar.palette_hint is not None  # ^p palette on the right
        text = bar.render().plain
        assert "x Ring" in text and "palette" in text
        await pilot.click(KeyBar, offset=(2, 0))
        await pilot.pause(0.05)
        assert rang == [True]
