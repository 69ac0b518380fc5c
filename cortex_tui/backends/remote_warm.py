"""Warm slots on an ssh node, the node's side (the loop that keeps them filled is engine/remote_warm.py).

A slot is ``runs/<run>/warm/w-<id>`` under the node's workdir: a worktree of the node's bare repo on branch
``cortex-warm/<run>/w-<id>`` at the base, with the layout's ``setup`` run in it (``w-<id>.setup.json`` beside
it records which). Taking one is one round trip over the ControlMaster: the slot is reset to the commit the task
starts from (``checkout -f -B <task branch> <base>``, ``clean``), moved to the task's worktree path
(``runs/<run>/worktrees/<slug>``, where :meth:`~cortex_tui.backends.remote.RemoteNode.prepare_worktree` then finds
it) and its warm branch deleted. Every value goes to the node's ``/bin/sh`` as ``$1..``, never spliced.

A ready slot's idle window on the node's tmux (:func:`window`, ``@cortex_warm`` = ``<node>/<slot>``) is where the
agent of the task that takes it starts (``RemoteNode.respawn``); ``clean``/``down`` close the windows of the slots
they remove.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cortex_tui.backends.remote import RemoteNode
from cortex_tui.backends.tmux import WindowInfo
from cortex_tui.backends.warm_slots import BRANCH_ROOT, SlotResult, WarmSweep, base_tip, branch_of, sweep_local
from cortex_tui.errors import CortexError, GitError, SshError, TmuxError
from cortex_tui.model.layout import Layout
from cortex_tui.model.state import RunState

_CHECK = (
    'check() { d=$1; n=${d##*/}; b="$BR/$n"; '
    '[ "$(git -C "$d" symbolic-ref -q HEAD 2>/dev/null)" = "refs/heads/$b" ] || { why="not on its warm branch"; '
    'return 1; }; [ -z "$(git -C "$d" status --porcelain --untracked-files=no 2>/dev/null)" ] || '
    '{ why="tracked files changed in it"; return 1; }; return 0; }; '
)
_SCAN = ('bare=$1 root=$2 BR=$3 want=$4; ' + _CHECK + '[ -d "$root" ] || exit 0; for d in "$root"/w-*; do '
         '[ -d "$d" ] || continue; n=${d##*/}; if [ -n "$(git -C "$d" status --porcelain --untracked-files=no '
         '2>/dev/null)" ]; then echo "kept $n"; continue; fi; ok=0; if check "$d"; then ok=1; '
         'if [ -n "$want" ] && [ "$(cat "$d.setup.json" 2>/dev/null)" != "$want" ]; then ok=0; fi; fi; '
         'if [ $ok = 1 ] && git -C "$d" clean -q -f -d; then echo "ok $n $(git -C "$d" rev-parse HEAD)"; else '
         'git -C "$bare" worktree remove --force "$d" >/dev/null 2>&1; git -C "$bare" branch -q -D "$BR/$n" '
         '>/dev/null 2>&1; rm -f "$d.setup.json"; echo "dropped $n"; fi; done')
"""Slots an earlier supervisor left: ``ok <slot> <head>`` for each plain one, ``kept <slot>`` for one whose tracked
files someone changed (never removed: nothing with work in it is deleted; `cortex-tui clean` lists it), ``dropped
<slot>`` for the others."""
_BARE = '[ -d "$1" ] || git init --bare --quiet "$1" >&2 || exit 3'
_MAKE = 'mkdir -p "$(dirname "$2")" && git -C "$1" worktree add --quiet -b "$3" "$2" "$4"'
_REFRESH = 'rm -f "$1.setup.json" && git -C "$1" reset --quiet --hard "$2" && git -C "$1" clean -q -f -d'
_MARK = 'git -C "$1" clean -q -f -d && printf %s "$2" > "$1.setup.json"'
"""After the setup ran in a slot: what it left that is not ignored goes (ignored files stay: what it built), then
the record of which setup it was. A slot is clean from then on (:data:`_TAKE` relies on it)."""
_DROP = ('git -C "$1" worktree remove --force "$2" >/dev/null 2>&1; git -C "$1" branch -q -D "$3" >/dev/null 2>&1; '
         'rm -f "$2.setup.json"; exit 0')
_CLAIM = ('bare=$1 slot=$2 branch=$3 base=$4 wt=$5 warm=$6; if [ -e "$wt" ]; then echo exists; exit 0; fi; '
          'git -C "$bare" rev-parse -q --verify "refs/heads/$branch" >/dev/null && { echo exists; exit 0; }; '
          'git -C "$slot" checkout -q -f -B "$branch" "$base" && git -C "$slot" clean -q -f -d && '
          'mkdir -p "$(dirname "$wt")" && git -C "$bare" worktree move "$slot" "$wt" || exit 3; '
          'rm -f "$slot.setup.json"; git -C "$bare" branch -q -D "$warm" >/dev/null 2>&1; echo ok')
_TAKE = ('bare=$1 slot=$2 branch=$3 wt=$4 warm=$5; if [ -e "$wt" ]; then echo exists; exit 0; fi; '
         'git -C "$slot" branch -m "$warm" "$branch" 2>/dev/null || { git -C "$bare" rev-parse -q --verify '
         '"refs/heads/$branch" >/dev/null && { echo exists; exit 0; }; exit 3; }; '
         '[ -d "${wt%/*}" ] || mkdir -p "${wt%/*}" || exit 3; moved=0; '
         'if read -r link < "$slot/.git" && [ "${link#gitdir: /}" != "$link" ]; then admin=${link#gitdir: }; '
         'if read -r back < "$admin/gitdir" && [ "$back" = "$slot/.git" ] && [ ! -e "$admin/locked" ] && '
         'mv "$slot" "$wt"; then if printf "%s\n" "$wt/.git" > "$admin/gitdir.tmp" && '
         'mv -f "$admin/gitdir.tmp" "$admin/gitdir"; then moved=1; else mv "$wt" "$slot"; fi; fi; fi; '
         '[ $moved = 1 ] || git -C "$bare" worktree move "$slot" "$wt" || exit 3; rm -f "$slot.setup.json"; echo ok')
"""The claim of a slot at the commit the task starts from (what the refill made it, clean since — nothing works in
a slot): its branch renamed (``git branch -m``, which refuses one that exists: then ``exists``), then the
directory moved to the task's worktree path and git's link to it rewritten (what ``git worktree move`` does for
plain absolute links; git moves it when they are not). Like :func:`cortex_tui.backends.git.take_worktree` on this
machine: no checkout, no ``clean`` — three process starts where :data:`_CLAIM` has eight."""
_SWEEP = ('bare=$1 root=$2 BR=$3 tip=$4 dry=$5; ' + _CHECK + '[ -d "$bare" ] || exit 0; '
          'if [ -d "$root" ]; then for d in "$root"/w-*; do [ -d "$d" ] || continue; n=${d##*/}; '
          'if ! check "$d"; then echo "kept $n $why"; continue; fi; '
          'if ! git -C "$d" merge-base --is-ancestor HEAD "$tip" 2>/dev/null; then '
          'echo "kept $n its HEAD has commits that are not on the base"; continue; fi; echo "removed $n"; '
          '[ -n "$dry" ] && continue; git -C "$bare" worktree remove --force "$d" || echo "kept $n cannot remove it"; '
          'rm -f "$d.setup.json"; done; fi; '
          'used=$(git -C "$bare" worktree list --porcelain | sed -n "s|^branch refs/heads/||p"); '
          'git -C "$bare" for-each-ref --format="%(refname:short)" "refs/heads/$BR/" | while read -r b; do '
          'printf "%s\\n" "$used" | grep -qxF "$b" && continue; '
          'git -C "$bare" merge-base --is-ancestor "$b" "$tip" 2>/dev/null || { echo "kept ${b##*/} its branch has '
          'commits that are not on the base"; continue; }; echo "branch $b"; [ -n "$dry" ] || git -C "$bare" branch '
          '-q -D "$b"; done; [ -n "$dry" ] || rmdir "$root" 2>/dev/null; exit 0')
"""``clean``/``down``: remove the plain slots (on their warm branch, no tracked change, HEAD on the base ``$4``)
and the warm branches left without a slot; print ``removed``/``kept <slot> <why>``/``branch <name>`` lines."""


@dataclass
class NodeSlot:
    name: str
    path: PurePosixPath
    head: str


def warm_root(rn: RemoteNode) -> PurePosixPath:
    return rn.run_dir / "warm"


def _sh(rn: RemoteNode, what: str, script: str, *args: str, timeout: float = 120.0) -> str:
    r = rn.sh(script, *args, timeout=timeout, check=False)
    if r.returncode != 0:
        raise GitError(f"node {rn.node.name}: {what}: {(r.stderr or r.stdout).strip()[-300:]}")
    return r.stdout


def make_bare(rn: RemoteNode, local_repo: Path) -> None:
    """The node's bare repo of ``local_repo``, made when it is not there. Under the node's spawn lock when a spawn
    may run meanwhile: a cold spawn makes it too (``RemoteNode.prepare_worktree``), and two ``git init`` at once
    in one directory fail ("cannot copy ... hooks/...: File exists")."""
    bare = rn.bare_repo(local_repo)
    _sh(rn, f"cannot create the bare repo {bare}", _BARE, str(bare))


def push_base(rn: RemoteNode, local_repo: Path, base: str, *, made: bool = False) -> None:
    """The base commit into the node's bare repo (``refs/cortex/warm-base/<run>``), the repo made first (unless
    ``made``: :func:`make_bare` ran)."""
    if not made:
        make_bare(rn, local_repo)
    rn.push(local_repo, str(rn.bare_repo(local_repo)), [f"+{base}:refs/cortex/warm-base/{rn.run_id}"])


def scan(rn: RemoteNode, local_repo: Path, setup: list[str]) -> tuple[list[NodeSlot], list[str], list[str]]:
    """The plain slots an earlier supervisor left (ready again), the names of those left alone because tracked
    files changed in them, and the names of the others (dropped)."""
    root = warm_root(rn)
    out = _sh(rn, "cannot look at its warm slots", _SCAN, str(rn.bare_repo(local_repo)), str(root),
              f"{BRANCH_ROOT}/{rn.run_id}", json.dumps(setup) if setup else "")
    ok: list[NodeSlot] = []
    dropped: list[str] = []
    kept: list[str] = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "kept":
            kept.append(parts[1])
        elif len(parts) == 3 and parts[0] == "ok":
            ok.append(NodeSlot(parts[1], root / parts[1], parts[2]))
        elif len(parts) == 2 and parts[0] == "dropped":
            dropped.append(parts[1])
    return ok, kept, dropped


def make(rn: RemoteNode, local_repo: Path, name: str, base: str) -> NodeSlot:
    """A new slot at ``base`` (pushed already: :func:`push_base`)."""
    path = warm_root(rn) / name
    _sh(rn, f"git worktree add {path} failed", _MAKE, str(rn.bare_repo(local_repo)), str(path),
        branch_of(rn.run_id, name), base)
    return NodeSlot(name, path, base)


def refresh(rn: RemoteNode, slot: NodeSlot, base: str) -> None:
    _sh(rn, f"cannot reset warm slot {slot.name}", _REFRESH, str(slot.path), base)
    slot.head = base


def mark_setup(rn: RemoteNode, slot: NodeSlot, setup: list[str]) -> None:
    _sh(rn, "cannot record the warm slot's setup", _MARK, str(slot.path), json.dumps(setup))


def drop(rn: RemoteNode, local_repo: Path, slot: NodeSlot) -> None:
    rn.sh(_DROP, str(rn.bare_repo(local_repo)), str(slot.path), branch_of(rn.run_id, slot.name), check=False)


def window(rn: RemoteNode, slot: NodeSlot) -> WindowInfo:
    """``slot``'s idle window on the node's tmux server (``@cortex_warm`` = ``<node>/<slot>``, its pane idling in
    the slot: :meth:`~cortex_tui.backends.tmux.Tmux.warm_window`); the task that takes the slot starts its agent
    there (:meth:`~cortex_tui.backends.remote.RemoteNode.respawn`). Raises TmuxError/SshError."""
    return rn.tmux.warm_window(slot=slot.name, cwd=Path(str(slot.path)), run=rn.run_id, owner=rn.node.name)


def adopt_windows(rn: RemoteNode, slots: list[NodeSlot]) -> tuple[dict[str, WindowInfo], list[str]]:
    """The idle windows of ``slots`` an earlier supervisor left on the node (this node's, this run's, the idle
    process still there), by slot name; every other window of this node's warm slots is closed (its slot was
    dropped, or it has a second one): their ids are returned. Nothing when the node's server is not up."""
    prefix = f"{rn.node.name}/"
    names = {s.name for s in slots}
    found: dict[str, WindowInfo] = {}
    closed: list[str] = []
    for w in rn.tmux.list_windows():
        if not w.warm.startswith(prefix):
            continue
        name = w.warm[len(prefix):]
        if name in names and name not in found and not w.dead and w.instance == (rn.tmux.instance or ""):
            found[name] = w
        else:
            rn.kill_window(w.window_id)
            closed.append(w.window_id)
    return found, closed


