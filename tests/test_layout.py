"""Layout validation: every bad input gives one clear error naming file, line and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cortex_tui.errors import LayoutError
from cortex_tui.layout import load_layout, parse_layout

GOOD = """
[run]
name = "r1"
base = "main"
verify = "pytest -q"

[defaults]
agent = "sim"
silence_after = "10m"

[[session]]
name = "a"
scope = ["src/**"]
script = ["say hi"]

[[session]]
name = "b"
depends_on = ["a"]
script = ["say hi"]
env = { FOO = "bar" }
"""

BAD = [
    # (source, expected line, substrings in the message)
    ('[run]\nname = "r"\n[[session]]\nname = "a"\nscript = ["say x"]\nbogus = 1\n', 6,
     ["session[0].bogus", "unknown key"]),
    ('[run]\nname = "r"\n[[session]]\nname = "a"\nscope = ["/etc/**"]\nscript = ["say x"]\n', 5,
     ["session[0].scope", "relative"]),
    ('[run]\nname = "r"\n[[session]]\nname = "a"\nscope = ["src/[abc"]\nscript = ["say x"]\n', 5,
     ["scope", "unclosed"]),
    ('[run]\nname = "r"\n[[session]]\nname = "a"\nscript = ["say x"]\ndepends_on = ["nope"]\n', 6,
     ["depends_on", "unknown session 'nope'"]),
    ('[run]\nname = "r"\n[[session]]\nname = "a"\nscript = ["say x"]\ndepends_on = ["b"]\n'
     '[[session]]\nname = "b"\nscript = ["say x"]\ndepends_on = ["a"]\n', 6, ["dependency cycle", "a -> b -> a"]),
    ('[run]\nname = "r"\n[[session]]\nname = "a"\nscript = ["say x"]\n[[session]]\nname = "a"\nscript = ["say y"]\n', 7,
     ["duplicate session name 'a'"]),
    ('[run]\nname = "r"\n[[session]]\nname = "a"\nagent = "gpt"\n', 5, ["session[0].agent", "claude-code"]),
    ('[run]\nname = "r"\n[[session]]\nname = "a"\nscript = ["fly away"]\n', 5, ["step 1", "unknown step 'fly'"]),
    ('[run]\nname = "r"\n[defaults]\nsilence_after = "soon"\n[[session]]\nname = "a"\nscript = ["say x"]\n', 4,
     ["defaults.silence_after", "not a duration"]),
    # found by the fuzz test: a list where a duration/size belongs raised TypeError
    ('[run]\nname = "r"\n[[session]]\nname = "a"\nscript = ["say x"]\ntimeout = ["a"]\n', 6,
     ["session[0].timeout", "not a duration"]),
    ('[run]\nname = "r"\n[[session]]\nname = "a"\nscript = ["say x"]\nmemory_limit = { a = 1 }\n', 6,
     ["session[0].memory_limit", "not a size"]),
    ('[run]\nname = "bad name!"\n[[session]]\nname = "a"\nscript = ["say x"]\n', 2, ["run.name"]),
    ('[run]\nname = "r"\n[[session]]\nname = "a"\nnode = "box9"\nscript = ["say x"]\n', 5, ["unknown node 'box9'"]),
    ('[run]\nname = "r"\n[[session]]\nname = "a"\nagent = "shell"\n', 3, ["has agent 'shell' but no command"]),
    ('[run]\nname = "r"\n[[session]]\nname = "a\\tb"\nscript = ["say x"]\n', 4, ["control characters"]),
    ('[run]\nname = "r"\n[[session]\nname = "a"\n', 3, ["invalid TOML"]),
    ('[[session]]\nname = "a"\n', 1, ["missing [run]"]),
    ('[run]\nname = "r"\n', 1, ["no [[session]]"]),
    ('[run]\nname = "r"\n[[session]]\nname = "a"\nscript = ["say x"]\non_trigger = { silence = "explode" }\n', 6,
     ["on_trigger", "notify"]),
    ('[run]\nname = "r"\n[[node]]\nname = "n1"\nhost = "h"\nport = 70000\n[[session]]\nname = "a"\nscript = ["say x"]\n',
     6, ["node[0].port"]),
]


def test_good_layout_resolves_defaults(tmp_path: Path) -> None:
    loaded = parse_layout(GOOD, tmp_path / "x.toml")
    a, b = loaded.sessions
    assert a.silence_after == 600.0 and a.agent == "sim" and a.verify == "pytest -q"
    assert b.depends_on == ["a"] and b.env == {"FOO": "bar"} and b.scope == []
    assert a.on_trigger["silence"] == "notify"


@pytest.mark.parametrize(("source", "line", "needles"), BAD)
def test_bad_layouts_name_file_line_field(tmp_path: Path, source: str, line: int, needles: list[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(source)
    with pytest.raises(LayoutError) as ei:
        load_layout(path)
    msg = str(ei.value)
    assert f"{path}:{line}:" in msg, msg
    for n in needles:
        assert n in msg, msg
    assert ei.value.exit_code == 2


def test_cli_bad_layout_exits_2_and_starts_nothing(tmp_path: Path, git_repo: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD[0][0])
    r = subprocess.run([sys.executable, "-m", "cortex_tui.cli", "run", str(bad), "--repo", str(git_repo), "--headless"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "unknown key" in r.stderr and "Traceback" not in r.stderr
    assert not (git_repo / "coordination").exists()
    assert not (git_repo / ".cortex").exists()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="not found"):
        load_layout(tmp_path / "nope.toml")


def test_durations_accept_units_and_numbers(tmp_path: Path) -> None:
    src = GOOD.replace('silence_after = "10m"', 'silence_after = 90\nerror_window = "1h"\ntimeout = "30s"')
    a = parse_layout(src, tmp_path / "x.toml").sessions[0]
    assert (a.silence_after, a.error_window, a.timeout) == (90.0, 3600.0, 30.0)


def test_bundled_layouts_are_valid() -> None:
    for p in Path(__file__).parent.parent.joinpath("layouts").glob("*.toml"):
        load_layout(p)
