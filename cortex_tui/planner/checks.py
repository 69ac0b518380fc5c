"""Check a plan for meaning and make it independent: the errors a repair request carries, and the fixes.

Errors (sent back to the model once, then reported): bad names, unknown agents/models, unknown or self
dependencies, bad globs, cycles, more tasks than ``--max-sessions``, budgets over ``--budget-usd``.

Fixes (made here, each with its reason, written as a comment in the layout): tasks that may run at the same
time and whose scopes meet (the independence test over the repo's tracked files and the glob patterns) are
sequenced, and a task whose mission names a path another task creates is made to depend on it. Edges are
added along one topological order, so a fix never makes a cycle.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cortex_tui.budgets import price_for
from cortex_tui.independence import ancestors, check, waves
from cortex_tui.layout import find_cycle
from cortex_tui.planner.schema import CATALOG, Plan, PlanTask
from cortex_tui.scope import in_scope, validate_glob

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,47}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Limits:
    max_sessions: int = 6
    budget_usd: float | None = None
    """The run's whole budget (planning included), or None."""
    agents: tuple[str, ...] = ("claude-code",)
    planning_usd: float = 0.0


@dataclass
class Fix:
    task: str
    after: str
    reason: str


@dataclass
class Checked:
    plan: Plan
    errors: list[str] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)


def models_for(agent: str) -> tuple[str, ...]:
    return CATALOG.get(agent, ())


def _errors(plan: Plan, limits: Limits) -> list[str]:
    errs: list[str] = []
    names = [t.name for t in plan.tasks]
    if len(plan.tasks) > limits.max_sessions:
        errs.append(f"the plan has {len(plan.tasks)} tasks, more than --max-sessions {limits.max_sessions}: merge "
                    f"related tasks into at most {limits.max_sessions}")
    seen: set[str] = set()
    for i, t in enumerate(plan.tasks):
        where = f"tasks[{i}] ({t.name!r})"
        if not NAME_RE.fullmatch(t.name):
            errs.append(f"{where}.name: must be 1-48 lowercase letters, digits, '.', '_' or '-'")
        if t.name in seen:
            errs.append(f"{where}.name: duplicate task name")
        seen.add(t.name)
        if t.agent not in limits.agents:
            errs.append(f"{where}.agent: unknown or not allowed agent {t.agent!r} (allowed: {', '.join(limits.agents)})")
        elif t.model not in models_for(t.agent) or price_for(t.model) is None:
            errs.append(f"{where}.model: unknown model {t.model!r} for agent {t.agent!r} "
                        f"(known: {', '.join(models_for(t.agent))})")
        for g in [*t.scope, *t.creates]:
            try:
                validate_glob(g)
            except ValueError as e:
                errs.append(f"{where}.scope: {e}")
        for c in t.creates:
            if not in_scope(c, t.scope):
                errs.append(f"{where}.creates: {c!r} is outside the task's own scope {t.scope}")
        for d in t.depends_on:
            if d == t.name:
                errs.append(f"{where}.depends_on: the task depends on itself")
            elif d not in names:
                errs.append(f"{where}.depends_on: unknown task {d!r}")
        if t.verify is not None and (not t.verify.strip() or _CONTROL.search(t.verify)):
            errs.append(f"{where}.verify: must be one non-empty line without control characters (or null)")
        if not t.mission.goal.strip():
            errs.append(f"{where}.mission.goal: empty")
    cycle = find_cycle({t.name: [d for d in t.depends_on if d in names] for t in plan.tasks})
    if cycle:
        errs.append("dependency cycle: " + " -> ".join(cycle) + " (a task cannot wait for itself; drop one edge)")
    total = sum(t.budget_usd for t in plan.tasks)
    if limits.budget_usd is not None:
        left = limits.budget_usd - limits.planning_usd
        if total > left + 1e-9:
            errs.append(f"the tasks' budgets add up to ${total:.2f}, over the ${left:.2f} left of --budget-usd "
                        f"${limits.budget_usd:.2f} after ${limits.planning_usd:.4f} spent on planning: lower the "
                        "budgets (fast models for simple tasks) or drop tasks")
    return errs


