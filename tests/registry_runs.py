"""The integration gate's test fleet: each session registers a name in ``registry/<session>.txt``; verify fails
when a name is registered twice — the bug no single branch has (``a`` and ``c`` both register ``parse``)."""

from __future__ import annotations

import json

VERIFY = "test -z \"$(cat registry/*.txt 2>/dev/null | sort | uniq -d)\""
"""Each registry file registers a name; a name registered twice is the bug no single branch has."""

WORDS = {"a": "parse", "b": "render", "c": "parse"}


def registry_layout(run: str, names: str = "abc", *, run_extra: str = "", tail: str = "") -> str:
    """A sim layout whose sessions ``names`` each write and commit their registry file (``tail``: more TOML)."""
    sessions = "".join(
        f'[[session]]\nname = "{n}"\n'
        f'script = ["write registry/{n}.txt {WORDS[n]}", "commit {n}: register {WORDS[n]}"]\n' for n in names)
    return (f'[run]\nname = "{run}"\nverify = {json.dumps(VERIFY)}\n{run_extra}'
            f'[defaults]\nagent = "sim"\n{sessions}{tail}')