def close_windows(rn: RemoteNode, slots: set[str], *, dry_run: bool = False) -> list[str]:
    """The idle windows of the node's warm slots named ``slots`` (``clean``/``down``: the slots were removed)."""
    prefix = f"{rn.node.name}/"
    gone = [w.window_id for w in rn.tmux.list_windows() if w.warm.startswith(prefix)
            and w.warm[len(prefix):] in slots]
    if not dry_run:
        for wid in gone:
            rn.kill_window(wid)
    return gone


def undo_claim(rn: RemoteNode, local_repo: Path, slot: NodeSlot, branch: str) -> None:
    """After a claim that failed half-way: the slot goes, and the task's branch it made there (at the base,
    nothing of anyone's yet), so the cold path starts clean."""
    drop(rn, local_repo, slot)
    bare = str(rn.bare_repo(local_repo))
    rn.sh('git -C "$1" worktree prune; git -C "$1" branch -q -D "$2" >/dev/null 2>&1; exit 0', bare, branch,
          check=False)


def claim(rn: RemoteNode, local_repo: Path, slot: NodeSlot, *, branch: str, base: str, slug: str) -> bool:
    """``slot`` becomes the session's worktree on ``branch`` at ``base`` (on the node already); False: the session
    has a worktree or branch of its own there (it is not fresh: the cold path re-uses them). A slot at ``base`` is
    renamed and moved (:data:`_TAKE`); one at another commit is reset to it first (:data:`_CLAIM`)."""
    bare, wt, warm = str(rn.bare_repo(local_repo)), str(rn.worktree_path(slug)), branch_of(rn.run_id, slot.name)
    if slot.head == base:
        out = _sh(rn, f"cannot hand warm slot {slot.name} out", _TAKE, bare, str(slot.path), branch, wt, warm)
    else:
        out = _sh(rn, f"cannot hand warm slot {slot.name} out", _CLAIM, bare, str(slot.path), branch, base, wt, warm)
    return out.strip().endswith("ok")


