"""Parse human durations ("30s", "10m", "1h", 90) and sizes ("500MB")."""

from __future__ import annotations

import re

_DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DUR_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "t": 1000**4, "tb": 1000**4, "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2,
    "gi": 1024**3, "gib": 1024**3, "ti": 1024**4, "tib": 1024**4,
}


def parse_duration(value: str | int | float) -> float:
    """Return seconds. Accepts numbers (seconds) or strings like ``"30s"``, ``"10m"``, ``"1h"``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 10m, 1h)")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"duration must not be negative: {value!r}")
        return float(value)
    m = _DUR.match(value)
    if not m:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 10m, 1h)")
    return float(m.group(1)) * _DUR_UNITS[m.group(2)]


def parse_size(value: str | int | float) -> int:
    """Return bytes. Accepts numbers (bytes) or strings like ``"500MB"``, ``"2GiB"``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a size: {value!r} (use e.g. 500MB, 2GiB)")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"size must not be negative: {value!r}")
        return int(value)
    m = _SIZE.match(value)
    if not m:
        raise ValueError(f"not a size: {value!r} (use e.g. 500MB, 2GiB)")
    unit = (m.group(2) or "b").lower()
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def format_duration(seconds: float) -> str:
    """Short human form: ``12s``, ``3m05s``, ``2h04m``."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
