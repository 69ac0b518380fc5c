"""``agent = "shell"``: any command; output-only detection, usage unknown."""

from __future__ import annotations

import re

from cortex_tui.agents.base import AgentAdapter


def make() -> AgentAdapter:
    return AgentAdapter(
        kind="shell",
        approval_patterns=[
            re.compile(r"\[[yY]/[nN]\]\s*:?\s*$"),
            re.compile(r"\((?:yes/no|y/n)\)\s*[?:]?\s*$", re.IGNORECASE),
            re.compile(r"(?:Continue|Proceed)\?\s*$"),
        ],
    )
