#!/usr/bin/env bash
# Install what cortex-tui needs on a fresh machine, into a project venv (.venv/) — never into the system Python.
#   scripts/bootstrap.sh          runtime: system tools (tmux, git, make, python3-venv) when missing, then
#                                 cortex-tui (editable) into .venv/
#   scripts/bootstrap.sh --dev    also the test tools: openssh-server (sshd binary only: the tests run their own
#                                 sshd on loopback; no system service is enabled or started), bubblewrap, the
#                                 dev extras, the agent CLIs into a local npm prefix (.venv/, not global), and
#                                 the desktop extra (dbus-python, built here; optional: without root it is named)
# Nothing to do (same pyproject.toml, same mode, tools present) -> returns at once, printing nothing.
# Environment: PYTHON (interpreter to build .venv from; default: the first python3 >= 3.11 on PATH),
#              CORTEX_VENV (default .venv), CORTEX_SKIP_AGENT_CLIS=1 (skip the agent CLIs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
DEV=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bootstrap: unknown option '$arg' (use --dev or --help)" >&2; exit 2 ;;
  esac
done
VENV="${CORTEX_VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
STAMP="$VENV/.cortex-bootstrap"
say() { echo "bootstrap: $*" >&2; }

# --- which interpreter builds the venv ---------------------------------------------------------------------
py_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; }
PY=""
if [ -n "${PYTHON:-}" ]; then
  PY="$(command -v "$PYTHON" || true)"
  if [ -z "$PY" ] || ! py_ok "$PY"; then say "PYTHON=$PYTHON is not a Python >= 3.11"; exit 1; fi
else
  for cand in python3 python3.13 python3.12 python3.11; do
    p="$(command -v "$cand" || true)"
    if [ -n "$p" ] && py_ok "$p"; then PY="$p"; break; fi
  done
fi

# --- the stamp: pyproject.toml's hash + mode; a --dev stamp also satisfies a runtime bootstrap -------------
hash_of() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1; else cksum "$1" | cut -d' ' -f1; fi; }
want_hash="$(hash_of pyproject.toml)"

# --- system packages -----------------------------------------------------------------------------------------
need=()
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v git  >/dev/null 2>&1 || need+=(git)
command -v make >/dev/null 2>&1 || need+=(make)
if [ -z "$PY" ]; then
  need+=(python3 python3-venv)
elif [ ! -x "$VENV/bin/python" ] && ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  # Debian/Ubuntu ship venv's pip bootstrap (ensurepip) in a separate package
  ver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  case "$PY" in /usr/bin/python3.[0-9]*) need+=("python$ver-venv") ;; *) need+=(python3-venv) ;; esac
fi
if [ "$DEV" = 1 ]; then
  command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
  { [ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1; } || need+=(openssh-server)
  command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
  # the browser view's test drives Debian's headless Chromium (tests/test_web.py)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
fi

if [ "${#need[@]}" = 0 ] && [ -f "$STAMP" ] && [ -x "$VENV/bin/python" ]; then
  stamp="$(cat "$STAMP")"
  agents_ok=1  # --dev also needs the agent CLIs block to have run once (.cortex-dev/.installed)
  [ "$DEV" = 1 ] && [ "${CORTEX_SKIP_AGENT_CLIS:-0}" != 1 ] && [ ! -f "$ROOT/.cortex-dev/.installed" ] && agents_ok=0
  if { [ "$stamp" = "$want_hash dev" ] && [ "$agents_ok" = 1 ]; } || { [ "$DEV" = 0 ] && [ "$stamp" = "$want_hash runtime" ]; }; then
    exit 0
  fi
fi

# --- --dev, optional: the desktop notifications' D-Bus path (tests/test_notify_desktop.py) ----------------------
# apprise's dbus:// backend needs dbus-python (with its GLib main loop, dbus.mainloop.glib — part of dbus-python,
# no PyGObject). PyPI has it as an sdist only: building it needs pkg-config, the libdbus-1 and GLib headers and a C
# compiler (and Python.h); the test drives dbus-daemon and dbus-monitor. Where these cannot be installed (no root,
# no sudo, no apt-get) this is said in one line and the rest goes on; the desktop delivery test then skips.
opt=()
dbus_py=0  # 1: install the desktop extra (dbus-python) with the dev extras
if [ "$DEV" = 1 ]; then
  command -v dbus-daemon >/dev/null 2>&1 || opt+=(dbus-daemon)
  command -v dbus-monitor >/dev/null 2>&1 || opt+=(dbus-bin)
  build=()  # what building dbus-python needs
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import dbus.mainloop.glib' >/dev/null 2>&1; then
    :  # built before: pip keeps it
  else
    { command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1; } || build+=(gcc)
    if command -v pkg-config >/dev/null 2>&1; then
      pkg-config --exists dbus-1 2>/dev/null || build+=(libdbus-1-dev)
      pkg-config --exists glib-2.0 2>/dev/null || build+=(libglib2.0-dev)
    else
      build+=(pkg-config libdbus-1-dev libglib2.0-dev)
    fi
    case "$PY" in
      /usr/bin/python3.[0-9]*)  # Debian's interpreter keeps Python.h in python3.X-dev
        "$PY" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' >/dev/null 2>&1 \
          || build+=("${PY##*/}-dev") ;;
    esac
  fi
  [ "${#build[@]}" = 0 ] && dbus_py=1
  opt+=("${build[@]}")
