"""NodeLinks with a fake polled node and a fake clock: down -> backoff -> up, typed updates; the node registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cortex_tui.backends import node as nodes
from cortex_tui.backends.node import NodeContext, make_node
from cortex_tui.backends.remote_poll import PollResult, parse_changed, parse_ps
from cortex_tui.engine.clock import FakeClock
from cortex_tui.engine.node_links import BACKOFF_S, DiskUse, LinkDown, LinkUp, NodeLinks, SessionPoll, SessionSample
from cortex_tui.errors import CortexError, SshError
from cortex_tui.model.state import SessionRecord


class FakeNode:
    """A polled node whose link is cut or restored by the test (no ssh)."""

    name = "box"
    polled = True

    def __init__(self) -> None:
        self.up = True
        self.reached = True
        self.polls: list[bool] = []
        self.cpu = 0

    def poll(self, recs: list[SessionRecord], base: str, *, reconnect: bool) -> tuple[dict[str, PollResult], str]:
        self.polls.append(reconnect)
        if not self.up:
            raise SshError("node box: connection lost")
        self.cpu += 2
        ps = f"1 0 100 0\n42 1 2048 {self.cpu}\n43 42 1024 0\n"
        return {r.name: PollResult(log=b"line\n", events=b"", exit_code=None, changed={}) for r in recs}, ps

    def disk_usage(self, recs: list[SessionRecord]) -> dict[str, int | None]:
        return {r.slug: 4096 for r in recs}

    def __getattr__(self, name: str) -> object:  # the rest of the Node interface is not used here
        raise AttributeError(name)


def rec() -> SessionRecord:
    return SessionRecord(name="far", slug="far", agent="sim", node="box", branch="b", worktree="/w", remote_pid=42)


async def test_link_down_backs_off_then_comes_back() -> None:
    clock = FakeClock()
    links, node, r = NodeLinks(clock), FakeNode(), rec()
    groups: dict[str, Any] = {"box": (node, [r])}
    first = await links.poll(groups, "base")
    assert isinstance(first[0], LinkUp) and not first[0].recovered
    assert [type(u) for u in first[1:]] == [SessionPoll, SessionSample, DiskUse]
    assert isinstance(first[2], SessionSample) and first[2].sample.cpu_percent is None  # one sample: no CPU % yet
    assert first[3] == DiskUse({"far": 4096})
    node.up = False
    clock.advance(1)
    down = await links.poll(groups, "base")
    assert down == [LinkDown("box", "node box: connection lost", first=True)]
    assert links.health()["box"]["reachable"] is False
    clock.advance(BACKOFF_S[0] - 0.01)
    assert await links.poll(groups, "base") == []  # backing off: not tried
    clock.advance(0.01)
    again = await links.poll(groups, "base")
    assert again == [LinkDown("box", "node box: connection lost", first=False)]  # no second node_down
    clock.advance(BACKOFF_S[1] - 0.5)
    assert await links.poll(groups, "base") == []  # the backoff grew
    node.up = True
    clock.advance(0.5)
    back = await links.poll(groups, "base")
    assert isinstance(back[0], LinkUp) and back[0].recovered
    assert node.polls == [False, False, True, True]  # a fresh connection after the link was down
    sample = next(u for u in back if isinstance(u, SessionSample))
    assert sample.sample.rss_bytes == (2048 + 1024) * 1024 and sample.sample.processes == 2
    assert sample.sample.cpu_percent is not None and sample.sample.cpu_percent > 0
    assert links.health()["box"]["reachable"] is True


async def test_a_node_never_reached_is_unreachable_not_down() -> None:
    clock = FakeClock()
    links, node = NodeLinks(clock), FakeNode()
    node.up, node.reached = False, False
    groups: dict[str, Any] = {"box": (node, [rec()])}
    out = await links.poll(groups, "base")
    assert out == [LinkDown("box", "node box: connection lost", first=False, known=False)]
    assert links.health() == {}


def test_poll_parsers() -> None:
    assert parse_changed(b"M\0src/a.py\0A\0new.py\0D\0old.py\0\x01untracked.txt\0") == {
        "src/a.py": "modified", "new.py": "added", "old.py": "deleted", "untracked.txt": "added"}
    children, info = parse_ps("  1     0  100 0\n 42 1 2048 7\nbad line\n")
    assert children == {0: [1], 1: [42]} and info[42] == (7.0, 2048 * 1024)


def test_node_kinds_are_registered_modules() -> None:
    ctx = NodeContext(run="r", socket="s", repo=Path("/repo"), spec=None)
    assert make_node(ctx).name == "local" and not make_node(ctx).polled

    class Sandbox:
        name, polled = "sandbox", False

    class Spec:
        name, kind = "sb", "sandbox"

    with pytest.raises(CortexError, match="unknown node kind 'sandbox'"):
        make_node(NodeContext("r", "s", Path("/repo"), Spec()))  # type: ignore[arg-type]
    nodes.register("sandbox", lambda c: Sandbox())  # type: ignore[arg-type,return-value]
    try:
        assert make_node(NodeContext("r", "s", Path("/repo"), Spec())).name == "sandbox"  # type: ignore[arg-type]
    finally:
        nodes._FACTORIES.pop("sandbox")
