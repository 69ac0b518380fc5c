"""scripts/bootstrap.sh: a project venv, a stamp, one-line messages; no root and no sudo -> name the packages.

Each test runs the real script from a copy of the project's scripts/ next to a small pyproject.toml in a
temp dir (the script works on the directory it sits in), with a PATH that hides chosen tools.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / "scripts" / "bootstrap.sh"
TINY_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "cortex-tui"
version = "0.0.1"

[tool.setuptools]
py-modules = []
"""

# what the script itself needs from PATH (never tmux, git, make, sudo, apt-get: each test chooses)
_BASE_TOOLS = ("bash", "env", "id", "sha256sum", "cut", "cat", "sed", "rm", "pgrep", "tee", "chmod", "dirname",
               "mkdir", "ls", "cksum")


def _project(root: Path) -> Path:
    proj = root / "proj"
    (proj / "scripts").mkdir(parents=True)
    shutil.copy2(BOOTSTRAP, proj / "scripts" / "bootstrap.sh")
    (proj / "pyproject.toml").write_text(TINY_PYPROJECT)
    return proj


def _bin_dir(root: Path, tools: tuple[str, ...]) -> Path:
    """A PATH directory with symlinks to exactly ``tools`` (what the test does not list is "not installed")."""
    d = root / "bin"
    d.mkdir()
    for t in (*_BASE_TOOLS, *tools):
        real = shutil.which(t, path="/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        if real is not None:
            (d / t).symlink_to(real)
    return d


@pytest.fixture
def world() -> Iterator[Path]:
    """A temp dir other users can read (the no-root test runs as nobody)."""
    d = Path(tempfile.mkdtemp(prefix="ctx-bootstrap-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _run(proj: Path, path: Path, *args: str, user: str | None = None,
         env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(path), "HOME": str(proj), "LANG": "C.UTF-8", **(env_extra or {})}
    argv = ["bash", str(proj / "scripts" / "bootstrap.sh"), *args]
    if user is not None:
        argv = [shutil.which("setpriv") or "setpriv", "--reuid", user, "--regid", user, "--clear-groups", *argv]
        env["PATH"] = str(path)
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to become nobody")
def test_no_root_no_sudo_names_the_missing_packages_in_one_line(world: Path) -> None:
    proj = _project(world)
    for p in (proj, proj / "scripts"):
        p.chmod(0o755)
    (proj / "scripts" / "bootstrap.sh").chmod(0o755)
    # python3 and git are there; tmux and make are not, and neither is sudo
    path = _bin_dir(world, ("python3", "git", "apt-get"))
    r = _run(proj, path, user="65534")
    assert r.returncode == 1, r.stderr
    assert "command not found" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "tmux" in lines[0] and "make" in lines[0] and "sudo" in lines[0]
    assert "apt-get install tmux make" in lines[0]
    assert not (proj / ".venv").exists()


_DEV_TOOLS = ("ssh", "bwrap", "chromium", "chromedriver")  # what --dev requires (sshd: /usr/sbin/sshd itself)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None or not Path("/usr/sbin/sshd").exists()
                    or any(shutil.which(t) is None for t in (*_DEV_TOOLS, "tmux", "make")),
                    reason="needs root to become nobody, and the --dev tools")
def test_dev_without_root_names_what_dbus_python_needs_and_goes_on(world: Path) -> None:
    """The desktop path's build tools are optional: a dev machine without root is told, and the venv is made."""
    proj = _project(world)
    for p in (proj, proj / "scripts"):
        p.chmod(0o777)
    # every required tool is there; a C compiler, pkg-config (so the D-Bus and GLib headers), dbus-daemon and sudo
    # are not
    path = _bin_dir(world, ("python3", "git", "make", "tmux", "apt-get", *_DEV_TOOLS))
    r = _run(proj, path, "--dev", user="65534", env_extra={"CORTEX_SKIP_AGENT_CLIS": "1"})
    assert r.returncode == 0, r.stderr
    said = [ln for ln in r.stderr.splitlines() if ln.startswith("bootstrap: dbus-python not installed")]
    assert len(said) == 1, r.stderr
    assert "apt-get install dbus-daemon dbus-bin gcc pkg-config libdbus-1-dev libglib2.0-dev" in said[0], said
    assert "not root and no sudo" in said[0] and "The rest goes on" in said[0]
    assert any(ln.startswith("bootstrap: installed cortex-tui") for ln in r.stderr.splitlines()), r.stderr
    assert (proj / ".venv" / "bin" / "python").exists()


def test_no_apt_get_names_the_packages(world: Path) -> None:
    proj = _project(world)
    path = _bin_dir(world, ("python3", "git", "make", "sudo"))  # no tmux, no apt-get
    r = _run(proj, path)
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "tmux" in lines[0] and "no apt-get" in lines[0], r.stderr


def test_unknown_option_is_refused(world: Path) -> None:
    proj = _project(world)
    r = _run(proj, _bin_dir(world, ("python3",)), "--devv")
    assert r.returncode == 2 and "--devv" in r.stderr


@pytest.mark.skipif(shutil.which("tmux") is None or shutil.which("make") is None, reason="needs tmux and make")
def test_venv_install_then_stamp_skips_then_pyproject_change_reinstalls(world: Path) -> None:
    proj = _project(world)
    path = _bin_dir(world, ("tmux", "git", "make"))
    py = Path(sys.base_prefix) / "bin" / "python3"  # a real interpreter, not this venv's
    (path / "python3").symlink_to(py if py.exists() else Path(shutil.which("python3") or "/usr/bin/python3"))

    first = _run(proj, path)
    assert first.returncode == 0, first.stderr
    venv_py = proj / ".venv" / "bin" / "python"
    assert venv_py.exists()
    out = subprocess.run([str(venv_py), "-c", "import importlib.metadata as m, sys; "
                          "print(m.version('cortex-tui'), sys.prefix != sys.base_prefix)"],
                         capture_output=True, text=True, check=True, cwd=proj).stdout.split()
    assert out == ["0.0.1", "True"]  # installed into the project venv, which is a venv
    said = [ln for ln in first.stderr.splitlines() if ln.startswith("bootstrap: installed")]
    assert len(said) == 1 and ".venv/" in said[0], first.stderr
    assert "creating the project venv" in first.stderr  # progress while it works

    again = _run(proj, path)
    assert again.returncode == 0 and again.stderr == "", again.stderr  # the stamp: nothing to do, nothing said

    (proj / "pyproject.toml").write_text(TINY_PYPROJECT.replace('"0.0.1"', '"0.0.2"'))
    third = _run(proj, path)
    assert third.returncode == 0, third.stderr
    assert "creating the project venv" not in third.stderr and "installing cortex-tui" in third.stderr
    assert "cortex-tui 0.0.2" in third.stderr


def test_bootstrap_is_executable_and_parses() -> None:
    assert BOOTSTRAP.stat().st_mode & stat.S_IXUSR
    assert subprocess.run(["bash", "-n", str(BOOTSTRAP)], capture_output=True).returncode == 0
    ci = ROOT / ".ci" / "run"
    assert subprocess.run(["bash", "-n", str(ci)], capture_output=True).returncode == 0
    text = (ROOT / "Makefile").read_text()
    assert ".venv/bin/python -m pytest" in (ROOT / "README.md").read_text()
    assert "$(PY) -m pytest" in text and "PY := $(VENV)/bin/python" in text
