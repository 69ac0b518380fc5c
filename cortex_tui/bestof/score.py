"""Scoring and ranking of best-of variants. Pure: no I/O, no clock — the caller gathers :class:`Observation`.

Default ranking (lexicographic, documented in docs/bestof.md):

1. ``ok`` first — the session finished with exit 0 and its verify command passed (or none is configured);
2. fewer scope violations (files changed outside the session's scope);
3. smaller diff (added + removed lines);
4. lower cost (unknown cost sorts after any known cost);
5. shorter wall time; then the session name, so the order is total and stable.

With weights (``[bestof] weights`` / ``--weights verify=100,scope=10``) every named component is
min-max normalised across the variants (0 = best seen, 1 = worst seen; a missing value counts as worst)
and ``weighted = 1 - Σ w·norm / Σ w`` (0..1, higher is better) decides; the default order breaks ties.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cortex_tui.bestof.models import WEIGHT_KEYS, JudgeVerdict, Score, TestCounts, VerifyOutcome

_PYTEST_ITEM = r"\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|warnings?|deselected|rerun)"
_PYTEST_LINE = re.compile(rf"(?P<items>{_PYTEST_ITEM}(?:, {_PYTEST_ITEM})*) in \d+(?:\.\d+)?s")
_COUNT = re.compile(r"(\d+) (\w+)")
_JUNIT_OPT = re.compile(r"--junit-?xml(?:=|\s+)(?P<q>['\"]?)(?P<path>[^\s'\"]+)(?P=q)")


@dataclass(frozen=True)
class FileChange:
    path: str
    added: int
    removed: int
    in_scope: bool


@dataclass(frozen=True)
class Observation:
    """Everything known about one finished (or failed, or stopped) variant."""

    name: str
    state: str
    exit_code: int | None = None
    verify_command: str | None = None
    verify_exit_code: int | None = None
    """None when verify did not run."""
    verify_output: str = ""
    junit_xml: str | None = None
    files: tuple[FileChange, ...] = ()
    """The branch's committed diff against the base."""
    live_out_of_scope: tuple[str, ...] = ()
    """Paths the live scope watcher saw outside scope (includes uncommitted files)."""
    trigger_kinds: tuple[str, ...] = ()
    tokens: int | None = None
    cost_usd: float | None = None
    started_at: float | None = None
    finished_at: float | None = None


# --------------------------------------------------------------------------- parsing
def parse_pytest_summary(text: str) -> TestCounts | None:
    """Counts from the last pytest summary line (``3 passed, 1 failed in 0.12s``), or None."""
    found: TestCounts | None = None
    for line in text.splitlines():
        m = _PYTEST_LINE.search(line)
        if not m:
            continue
        counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
        for num, word in _COUNT.findall(m.group("items")):
            key = {"error": "errors", "errors": "errors", "passed": "passed", "failed": "failed",
                   "skipped": "skipped"}.get(word)
            if key:
                counts[key] += int(num)
        found = TestCounts(source="pytest", **counts)
    return found


def _int_attr(el: ET.Element, name: str) -> int | None:
    v = el.get(name)
    if v is None:
        return None
    try:
        return int(float(v))
    except ValueError:
        return None


