"""``cortex-tui status --json`` without loading the command line: what a script or a tmux status line polls.

The CLI's imports (typer inspecting every command, ~70 pydantic models, the layout, the review library, aiohttp)
cost several times what status reads. :func:`run_fast` answers a plain ``status --json [--repo R]
[--state-dir D] [--run ID]`` before any of that is imported (``cli/__init__.py`` calls it first); anything
else — other options, ``--help``, an error to explain — goes to the full CLI, which prints the same data
(:func:`status_data`) and the same errors.

Where the data comes from:

* a live supervisor serving the run's API socket: ``GET /v1/status`` (its in-memory state, the freshest;
  stdlib socket and json only — no pydantic at all);
* otherwise (no supervisor, no API, an API too slow to answer): ``state.json`` and ``review.json`` read with
  the stdlib too (``cli/status_plain.py``: checked against tables of the models' fields, no pydantic);
* when that reader is not sure the models would read the files as they are (a value they would coerce or
  refuse, a corrupt file, a state file of an older version without per-session budgets): ``state.json`` read
  with the state model and ``review.json`` with the review models (:func:`status_data`) — the layout only for
  that older state file, never the review library; a file they refuse is the full CLI's error to print.
"""

from __future__ import annotations

import _socket  # socket.py's wrapper (enum, selectors, array: ~5 ms of imports) is not needed for one request
import json
import os
import sys
from pathlib import Path  # already imported at start-up (site), as os and json's re are

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is not imported at run time (~4 ms of a ~60 ms call)
    from typing import Any

_OPTS = {"--repo": "repo", "--state-dir": "state_dir", "--run": "run"}
API_TIMEOUT_S = 1.0
"""A supervisor whose loop does not answer within this (a stall) is read from its files instead."""


def parse(argv: list[str]) -> dict[str, str] | None:
    """The options of a plain ``status --json`` command line; None for anything else."""
    if not argv or argv[0] != "status":
        return None
    got: dict[str, str] = {}
    as_json = False
    i = 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--json" and not as_json:
            as_json = True
            continue
        name, eq, value = arg.partition("=")
        if name not in _OPTS or _OPTS[name] in got:
            return None
        if not eq:
            if i >= len(argv):
                return None
            value = argv[i]
            i += 1
        got[_OPTS[name]] = value
    return got if as_json else None


def run_fast(argv: list[str]) -> bool:
    """Answer ``argv`` if it is a plain ``status --json``; False: the full CLI must (it also prints errors)."""
    opts = parse(argv)
    if opts is None:
        return False
    data: dict[str, Any] | None = None
    asked = False
    try:
        found = find_run(opts.get("repo", "."), opts.get("state_dir"), opts.get("run"))
        if found is not None:
            run_dir, alive = found
            if alive:
                data, asked = from_api(Path(run_dir)), True
            if data is None:  # no supervisor, or one whose loop did not answer: its files, without the models
                from cortex_tui.cli.status_plain import from_files

                data = from_files(run_dir, alive)
    except OSError:
        data = None
    if data is None:  # the files with their models (an older or odd state file; or to say what is wrong)
        from cortex_tui.errors import CortexError

        try:
            data = status_data(Path(opts.get("repo", ".")), Path(opts["state_dir"]) if "state_dir" in opts else None,
                               opts.get("run"), ask_api=not asked)
        except (CortexError, OSError):  # the full CLI says what went wrong, as it always did
            return False
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    return True


def find_run(repo: str, state_dir: str | None, run: str | None) -> tuple[str, bool] | None:
    """The run's directory as :func:`status_data` finds it, and whether a supervisor holds its lock; None when
    git must find the repository (a linked worktree's ``.git`` file…) or there is no such run (the caller reads
    the files the usual way, which also raises the usual errors)."""
    if state_dir is not None:
        sd = os.path.realpath(state_dir)
    else:
        d = _plain_repo_root(repo)
        if d is None:
            return None
        sd = os.path.join(d, "coordination")
    runs_dir = os.path.join(sd, "runs")
    if run is None:  # list_runs(): the run whose state.json changed last (ties: by name)
        found = []
        for entry in os.scandir(runs_dir):
            state = os.path.join(entry.path, "state.json")
            if entry.is_dir() and os.path.exists(state):
                found.append((os.stat(state).st_mtime, entry.name))
        if not found:
            return None
        run = max(found)[1]
    run_dir = os.path.join(runs_dir, run)
    if not os.path.exists(os.path.join(run_dir, "state.json")):
        return None
    return run_dir, _locked(os.path.join(run_dir, "supervisor.lock"))


