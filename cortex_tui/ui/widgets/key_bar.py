"""A one-line key bar: the screen's shown bindings, drawn as one line (Textual's Footer mounts a widget per key).

Textual's ``Footer`` recomposes a widget per binding on every focus or screen change; at 100 live sessions
that cost ~40 ms per screen switch. This bar renders the same information as a single line, recomputed
only when the screen's bindings change; clicking a key presses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widget import Widget


@dataclass(frozen=True)
class KeyHint:
    key: str
    """Key name as Textual knows it (what a click simulates)."""
    display: str
    description: str
    enabled: bool = True


ESSENTIAL: frozenset[str] = frozenset({"q", "question_mark"})
"""Keys that stay on the bar however narrow the terminal (quit, and help, which lists every other key)."""


class KeyBar(Widget):
    """Shows the active screen's bindings that have ``show=True``, plus the command palette key on the right.

    When they do not all fit, the essential keys (:data:`ESSENTIAL`) are kept and the others are dropped
    from the end; ``?`` lists them all.
    """

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
        & > .key-bar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .key-bar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hints: tuple[KeyHint, ...] = ()
        self.palette_hint: KeyHint | None = None
        self._spans: list[tuple[int, int, str]] = []
        self.dropped: tuple[str, ...] = ()
        """Keys left off the bar at the last render for want of room (tests read it)."""

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: object) -> None:
        hints, palette = self.collect()
        if hints != self.hints or palette != self.palette_hint:
            self.hints, self.palette_hint = hints, palette
            self.refresh()

    def collect(self) -> tuple[tuple[KeyHint, ...], KeyHint | None]:
        """The hints to show now: one per action (first key wins), in binding order."""
        app = self.app
        seen: set[str] = set()
        hints: list[KeyHint] = []
        palette: KeyHint | None = None
        for key, (_node, binding, enabled, _tooltip) in self.screen.active_bindings.items():
            if app.ENABLE_COMMAND_PALETTE and key == app.COMMAND_PALETTE_BINDING:
                palette = KeyHint(binding.key, app.get_key_display(binding), binding.description, enabled)
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            hints.append(KeyHint(binding.key, app.get_key_display(binding), binding.description, enabled))
        return tuple(hints), palette

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        desc_style = self.get_component_rich_style("key-bar--description")
        dim = Style(dim=True)

        # roomy (" a Approve ") when everything fits, compact ("a Approve ") otherwise
        compact = sum(len(h.display) + len(h.description) + 3 for h in self.hints) > self.size.width

        def piece(hint: KeyHint) -> Text:
            t = Text(end="")
            t.append(hint.display if compact else f" {hint.display} ", style=key_style if hint.enabled
                     else key_style + dim)
            t.append(f" {hint.description} " if compact else f"{hint.description} ",
                     style=desc_style if hint.enabled else desc_style + dim)
            return t

        width = self.size.width
        pieces = [(hint, piece(hint)) for hint in self.hints]
        essential_len = sum(len(p) for h, p in pieces if h.key in ESSENTIAL)
        room = width - essential_len
        shown: list[tuple[KeyHint, Text]] = []
        for hint, p in pieces:
            if hint.key in ESSENTIAL:
                shown.append((hint, p))
            elif len(p) <= room:
                shown.append((hint, p))
                room -= len(p)
            else:
                room = -1  # keep the order: nothing after a dropped key but the essential ones
        self.dropped = tuple(h.key for h, _ in pieces if (h, _) not in shown)
        text = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, str]] = []
        for hint, p in shown:
            spans.append((len(text), len(text) + len(p), hint.key))
            text.append_text(p)
        if self.palette_hint is not None:
            p = piece(self.palette_hint)
            gap = width - len(text) - len(p) - 1
            if gap >= 1:
                text.append(" " * gap)
                text.append("│", style=dim)
                spans.append((len(text), len(text) + len(p), self.palette_hint.key))
                text.append_text(p)
        self._spans = spans
        return text

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
