"""A dedicated tmux server (its own socket) hosting one window per session.

All calls are plain ``tmux`` subprocesses with argv lists (no shell), so names and prompts with
spaces, quotes, ``$`` or ``;`` cannot inject commands. Windows are always targeted by id (``@N``),
never by name, and found again after a supervisor restart by the ``@cortex_session`` window option.

tmux *format-expands* some arguments (``#(cmd)`` runs a command, ``#{...}`` substitutes): the
start directory (``-c``), window names, the ``pipe-pane`` command and ``-F``/``display`` formats.
Every string we do not write ourselves goes through :func:`fmt_literal` there (``#`` -> ``##``).
The environment never goes on a command line (``-e K=V`` is visible to every user in ``ps``): it is
written to a 0600 file that a fixed ``/bin/sh`` loader reads, deletes and then ``exec``s the agent.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cortex_tui.agents.base import KeyInput
from cortex_tui.errors import TmuxError

HOST_SESSION = "cortex"
_FIELDS = ("window_id", "pane_id", "pane_pid", "pane_dead", "pane_dead_status", "tag", "window_name", "instance",
           "warm")
_SEP = "\x1f"


def tmux_arg(value: str) -> str:
    """Escape an argument so tmux's argv parser keeps it literal (a trailing ``;`` separates commands)."""
    if value.endswith(";"):
        return value[:-1] + "\\;"
    return value


_HASHES = re.compile(r"(#+)(\[?)")


def fmt_literal(value: str) -> str:
    """``value`` for an argument tmux format-expands: it expands back to exactly ``value``.

    Every ``#`` is doubled, except a run of ``#`` just before ``[``: tmux copies such a run verbatim
    (it is left for the style parser), so doubling it would change the string.
    """
    return _HASHES.sub(lambda m: m.group(0) if m.group(2) else m.group(1) * 2, value)


CONF_ENV = "CORTEX_TMUX_CONF"
"""Which tmux config the dedicated server sources: unset = the user's own, ``none`` = none, else a path."""

FORCED_OPTIONS: tuple[tuple[str, str], ...] = (
    ("remain-on-exit", "on"),  # an agent's exit status is read from its dead pane
    ("history-limit", "50000"),  # evidence and the pane mirror read the scrollback
    ("destroy-unattached", "off"),  # nobody attached is the normal state of the host session
    ("status-left", "[cortex] "),
    ("status-left-length", "40"),
)
"""Server options cortex-tui needs, set after the user's config so it cannot turn them off."""

DEFAULT_OPTIONS: tuple[tuple[str, str], ...] = (("mouse", "on"),)
"""Defaults the user's config may change (set before it is sourced)."""


def user_tmux_conf(env: dict[str, str] | None = None) -> Path | None:
    """The tmux config to source in a local dedicated server: ``$CORTEX_TMUX_CONF`` (``none`` turns it
    off), else ``~/.tmux.conf``, else ``$XDG_CONFIG_HOME/tmux/tmux.conf`` (``~/.config/...``); None when
    there is none. Sourced so that attaching feels like the user's tmux: prefix, key bindings, mouse."""
    env = dict(os.environ) if env is None else env
    chosen = env.get(CONF_ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "none", "off", "/dev/null") else Path(chosen).expanduser()
    home = Path(env.get("HOME") or Path.home())
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    for candidate in (home / ".tmux.conf", xdg / "tmux" / "tmux.conf"):
        if candidate.is_file():
            return candidate
    return None


def window_name(name: str) -> str:
    """Window names are format-expanded by tmux: double every ``#``."""
    return tmux_arg(fmt_literal(name))


ENV_LOADER = 'e=$1; shift; . "$e" || exit 125; rm -f -- "$e"; exec "$@"'
"""``/bin/sh -c`` loader: ``$1`` is an env file (``export K='v'`` lines), the rest is the argv to exec."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def env_script(env: dict[str, str]) -> bytes:
    """The env file :data:`ENV_LOADER` sources: one ``export K='v'`` line per variable."""
    lines = []
    for k, v in env.items():
        if not _ENV_NAME.match(k):
            raise TmuxError(f"invalid environment variable name {k!r}")
        if "\0" in v:
            raise TmuxError(f"environment variable {k} contains a NUL byte")
        lines.append(f"export {k}={shlex.quote(v)}\n")
    return "".join(lines).encode()


def pipe_command(log_path: str) -> str:
    """The ``pipe-pane`` command appending a pane's output to ``log_path`` (private, never expanded)."""
    return fmt_literal(f"umask 077; exec cat >> {shlex.quote(log_path)}")


