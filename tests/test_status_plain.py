"""`status --json` from a run's files without pydantic (#18): ``cli/status_plain.py`` reads state.json and
review.json with the stdlib and must print exactly what the models' path prints — or decline and let the
models read the files. Real runs (real tmux, git, sim agents), then their files as an older version, a crash
or a hand edit would leave them."""

from __future__ import annotations

import enum
import json
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from engine_helpers import cli, make_sup, run_to_end
from pydantic import BaseModel
from test_status_fast import heavy, status_probe

from cortex_tui.cli import status_fast, status_plain
from cortex_tui.errors import CortexError
from cortex_tui.model.state import RunState, SessionRecord, SessionState, TokenUsage, TriggerRecord
from cortex_tui.review.models import DecisionRecord, FileStat, QueueEntry, ReviewDoc, VerifyResult
from cortex_tui.store.files import RunStore

LAYOUT = """
[run]
name = "plain"
verify = "test -f done.txt"
[defaults]
agent = "sim"
budget_usd = 0.01
[[session]]
name = "ok"
scope = ["done.txt"]
budget_tokens = 9000
script = ["tokens 1200 300", "write done.txt yes", "write outside.txt no", "commit done", "exit 0"]
[[session]]
name = "bad"
script = ["say working", "error fatal: boom", "exit 3"]
"""

PAIRS: list[tuple[Any, type[BaseModel]]] = [
    (status_plain.TRIGGER, TriggerRecord), (status_plain.TOKENS, TokenUsage), (status_plain.SESSION, SessionRecord),
    (status_plain.RUN_STATE, RunState), (status_plain.VERIFY, VerifyResult), (status_plain.FILE_STAT, FileStat),
    (status_plain.DECISION, DecisionRecord), (status_plain.QUEUE_ENTRY, QueueEntry), (status_plain.REVIEW_DOC, ReviewDoc),
]


def kind(ann: Any) -> str:
    """The reader's name for what a model field of annotation ``ann`` holds."""
    if ann is typing.Any:
        return "any"
    if ann in (str, int, float, bool):
        return str(ann.__name__)
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        assert len(args) == 2 and len(rest) == 1, ann
        return kind(rest[0]) + "?"
    if origin is list:
        return f"list[{kind(args[0])}]"
    if origin is dict:
        assert args[0] is str, ann
        return f"dict[str,{kind(args[1])}]"
    if origin is typing.Literal:
        return f"Literal({','.join(args)})"
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        return f"{ann.__name__}({','.join(str(m.value) for m in ann)})"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann.__name__
    raise AssertionError(f"status_plain has no reader for {ann!r}")


@pytest.mark.parametrize(("table", "model"), PAIRS, ids=[m.__name__ for _, m in PAIRS])
def test_the_readers_tables_are_the_models_fields(table: Any, model: type[BaseModel]) -> None:
    """Field by field, in order: what it holds, its default, nothing that would make the model read a value
    otherwise than as is (a constraint, a validator, an alias, strictness, extra keys refused)."""
    assert table.kind == model.__name__
    assert list(table.fields) == list(model.model_fields)
    for name, f in model.model_fields.items():
        check, default = table.fields[name]
        assert check.kind == kind(f.annotation), name
        if f.is_required():
            assert default is status_plain.REQUIRED, name
        else:
            want = f.get_default(call_default_factory=True)
            assert default == want and type(default) is type(want.value if isinstance(want, enum.Enum) else want), name
        assert f.metadata == [] and f.alias is None and f.validation_alias is None, name
    assert model.model_config.get("extra", "ignore") == "ignore" and not model.model_config.get("strict")
    decorators = model.__pydantic_decorators__
    assert not (decorators.validators or decorators.field_validators or decorators.root_validators
                or decorators.model_validators), model
    assert status_plain.LIVE_STATES == {s.value for s in SessionState if s.live}


def model_out(store: RunStore) -> str:
    """What the models' path prints (status_fast.from_files after RunStore.load), or its error."""
    try:
        state = store.load()
        assert state is not None
        return json.dumps(status_fast.from_files(store, state, None), indent=2, default=str)
    except CortexError as e:
        return f"error: {e}"


def plain_out(store: RunStore) -> str | None:
    data = status_plain.from_files(str(store.dir), False)
    return None if data is None else json.dumps(data, indent=2, default=str)


def agree(store: RunStore) -> bool:
    """Both readers print the same, or the plain one declines (then: whether it answered)."""
    want, got = model_out(store), plain_out(store)
    assert got is None or got == want, (got, want)
    if want.startswith("error: "):
        assert got is None
    return got is not None


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunStore, str, str]:
    """A finished run: a session with tokens, cost over budget, an out-of-scope write, verify passed and queued
    for review; one that failed with an error line. (repo, store, state.json's text, review.json's text)."""
    tmp = tmp_path_factory.mktemp("plain")
    repo = tmp / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# test repo\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    sup = make_sup(repo, LAYOUT, tmp)
    run_to_end(sup, timeout=120)
    store = sup.store
    return repo, store, store.state_path.read_text(), (store.dir / "review.json").read_text()


@pytest.fixture
def run(real_run: tuple[Path, RunStore, str, str]) -> tuple[Path, RunStore, dict[str, Any], dict[str, Any]]:
    """The real run's files restored, and their JSON to edit."""
    repo, store, state, review = real_run
    store.state_path.write_text(state)
    (store.dir / "review.json").write_text(review)
    return repo, store, json.loads(state), json.loads(review)


