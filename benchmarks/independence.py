"""Independence-test benchmark: the whole check on a big layout over a big repo, beside floors measured in
the same run.

    python benchmarks/independence.py [--files 20000] [--sessions 20] [--samples 5]

* check: ``check_layout`` (git ls-files + every scope over every tracked file + glob intersection for
  every concurrent pair), sessions with two globs each, no depends_on (every pair concurrent: the worst case).
* floors: ``git ls-files`` alone (what reading the tracked files costs), and one compiled-glob pass over the
  tracked files per session (the matching the check cannot avoid; before ``scope_matcher`` the
  check called ``in_scope`` per file and glob: 2.4 s for 20 sessions x 20,000 files on a loaded 2-core box).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep, scratch, summary

from cortex_tui.independence import check_layout, tracked_files
from cortex_tui.layout import parse_layout
from cortex_tui.scope import scope_matcher


def big_repo(root: Path, files: int) -> Path:
    import subprocess

    repo = root / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    for i in range(files):
        p = repo / f"pkg{i % 40:02d}" / f"sub{(i // 40) % 25:02d}" / f"m{i}.py"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "init"], check=True)
    return repo


def layout_text(sessions: int) -> str:
    out = '[run]\nname = "bench"\n\n[defaults]\nagent = "shell"\n'
    for k in range(sessions):
        out += (f'\n[[session]]\nname = "s{k}"\ncommand = "true"\n'
                f'scope = ["pkg{k % 40:02d}/**", "pkg{(k + 1) % 40:02d}/sub0*/*.py"]\n')
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--samples", type=int, default=5)
    add_keep(ap)
    a = ap.parse_args()
    with scratch(a.keep) as root:
        repo = big_repo(root, a.files)
        loaded = parse_layout(layout_text(a.sessions), root / "bench.toml")
        scopes = [s.scope for s in loaded.layout.session]
        ls: list[float] = []
        match: list[float] = []
        full: list[float] = []
        overlaps = 0
        for _ in range(a.samples):
            t0 = time.perf_counter()
            files = tracked_files(repo) or []
            ls.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for sc in scopes:
                rx = scope_matcher(sc)
                sum(1 for f in files if rx is None or rx.match(f))
            match.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            overlaps = len(check_layout(loaded, repo).overlaps)
            full.append(time.perf_counter() - t0)
        floor = [x + y for x, y in zip(ls, match, strict=True)]
        print(f"{a.files} tracked files, {a.sessions} sessions (all concurrent), {overlaps} overlapping pairs")
        print(f"git ls-files           {summary(ls)}")
        print(f"match floor (ls+globs) {summary(floor)}")
        print(f"check_layout           {summary(full)}")
        print(f"ratio check / floor (p50): {sorted(full)[len(full) // 2] / sorted(floor)[len(floor) // 2]:.2f}")


if __name__ == "__main__":
    main()