def _locked(path: str) -> bool:
    """Whether a supervisor holds the run's lock (:meth:`RunStore.lock_holder` is not None)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _plain_repo_root(path: str) -> str | None:
    """The first parent of ``path`` (resolved) holding a ``.git`` directory with a ``HEAD``; None when git must
    decide: a ``.git`` file on the way (linked worktree, submodule), git told where to look by the environment,
    or no repository at all."""
    if any(k in os.environ for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR")):
        return None
    d = os.path.realpath(path)
    while True:
        dot = os.path.join(d, ".git")
        if os.path.isdir(dot) and os.path.exists(os.path.join(dot, "HEAD")):
            return d
        if os.path.exists(dot) or os.path.dirname(d) == d:
            return None
        d = os.path.dirname(d)


def repo_root(path: Path) -> Path:
    """:func:`cortex_tui.backends.git.repo_root` without running git for the common case: the first parent
    holding a ``.git`` directory. A linked worktree or submodule (``.git`` is a file), or git told where to
    look by the environment, asks git."""
    d = _plain_repo_root(str(path))
    if d is not None:
        return Path(d)
    from cortex_tui.backends.git import repo_root as git_root

    return git_root(path.resolve())


def status_data(repo: Path, state_dir: Path | None, run: str | None, *, ask_api: bool = True) -> dict[str, Any]:
    """What ``status --json`` prints (the live supervisor's answer, else the run's files; ``ask_api`` False:
    :func:`run_fast` asked it already and had no answer)."""
    from cortex_tui.errors import StateError
    from cortex_tui.store.files import RunStore, list_runs

    sd = (state_dir or repo_root(repo) / "coordination").resolve()
    runs = list_runs(sd)
    if run is None:
        if not runs:
            raise StateError(f"no runs under {sd}", "start one with `cortex-tui up LAYOUT --repo PATH`")
        run = runs[-1]
    store = RunStore(sd, run)
    holder = store.lock_holder()
    if holder is not None and ask_api and store.state_path.exists():
        live = from_api(store.dir)
        if live is not None:
            return live
    state = store.load()
    if state is None:
        raise StateError(f"no run {run!r} under {sd}", f"known runs: {', '.join(runs) or 'none'}")
    return from_files(store, state, holder)


def from_api(run_dir: Path) -> dict[str, Any] | None:
    """``GET /v1/status`` on the run's API socket; None when there is none, it does not answer in time, or it
    answers in an older shape (no review fields)."""
    pointer = run_dir / "api.sock.path"
    try:
        path = pointer.read_text().strip() if pointer.exists() else str(run_dir / "api.sock")
    except OSError:
        return None
    if not os.path.exists(path):
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(API_TIMEOUT_S)
        sock.connect(path)
        sock.sendall(b"GET /v1/status HTTP/1.0\r\nHost: cortex\r\nX-Cortex-Origin: cli\r\n\r\n")
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    except OSError:  # refused (a stale socket), timed out (a stalled loop): the files
        return None
    finally:
        sock.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or status_line[1] != b"200" or b"chunked" in head.lower():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    sessions = data.get("sessions") if isinstance(data, dict) else None
    if not isinstance(sessions, list) or not all(isinstance(s, dict) and "review_status" in s for s in sessions):
        return None
    return dict(data)


def from_files(store: Any, state: Any, holder: int | None) -> dict[str, Any]:
    """:func:`status_data` from ``state.json`` and ``review.json`` (``store``: the run's RunStore)."""
    from cortex_tui.errors import CortexError
    from cortex_tui.store.status import add_review, status_dict

    budgets: dict[str, tuple[float | None, int | None]] = {}
    if any("budget_usd" not in r.model_fields_set for r in state.sessions.values()):  # an older state file
        from cortex_tui.cli._runs import layout_of

        try:
            budgets = {s.name: (s.budget_usd, s.budget_tokens) for s in layout_of(state).sessions}
        except CortexError:
            budgets = {}
    data = status_dict(state, budgets, supervisor_alive=holder is not None)
    entries: dict[str, Any] = {}
    if (store.dir / "review.json").exists():  # no queue yet: nothing to read (nor its models to build)
        from cortex_tui.review.store import ReviewStore

        try:
            entries = dict(ReviewStore(store.dir, state.run).load().entries)
        except CortexError:  # an unreadable queue: no verdicts shown
            entries = {}
    return add_review(data, entries)