def parse_junit(xml_text: str) -> TestCounts | None:
    """Counts from a JUnit XML document (``<testsuites>`` or a single ``<testsuite>``), or None if unreadable."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    if root.tag not in ("testsuite", "testsuites"):
        return None
    failed = errors = skipped = total = 0
    for s in suites:
        cases = list(s.iter("testcase"))
        t = _int_attr(s, "tests")
        total += t if t is not None else len(cases)
        f = _int_attr(s, "failures")
        failed += f if f is not None else sum(1 for c in cases if c.find("failure") is not None)
        e = _int_attr(s, "errors")
        errors += e if e is not None else sum(1 for c in cases if c.find("error") is not None)
        sk = _int_attr(s, "skipped")
        skipped += sk if sk is not None else sum(1 for c in cases if c.find("skipped") is not None)
    passed = max(0, total - failed - errors - skipped)
    return TestCounts(source="junit", passed=passed, failed=failed, errors=errors, skipped=skipped)


def junit_path(verify_command: str | None) -> str | None:
    """The ``--junitxml PATH`` / ``--junit-xml=PATH`` a verify command writes, if it names one."""
    if not verify_command:
        return None
    m = _JUNIT_OPT.search(verify_command)
    return m.group("path") if m else None


# --------------------------------------------------------------------------- scoring
def verify_outcome(obs: Observation) -> VerifyOutcome:
    if obs.state != "finished" or obs.exit_code != 0:
        return "not_run"
    if not obs.verify_command:
        return "none"
    if obs.verify_exit_code is None:
        return "not_run"
    return "pass" if obs.verify_exit_code == 0 else "fail"


def score_variant(obs: Observation) -> Score:
    """The components of one variant (rank and weighted are filled in by :func:`rank`)."""
    verify = verify_outcome(obs)
    tests = (parse_junit(obs.junit_xml) if obs.junit_xml else None) or parse_pytest_summary(obs.verify_output)
    added = sum(f.added for f in obs.files)
    removed = sum(f.removed for f in obs.files)
    outside = sorted({f.path for f in obs.files if not f.in_scope} | set(obs.live_out_of_scope))
    wall = None
    if obs.started_at is not None and obs.finished_at is not None:
        wall = round(max(0.0, obs.finished_at - obs.started_at), 3)
    return Score(
        ok=verify in ("pass", "none"),
        state=obs.state,
        exit_code=obs.exit_code,
        verify=verify,
        verify_exit_code=obs.verify_exit_code,
        tests=tests,
        diff_added=added,
        diff_removed=removed,
        diff_lines=added + removed,
        files_changed=len(obs.files),
        out_of_scope=outside,
        scope_violations=len(outside),
        triggers=len(obs.trigger_kinds),
        trigger_kinds=sorted(set(obs.trigger_kinds)),
        tokens=obs.tokens,
        cost_usd=obs.cost_usd,
        wall_time_s=wall,
    )


def default_key(name: str, s: Score) -> tuple[int, int, int, float, float, str]:
    """The documented default order: ok, scope violations, diff size, cost, wall time, name."""
    return (0 if s.ok else 1, s.scope_violations, s.diff_lines,
            math.inf if s.cost_usd is None else s.cost_usd,
            math.inf if s.wall_time_s is None else s.wall_time_s, name)


def parse_weights(text: str) -> dict[str, float]:
    """``verify=100,scope=10,diff=1`` -> a validated weights dict. Raises ValueError naming the problem."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, val = part.partition("=")
        if not sep:
            raise ValueError(f"weight {part!r} is not KEY=NUMBER")
        try:
            out[key.strip()] = float(val)
        except ValueError:
            raise ValueError(f"weight {key.strip()!r}: {val.strip()!r} is not a number") from None
    return validate_weights(out)


def validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in weights.items():
        if k not in WEIGHT_KEYS:
            raise ValueError(f"unknown weight {k!r}; known: {', '.join(WEIGHT_KEYS)}")
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"weight {k!r} must be a finite number >= 0, got {v}")
        out[k] = float(v)
    if out and sum(out.values()) <= 0:
        raise ValueError("at least one weight must be > 0")
    return out


def _penalty(key: str, s: Score) -> float | None:
    if key == "verify":
        return 0.0 if s.ok else 1.0
    if key == "scope":
        return float(s.scope_violations)
    if key == "diff":
        return float(s.diff_lines)
    if key == "cost":
        return s.cost_usd
    if key == "time":
        return s.wall_time_s
    if key == "triggers":
        return float(s.triggers)
    if key == "tests_failed":
        return None if s.tests is None else float(s.tests.failed + s.tests.errors)
    if key == "tokens":
        return None if s.tokens is None else float(s.tokens)
    raise KeyError(key)


