"""A plan being edited before it runs (the plan screen's model; no Textual here).

Edits change one task's prompt, scope or model. After every edit the layout is rendered again and put
through the layout loader and the independence test: loader errors block saving and starting, overlaps are
shown as warnings (the same ones ``validate`` prints).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cortex_tui.errors import LayoutError
from cortex_tui.independence import check, session_lines, tracked_files
from cortex_tui.layout import parse_layout
from cortex_tui.planner.checks import Fix, models_for
from cortex_tui.planner.render import Meta, layout_toml, prompt_of
from cortex_tui.planner.schema import Plan, PlanTask
from cortex_tui.scope import validate_glob


@dataclass
class Draft:
    plan: Plan
    fixes: list[Fix]
    meta: Meta
    path: Path
    repo: Path
    prompts: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._tracked = tracked_files(self.repo)
        self.revalidate()

    def task(self, name: str) -> PlanTask:
        return next(t for t in self.plan.tasks if t.name == name)

    def prompt(self, name: str) -> str:
        return self.prompts.get(name, prompt_of(self.task(name), self.plan))

    def text(self) -> str:
        return layout_toml(self.plan, self.fixes, self.meta, self.prompts)

    def edit(self, name: str, *, prompt: str | None = None, scope: list[str] | None = None,
             model: str | None = None) -> list[str]:
        """Apply an edit; return why it was refused (nothing changes then), else re-check the layout."""
        t = self.task(name)
        problems: list[str] = []
        if scope is not None:
            if not scope:
                problems.append("scope: give at least one glob (an empty scope would mean anything)")
            for g in scope:
                try:
                    validate_glob(g)
                except ValueError as e:
                    problems.append(f"scope: {e}")
        if model is not None and model not in models_for(t.agent):
            problems.append(f"model: unknown model {model!r} for agent {t.agent!r} "
                            f"(known: {', '.join(models_for(t.agent))})")
        if problems:
            return problems
        update: dict[str, object] = {}
        if scope is not None:
            update["scope"] = scope
        if model is not None:
            update["model"] = model
        if update:
            tasks = [x.model_copy(update=update) if x.name == name else x for x in self.plan.tasks]
            self.plan = self.plan.model_copy(update={"tasks": tasks})
        if prompt is not None and prompt != prompt_of(self.task(name), self.plan):
            self.prompts[name] = prompt
        self.revalidate()
        return []

    def revalidate(self) -> None:
        text = self.text()
        try:
            loaded = parse_layout(text, self.path)
        except LayoutError as e:
            self.errors = e.message.splitlines()
            self.warnings = []
            return
        self.errors = []
        sessions = loaded.layout.session
        report = check(sessions, self._tracked, max_parallel=loaded.layout.run.max_parallel,
                       where=session_lines(text, self.path, [s.name for s in sessions]))
        self.warnings = [o.message() for o in report.overlaps]
