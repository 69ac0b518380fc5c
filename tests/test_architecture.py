"""The architecture enforces itself: import contracts (lint-imports), mypy strict, and no Textual in the core.

The contracts are in ``pyproject.toml [tool.importlinter]``; docs/architecture.md ("Layers") explains them.
"""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import cortex_tui

ROOT = Path(__file__).resolve().parent.parent
FRONT_ENDS = {"ui", "cli"}  # the only packages allowed to import Textual
#: contracts still broken by a known import circle (issue #14: the engine split and the UI cut remove them)
NOT_YET_ACYCLIC: dict[str, str] = {}


MAX_LINES = 400
"""No module in cortex_tui/ over this many lines: one job each (issue #14)."""
#: modules allowed over MAX_LINES, each with why; shrink this list, never grow it without a reason
TOO_LONG_OK: dict[str, str] = {
    "ui/widgets/grid.py": "one job (the line-cached keyed grid; its docstring says why it is one module)",
}


def _importlinter() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        cfg: dict[str, Any] = tomllib.load(f)["tool"]["importlinter"]
    return cfg


def _contract(cid: str) -> dict[str, Any]:
    return next(c for c in _importlinter()["contracts"] if c["id"] == cid)


def _top_level() -> set[str]:
    return {m.name for m in pkgutil.iter_modules(cortex_tui.__path__)}


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return exe


@pytest.mark.parametrize("cid", [c["id"] for c in _importlinter()["contracts"]])
def test_import_contract_kept(cid: str, request: pytest.FixtureRequest) -> None:
    if cid in NOT_YET_ACYCLIC:
        request.applymarker(pytest.mark.xfail(reason=NOT_YET_ACYCLIC[cid], strict=False))
    r = subprocess.run([_tool("lint-imports"), "--contract", cid, "--no-cache"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]


def test_contracts_cover_every_package() -> None:
    """A new top-level module must be placed: in the Textual ban (unless a front end) and in a layer."""
    top = _top_level()
    banned = {m.removeprefix("cortex_tui.") for m in _contract("no-textual")["source_modules"]}
    assert banned == top - FRONT_ENDS, "add the new module to the no-textual contract in pyproject.toml"
    layered = {m.strip().removeprefix("cortex_tui.")
               for layer in _contract("layers")["layers"] for m in layer.replace("|", ":").split(":")}
    assert top <= layered, f"place {sorted(top - layered)} in a layer of the layers contract (pyproject.toml)"


def test_mypy_strict_clean() -> None:
    import os

    # benchmarks too (detect.py drives the conformance drivers: tests/conformance on the path)
    env = {**os.environ, "MYPYPATH": str(ROOT / "tests" / "conformance")}
    r = subprocess.run([_tool("mypy"), "--strict", "cortex_tui", "tests", "benchmarks"], cwd=ROOT, capture_output=True,
                       text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-1000:]


def test_no_non_ui_module_loads_textual() -> None:
    """Import every module outside ``ui/`` (the CLI included: `status` must not pay for Textual) and look."""
    code = """
import pkgutil, sys
import cortex_tui
names = []
for m in pkgutil.walk_packages(cortex_tui.__path__, "cortex_tui."):
    if m.name == "cortex_tui.ui" or m.name.startswith("cortex_tui.ui.") or m.name.endswith(".__main__"):
        continue
    __import__(m.name)
    names.append(m.name)
bad = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
print(len(names), ",".join(bad))
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    count, _, bad = r.stdout.strip().partition(" ")
    assert int(count) >= 80, f"only {count} modules imported: the walk missed packages"
    assert bad == "", f"importing the core loaded Textual: {bad}"


def _line_counts() -> dict[str, int]:
    pkg = ROOT / "cortex_tui"
    return {p.relative_to(pkg).as_posix(): len(p.read_bytes().splitlines()) for p in sorted(pkg.rglob("*.py"))}


def test_no_module_over_max_lines() -> None:
    counts = _line_counts()
    assert len(counts) >= 80, "the walk missed the package"
    over = {m: n for m, n in counts.items() if n > MAX_LINES and m not in TOO_LONG_OK}
    assert not over, (f"modules over {MAX_LINES} lines (split them by job, see docs/architecture.md): {over}")
    stale = sorted(m for m in TOO_LONG_OK if counts.get(m, 0) <= MAX_LINES)
    assert not stale, f"no longer over {MAX_LINES} lines: drop them from TOO_LONG_OK: {stale}"
