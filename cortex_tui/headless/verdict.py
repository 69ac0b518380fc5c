"""One verdict per session and one for the run, decided once: report.json, JUnit, the GitHub annotations, the
step summary and the exit code all read these (so they cannot tell different stories).

A session fails when it did not finish with exit code 0 (failed, stopped — by the user, a trigger action such
as a budget stop, or a timeout), when its verify failed or never recorded a result, or when a ``--fail-on``
trigger kind fired in it. The run fails (exit 1) when any session failed; a timeout (3), a signal (130/143)
or a supervisor error (4) override that code and are failures even when every session passed.
"""

from __future__ import annotations

from typing import Any

from cortex_tui.headless.report import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT


def session_failure(s: dict[str, Any], fail_on: list[str]) -> str | None:
    """Why this session (a report row) failed, in one line; None when it passed."""
    why: list[str] = []
    state, code, reason = s.get("state"), s.get("exit_code"), s.get("reason")
    if not (state == "finished" and code == 0):
        if state == "failed" and code is not None:
            text = f"failed with exit code {code}"
            if reason and not reason.startswith("exit"):
                text += f" ({reason})"
        else:
            text = str(state) + (f" ({reason})" if reason else "")
        why.append(text)
    elif s.get("verify_passed") is False:
        v = s.get("verify")
        why.append(f"verify failed (exit {v['exit_code']})" if v else "verify did not run (no result recorded)")
    fired = sorted({t["kind"] for t in s.get("triggers", []) if t.get("kind") in fail_on})
    if fired:
        why.append(f"--fail-on trigger fired: {', '.join(fired)}")
    return "; ".join(why) or None


def apply(data: dict[str, Any], fail_on: list[str], why: str) -> tuple[int, str]:
    """Write each session's ``failure`` (or None) and the run's ``failures``, ``exit_code`` and ``reason`` into
    ``data`` (a report); ``why`` is how supervision ended (``done``, ``timeout``, ``signal:SIGTERM``, …)."""
    failures: dict[str, str] = {}
    for s in data.get("sessions", []):
        f = session_failure(s, fail_on)
        s["failure"] = f
        if f is not None:
            failures[s["name"]] = f
    if failures:
        code, reason = EXIT_FAILED, "; ".join(f"{n}: {f}" for n, f in failures.items())
    else:
        code, reason = EXIT_OK, "all sessions finished with exit code 0" + (
            " and passed verify" if any(s.get("verify_passed") for s in data.get("sessions", [])) else "")
    if why == "timeout":
        code, reason = EXIT_TIMEOUT, "timed out; sessions stopped" + (f" — {reason}" if failures else "")
    elif why.startswith("signal:"):
        code = 143 if why.endswith("SIGTERM") else 130
        reason = f"{why[7:]} received; sessions stopped" + (f" — {reason}" if failures else "")
    elif why == "handover":
        reason = "handed over to another supervisor; sessions keep running"
    data["failures"] = failures
    data["exit_code"] = code
    data["reason"] = reason
    return code, reason
