#!/usr/bin/env bash
# Install what cortex-tui needs on a fresh machine: system tools (when missing) and the Python package.
#   scripts/bootstrap.sh          runtime only (tmux, git, the package)
#   scripts/bootstrap.sh --dev    also test tools (openssh-server for the remote-node tests, dev extras,
#                                 the Claude Code CLI when npm is available)
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
need=()
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v git  >/dev/null 2>&1 || need+=(git)
if [ "$DEV" = 1 ]; then
  command -v ssh  >/dev/null 2>&1 || need+=(openssh-client)
  [ -x /usr/sbin/sshd ] || need+=(openssh-server)
fi
if [ "${#need[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ${need[*]} with apt-get" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "bootstrap: please install: ${need[*]} (no apt-get here)" >&2
    exit 1
  fi
fi

PY="${PYTHON:-python3}"
if [ "$DEV" = 1 ]; then
  "$PY" -m pip install -q -e '.[dev]'
else
  "$PY" -m pip install -q -e .
fi

if [ "$DEV" = 1 ] && [ "${CORTEX_SKIP_CLAUDE:-0}" != 1 ] && command -v npm >/dev/null 2>&1 \
   && ! command -v claude >/dev/null 2>&1; then
  echo "bootstrap: installing the Claude Code CLI for the claude-code adapter tests" >&2
  npm install -g --silent "@anthropic-ai/claude-code@2.1.331" >/dev/null 2>&1 \
    || echo "bootstrap: Claude Code CLI not installed; its tests will be skipped" >&2
fi
