"""``[[route]]`` matching, node choice and ``[pool]`` layout errors: pure rules, no tmux."""

from __future__ import annotations

from pathlib import Path

import pytest

from cortex_tui.engine.placement import NodeRoom, cap, choose, parse_probe
from cortex_tui.engine.pool import target_slots
from cortex_tui.errors import LayoutError
from cortex_tui.layout import parse_layout
from cortex_tui.model.layout import SessionSpec
from cortex_tui.model.resolve import resolve_session

NODES = """
[[node]]
name = "box1"
host = "127.0.0.1"
group = "far"
max_sessions = 2
[[node]]
name = "box2"
host = "127.0.0.1"
group = "far"
"""

ROUTES = """
[[route]]
name = "docs"
match = { labels = ["docs"] }
agent = "aider"
model = "fast"
limit = 2
[[route]]
name = "api"
match = { paths = ["src/api/**"], agent = "sim" }
node = "far"
[[route]]
name = "big"
match = { prompt = "(?i)refactor", name = "big-*" }
agent = "claude-code"
node = "box2"
"""


def layout(extra: str = "", pool: str = "[pool]\nsize = 2\n") -> str:
    return f'[run]\nname = "r"\n{pool}[defaults]\nagent = "sim"\n{NODES}{ROUTES}{extra}'


def resolved(text: str, **task: object) -> tuple[str, str | None, str, int | None]:
    lay = parse_layout(text, Path("l.toml")).layout
    r = resolve_session(lay, SessionSpec.model_validate({"name": "t", **task}))
    return r.agent, r.model, r.node, r.route


def test_the_first_matching_route_sets_agent_model_node_and_the_task_wins_over_it() -> None:
    text = layout()
    assert resolved(text, labels=["docs", "x"]) == ("aider", "fast", "local", 0)
    assert resolved(text, labels=["docs"], agent="codex", model="m") == ("codex", "m", "local", 0)
    assert resolved(text, scope=["src/api/v1/*.py"]) == ("sim", None, "far", 1)
    assert resolved(text, scope=["src/api"]) == ("sim", None, "far", 1)
    assert resolved(text, scope=["src/apiary.py"]) == ("sim", None, "local", None)  # not under src/api/
    assert resolved(text, scope=["src/api/x.py"], agent="codex") == ("codex", None, "local", None)  # agent must match
    assert resolved(text, scope=["src/api/x.py"], node="box2") == ("sim", None, "box2", 1)  # its own node wins
    assert resolved(text, name="big-1", prompt="Refactor the parser") == ("claude-code", None, "box2", 2)
    assert resolved(text, name="small", prompt="Refactor the parser") == ("sim", None, "local", None)
    # [pool] node = "auto" for everything no route places
    assert resolved(layout(pool='[pool]\nsize = 2\nnode = "auto"\n'))[2] == "auto"


def test_target_slots_follow_the_queue_between_min_and_max() -> None:
    lay = parse_layout(layout(pool="[pool]\nmin = 2\nmax = 5\n"), Path("l.toml")).layout
    assert target_slots(lay, 0, 0)[0] == 2
    assert target_slots(lay, 1, 2)[0] == 3
    assert target_slots(lay, 4, 30)[0] == 5
    fixed = parse_layout(layout(), Path("l.toml")).layout
    assert target_slots(fixed, 0, 100)[0] == 2


def room(name: str, live: int = 0, max_sessions: int | None = None, available: int | None = 8 << 30,
         floor: int = 0, up: bool = True, load: float | None = None) -> NodeRoom:
    return NodeRoom(name=name, live=live, max_sessions=max_sessions, available=available, floor=floor,
                    up=up, load_per_core=load)


