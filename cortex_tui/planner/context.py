"""Bounded context about a repo for the planning model: tree with sizes, languages, doc heads, commands, commits.

The text never exceeds ``cap_tokens`` (estimated as characters / 4, rounded up): doc heads and commit
subjects are cut to fixed sizes first, then the file tree takes what is left — every file when it fits,
else directories summarised at the deepest level that fits, else the largest directories first with a
count of what was left out. Everything comes from ``git`` (tracked files only) and plain reads.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cortex_tui.errors import GitError
from cortex_tui.text import visible

DEFAULT_CAP = 12_000
DOC_NAMES = ("README.md", "README.rst", "README.txt", "README", "CONTRIBUTING.md", "AGENTS.md", "CLAUDE.md",
             "docs/CONTRIBUTING.md", ".github/CONTRIBUTING.md")
DOC_HEAD_CHARS = 1_500
COMMITS = 15
LANGUAGES = {
    ".py": "Python", ".pyi": "Python", ".js": "JavaScript", ".mjs": "JavaScript", ".cjs": "JavaScript",
    ".ts": "TypeScript", ".tsx": "TypeScript", ".jsx": "JavaScript", ".go": "Go", ".rs": "Rust", ".java": "Java",
    ".kt": "Kotlin", ".rb": "Ruby", ".php": "PHP", ".c": "C", ".h": "C", ".cc": "C++", ".cpp": "C++",
    ".hpp": "C++", ".cs": "C#", ".swift": "Swift", ".scala": "Scala", ".sh": "Shell", ".md": "Markdown",
    ".rst": "reStructuredText", ".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON",
    ".html": "HTML", ".css": "CSS", ".sql": "SQL", ".lua": "Lua", ".ex": "Elixir", ".exs": "Elixir",
}


def estimate_tokens(text: str) -> int:
    """A conservative token estimate (about 4 characters per token for code and English)."""
    return (len(text) + 3) // 4


@dataclass
class RepoContext:
    text: str
    cap_tokens: int
    files: int
    files_listed: int
    """Tracked files named one by one in the tree (the rest summarised by directory)."""
    languages: list[tuple[str, int]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    branch: str = "main"

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)

    def summary(self) -> str:
        listed = "all listed" if self.files_listed == self.files else f"{self.files_listed} listed, rest by directory"
        return (f"repo context: ≈{self.tokens:,} of {self.cap_tokens:,} tokens (cap) — {self.files:,} tracked files "
                f"({listed})")


def _clean(s: str) -> str:
    return visible(s, keep_newlines=True)


def _git(repo: Path, *args: str) -> str:
    r = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip()
        if "not a git repository" in err:
            raise GitError(f"{repo} is not inside a git repository", "pass --repo PATH of a git repository")
        raise GitError(f"git {' '.join(args[:2])} failed in {repo}: {err}", "pass --repo PATH of a git repository")
    return r.stdout.decode("utf-8", "replace")


def _sizes(repo: Path, files: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in files:
        try:
            out[f] = os.lstat(repo / f).st_size
        except OSError:
            out[f] = 0
    return out


def _human(n: int) -> str:
    if n < 1024:
        return f"{n}B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f}KB"
    return f"{n / (1024 * 1024):.1f}MB"


def detect_commands(repo: Path, files: set[str]) -> list[str]:
    """Test/build/lint commands the repo declares (pyproject, package.json, Makefile, Cargo, go, CI script)."""
    cmds: list[str] = []
    if "pyproject.toml" in files:
        try:
            py = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8", errors="replace"))
        except (OSError, tomllib.TOMLDecodeError):
            py = {}
        tool = py.get("tool", {}) if isinstance(py.get("tool"), dict) else {}
        if "pytest" in tool or any(f.startswith("tests/") for f in files):
            cmds.append("python -m pytest -q")
        if "ruff" in tool:
            cmds.append("ruff check .")
        if "mypy" in tool:
            cmds.append("mypy")
    elif any(re.match(r"(.*/)?test_[^/]*\.py$", f) for f in files):
        cmds.append("python -m pytest -q")
    if "package.json" in files:
        try:
            scripts = json.loads((repo / "package.json").read_text(encoding="utf-8", errors="replace")).get("scripts", {})
        except (OSError, ValueError, AttributeError):
            scripts = {}
        for name in ("test", "build", "lint", "typecheck"):
            if isinstance(scripts, dict) and name in scripts:
                cmds.append("npm test" if name == "test" else f"npm run {name}")
    if "Makefile" in files:
        try:
            text = (repo / "Makefile").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        for target in ("test", "check", "build", "lint"):
            if re.search(rf"^{target}\s*:", text, re.M):
                cmds.append(f"make {target}")
    if "Cargo.toml" in files:
        cmds += ["cargo build", "cargo test"]
    if "go.mod" in files:
        cmds += ["go build ./...", "go test ./..."]
    if ".ci/run" in files:
        cmds.append("bash .ci/run")
    return list(dict.fromkeys(cmds))


def _tree_full(files: list[str], sizes: dict[str, int]) -> list[str]:
    return [f"{_clean(f)}  {_human(sizes[f])}" for f in files]


def _tree_by_dir(files: list[str], sizes: dict[str, int], depth: int) -> tuple[list[str], int]:
    """Files shallower than ``depth`` one by one; deeper ones summarised per directory at ``depth``."""
    listed: list[str] = []
    dirs: dict[str, list[int]] = {}
    n_listed = 0
    for f in files:
        parts = f.split("/")
        if len(parts) <= depth:
            listed.append(f"{_clean(f)}  {_human(sizes[f])}")
            n_listed += 1
        else:
            d = "/".join(parts[:depth]) + "/"
            acc = dirs.setdefault(d, [0, 0])
            acc[0] += 1
            acc[1] += sizes[f]
    lines = listed + [f"{_clean(d)}  ({c} files, {_human(s)})" for d, (c, s) in sorted(dirs.items())]
    return sorted(lines), n_listed


def _fit(lines: list[str], budget_chars: int) -> tuple[list[str], bool]:
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        if used + len(line) + 1 > budget_chars - 40:
            out.append(f"… ({len(lines) - i} more entries left out)")
            return out, False
        out.append(line)
        used += len(line) + 1
    return out, True


def gather(repo: Path, cap_tokens: int = DEFAULT_CAP) -> RepoContext:
    """Context about ``repo`` that fits ``cap_tokens``."""
    files = [f for f in _git(repo, "ls-files", "-z").split("\0") if f]
    fileset = set(files)
    sizes = _sizes(repo, files)
    try:
        branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() or "main"
    except GitError:
        branch = "main"
    if branch == "HEAD":
        branch = "main"
    langs = Counter(LANGUAGES.get(os.path.splitext(f)[1].lower(), "") for f in files)
    langs.pop("", None)
    commands = detect_commands(repo, fileset)
    try:
        commits = _git(repo, "log", f"-n{COMMITS}", "--format=%s").splitlines()
    except GitError:
        commits = []  # an empty repo has no commits yet
    head: list[str] = [f"Tracked files: {len(files):,}; current branch: {_clean(branch)}"]
    top = langs.most_common(8)
    if top:
        head.append("Languages (files): " + ", ".join(f"{name} {n}" for name, n in top))
    head.append("Test/build commands detected: " + (", ".join(commands) if commands else "none"))
    docs: list[str] = []
    for name in DOC_NAMES:
        if name in fileset:
            try:
                text = (repo / name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            cut = "" if len(text) <= DOC_HEAD_CHARS else "\n[… cut]"
            docs.append(f"--- {name} (first {min(len(text), DOC_HEAD_CHARS)} of {len(text)} chars)\n"
                        f"{_clean(text[:DOC_HEAD_CHARS])}{cut}")
    if commits:
        head.append("Recent commits:\n" + "\n".join(f"- {_clean(s)[:120]}" for s in commits))
    fixed = "\n".join(head) + ("\n\n" + "\n\n".join(docs) if docs else "")
    budget = cap_tokens * 4 - len(fixed) - 64
    if budget < 400 and docs:  # the docs alone are too big for the cap: drop them before the tree
        fixed = "\n".join(head)
        budget = cap_tokens * 4 - len(fixed) - 64
    tree, n_listed = _tree_full(files, sizes), len(files)
    if sum(len(x) + 1 for x in tree) > budget:
        for depth in (4, 3, 2, 1):
            tree, n_listed = _tree_by_dir(files, sizes, depth)
            if sum(len(x) + 1 for x in tree) <= budget:
                break
    tree, whole = _fit(tree, max(budget, 0))
    if not whole and n_listed == len(files):
        n_listed = len(tree) - 1
    text = fixed + "\n\nFile tree (tracked files, sizes; big directories summarised):\n" + "\n".join(tree)
    if estimate_tokens(text) > cap_tokens:
        text = text[: cap_tokens * 4 - 20] + "\n[… cut at the cap]"
    return RepoContext(text=text, cap_tokens=cap_tokens, files=len(files), files_listed=n_listed,
                       languages=top, commands=commands, branch=branch)
