"""The integration gate vs the same merges and verify done by hand with git, in the same run (issue #16).

A repository of ``--files`` files (default 5,000) and ``--branches`` branches (default 10) that each change a
few files of their own (they merge cleanly). Each round, alternating:

* **gate**: ``review.integrate.Gate.integrate`` — the conflict matrix (``git merge-tree`` over every pair and
  the cumulative merge), the combination as merge commits, the integration worktree checked out, verify run;
* **by hand** (the floor): ``git worktree add --detach`` at the base tip, ``git merge --no-edit`` of each
  branch in order there, then the same verify command.

Both start without a worktree (removed after each round). Prints the median of each, the ratio (goal ≤ 1.2×)
and where the gate's time goes. ``python benchmarks/integrate.py [--files 5000] [--branches 10] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_keep, scratch

from cortex_tui.backends import git as gitb
from cortex_tui.review.integrate import Gate

VERIFY = "test -f registry/b0.txt && test $(ls registry | wc -l) -ge 1"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def build(root: Path, files: int, branches: int) -> Path:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for i in range(files):
        d = repo / f"pkg{i % 100:02d}"
        d.mkdir(exist_ok=True)
        (d / f"mod{i}.py").write_text(f"VALUE_{i} = {i}\n" * 5)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    for b in range(branches):
        git(repo, "checkout", "-q", "-b", f"cortex/bench/b{b}", "main")
        (repo / "registry").mkdir(exist_ok=True)
        (repo / "registry" / f"b{b}.txt").write_text(f"name-{b}\n")
        for k in range(3):  # edit three existing files of its own
            f = repo / f"pkg{(b * 3 + k) % 100:02d}" / f"mod{b * 3 + k}.py"
            f.write_text(f.read_text() + f"EXTRA_{b}_{k} = True\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"b{b}: its change")
        git(repo, "checkout", "-q", "main")
    return repo


def by_hand(repo: Path, wt: Path, names: list[str]) -> float:
    t0 = time.perf_counter()
    git(repo, "worktree", "add", "--detach", "--quiet", str(wt), "main")
    for n in names:
        git(wt, "merge", "--no-edit", "--quiet", f"cortex/bench/{n}")
    subprocess.run(["/bin/sh", "-c", VERIFY], cwd=wt, check=True)
    return time.perf_counter() - t0


def gate(repo: Path, wt: Path, logs: Path, names: list[str]) -> tuple[float, float]:
    """(whole gate, of which the conflict matrix)."""
    g = Gate(repo, "bench", "main", {n: f"cortex/bench/{n}" for n in names}, wt, logs, verify=VERIFY)
    t0 = time.perf_counter()
    res = g.integrate(names)
    total = time.perf_counter() - t0
    assert res.ok, res
    tip = gitb.rev_parse(repo, "main")
    assert tip is not None
    g2 = Gate(repo, "bench", "main", g.branches, wt, logs, heads=dict(g.heads))
    t1 = time.perf_counter()
    g2.conflicts(tip, names)
    return total, time.perf_counter() - t1


def drop(repo: Path, wt: Path) -> None:
    git(repo, "worktree", "remove", "--force", str(wt))
    shutil.rmtree(wt, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--branches", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    add_keep(ap)
    a = ap.parse_args()
    with scratch(a.keep) as root:
        repo = build(root, a.files, a.branches)
        names = [f"b{i}" for i in range(a.branches)]
        hand_s, gate_s, matrix_s = [], [], []
        for r in range(a.rounds):
            order = ("hand", "gate") if r % 2 == 0 else ("gate", "hand")
            for what in order:
                wt = root / f"wt-{what}-{r}"
                if what == "hand":
                    hand_s.append(by_hand(repo, wt, names))
                else:
                    total, matrix = gate(repo, wt, root / "logs", names)
                    gate_s.append(total)
                    matrix_s.append(matrix)
                drop(repo, wt)
        h, g, m = statistics.median(hand_s), statistics.median(gate_s), statistics.median(matrix_s)
        pairs = a.branches * (a.branches - 1) // 2
        print(f"integrate {a.branches} branches in a {a.files}-file repo, {a.rounds} rounds (median)")
        print(f"  by hand (worktree add, {a.branches} x git merge, verify): {h * 1000:8.1f} ms")
        print(f"  gate (matrix + combination + worktree + verify):  {g * 1000:8.1f} ms   ratio {g / h:4.2f}x (goal <= 1.2x)")
        print(f"    of which the conflict matrix ({pairs} pairs + {a.branches} cumulative merge-trees): {m * 1000:6.1f} ms"
              f"   gate without it: {(g - m) / h:4.2f}x")


if __name__ == "__main__":
    main()
