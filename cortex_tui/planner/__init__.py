"""The planner: a goal becomes a validated layout (see docs/plan.md)."""
