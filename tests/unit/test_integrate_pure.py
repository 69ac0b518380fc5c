"""review/integrate.smallest_failing: the smallest set whose combination fails (a predicate, no git)."""

from __future__ import annotations

from collections.abc import Callable

from cortex_tui.review.integrate import smallest_failing


def _fails_when(*needed: set[str]) -> tuple[Callable[[list[str]], bool], list[list[str]]]:
    calls: list[list[str]] = []

    def fails(subset: list[str]) -> bool:
        calls.append(list(subset))
        return any(n <= set(subset) for n in needed)

    return fails, calls


def test_a_pair_is_found_among_many() -> None:
    fails, calls = _fails_when({"b", "e"})
    assert smallest_failing(list("abcdef"), fails) == ["b", "e"]
    assert all(len(c) >= 2 for c in calls)  # single branches are the caller's business


def test_a_triple_is_kept_whole_and_no_failure_gives_nothing() -> None:
    fails, _ = _fails_when({"a", "c", "d"})
    assert smallest_failing(list("abcd"), fails) == ["a", "c", "d"]
    never, _ = _fails_when()
    assert smallest_failing(list("abc"), never) == []