fi
opt_missing() {  # one line: what the desktop path lacks and what to run; the rest of the bootstrap goes on
  say "dbus-python not installed (desktop notifications, dbus://; its test skips): missing system packages" \
      "${opt[*]} — $1; 'apt-get install ${opt[*]}' as root, then run this again. The rest goes on."
}

installed_sys=""
if [ "${#need[@]}" -gt 0 ] || [ "${#opt[@]}" -gt 0 ]; then
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO=(sudo)
    elif [ "${#need[@]}" -gt 0 ]; then
      say "missing system packages: ${need[*]} — not root and no sudo here; ask an administrator to run" \
          "'apt-get install ${need[*]}' (or your system's equivalent), then run this again"
      exit 1
    else
      opt_missing "not root and no sudo here"
      opt=()
    fi
  fi
  if [ "${#need[@]}" -gt 0 ] && ! command -v apt-get >/dev/null 2>&1; then
    say "missing system packages: ${need[*]} — no apt-get here: install them with your package manager, then run this again"
    exit 1
  elif [ "${#opt[@]}" -gt 0 ] && ! command -v apt-get >/dev/null 2>&1; then
    opt_missing "no apt-get here (use your package manager's equivalents)"
    opt=()
  fi
fi
if [ "${#need[@]}" -gt 0 ] || [ "${#opt[@]}" -gt 0 ]; then
  say "installing system packages with ${SUDO[*]:+sudo }apt-get: ${need[*]}${need[*]:+${opt[*]:+ }}${opt[*]} …"
  export DEBIAN_FRONTEND=noninteractive
  # openssh-server must not start (or enable) a system sshd: the tests run their own on loopback only.
  # policy-rc.d (exit 101) makes invoke-rc.d / deb-systemd-invoke refuse every service start during the install.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  sshd_was_running=0
  if [[ " ${need[*]} " == *" openssh-server "* ]]; then
    pgrep -x sshd >/dev/null 2>&1 && sshd_was_running=1
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\n# written by cortex-tui scripts/bootstrap.sh during an apt-get install; removed after it\nexit 101\n' \
        | "${SUDO[@]}" tee "$policy" >/dev/null
      "${SUDO[@]}" chmod 755 "$policy"
      own_policy=1
    fi
  fi
  cleanup_policy() { if [ "$own_policy" = 1 ]; then "${SUDO[@]}" rm -f "$policy"; own_policy=0; fi; }
  trap cleanup_policy EXIT
  "${SUDO[@]}" apt-get update -qq >/dev/null || say "apt-get update failed (see above); installing from the lists there are"
  if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" "${opt[@]}" >/dev/null; then
    # the optional packages must not sink the required ones: try those alone
    if [ "${#opt[@]}" -gt 0 ]; then
      opt_missing "apt-get could not install them (see the lines above)"
      if [ "${#need[@]}" -gt 0 ]; then
        opt=()
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || {
          say "apt-get install ${need[*]} failed (see the lines above)"; exit 1; }
      fi
      opt=()
    else
      say "apt-get install ${need[*]} failed (see the lines above)"
      exit 1
    fi
  elif [ "${#opt[@]}" -gt 0 ]; then
    dbus_py=1
  fi
  cleanup_policy
  if [[ " ${need[*]} " == *" openssh-server "* ]]; then
    # never leave a system sshd enabled or running because of us
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      "${SUDO[@]}" systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
    elif [ -e /etc/init.d/ssh ] && [ "$sshd_was_running" = 0 ]; then
      "${SUDO[@]}" /etc/init.d/ssh stop >/dev/null 2>&1 || true
    fi
    "${SUDO[@]}" touch /etc/ssh/sshd_not_to_be_run 2>/dev/null || true
  fi
  installed_sys="${need[*]}${need[*]:+${opt[*]:+ }}${opt[*]}"
  installed_sys="${installed_sys:+system: $installed_sys (apt-get)}"
  if [ -z "$PY" ]; then
    for cand in python3 python3.13 python3.12 python3.11; do
      p="$(command -v "$cand" || true)"
      if [ -n "$p" ] && py_ok "$p"; then PY="$p"; break; fi
    done
    [ -n "$PY" ] || { say "no Python >= 3.11 after installing python3; install one and set PYTHON=/path/to/python3"; exit 1; }
  fi
