"""#13 item 24: the dedicated tmux server sources the user's own config (prefix, keys, mouse) and then
re-applies what cortex-tui needs; ``CORTEX_TMUX_CONF=none`` opts out, a broken config is reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cortex_tui.backends.tmux import Tmux, user_tmux_conf

USER_CONF = """\
set -g prefix C-a
unbind C-b
bind C-a send-prefix
set -g mouse off
bind-key | split-window -h
# settings that would break supervision: cortex-tui puts its own back
set -g remain-on-exit off
set -g history-limit 100
set -g destroy-unattached on
"""


def server(tmp_path: Path, name: str) -> Tmux:
    t = Tmux(f"conf-{name}-{os.getpid()}")
    t.ensure_server(tmp_path, "test")
    return t


def opt(t: Tmux, name: str) -> str:
    return t.run("show-options", "-gv", name).strip()


def test_user_config_is_sourced_and_cortex_settings_win(tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    (home / ".tmux.conf").write_text(USER_CONF)
    t = server(tmp_path, "user")
    try:
        assert t.config_sourced == home / ".tmux.conf" and t.config_error is None
        assert opt(t, "prefix") == "C-a"  # the user's prefix and bindings when attaching
        assert opt(t, "mouse") == "off"
        assert "split-window -h" in t.run("list-keys", "-T", "prefix")
        # what supervision needs is put back after the user's config
        assert opt(t, "remain-on-exit") == "on"
        assert opt(t, "history-limit") == "50000"
        assert opt(t, "destroy-unattached") == "off"
    finally:
        t.kill_server()


def test_opt_out_and_xdg_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path(os.environ["HOME"])
    xdg = home / ".config" / "tmux"
    xdg.mkdir(parents=True)
    (xdg / "tmux.conf").write_text("set -g prefix C-a\n")
    assert user_tmux_conf() == xdg / "tmux.conf"
    monkeypatch.setenv("CORTEX_TMUX_CONF", "none")
    assert user_tmux_conf() is None
    t = server(tmp_path, "none")
    try:
        assert t.config_sourced is None and opt(t, "prefix") == "C-b" and opt(t, "mouse") == "on"
    finally:
        t.kill_server()


def test_a_broken_config_is_reported_and_the_server_still_runs(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "broken.conf"
    conf.write_text("set -g prefix C-a\nno-such-tmux-command\n")
    monkeypatch.setenv("CORTEX_TMUX_CONF", str(conf))
    t = server(tmp_path, "broken")
    try:
        assert t.alive()
        assert t.config_error is not None and "no-such-tmux-command" in t.config_error
        assert str(conf) in t.config_error
        assert opt(t, "remain-on-exit") == "on"
    finally:
        t.kill_server()
