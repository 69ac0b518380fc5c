"""Malformed layouts and state files (fuzzed): never a traceback, always an error naming the problem."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cortex_tui.errors import LayoutError, StateError
from cortex_tui.layout import parse_layout
from cortex_tui.store.files import RunStore

GOOD = """[run]
name = "fz"
base = "main"
[defaults]
silence_after = "10m"
[[session]]
name = "a"
agent = "sim"
scope = ["src/**"]
script = ["say hi", "exit 0"]
[[session]]
name = "b"
depends_on = ["a"]
command = "echo hi"
agent = "shell"
"""

LINES = GOOD.splitlines()
values = st.one_of(st.text(max_size=20).map(json.dumps), st.integers(-5, 10**6).map(str), st.just("true"),
                   st.just("[]"), st.just('["a", 1]'), st.just("{ x = 1 }"), st.just('"1h"'), st.just('"-3s"'))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "value", "key", "garbage"]))
        if op == "drop":
            lines.pop(i)
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "value" and "=" in lines[i]:
            lines[i] = lines[i].split("=")[0] + "= " + draw(values)
        elif op == "key" and "=" in lines[i]:
            lines[i] = draw(st.sampled_from(["name", "agent", "scope", "depends_on", "budget_usd", "nope",
                                             "error_repeats", "timeout", "restart", "env", "node"])) + \
                " =" + lines[i].split("=", 1)[1]
        else:
            lines.insert(i, draw(st.text(max_size=30)))
        if not lines:
            break
    return "\n".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_layouts_fail_cleanly(text: str) -> None:
    path = Path("/tmp/fuzz-layout.toml")
    try:
        parse_layout(text, path)
    except LayoutError as e:
        msg = str(e)
        assert msg.startswith(str(path)), msg  # names the file (and the line where TOML gives it)
        assert "Traceback" not in msg


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                 st.dictionaries(st.sampled_from(["run", "repo", "sessions", "base", "socket", "version"]),
                                 st.one_of(st.text(max_size=5), st.integers(), st.none()), max_size=6)
                 .map(lambda d: json.dumps(d).encode())))
def test_garbage_state_files_fail_cleanly(data: bytes) -> None:
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="fuzz-state-"))
    store = RunStore(d, "r")
    store.ensure()
    store.state_path.write_bytes(data)
    try:
        store.load()
    except StateError as e:
        assert str(store.state_path) in e.message and e.hint
