"""``cortex-tui best-of N --task ...`` (docs/bestof.md): generate the layout, run it headless, score, judge, pick, print.

Exit codes: 0 the winner finished and verified; 1 no variant did; 2 usage/layout error; 3 timeout
(variants that finished are still compared); 4 supervisor error; 130/143 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._options import RepoOpt, StateOpt
from cortex_tui.errors import CortexError, UsageError

if TYPE_CHECKING:
    from cortex_tui.engine.supervisor import Supervisor



@app.command("best-of")
def best_of_command(
    n: Annotated[int, typer.Argument(help="How many variants (1-64).", min=1, max=64)],
    task: Annotated[str, typer.Option("--task", help="The task every variant gets as its prompt.")],
    agents: Annotated[str, typer.Option("--agents", help="Agent kinds, cycled over the variants (comma list).")]
    = "claude-code",
    models: Annotated[str | None, typer.Option("--models", help="Models, cycled over the variants.")] = None,
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    verify: Annotated[str | None, typer.Option("--verify", help="Verify command run in each worktree.")] = None,
    scope: Annotated[str | None, typer.Option("--scope", help="Scope globs of every variant (comma list).")] = None,
    judge: Annotated[str | None, typer.Option("--judge", help="LLM judge model (anthropic SDK).")] = None,
    judge_top: Annotated[int, typer.Option("--judge-top", help="How many top variants the judge compares.",
                                           min=2)] = 3,
    weights: Annotated[str | None, typer.Option("--weights", help="Weighted ranking, e.g. verify=100,scope=10,diff=1.")]
    = None,
    report: Annotated[Path | None, typer.Option("--report", help="Report JSON (bestof.json/.md go beside it).")]
    = None,
    headless: Annotated[bool, typer.Option("--headless", help="No TUI (default when not in a terminal); "
                                           "--timeout applies here.")] = False,
    sim_scripts: Annotated[Path | None, typer.Option("--sim-scripts", help="JSON/TOML list of sim scripts, "
                                                     "one per variant (agent sim).")] = None,
    timeout: Annotated[str | None, typer.Option("--timeout", help="Stop variants still running after this long.")]
    = None,
    name: Annotated[str | None, typer.Option("--name", help="Run name (default bestof-<UTC time>).")] = None,
    base: Annotated[str | None, typer.Option("--base", help="Base branch (default: the repo's current branch).")]
    = None,
    budget_usd: Annotated[float | None, typer.Option("--budget-usd", help="Run budget (variants + judge).",
                                                     min=0)] = None,
) -> None:
    """Fan one task out to N variants in their own worktrees, supervise them, rank them, keep the losers."""
    raise typer.Exit(run_best_of(
        n=n, task=task, agents=agents, models=models, repo=repo, state_dir=state_dir, verify=verify, scope=scope,
        judge=judge, judge_top=judge_top, weights=weights, report=report, sim_scripts=sim_scripts,
        timeout=timeout, name=name, base=base, budget_usd=budget_usd,
        headless=headless or not (sys.stdin.isatty() and sys.stdout.isatty())))


def run_best_of(*, n: int, task: str, agents: str, models: str | None, repo: Path, state_dir: Path | None,
                verify: str | None, scope: str | None, judge: str | None, judge_top: int, weights: str | None,
                report: Path | None, sim_scripts: Path | None, timeout: str | None, name: str | None,
                base: str | None, budget_usd: float | None, headless: bool = True) -> int:
    from cortex_tui.backends.git import repo_root
    from cortex_tui.bestof import generate as gen
    from cortex_tui.bestof.score import parse_weights
    from cortex_tui.durations import parse_duration
    from cortex_tui.layout import parse_layout
    from cortex_tui.scope import validate_glob

    if not task.strip():
        raise UsageError("--task is empty", "say what every variant should do")
    root = repo_root(repo.resolve())
    sd = (state_dir or root / "coordination").resolve()
    option = "--weights"
    try:
        w = parse_weights(weights) if weights else None
        option = "--timeout"
        t = parse_duration(timeout) if timeout else None
        option = "--scope"
        globs = gen.split_list(scope)
        for g in globs:
            validate_glob(g)
    except ValueError as e:
        raise UsageError(f"{option}: {e}") from None
    run = gen.check_run_name(name) if name else gen.default_run_name(sd)
    if (sd / "runs" / run).exists():
        raise UsageError(f"run {run!r} already exists under {sd}", "choose another --name")
    req = gen.BestOfRequest(
        n=n, task=task, run=run, base=base or gen.current_branch(root),
        agents=gen.check_agents(gen.split_list(agents) or ("claude-code",)), models=gen.split_list(models),
        verify=verify, scope=globs, judge=judge, weights=w,
        sim_scripts=gen.load_sim_scripts(sim_scripts) if sim_scripts else (), budget_usd=budget_usd)
    layout_path = sd / "bestof" / f"{run}.toml"
    text = gen.layout_text(req)
    loaded = parse_layout(text, layout_path)  # refuse before writing anything
    layout_path.parent.mkdir(parents=True, exist_ok=True)
    layout_path.write_text(text, encoding="utf-8")
    print(f"best-of layout: {layout_path}", file=sys.stderr)

    from cortex_tui.bestof.compare import compare_run, write_next_to
    from cortex_tui.bestof.render import render_text
    from cortex_tui.engine.supervisor import Supervisor
    from cortex_tui.headless.run import run_headless

    if not headless:
        return _run_best_of_tui(Supervisor(loaded, root, sd, headless=False), root, sd, run, judge_top)
    sup = Supervisor(loaded, root, sd, headless=True)
    report_path = (report or sup.store.dir / "report.json").resolve()
    code = run_headless(sup, report=report_path, junit=None, timeout=t, fail_on=[], compare=False)
    if code == 4:
        return code
    try:
        cmp = compare_run(root, sd, run, top_k=judge_top)
    except CortexError as e:
        print(f"error: comparison failed: {e}", file=sys.stderr)
        return code or 1
    try:
        data = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {"run": run, "sessions": []}
    if code in (0, 1):  # best-of succeeds when its winner does, whatever the other variants did
        ok = cmp.winner is not None and cmp.scores[cmp.winner].ok
        data["variants_reason"] = data.get("reason")
        data["reason"] = (f"winner {cmp.winner} finished and verified" if ok
                          else "no variant finished and verified")
        code = 0 if ok else 1
        data["exit_code"] = code
    j, m = write_next_to(report_path, data, cmp)
    sys.stdout.write(render_text(cmp))
    print(f"report: {report_path}\ncomparison: {j} · {m}\nbest-of: {data.get('reason')} (exit {code})",
          file=sys.stderr)
    return code


def _run_best_of_tui(sup: Supervisor, root: Path, sd: Path, run: str, judge_top: int) -> int:
    """Supervise the variants in the TUI; when they have all ended it compares them and opens Compare.

    After the user quits: the ranking on stdout and exit 0/1 as headless, or 3 when variants were left running.
    """
    from cortex_tui.bestof.compare import load_comparison
    from cortex_tui.bestof.render import render_text
    from cortex_tui.ui.app import run_tui

    run_tui(sup, judge_top=judge_top)
    cmp = load_comparison(root, sd, run)
    if cmp is None:
        print(f"best-of {run}: left before every variant ended (they keep running in tmux); re-attach with "
              f"`cortex-tui up {sd / 'bestof' / (run + '.toml')} --repo {root}`", file=sys.stderr)
        return 3
    sys.stdout.write(render_text(cmp))
    ok = cmp.winner is not None and cmp.scores[cmp.winner].ok
    reason = f"winner {cmp.winner} finished and verified" if ok else "no variant finished and verified"
    print(f"best-of: {reason} (exit {0 if ok else 1})", file=sys.stderr)
    return 0 if ok else 1

