"""What the planning model must answer: the ``submit_plan`` tool's schema and its pydantic mirror.

The tool input is hostile data from the wire: it is validated here (missing fields, wrong types) and
then checked for meaning in :mod:`cortex_tui.planner.checks`; nothing in it is trusted before both pass.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

TOOL_NAME = "submit_plan"

# The models each agent may use, fast first (seed 004: "fast models for simple tasks, the default model for
# complex ones"). Every entry has a price in cortex_tui/data/prices.json, so a plan's budgets mean something.
CATALOG: dict[str, tuple[str, ...]] = {
    "claude-code": ("claude-haiku-4-5", "claude-sonnet-4-5", "claude-sonnet-4-6", "claude-opus-4-6"),
    "codex": ("gpt-5-mini", "gpt-5-codex", "gpt-5"),
    "gemini": ("gemini-2.5-flash", "gemini-2.5-pro"),
    "aider": ("claude-haiku-4-5", "claude-sonnet-4-5", "gpt-5-mini", "gpt-5"),
    "sim": ("sim-1",),
}
AGENTS: tuple[str, ...] = tuple(CATALOG)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Mission(_Lenient):
    """A self-contained mission: the agent sees nothing else (seed 004: each agent gets its own context)."""

    goal: str = Field(min_length=1)
    deliverables: list[str] = Field(min_length=1)
    constraints: list[str] = Field(default_factory=list)


class PlanTask(_Lenient):
    name: str = Field(min_length=1)
    mission: Mission
    scope: list[str] = Field(min_length=1)
    creates: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    complexity: Literal["simple", "complex"]
    agent: str
    model: str
    budget_usd: float = Field(ge=0)
    estimate_minutes: float = Field(gt=0, le=24 * 60)
    verify: str | None = None
    reasoning: str = ""


class Plan(_Lenient):
    summary: str = ""
    tasks: list[PlanTask] = Field(min_length=1)
    risks: list[str] = Field(default_factory=list)


_STR_LIST = {"type": "array", "items": {"type": "string"}}

PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["summary", "tasks", "risks"],
    "properties": {
        "summary": {"type": "string", "description": "One paragraph: how the goal splits into tasks."},
        "risks": {**_STR_LIST, "description": "What could go wrong (conflicts, unknowns, failure scenarios)."},
        "tasks": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "mission", "scope", "depends_on", "complexity", "agent", "model",
                             "budget_usd", "estimate_minutes", "verify", "reasoning"],
                "properties": {
                    "name": {"type": "string", "description": "Short kebab-case id, unique in the plan."},
                    "mission": {
                        "type": "object", "required": ["goal", "deliverables"],
                        "properties": {
                            "goal": {"type": "string"},
                            "deliverables": _STR_LIST,
                            "constraints": _STR_LIST,
                        },
                        "description": "Self-contained: the agent sees only this, not the other tasks.",
                    },
                    "scope": {**_STR_LIST, "minItems": 1,
                              "description": "Repo-relative globs of every file the task may edit or create."},
                    "creates": {**_STR_LIST, "description": "New files this task creates (others may need them)."},
                    "depends_on": {**_STR_LIST, "description": "Tasks that must finish (and merge) first."},
                    "complexity": {"type": "string", "enum": ["simple", "complex"]},
                    "agent": {"type": "string"},
                    "model": {"type": "string"},
                    "budget_usd": {"type": "number", "minimum": 0},
                    "estimate_minutes": {"type": "number", "exclusiveMinimum": 0},
                    "verify": {"type": ["string", "null"], "description": "Shell command that checks the task."},
                    "reasoning": {"type": "string", "description": "Why this task, scope, model and order."},
                },
            },
        },
    },
}


def parse_plan(data: object) -> tuple[Plan | None, list[str]]:
    """Validate tool input; return the plan or readable errors (``tasks[2].scope: Field required``)."""
    if not isinstance(data, dict):
        return None, [f"the {TOOL_NAME} input must be a JSON object, got {type(data).__name__}"]
    try:
        return Plan.model_validate(data), []
    except ValidationError as e:
        errors = []
        for err in e.errors():
            loc = ""
            for part in err["loc"]:
                loc += f"[{part}]" if isinstance(part, int) else (("." if loc else "") + str(part))
            msg = "required field is missing" if err["type"] == "missing" else err["msg"]
            errors.append(f"{loc or '(root)'}: {msg}")
        return None, errors
