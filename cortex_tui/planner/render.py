"""A checked plan as a commented TOML layout, and as a table for the terminal.

Everything the model wrote is hostile: strings are TOML-escaped (control characters as ``\\uXXXX``),
comments are flattened to one printable line each, and the terminal table shows unsafe characters as
escapes (``cortex_tui.text.visible``) so a plan can never move the cursor or change the title.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from cortex_tui.independence import waves
from cortex_tui.planner.checks import Fix
from cortex_tui.planner.schema import CATALOG, Plan, PlanTask
from cortex_tui.scope import in_scope
from cortex_tui.text import visible


def printable(s: str) -> str:
    """One line safe for a terminal or a comment: line breaks and tabs become spaces, every other unsafe
    character an escape (the project's one sanitizer, :func:`cortex_tui.text.visible`)."""
    return visible(re.sub(r"[\n\r\t]+", " ", s))


def _escape(s: str, *, keep_newlines: bool) -> str:
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\n" if keep_newlines else "\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def toml_str(s: str) -> str:
    """A TOML basic string for any text."""
    return '"' + _escape(s, keep_newlines=False) + '"'


def toml_ml_str(s: str) -> str:
    """A TOML multi-line basic string (readable prompts): the same escapes, newlines kept."""
    return '"""\n' + _escape(s, keep_newlines=True) + '"""'


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(toml_str(x) for x in items) + "]"


def comment(text: str, width: int = 110) -> list[str]:
    words = printable(text).split(" ")
    lines: list[str] = []
    cur = ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        lines.append(cur)
    return [f"# {x}" for x in lines] or ["#"]


def prompt_of(t: PlanTask, plan: Plan) -> str:
    """The session's prompt: the whole mission, self-contained (the agent sees nothing else)."""
    m = t.mission
    lines = [f"Goal: {m.goal}", "", "Deliverables:", *[f"- {d}" for d in m.deliverables]]
    lines += ["", "Constraints:", *[f"- {c}" for c in m.constraints]]
    lines.append(f"- Edit only files matching your scope: {', '.join(t.scope)} (other sessions own the rest).")
    if t.depends_on:
        lines.append(f"- You start after {', '.join(repr(d) for d in t.depends_on)} finished; their changes are on their "
                     "own branches and may not be in your checkout: do not redo or edit their files.")
    if t.verify:
        lines += ["", f"When done, `{t.verify}` must pass. Commit your work."]
    else:
        lines += ["", "Commit your work when done."]
    return "\n".join(lines)


def sim_script(t: PlanTask) -> list[str]:
    """Steps for the simulated agent: say the goal, report tokens, write one in-scope file, commit."""
    steps = [f"say Working on {t.name}: {printable(t.mission.goal)[:80]}", "tokens 1200 300"]
    candidates = list(t.creates)
    for g in t.scope:
        stem = re.split(r"[*?\[]", g, maxsplit=1)[0]
        base = stem if stem.endswith("/") or not stem else (stem.rsplit("/", 1)[0] + "/" if "/" in stem else "")
        candidates += [stem] if stem and stem == g and not g.endswith("/") else []
        candidates.append(f"{base}{t.name}.md")
    target = next((c for c in candidates if in_scope(c, t.scope) and re.match(r"^[\w./-]+$", c)), None)
    if target:
        steps.append(f"write {target} {t.name}: {printable(t.mission.goal)[:60]}")
        steps.append(f"commit {t.name}: {printable(t.mission.goal)[:60]}")
    steps.append("say Done.")
    return steps


@dataclass(frozen=True)
class Meta:
    goal: str
    model: str
    run_name: str
    base: str
    planning_line: str
    planning_usd: float | None
    budget_usd: float | None


def layout_toml(plan: Plan, fixes: list[Fix], meta: Meta, prompts: Mapping[str, str] | None = None) -> str:
    """The commented layout file (``prompts``: edited prompts by task, instead of the rendered missions)."""
    graph = {t.name: list(t.depends_on) for t in plan.tasks}
    ws = waves(graph)
    out = ["# Written by `cortex-tui plan` on " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()) + ".",
           *comment(f"Goal: {meta.goal}"), *comment(f"Planner: {meta.model}. {meta.planning_line}.")]
    if plan.summary:
        out += ["#", *comment(plan.summary)]
    out += ["#", "# Waves (sessions in one wave may run at the same time; their scopes do not meet):"]
    for k, w in enumerate(ws, 1):
        out.append(f"#   {k}. " + printable(", ".join(w)))
    if plan.risks:
        out += ["#", "# Risks:"] + [f"#   - {printable(r)}" for r in plan.risks]
    out += ["", "[run]", f"name = {toml_str(meta.run_name)}", f"base = {toml_str(meta.base)}"]
    if meta.budget_usd is not None:
        spent = meta.planning_usd or 0.0
        out.append(f"budget_usd = {max(meta.budget_usd - spent, 0.0):.4f}  "
                   f"# --budget-usd {meta.budget_usd:.2f} minus ${spent:.4f} spent on planning")
    by_fix: dict[str, list[Fix]] = {}
    for f in fixes:
        by_fix.setdefault(f.task, []).append(f)
    for t in plan.tasks:
        out += ["", f"# --- {printable(t.name)}: {t.complexity} task -> {printable(t.model)}, "
                    f"~{t.estimate_minutes:g} min, ${t.budget_usd:.2f}"]
        if t.reasoning:
            out += comment(f"Why: {t.reasoning}")
        for f in by_fix.get(t.name, []):
            out += comment(f"depends_on {f.after!r} added by the planner: {f.reason}")
        out += ["[[session]]", f"name = {toml_str(t.name)}", f"agent = {toml_str(t.agent)}",
                f"model = {toml_str(t.model)}", f"budget_usd = {t.budget_usd:.4f}",
                f"scope = {toml_list(t.scope)}", f"depends_on = {toml_list(t.depends_on)}"]
        if t.verify:
            out.append(f"verify = {toml_str(t.verify)}")
        if t.agent == "sim":
            out.append(f"script = {toml_list(sim_script(t))}")
        prompt = (prompts or {}).get(t.name)
        out.append(f"prompt = {toml_ml_str(prompt if prompt is not None else prompt_of(t, plan))}")
    return "\n".join(out) + "\n"