def test_a_real_runs_files_give_the_same_output_through_the_cli_without_pydantic(run: Any) -> None:
    repo, store, state, review = run
    by = {s["name"]: s for s in state["sessions"].values()}
    assert by["ok"]["tokens"] and by["ok"]["cost_usd"] and by["ok"]["triggers"], by["ok"]  # the run has what to show
    assert review["entries"]["ok"]["verify"]["exit_code"] == 0
    assert plain_out(store) == model_out(store)
    fast, mods = status_probe("--repo", str(repo))
    assert "pydantic" not in mods and heavy(mods) == []
    assert json.dumps(fast, indent=2) == cli("--debug", "status", "--repo", str(repo), "--json").stdout.rstrip("\n")
    assert fast["sessions"][0]["budget"]["used_fraction"] is not None and fast["sessions"][0]["verify"] is not None


def _paths(doc: Any, table: Any, at: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every field of ``doc`` the table knows, nested models' fields included (in the first item of a list or
    dict of them)."""
    out: list[tuple[str | int, ...]] = []
    for name, (check, _) in table.fields.items():
        out.append((*at, name))
        value, where = doc.get(name), (*at, name)
        while hasattr(check, "inner") and value is not None:  # down through optionals, lists and dicts
            if check.kind.startswith("list["):
                value, where = (value[0], (*where, 0)) if value else (None, where)
            elif check.kind.startswith("dict["):
                key = next(iter(value), None)
                value, where = (value[key], (*where, key)) if key is not None else (None, where)
            check = check.inner
        if hasattr(check, "fields") and isinstance(value, dict):
            out += _paths(value, check, where)
    return out


ODD: list[Any] = [None, "x", "7", 7, 7.5, -0.0, 2**60, True, [], {}, [1], {"a": 1}, float("nan"), "running"]
MISSING = object()


def _set(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    at: Any = doc
    for p in path[:-1]:
        at = at[p]
    if value is MISSING:
        at.pop(path[-1], None)
    else:
        at[path[-1]] = value
    return doc


def test_every_field_with_an_odd_value_or_missing_gives_the_models_output_or_their_path(run: Any) -> None:
    """Each field of the state, a session, a trigger, the tokens; of the review doc, an entry, its verify, a
    file, a decision: removed, or set to values of each JSON type. The plain reader prints what the models print
    or declines; where the models refuse the file it always declines."""
    _, store, state, review = run
    review["entries"]["ok"]["decisions"] = [{"decision": "approve", "by": "me", "at": 1, "extra": 1}]
    answered = declined = 0
    cases = [(store.state_path, state, p, status_plain.RUN_STATE) for p in _paths(state, status_plain.RUN_STATE)]
    cases += [(store.dir / "review.json", review, p, status_plain.REVIEW_DOC)
              for p in _paths(review, status_plain.REVIEW_DOC)]
    assert len(cases) > 120  # the nested models were walked
    seen = {p[-1] for _, _, p, _ in cases}
    assert {"cleared_at", "cache_write", "tail", "in_scope", "decision", "budget_tokens", "pool"} <= seen
    for path, doc, field, _ in cases:
        other = store.dir / "review.json" if path == store.state_path else store.state_path
        other.write_text(json.dumps(review if path == store.state_path else state))
        for value in [MISSING, *ODD]:
            path.write_text(json.dumps(_set(doc, field, value)))
            if agree(store):
                answered += 1
            else:
                declined += 1
    assert answered > 300 and declined > 300, (answered, declined)  # 501 and 1659 when written


def test_an_older_or_partial_state_file(run: Any) -> None:
    """Every field with a default left out (as versions before it wrote the file) reads the same; without
    per-session budgets the reader declines (the layout has them) and the CLI still prints the models' output."""
    repo, store, state, _ = run
    lean = _set(state, ("instance",), MISSING)
    for key in ("pool", "added", "nodes", "updated_at", "supervisor_pid", "version"):
        lean = _set(lean, (key,), MISSING)
    session_fields: dict[str, Any] = status_plain.SESSION.fields  # type: ignore[attr-defined]
    for rec in lean["sessions"].values():
        for field, (_, default) in session_fields.items():
            if default is not status_plain.REQUIRED and field not in ("budget_usd", "budget_tokens"):
                rec.pop(field, None)
        for t in rec.get("triggers", []):
            for key in ("cause_at", "key", "severity", "active"):
                t.pop(key, None)
    store.state_path.write_text(json.dumps(lean))
    assert agree(store)
    for rec in lean["sessions"].values():
        del rec["budget_usd"], rec["budget_tokens"]
    store.state_path.write_text(json.dumps(lean))
    assert not agree(store)
    fast, mods = status_probe("--repo", str(repo))
    assert "pydantic" in mods  # the models read it (and its layout)
    assert json.dumps(fast, indent=2) == model_out(store)


@pytest.mark.parametrize("text", ['{"run": "x", "sessions": {', "\x00garbage", '{"run": 5}', "[]", "",
                                  '{"run": "\\ud800"}'])
def test_a_corrupt_state_file_gives_the_models_error_not_a_traceback(run: Any, text: str) -> None:
    repo, store, _, _ = run
    store.state_path.write_text(text)
    assert plain_out(store) is None
    r = cli("status", "--repo", str(repo), "--json", check=False)
    full = cli("status", "--repo", str(repo), check=False)  # the full CLI (not --json): RunStore.load's error
    assert r.returncode == full.returncode == 1 and r.stdout == ""
    assert "unreadable run state" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr == full.stderr


def test_a_corrupt_review_queue_shows_no_verdicts_either_way(run: Any) -> None:
    repo, store, _, _ = run
    (store.dir / "review.json").write_text('{"run": "plain", "entries": {"ok": {"session": 1}}}')
    assert not agree(store)
    fast, _ = status_probe("--repo", str(repo))
    assert all(s["verify"] is None and s["review_status"] is None for s in fast["sessions"])
