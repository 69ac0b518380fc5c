"""The shell scripts a :class:`~cortex_tui.backends.remote.RemoteNode` runs on its node, one round trip each.

Every value reaches them as a positional argument (``$1``…), never spliced into the script text: a session's
name, paths and commands are data to the node's shell.
"""

# prepare a spawn in one round trip: dirs, forget the old exit code, header line, log size, and
# (when the node's tmux server is up) kill the windows still tagged with this session (a restart)
PRE_SPAWN = (
    'log=$1 code=$2 sdir=$3 header=$4 tmux=$5 sock=$6 tag=$7 host==$8; umask 077; '
    'mkdir -p "$(dirname "$log")" "$(dirname "$code")" "$sdir" && rm -f "$code" "$code.tmp" || exit 3; '
    'chmod 700 "$(dirname "$(dirname "$log")")" "$(dirname "$log")" "$(dirname "$code")" "$sdir" || exit 3; '
    'if [ -n "$header" ]; then printf "%s\\n" "$header" >> "$log"; else : >> "$log"; fi || exit 3; '
    'size=$(wc -c < "$log") || exit 3; alive=0; '
    'if "$tmux" -u -L "$sock" has-session -t "$host" 2>/dev/null; then alive=1; '
    '"$tmux" -u -L "$sock" list-windows -t "$host" -F "#{window_id} #{@cortex_session}" | '
    'while IFS= read -r w; do if [ "${w#* }" = "$tag" ]; then "$tmux" -u -L "$sock" kill-window -t "${w%% *}"; fi; '
    'done; fi; echo "$size $alive"'
)
START = (
    'log=$1 code=$2 sdir=$3 tmux=$4 sock=$5 tag=$6 host==$7 wid=$8; shift 8; umask 077; '
    'mkdir -p "$(dirname "$log")" "$(dirname "$code")" "$sdir" && rm -f "$code" "$code.tmp" || exit 3; '
    'chmod 700 "$(dirname "$(dirname "$log")")" "$(dirname "$log")" "$(dirname "$code")" "$sdir" || exit 3; '
    ': >> "$log" && size=$(wc -c < "$log") && tar -x -f - -C "$sdir" --no-same-owner || exit 3; '
    '"$tmux" -u -L "$sock" list-windows -t "$host" -F "#{window_id} #{@cortex_session}" 2>/dev/null | '
    'while IFS= read -r w; do if [ "${w#* }" = "$tag" ] && [ "${w%% *}" != "$wid" ]; then '
    '"$tmux" -u -L "$sock" kill-window -t "${w%% *}"; fi; done; '
    'echo "$size"; "$tmux" -u -L "$sock" "$@" 2>&1 || echo gone'
)
"""A session's start in a warm slot's idle window, in ONE round trip: what ``PRE_SPAWN`` does (dirs, the old
exit code gone, the log's size; windows still tagged with the session killed — never ``$8``, the idle window),
the session's files and env file unpacked from the tar on stdin, then the tmux command list (``$9..``:
:meth:`Tmux.respawn_args`). Prints the log size, then the new pane's ids — or ``gone`` (the window is not there
any more: the caller makes a new one)."""
PUT_FILE = ('umask 077; mkdir -p "$(dirname "$1")" && rm -f "$1.tmp" && cat > "$1.tmp" && chmod "$2" "$1.tmp" && '
             'mv -f "$1.tmp" "$1"')
READ_FROM = ('[ -f "$1" ] || exit 0; if [ -n "$3" ]; then tail -c "+$2" "$1" | head -c "$3"; '
              'else exec tail -c "+$2" "$1"; fi')
# for each (path, offset) pair: one line, the base64 of the bytes from offset (empty if none/missing)
READ_MANY = ('lim=$1; shift; while [ $# -ge 2 ]; do if [ -f "$1" ]; then tail -c "+$2" "$1" | head -c "$lim" | '
              'base64 -w0; fi; echo; shift 2; done')
SETUP = ('umask 077; w=$1; case "$w" in "~") w=$HOME;; "~/"*) w=$HOME/${w#"~/"};; esac; '
          'mkdir -p "$w/repos" "$w/runs" && cd "$w" && pwd -P')


VERIFY = r"""
cd "$1" 2>/dev/null || { echo 127; exit 0; }
(umask 077; mkdir -p "$(dirname "$2")" && : >> "$2" && chmod 600 "$2")
if command -v timeout >/dev/null 2>&1; then
    timeout -k 5 "$4" /bin/sh -c "$3" >"$2" 2>&1 </dev/null
else
    /bin/sh -c "$3" >"$2" 2>&1 </dev/null
fi
echo "$?"
"""
"""Verify on a node: $1 worktree, $2 log file, $3 command, $4 timeout in seconds; prints the exit code."""