def weighted_scores(scores: Mapping[str, Score], weights: Mapping[str, float]) -> dict[str, float]:
    """``1 - Σ w·norm / Σ w`` per variant; each component min-max normalised across the variants."""
    total = sum(weights.values())
    out = {name: 0.0 for name in scores}
    for key, w in weights.items():
        if w == 0:
            continue
        vals = {n: _penalty(key, s) for n, s in scores.items()}
        known = [v for v in vals.values() if v is not None]
        lo, hi = (min(known), max(known)) if known else (0.0, 0.0)
        for n, v in vals.items():
            if v is None:
                norm = 1.0 if known else 0.0
            else:
                norm = 0.0 if hi == lo else (v - lo) / (hi - lo)
            out[n] += w * norm
    return {n: round(1.0 - p / total, 6) if total else 1.0 for n, p in out.items()}


def rank(scores: Mapping[str, Score], weights: Mapping[str, float] | None = None) -> list[str]:
    """Names best first; sets ``heuristic_rank``, ``rank`` and (with weights) ``weighted`` on each score."""
    if weights:
        ws = weighted_scores(scores, weights)
        for n, s in scores.items():
            s.weighted = ws[n]
        order = sorted(scores, key=lambda n: (-ws[n], *default_key(n, scores[n])))
    else:
        order = sorted(scores, key=lambda n: default_key(n, scores[n]))
    for i, n in enumerate(order, 1):
        scores[n].heuristic_rank = i
        scores[n].rank = i
    return order


def top_candidates(ranking: list[str], k: int, scores: Mapping[str, Score]) -> list[str]:
    """The variants a judge compares: the first ``k`` that are ``ok`` (finished and verified), or the
    first ``k`` overall when fewer than two are ok — a judge never lifts a failed variant over a passing one."""
    ok = [n for n in ranking if scores[n].ok]
    return (ok if len(ok) >= 2 else ranking)[: max(1, k)]


def check_verdict(verdict: JudgeVerdict, candidates: Iterable[str]) -> JudgeVerdict:
    """Refuse a verdict naming a variant that was not a candidate (ValueError)."""
    known = set(candidates)
    unknown = [n for n in verdict.ranking if n not in known]
    if unknown:
        raise ValueError(f"the verdict ranks unknown variant(s): {', '.join(unknown)}")
    return verdict


def merge_judge(heuristic: list[str], judged: list[str], scores: Mapping[str, Score],
                reasons: Mapping[str, str] | None = None) -> list[str]:
    """Final ranking: the judge's order for the variants it ranked, in the slots they held; rest unchanged.

    Sets ``rank``, ``judge_rank`` and ``judge_reason`` on the scores.
    """
    judged_set = set(judged)
    slots = [i for i, n in enumerate(heuristic) if n in judged_set]
    final = list(heuristic)
    for slot, name in zip(slots, [n for n in judged if n in scores], strict=True):
        final[slot] = name
    for i, n in enumerate(judged, 1):
        scores[n].judge_rank = i
        if reasons and n in reasons:
            scores[n].judge_reason = reasons[n]
    for i, n in enumerate(final, 1):
        scores[n].rank = i
    return final


@dataclass
class Tally:
    """Running total of tokens and cost (unknown cost stays unknown only if nothing is known)."""

    tokens: int = 0
    cost: float | None = None
    unknown_cost: list[str] = field(default_factory=list)

    def add(self, who: str, tokens: int | None, cost: float | None) -> None:
        self.tokens += tokens or 0
        if cost is None:
            if tokens:
                self.unknown_cost.append(who)
            return
        self.cost = (self.cost or 0.0) + cost


def budget_spent(tally: Tally, limit_usd: float | None, limit_tokens: int | None, *, strict: bool = False) -> bool:
    """Whether the run budget is used up (``strict``: exceeded, not merely reached)."""
    def over(used: float, limit: float) -> bool:
        return used > limit if strict else used >= limit

    return bool((limit_usd is not None and over(tally.cost or 0.0, limit_usd))
                or (limit_tokens is not None and over(tally.tokens, limit_tokens)))