def write_private(path: str, data: bytes) -> None:
    """Write ``data`` to a new file readable only by its owner (``O_EXCL`` after removing a stale one)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


@dataclass(frozen=True)
class WindowInfo:
    window_id: str
    pane_id: str
    pane_pid: int | None
    dead: bool
    dead_status: int | None
    tag: str
    """The ``@cortex_session`` option: the session name ('' for other windows)."""
    name: str
    instance: str = ""
    """The ``@cortex_instance`` option: the id of the run that made the window ('' when none was set)."""
    warm: str = ""
    """The ``@cortex_warm`` option: the warm slot this idle window waits for (engine/warm.py; '' for others)."""


Runner = Callable[[list[str], float], "subprocess.CompletedProcess[str]"]
"""Runs a tmux argv (with a timeout) and returns its result, e.g. on another machine over ssh."""


class Tmux:
    """One tmux server on a private socket (``tmux -L <socket>``).

    ``runner`` (optional) executes every tmux argv instead of a local subprocess — the remote-node
    backend passes one that runs it over ssh; paths given to a Tmux with a runner are never touched
    locally.
    """

    def __init__(self, socket: str, *, tmux_bin: str | None = None, runner: Runner | None = None,
                 writer: Callable[[str, bytes], None] | None = None) -> None:
        self.socket = socket
        self.runner = runner
        self.writer = writer or write_private
        """Writes a private (0600) file where the tmux server runs (the env file of a new window)."""
        self.bin = tmux_bin or (shutil.which("tmux") if runner is None else None) or "tmux"
        self.config_sourced: Path | None = None
        """The user's tmux config this server sourced when it started (see :func:`user_tmux_conf`)."""
        self.config_error: str | None = None
        """Why sourcing it failed (the server runs on without it)."""
        self.instance: str | None = None
        """The id of the run whose windows this makes (``RunState.instance``), set on each new window."""

    def base_argv(self) -> list[str]:
        return [self.bin, "-u", "-L", self.socket]  # -u: UTF-8 even without a UTF-8 locale (CI)

    def run(self, *args: str, check: bool = True, timeout: float = 10.0) -> str:
        argv = [*self.base_argv(), *args]
        try:
            r = self._exec(argv, timeout)
        except FileNotFoundError:
            raise TmuxError("tmux is not installed", "run `cortex-tui doctor` for install instructions") from None
        except subprocess.TimeoutExpired:
            raise TmuxError(f"tmux {args[0] if args else ''} timed out after {timeout}s") from None
        if check and r.returncode != 0:
            raise TmuxError(f"tmux {args[0] if args else ''} failed: {r.stderr.strip() or r.stdout.strip()}")
        return r.stdout

    def _exec(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        if self.runner is not None:
            return self.runner(argv, timeout)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, errors="replace")

    # server ----------------------------------------------------------------
    def alive(self) -> bool:
        return self._exec([*self.base_argv(), "has-session", "-t", f"={HOST_SESSION}"], 10.0).returncode == 0

    def ensure_server(self, cwd: Path, banner: str) -> None:
        """Start the server with its host session (window 0 is a placeholder) unless running."""
        if self.alive():
            return
        placeholder = ["/bin/sh", "-c", 'printf "%s\\n" "$1"; exec tail -f /dev/null', "cortex", banner]
        try:
            self.run("-f", "/dev/null", "new-session", "-d", "-s", HOST_SESSION, "-x", "220", "-y", "50",
                     "-n", "_cortex", "-c", fmt_literal(str(cwd)), *[tmux_arg(a) for a in placeholder])
        except TmuxError as e:  # started meanwhile by a concurrent spawn (two nodes on one host): it is up
            if "duplicate session" not in e.message or not self.alive():
                raise
            return
        self.make_socket_private()
        for opt in DEFAULT_OPTIONS:
            self.run("set-option", "-g", *opt, check=False)
        # the host session's own value beats any global one a config sets: it is never destroyed for
        # having no client attached (the normal state)
        self.run("set-option", "-t", f"={HOST_SESSION}", "destroy-unattached", "off", check=False)
        conf = user_tmux_conf() if self.runner is None else None  # remote nodes: the node's tmux, no config
        self.config_error = None
        forced: list[str] = ["set-option", "-s", "exit-unattached", "off"]
        for name, value in FORCED_OPTIONS:
            forced += [";", "set-option", "-g", name, value]
        if conf is not None:
            # the user's prefix, keys and mouse when attaching; one command list with cortex-tui's own
            # settings right after it, so nothing in the config takes effect without them
            r = self._exec([*self.base_argv(), "source-file", "-q", fmt_literal(str(conf)), ";", *forced], 10.0)
            if r.returncode != 0:
                self.config_error = f"{conf}: {(r.stderr or r.stdout).strip() or 'tmux could not source it'}"
        self.config_sourced = conf if conf is not None and self.config_error is None else None
        self.run(*forced, check=False)  # again: a config that failed half-way stopped the list early

    def make_socket_private(self) -> None:
        """tmux creates its socket 0660: anyone in the group could drive the agents. Make it 0600."""
        path = self.run("display-message", "-p", "#{socket_path}", check=False).strip()
        if not path.startswith("/"):
            raise TmuxError(f"tmux did not say where its socket {self.socket!r} is: {path!r}")
        if self.runner is None:
            os.chmod(path, 0o600)
        else:
            self._exec(["chmod", "600", path], 10.0)

    def kill_server(self) -> None:
        self.run("kill-server", check=False)

    # windows ---------------------------------------------------------------
    def new_window(self, *, name: str, cwd: Path, argv: list[str], env: dict[str, str], log_path: Path,
                   tag: str, run: str, env_file: Path | None = None) -> WindowInfo:
        """Create a window running ``argv`` with its output piped to ``log_path`` from the first byte.

        ``env`` is written to ``env_file`` (default: a hidden file next to the log), mode 0600, through
        :attr:`writer`; the window's loader reads and deletes it before the agent starts.
        """
        if self.runner is None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
        if env:
            ef = str(env_file or log_path.with_name(f".{log_path.name}.env"))
            self.writer(ef, env_script(env))
            argv = ["/bin/sh", "-c", ENV_LOADER, "cortex-env", ef, *argv]
        args: list[str] = ["new-window", "-t", f"={HOST_SESSION}:", "-P", "-F",
                           "#{window_id} #{pane_id} #{pane_pid}", "-n", window_name(name),
                           "-c", fmt_literal(str(cwd))]
        args += [tmux_arg(a) for a in argv]
        args += [";", "set-option", "-w", "@cortex_session", tmux_arg(tag),
                 ";", "set-option", "-w", "@cortex_run", tmux_arg(run),
                 *([";", "set-option", "-w", "@cortex_instance", tmux_arg(self.instance)] if self.instance else []),
                 ";", "pipe-pane", "-o", tmux_arg(pipe_command(str(log_path)))]
        out = self.run(*args).strip().splitlines()
        if not out:
            raise TmuxError(f"tmux new-window for {name!r} printed nothing")
        wid, pid_, ppid = out[0].split(" ")
        return WindowInfo(wid, pid_, int(ppid) if ppid.isdigit() else None, False, None, tag, name,
                          self.instance or "")

    def warm_window(self, *, slot: str, cwd: Path, run: str, owner: str = "") -> WindowInfo:
        """An idle window for a warm slot (engine/warm.py): made ahead, in the background, so a task that takes
        the slot starts its agent with :meth:`respawn_window` (one tmux command) instead of a new window.
        ``owner``: the ssh node whose slot it is (engine/remote_warm.py): ``@cortex_warm`` is ``<owner>/<slot>``
        then, so the slots of this machine and of nodes sharing one tmux server never take up each other's."""
        idle = ["/bin/sh", "-c", "exec tail -f /dev/null"]
        name = f"~{slot}"
        for part in (slot, *([owner] if owner else [])):
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", part):
                raise TmuxError(f"warm slot name {part!r} is not [A-Za-z0-9_.-]+")
        key = f"{owner}/{slot}" if owner else slot
        # -d: the window a person attached looks at stays; so the options name the new window (by its name)
        target = f"={HOST_SESSION}:={name}"
        args: list[str] = ["new-window", "-d", "-t", f"={HOST_SESSION}:", "-P", "-F",
                           "#{window_id} #{pane_id} #{pane_pid}", "-n", name, "-c", fmt_literal(str(cwd)), *idle,
                           ";", "set-option", "-w", "-t", target, "@cortex_warm", key,
                           ";", "set-option", "-w", "-t", target, "@cortex_run", tmux_arg(run),
                           *([";", "set-option", "-w", "-t", target, "@cortex_instance", tmux_arg(self.instance)]
                             if self.instance else [])]
        return self._window(self.run(*args), name, "", warm=key)

    def respawn_window(self, win: WindowInfo, *, name: str, cwd: Path, argv: list[str], env: dict[str, str],
                       log_path: Path, tag: str, run: str, env_file: Path | None = None) -> WindowInfo:
        """:meth:`new_window`'s result in an idle window made ahead (:meth:`warm_window`), in one tmux command:
        its output piped to ``log_path`` first (from the first byte), then named and tagged as the session's,
        then ``argv`` started in place of the idle process. Raises TmuxError when the window is gone."""
        if self.runner is None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
        if env:
            ef = str(env_file or log_path.with_name(f".{log_path.name}.env"))
            self.writer(ef, env_script(env))
            argv = ["/bin/sh", "-c", ENV_LOADER, "cortex-env", ef, *argv]
        return self._window(self.run(*self.respawn_args(win, name=name, cwd=cwd, argv=argv, log_path=log_path,
                                                          tag=tag, run=run)), name, tag)

    def respawn_args(self, win: WindowInfo, *, name: str, cwd: Path, argv: list[str], log_path: Path, tag: str,
                     run: str) -> list[str]:
        """The one tmux command list of :meth:`respawn_window` (``argv`` as it is: the env loader already in it),
        for a caller that runs it itself (a node's start script: backends/remote.py)."""
        pane, wid = win.pane_id, win.window_id
        return ["pipe-pane", "-t", pane, tmux_arg(pipe_command(str(log_path))),
                ";", "set-option", "-w", "-t", wid, "@cortex_session", tmux_arg(tag),
                ";", "set-option", "-w", "-t", wid, "@cortex_run", tmux_arg(run),
                *([";", "set-option", "-w", "-t", wid, "@cortex_instance", tmux_arg(self.instance)]
                  if self.instance else []),
                ";", "set-option", "-w", "-t", wid, "-u", "@cortex_warm",
                ";", "rename-window", "-t", wid, window_name(name),
                ";", "respawn-pane", "-k", "-t", pane, "-c", fmt_literal(str(cwd)),
                *[tmux_arg(a) for a in argv],
                ";", "display-message", "-p", "-t", pane, "#{window_id} #{pane_id} #{pane_pid}"]

    def _window(self, printed: str, name: str, tag: str, warm: str = "") -> WindowInfo:
        out = printed.strip().splitlines()
        if not out:
            raise TmuxError(f"tmux made no window for {name!r}")
        wid, pid_, ppid = out[-1].split(" ")
        return WindowInfo(wid, pid_, int(ppid) if ppid.isdigit() else None, False, None, tag, name,
                          self.instance or "", warm)

    def list_windows(self) -> list[WindowInfo]:
        """Every pane of the host session; empty when the server or its host session is gone (one tmux call:
        ``list-panes`` fails then, as ``has-session`` would — the reconcile runs this every few seconds)."""
        fmt = _SEP.join("#{" + f + "}" for f in ("window_id", "pane_id", "pane_pid", "pane_dead",
                                                  "pane_dead_status", "@cortex_session", "window_name",
                                                  "@cortex_instance", "@cortex_warm"))
        try:
            r = self._exec([*self.base_argv(), "list-panes", "-s", "-t", f"={HOST_SESSION}", "-F", fmt], 10.0)
        except FileNotFoundError:
            raise TmuxError("tmux is not installed", "run `cortex-tui doctor` for install instructions") from None
        except subprocess.TimeoutExpired:
            raise TmuxError("tmux list-panes timed out after 10.0s") from None
        if r.returncode != 0:
            return []
        out = r.stdout
        wins: list[WindowInfo] = []
        seen: set[str] = set()
        for line in out.splitlines():
            parts = line.split(_SEP)
            if len(parts) != len(_FIELDS) or parts[0] in seen:
                continue
            seen.add(parts[0])
            wins.append(WindowInfo(
                window_id=parts[0], pane_id=parts[1],
                pane_pid=int(parts[2]) if parts[2].isdigit() else None,
                dead=parts[3] == "1",
                dead_status=int(parts[4]) if parts[4].lstrip("-").isdigit() else None,
                tag=parts[5], name=parts[6], instance=parts[7], warm=parts[8],
            ))
        return wins

    def kill_window(self, window_id: str) -> None:
        self.run("kill-window", "-t", window_id, check=False)

    def send_keys(self, target: str, keys: list[KeyInput]) -> None:
        """Send keys: literal text with ``-l`` (never interpreted), named keys separately."""
        for kind, value in keys:
            if kind == "literal":
                self.run("send-keys", "-t", target, "-l", "--", tmux_arg(value))
            else:
                self.run("send-keys", "-t", target, value)

    def capture(self, target: str, lines: int = 200, escapes: bool = False) -> str:
        args = ["capture-pane", "-p", "-J", "-t", target, "-S", f"-{lines}"]
        if escapes:
            args.insert(2, "-e")
        return self.run(*args, check=False)

    def attach_argv(self, window_id: str) -> list[str]:
        """argv that attaches a terminal to ``window_id``."""
        return [*self.base_argv(), "select-window", "-t", window_id, ";", "attach-session", "-t", f"={HOST_SESSION}"]


def socket_name(run: str, state_dir: Path) -> str:
    """A stable, private socket name for (run, state dir)."""
    import hashlib

    h = hashlib.sha1(str(state_dir.resolve()).encode()).hexdigest()[:8]
    return f"cortex-{run}-{h}"


def tmux_env_ok() -> bool:
    return shutil.which("tmux") is not None and "CORTEX_NO_TMUX" not in os.environ