def sweep(rn: RemoteNode, local_repo: Path, tip: str | None, *, dry_run: bool = False) -> WarmSweep:
    """``clean``/``down`` on one node (see :data:`_SWEEP`); the base ``tip`` is pushed first so the node can tell
    what is on it."""
    out = WarmSweep(dry_run=dry_run)
    name = rn.node.name
    root = warm_root(rn)
    if tip is None:
        out.errors.append(f"node {name}: the base is not found here; its warm slots are kept")
        return out
    try:
        push_base(rn, local_repo, tip)
        text = _sh(rn, "cannot remove its warm slots", _SWEEP, str(rn.bare_repo(local_repo)), str(root),
                   f"{BRANCH_ROOT}/{rn.run_id}", tip, "1" if dry_run else "")
    except (GitError, SshError) as e:
        out.errors.append(f"node {name}: {e.message}")
        return out
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        slot, _, why = rest.partition(" ")
        if kind == "removed":
            out.removed.append(SlotResult(name, slot, str(root / slot), "a warm slot (no work in it)"))
        elif kind == "kept":
            out.kept.append(SlotResult(name, slot, str(root / slot), why))
        elif kind == "branch":
            out.branches.append(f"{name}:{slot}")
    try:  # their idle windows on the node's tmux (``down`` stops this machine's server, not the node's)
        out.windows += close_windows(rn, {r.slot for r in out.removed}, dry_run=dry_run)
    except (TmuxError, SshError) as e:
        out.errors.append(f"node {name}: warm windows: {e.message}")
    return out