def mission_text(t: PlanTask) -> str:
    m = t.mission
    return "\n".join([m.goal, *m.deliverables, *m.constraints])


def _mentions(text: str, path: str) -> bool:
    return re.search(rf"(?<![\w./-]){re.escape(path)}(?![\w/-])", text) is not None


def _topo(plan: Plan) -> dict[str, int]:
    order: dict[str, int] = {}
    for wave in waves({t.name: list(t.depends_on) for t in plan.tasks}):
        for n in wave:
            order[n] = len(order)
    return order


_PATH_TOKEN = re.compile(r"(?<![\w/.-])((?:[\w-][\w.-]*/)*[\w-][\w.-]*\.[A-Za-z][A-Za-z0-9]{0,7})(?![\w/-])")


def make_independent(plan: Plan, tracked: Sequence[str] | None) -> tuple[Plan, list[Fix], list[str]]:
    """Add the ``depends_on`` edges the independence test needs; also return the orderings that cannot work
    (a mission naming a file that a task running *after* it creates). The plan must have no cycle."""
    deps: dict[str, list[str]] = {t.name: list(t.depends_on) for t in plan.tasks}
    pos = _topo(plan)
    ordered = sorted(plan.tasks, key=lambda t: pos[t.name])
    fixes: list[Fix] = []
    errors: list[str] = []
    known = set(tracked or ())

    def add(task: str, after: str, reason: str) -> None:
        if after not in deps[task]:
            deps[task].append(after)
            fixes.append(Fix(task, after, reason))

    # a mission naming a path another task creates waits for that task
    for t in ordered:
        text = mission_text(t)
        for u in ordered:
            if u.name == t.name:
                continue
            made = [c for c in u.creates if _mentions(text, c)]
            if not made:
                continue
            anc = ancestors(deps)
            if u.name in anc[t.name]:
                continue
            if t.name in anc[u.name]:
                errors.append(f"task {t.name!r} names {made[0]}, which {u.name!r} creates, but {u.name!r} runs after "
                              f"{t.name!r} (it depends on it): reorder them or drop the mention")
                continue
            add(t.name, u.name, f"its mission names {made[0]}, which {u.name!r} creates")
    # a mission naming a file not in the repo yet that only one other task's scope covers waits for that task
    for t in ordered:
        for path in dict.fromkeys(_PATH_TOKEN.findall(mission_text(t))):
            if path in known or in_scope(path, t.scope):
                continue
            owners = [u for u in ordered if u.name != t.name and u.scope and in_scope(path, u.scope)]
            if len(owners) != 1:
                continue
            u = owners[0]
            anc = ancestors(deps)
            if u.name in anc[t.name] or t.name in anc[u.name]:
                continue
            add(t.name, u.name, f"its mission names {path}, not in the repo yet, which only {u.name!r}'s scope covers")
    # tasks that may run together and may edit the same files are sequenced along the topological order
    while True:
        tasks = [t.model_copy(update={"depends_on": deps[t.name]}) for t in ordered]
        report = check(tasks, tracked)
        if not report.overlaps:
            break
        o = report.overlaps[0]
        first, second = sorted((o.a, o.b), key=lambda n: pos[n])
        what = o.shared() if o.files else ", ".join(f"{x} ~ {y}" for x, y in o.patterns[:3])
        add(second, first, f"{first!r} and {second!r} may both edit {what}; sequenced so they do not conflict")
    new_tasks = [t.model_copy(update={"depends_on": deps[t.name]}) for t in plan.tasks]
    return plan.model_copy(update={"tasks": new_tasks}), fixes, errors


def check_plan(plan: Plan, limits: Limits, tracked: Sequence[str] | None) -> Checked:
    """Errors, or the plan made independent with its fixes."""
    errs = _errors(plan, limits)
    if errs:
        return Checked(plan, errs)
    fixed, fixes, order_errors = make_independent(plan, tracked)
    if order_errors:
        return Checked(plan, order_errors)
    cycle = find_cycle({t.name: list(t.depends_on) for t in fixed.tasks})
    if cycle:  # a mention the model ordered the other way: report, do not guess
        return Checked(plan, ["dependency cycle after adding the edges the missions imply: " + " -> ".join(cycle)])
    return Checked(fixed, [], fixes)