fi

# --- the project venv -----------------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  say "creating the project venv $VENV with $PY ($("$PY" -c 'import platform; print(platform.python_version())')) …"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
rm -f "$STAMP"
desktop_line=""
if [ "$DEV" = 1 ] && [ "$dbus_py" = 1 ]; then
  # the desktop extra (dbus-python, pyproject.toml): PyPI has no wheel, pip builds it from its sdist (~10 s)
  say "installing cortex-tui (editable) with the dev and desktop (dbus-python) extras into $VENV …"
  if "$VPY" -m pip install -q --disable-pip-version-check -e '.[dev,desktop]'; then
    desktop_line="; desktop notifications: dbus-python"
  else
    say "dbus-python did not build (see pip's lines above): desktop notifications (dbus://) and their test skip;" \
        "installing the rest without it …"
    "$VPY" -m pip install -q --disable-pip-version-check -e '.[dev]'
  fi
elif [ "$DEV" = 1 ]; then
  say "installing cortex-tui (editable) with the dev extras into $VENV …"
  "$VPY" -m pip install -q --disable-pip-version-check -e '.[dev]'
else
  say "installing cortex-tui (editable) into $VENV …"
  "$VPY" -m pip install -q --disable-pip-version-check -e .
fi

agents_line=""
if [ "$DEV" = 1 ] && [ "${CORTEX_SKIP_AGENT_CLIS:-0}" != 1 ]; then
  # === agent CLIs for the adapter tests (owned by the "agents" engineer) =====================================
  # The real agent CLIs the conformance suite drives (tests/conformance/), pinned to the tested versions in
  # cortex_tui/data/agent_clis.json, installed into .cortex-dev/ — never `npm install -g`, never the system Python:
  #   .cortex-dev/npm/          npm --prefix install of the Node CLIs (claude, codex, gemini, opencode)
  #   .cortex-dev/opencode-config/  @opencode-ai/plugin for OpenCode's config dir (linked into test HOMEs)
  #   .cortex-dev/aider-venv/   aider-chat in its own venv (its dependency pins clash with ours)
  #   .cortex-dev/bin/          one symlink per CLI; tests/conftest.py puts it first on PATH
  # A CLI that fails to install is named here; its conformance tests then skip, printing the reason.
  DEVDIR="$ROOT/.cortex-dev"
  mkdir -p "$DEVDIR/bin"
  pins() { "$VPY" -c 'import json,sys
for k,v in json.load(open("cortex_tui/data/agent_clis.json")).items():
    if not k.startswith("_") and sys.argv[1] in v: print(v[sys.argv[1]]+"@"+v["tested"][0], v["bin"])' "$1"; }
  has() { "$1" --version </dev/null 2>/dev/null | grep -qF "$2"; }
  got=()
  if command -v npm >/dev/null 2>&1; then
    specs=(); bins=()
    while read -r spec bin; do
      bins+=("$bin")
      has "$DEVDIR/npm/node_modules/.bin/$bin" "${spec##*@}" || specs+=("$spec")
    done < <(pins npm)
    if [ "${#specs[@]}" -gt 0 ]; then
      say "installing agent CLIs into .cortex-dev/npm (npm, local prefix): ${specs[*]} …"
      # bounded: a registry that cannot be reached (or a TLS proxy without its CA) must not hang the install
      timeout 1200 npm install --prefix "$DEVDIR/npm" --no-audit --no-fund --loglevel=error --fetch-retries=2 \
        --fetch-timeout=120000 "${specs[@]}" >/dev/null \
        || say "npm install of the agent CLIs failed (see above); their conformance tests will skip"
    fi
    for bin in "${bins[@]}"; do
      if [ -e "$DEVDIR/npm/node_modules/.bin/$bin" ]; then ln -sfn "../npm/node_modules/.bin/$bin" "$DEVDIR/bin/$bin"; got+=("$bin"); fi
    done
    # OpenCode installs @opencode-ai/plugin (same version) into every config dir it starts with (a 30-60 s npm
    # fetch per fresh HOME): the conformance driver links this copy into each test HOME instead.
    oc="$("$VPY" -c 'import json; print(json.load(open("cortex_tui/data/agent_clis.json"))["opencode"]["tested"][0])')"
    if [ ! -e "$DEVDIR/opencode-config/node_modules/@opencode-ai/plugin/package.json" ] \
        || ! grep -qF "\"$oc\"" "$DEVDIR/opencode-config/node_modules/@opencode-ai/plugin/package.json"; then
      timeout 600 npm install --prefix "$DEVDIR/opencode-config" --no-audit --no-fund --loglevel=error \
        --fetch-retries=2 --fetch-timeout=120000 "@opencode-ai/plugin@$oc" >/dev/null \
        || say "npm install of @opencode-ai/plugin failed: OpenCode's tests start slower (it fetches it itself)"
    fi
  else
    say "npm not found: the Claude Code, Codex, Gemini CLI and OpenCode tests will skip (apt-get install npm)"
  fi
  while read -r spec bin; do
    if ! has "$DEVDIR/aider-venv/bin/$bin" "${spec##*@}"; then
      say "installing ${spec/@/==} into .cortex-dev/aider-venv (its own venv) …"
      { "$PY" -m venv "$DEVDIR/aider-venv" && "$DEVDIR/aider-venv/bin/pip" install -q --disable-pip-version-check "${spec/@/==}"; } >/dev/null \
        || say "aider not installed (see above); its conformance tests will skip"
    fi
    if [ -e "$DEVDIR/aider-venv/bin/$bin" ]; then ln -sfn "../aider-venv/bin/$bin" "$DEVDIR/bin/$bin"; got+=("$bin"); fi
  done < <(pins pypi)
  [ "${#got[@]}" -gt 0 ] && agents_line="; agent CLIs: ${got[*]} (.cortex-dev/bin)"
  touch "$DEVDIR/.installed"
  # === end of the agent CLIs block =============================================================================
fi

if [ "$DEV" = 1 ]; then echo "$want_hash dev" > "$STAMP"; else echo "$want_hash runtime" > "$STAMP"; fi
what="cortex-tui $("$VPY" -c 'import importlib.metadata as m; print(m.version("cortex-tui"))')"
[ "$DEV" = 1 ] && what="$what + dev tools"
say "installed $what into ${VENV#"$ROOT"/}/ (python $("$VPY" -c 'import platform; print(platform.python_version())'))${installed_sys:+; $installed_sys}$desktop_line$agents_line — run it as ${VENV#"$ROOT"/}/bin/cortex-tui"
