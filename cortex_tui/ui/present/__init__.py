"""Pure presentation: engine state turned into table cells, sort keys, summaries and detail texts.

No Textual imports here (only Rich text objects), so this is unit-testable and the widgets stay dumb.
One module per view: :mod:`.format` (palette, numbers, shared cells), :mod:`.dashboard` (rows, sort,
filter, header), :mod:`.session` (facts, files, triggers), :mod:`.events` (the events panel) and
:mod:`.review` (review queue, best-of scores, diffs). The names below are re-exported for callers that
import them from the package. Every string an agent can choose (names, branches, file paths,
reasons, evidence, event data, diff contents) goes through :func:`cortex_tui.text.visible` here, so no
escape sequence or control character reaches the terminal.
"""

from __future__ import annotations

from cortex_tui.ui.present.dashboard import (
    COLUMN_KEYS,
    COLUMNS,
    FILTER_MODES,
    SORT_MODES,
    Column,
    RowView,
    SessionExtras,
    activity_cell,
    attention_key,
    diff_cell,
    last_activity,
    matches_filter,
    needs_attention,
    row_view,
    run_summary,
    triggers_cell,
)
from cortex_tui.ui.present.events import event_summary
from cortex_tui.ui.present.format import (
    AGENT_SHORT,
    STATE_LOOK,
    TRIGGER_SHORT,
    UNKNOWN,
    Palette,
    bar,
    cost_cell,
    fmt_ago,
    fmt_bytes,
    fmt_cost,
    fmt_count,
    palette_of,
    severity_style,
    state_cell,
)
from cortex_tui.ui.present.session import evidence_text, facts_text, files_text, trigger_rows, trigger_table

__all__ = [
    "AGENT_SHORT", "COLUMNS", "COLUMN_KEYS", "FILTER_MODES", "SORT_MODES", "STATE_LOOK", "TRIGGER_SHORT", "UNKNOWN",
    "Column", "Palette", "RowView", "SessionExtras", "activity_cell", "attention_key", "bar", "cost_cell",
    "diff_cell", "event_summary", "evidence_text", "facts_text", "files_text", "fmt_ago", "fmt_bytes", "fmt_cost",
    "fmt_count", "last_activity", "matches_filter", "needs_attention", "palette_of", "row_view", "run_summary",
    "severity_style", "state_cell", "trigger_rows", "trigger_table", "triggers_cell",
]