def estimated_minutes(plan: Plan) -> float:
    """Wall time if each wave runs in parallel: the sum of each wave's longest task."""
    est = {t.name: t.estimate_minutes for t in plan.tasks}
    return sum(max(est[n] for n in w) for w in waves({t.name: list(t.depends_on) for t in plan.tasks}) if w)


def table(plan: Plan, fixes: list[Fix], planning_line: str, planning_usd: float | None,
          budget_usd: float | None) -> str:
    """The plan table: waves, tasks, models, budgets and total, scopes, estimated time."""
    ws = waves({t.name: list(t.depends_on) for t in plan.tasks})
    wave_of = {n: k for k, w in enumerate(ws, 1) for n in w}
    by = {t.name: t for t in plan.tasks}
    rows: list[tuple[str, ...]] = [("wave", "task", "agent / model", "budget", "est", "after", "scope")]
    for w in ws:
        for n in w:
            t = by[n]
            rows.append((str(wave_of[n]), t.name, f"{t.agent} / {t.model}", f"${t.budget_usd:.2f}",
                         f"{t.estimate_minutes:g}m", ", ".join(t.depends_on) or "-", ", ".join(t.scope)))
    rows = [tuple(printable(c)[:60] for c in r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = sum(t.budget_usd for t in plan.tasks)
    spent = planning_usd or 0.0
    lines.append("")
    lines.append(f"{len(plan.tasks)} task(s) in {len(ws)} wave(s); estimated time ~{estimated_minutes(plan):g} min "
                 f"(longest task per wave)")
    budget = f"sessions ${total:.2f} + planning ${spent:.4f} = ${total + spent:.2f}"
    if budget_usd is not None:
        budget += f" of --budget-usd ${budget_usd:.2f}"
    lines.append(f"budget: {budget}")
    lines.append(printable(planning_line))
    for t in plan.tasks:
        fast = CATALOG.get(t.agent, ())[:1]
        if t.complexity == "simple" and fast and t.model != fast[0]:
            lines.append(printable(f"model: {t.name} is simple but uses {t.model} (the fast model is {fast[0]})"))
    for f in fixes:
        lines.append(printable(f"sequenced: {f.task} after {f.after} — {f.reason}"))
    for r in plan.risks:
        lines.append(printable(f"risk: {r}"))
    return "\n".join(lines)
