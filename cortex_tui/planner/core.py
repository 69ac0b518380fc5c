"""``plan(goal)``: context -> model -> checks -> (one repair) -> layout text that passed the loader and the test.

The layout is returned only when it passed everything: the plan schema, the meaning checks, the
independence test (after the planner's own ``depends_on`` fixes) and the layout loader itself
(``parse_layout``, the same ``file:line: field`` errors as ``cortex-tui validate``). A plan that fails once
is sent back with its errors; one that fails twice raises :class:`PlanError` listing them. Nothing is written
here — the caller writes the text, so a half-valid file can never appear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cortex_tui.errors import LayoutError
from cortex_tui.independence import check_layout, tracked_files
from cortex_tui.layout import LoadedLayout, parse_layout
from cortex_tui.planner import context as ctx
from cortex_tui.planner.checks import Fix, Limits, check_plan
from cortex_tui.planner.client import Answer, PlanError, Planner, make_client
from cortex_tui.planner.render import Meta, layout_toml, table
from cortex_tui.planner.schema import CATALOG, TOOL_NAME, Plan, parse_plan
from cortex_tui.text import visible

DEFAULT_MODEL = "claude-sonnet-4-5"

SYSTEM = f"""You plan work for a fleet of coding agents. Each task becomes one agent session in its own git \
worktree and branch; finished sessions are merged into the base branch, and a task that depends on another \
starts only after that one finished.

Rules (the independence test):
1. Tasks that can run at the same time must not edit the same files: give every task scope globs covering \
exactly the files it may edit or create, and make scopes of parallel tasks disjoint. Otherwise sequence them \
with depends_on.
2. A task that needs another's output (a file it creates, an API it adds) depends on it. List in `creates` \
the new files a task makes.
3. Each mission is self-contained: the agent sees only its own mission, never the others or this plan. Say \
the goal, the deliverables and the constraints, and name the files.
4. Choose the model by complexity: the fast (first listed) model for simple, mechanical tasks; a capable \
model for complex ones. Give each task a budget in USD and an estimate in minutes.
5. Give each task a verify command when the repo has one (tests, build, lint).
6. No dependency cycles. Name the plan's risks.
Answer only by calling {TOOL_NAME}."""


@dataclass
class Options:
    goal: str
    repo: Path
    max_sessions: int = 6
    model: str = DEFAULT_MODEL
    agents: tuple[str, ...] = ("claude-code",)
    budget_usd: float | None = None
    base_url: str | None = None
    context_tokens: int = ctx.DEFAULT_CAP
    stream: bool = True
    max_tokens: int = 8192
    run_name: str | None = None
    out_path: Path = Path("layouts/plan.toml")
    extra_context: str = ""
    """More context for the model (``--revise``: what the previous run did)."""


@dataclass
class Result:
    plan: Plan
    fixes: list[Fix]
    layout_text: str
    loaded: LoadedLayout
    context: ctx.RepoContext
    planner: Planner
    repaired: bool
    meta: Meta

    @property
    def planning_usd(self) -> float | None:
        return self.planner.usage.cost_usd

    def table(self, budget_usd: float | None) -> str:
        return table(self.plan, self.fixes, self.planner.usage.line(), self.planning_usd, budget_usd)


def run_name_for(goal: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", goal.lower()).strip("-")[:40].strip("-")
    return f"plan-{slug}" if slug else "plan"


def user_prompt(opts: Options, repo_ctx: ctx.RepoContext) -> str:
    agents = "\n".join(f"- {a}: models {', '.join(CATALOG[a])}" for a in opts.agents)
    budget = (f"The whole run may spend at most ${opts.budget_usd:.2f} USD (planning included); keep the sum of "
              "task budgets under it." if opts.budget_usd is not None else "No overall budget was given; budget "
              "each task sensibly.")
    return (f"Goal: {opts.goal}\n\nAt most {opts.max_sessions} tasks. {budget}\nAgents you may use (fast model "
            f"first):\n{agents}\n\n{opts.extra_context}{'' if not opts.extra_context else chr(10)}"
            f"Repository context ({repo_ctx.summary()}):\n{repo_ctx.text}")


def _attempt(answer: Answer, opts: Options, tracked: list[str] | None, planner: Planner, base: str
             ) -> tuple[list[str], tuple[Plan, list[Fix], str, LoadedLayout, Meta] | None]:
    if answer.problem:
        return [answer.problem], None
    if answer.tool_input is None:
        said = f" (it said: {answer.text[:200]!r})" if answer.text else ""
        return [f"no {TOOL_NAME} call in the answer{said}: answer by calling {TOOL_NAME}"], None
    plan, errors = parse_plan(answer.tool_input)
    if plan is None:
        return errors, None
    limits = Limits(max_sessions=opts.max_sessions, budget_usd=opts.budget_usd, agents=opts.agents,
                    planning_usd=planner.usage.cost_usd or 0.0)
    checked = check_plan(plan, limits, tracked)
    if checked.errors:
        return checked.errors, None
    meta = Meta(goal=opts.goal, model=opts.model, run_name=opts.run_name or run_name_for(opts.goal), base=base,
                planning_line=planner.usage.line(), planning_usd=planner.usage.cost_usd, budget_usd=opts.budget_usd)
    text = layout_toml(checked.plan, checked.fixes, meta)
    try:
        loaded = parse_layout(text, opts.out_path)
    except LayoutError as e:
        return [line for line in e.message.splitlines() if line.strip()], None
    report = check_layout(loaded, opts.repo)
    if report.overlaps:  # make_independent ran the same test; this is the loader's view of the written file
        return [o.message() for o in report.overlaps], None
    return [], (checked.plan, checked.fixes, text, loaded, meta)


def make_plan(opts: Options, client: Any | None = None) -> Result:
    """Plan ``opts.goal`` for ``opts.repo``; raise :class:`PlanError` with every remaining problem."""
    unknown = [a for a in opts.agents if a not in CATALOG]
    if unknown:
        raise PlanError(f"--agent: unknown agent {unknown[0]!r} (known: {', '.join(CATALOG)})")
    if opts.max_sessions < 1:
        raise PlanError("--max-sessions must be at least 1")
    client = client or make_client(opts.base_url)  # a missing key fails before any work
    repo_ctx = ctx.gather(opts.repo, opts.context_tokens)
    tracked = tracked_files(opts.repo)
    planner = Planner(client, opts.model, SYSTEM, max_tokens=opts.max_tokens, stream=opts.stream)
    answer = planner.ask(user_prompt(opts, repo_ctx))
    errors, ok = _attempt(answer, opts, tracked, planner, repo_ctx.branch)
    repaired = False
    if ok is None:
        first = errors
        answer = planner.repair(answer, errors)
        repaired = True
        errors, ok = _attempt(answer, opts, tracked, planner, repo_ctx.branch)
        if ok is None:
            raise PlanError(
                "the plan is still invalid after one repair request; nothing was written.\n"
                + "first answer:\n" + "\n".join(f"  - {visible(e)}" for e in first)
                + "\nrepaired answer:\n" + "\n".join(f"  - {visible(e)}" for e in errors)
                + f"\n{planner.usage.line()}",
                "try again, give a narrower goal, or raise --max-sessions / --budget-usd")
    plan, fixes, text, loaded, meta = ok
    return Result(plan=plan, fixes=fixes, layout_text=text, loaded=loaded, context=repo_ctx, planner=planner,
                  repaired=repaired, meta=meta)