def test_choose_least_loaded_round_robin_and_why_none_has_room() -> None:
    a, b = room("local", live=2), room("box1", live=1, max_sessions=3)
    pick, why = choose([a, b], "sim", None, strategy="least-loaded", turn=0)
    assert pick is b and why.startswith("least loaded: 1 live")
    rr = [choose([room("a"), room("b")], "sim", None, strategy="round-robin", turn=t)[0] for t in range(3)]
    assert [r.name for r in rr if r] == ["a", "b", "a"]
    full = room("box1", live=2, max_sessions=2)
    down = room("box2", up=False)
    low = room("local", available=1 << 30, floor=2 << 30)
    pick, why = choose([low, full, down], "sim", None, strategy="least-loaded", turn=0)
    assert pick is None
    assert why == ("local memory: one sim task needs 32.0 MiB above the floor 2.0 GiB; box1 full (2 sessions); "
                   "box2 unreachable")
    # peers measured on the node decide what one more task needs; placed tasks reserve theirs
    r = room("local", available=1000 << 20, floor=0)
    r.peers["claude-code"] = [300 << 20, 500 << 20, 400 << 20]
    assert r.need("claude-code", None) == 400 << 20
    for _ in range(2):
        assert r.refusal("claude-code", None, None) is None
        r.take("claude-code", None)
    assert r.refusal("claude-code", None, None) is not None  # 1000 MiB - 2 * 400 MiB < 400 MiB
    assert room("x", load=3.0).refusal("sim", None, 2.0) == "x load 3.0 per core above max_load 2"


def test_probe_parsing_and_memory_limit_cap() -> None:
    out = "MemTotal: 100 kB\nMemAvailable:   2048 kB\n0.50 1.00 1.50 2/300 999\n\n4\n"
    p = parse_probe(out)
    assert p.available == 2048 * 1024 and p.load_per_core == pytest.approx(0.125)
    assert cap(10 << 30, 1 << 30, 300 << 20) == (1 << 30) - (300 << 20)
    assert cap(100, 1 << 30, 0) == 100
    assert cap(None, None, 5) is None


@pytest.mark.parametrize(("pool", "line", "field", "msg"), [
    ("[pool]\nsize = 2\nmax = 3\n", 4, "pool.size", "either size"),
    ("[pool]\nmin = 4\nmax = 3\n", 4, "pool.min", "above max"),
    ("[pool]\nmin = 4\n", 4, "pool.min", "needs a max"),
    ("[pool]\nsize = 0\n", 4, "pool.size", "greater than or equal to 1"),
    ('[pool]\nmemory_floor = "lots"\n', 4, "pool.memory_floor", "not a size"),
    ('[pool]\nnode = "mars"\n', 4, "pool.node", "unknown node or group 'mars'"),
    ("[pool]\nwarm = -1\n", 4, "pool.warm", "greater than or equal to 0"),
    ('[pool]\nstrategy = "random"\n', 4, "pool.strategy", "least-loaded"),
])
def test_bad_pool_values_name_file_line_and_field(pool: str, line: int, field: str, msg: str) -> None:
    with pytest.raises(LayoutError) as e:
        parse_layout(layout(pool=pool), Path("l.toml"))
    assert e.value.message.startswith(f"l.toml:{line}: field '{field}'") and msg in e.value.message


def test_bad_route_values_name_file_line_and_field() -> None:
    text = layout('[[route]]\nmatch = { labels = ["x"] }\nnode = "mars"\n')
    line = text.splitlines().index('node = "mars"') + 1
    with pytest.raises(LayoutError) as e:
        parse_layout(text, Path("l.toml"))
    assert e.value.message.startswith(f"l.toml:{line}: field 'route[3].node'") and "'mars'" in e.value.message
    text = layout('[[route]]\nmatch = { prompt = "(" }\n')
    with pytest.raises(LayoutError) as e:
        parse_layout(text, Path("l.toml"))
    assert "field 'route[3].match.prompt'" in e.value.message and "not a regular expression" in e.value.message
    text = layout('[[route]]\nlimit = 0\n')
    with pytest.raises(LayoutError) as e:
        parse_layout(text, Path("l.toml"))
    assert "field 'route[3].limit'" in e.value.message
    text = layout('[[route]]\nbogus = 1\n')
    with pytest.raises(LayoutError) as e:
        parse_layout(text, Path("l.toml"))
    assert "field 'route[3].bogus'" in e.value.message and "unknown key" in e.value.message


def test_a_pool_layout_needs_no_session_but_a_plain_one_does() -> None:
    assert parse_layout('[run]\nname = "r"\n[pool]\nsize = 3\n', Path("l.toml")).layout.pool is not None
    with pytest.raises(LayoutError, match="declares no"):
        parse_layout('[run]\nname = "r"\n', Path("l.toml"))