def sweep_nodes(local_repo: Path, layout: Layout, run: str, socket: str, tip: str | None, *,
                dry_run: bool = False) -> WarmSweep:
    """:func:`sweep` on every ``[[node]]`` of ``layout`` that keeps warm slots (a node that cannot be reached is
    named in ``errors``; its slots stay for the next ``clean``)."""
    from cortex_tui.backends.remote_node import make_remote_node

    out = WarmSweep(dry_run=dry_run)
    pool_warm = layout.pool.warm if layout.pool is not None else 0
    for spec in layout.node:
        if not (spec.warm if spec.warm is not None else pool_warm):
            continue
        rn = make_remote_node(spec, run, socket)
        try:
            rn.setup()
            out.extend(sweep(rn, local_repo, tip, dry_run=dry_run))
        except (GitError, SshError) as e:
            out.errors.append(f"node {spec.name}: {e.message}")
        finally:
            rn.transport.close()
    return out


def sweep_run(local_repo: Path, state: RunState, *, dry_run: bool = False) -> WarmSweep:
    """``clean``/``down``: the run's warm slots on this machine, then on its ssh nodes."""
    from cortex_tui.layout import parse_layout

    out = sweep_local(local_repo, state.run, state.base, dry_run=dry_run)
    _close_windows(out, state.socket)
    try:
        layout = parse_layout(state.layout_text, Path(state.layout_path)).layout
    except CortexError as e:
        out.errors.append(f"the run's layout no longer parses ({e.message}): slots on its nodes are kept")
        return out
    if layout.node:
        out.extend(sweep_nodes(local_repo, layout, state.run, state.socket, base_tip(local_repo, state.base),
                               dry_run=dry_run))
    return out


def _close_windows(out: WarmSweep, socket: str) -> None:
    """The idle tmux windows of the slots removed (``@cortex_warm``; engine/warm.py), when the run's server is up."""
    from cortex_tui.backends.tmux import Tmux

    gone = {r.slot for r in out.removed if r.where == "local"}
    tmux = Tmux(socket)
    if not gone or not tmux.alive():
        return
    try:
        for w in tmux.list_windows():
            if w.warm in gone:
                out.windows.append(w.window_id)
                if not out.dry_run:
                    tmux.kill_window(w.window_id)
    except CortexError as e:  # the server went away meanwhile: its windows with it
        out.errors.append(f"warm windows: {e.message}")
