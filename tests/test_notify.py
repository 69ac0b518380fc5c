"""Notifications from a real run (real tmux, git, sim agent) to a loopback webhook through apprise."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from engine_helpers import make_sup, run_to_end, triggers, wait_for
from webhook import Webhook

from cortex_tui.engine.supervisor import Supervisor

ASK = """
[run]
name = "notify"
[defaults]
agent = "sim"
[[notify]]
url = "{url}"
on = ["approval_waiting", "run_done"]
digest_window = "0.2s"
[[session]]
name = "api"
script = ["say starting", "ask Apply the migration to prod.db?", "say applied", "commit migrate"]
"""


def test_a_waiting_session_posts_one_json_notification_with_its_prompt(git_repo: Path, tmp_path: Path) -> None:
    with Webhook() as hook:
        sup = make_sup(git_repo, ASK.format(url=hook.url), tmp_path)

        async def during(s: Supervisor) -> None:
            await wait_for(lambda: hook.received, timeout=30, what="the approval notification")
            await s.approve("api")

        events = run_to_end(sup, during=during)
        raised = triggers(events, "approval_waiting", "api")
        assert len(raised) == 1
        at, first = hook.received[0]
        assert "api (approval)" in first["title"]
        assert "Apply the migration to prod.db?" in first["message"]
        assert f"cortex-tui approve api --repo {git_repo}" in first["message"]
        print(f"notification arrived {at - raised[0].ts:.3f}s after the trigger")  # the figure; not asserted
        # one per trigger: the approval once, then the end of the run
        titles = [b["title"] for _, b in hook.received]
        assert len(titles) == 2 and "run (run done)" in titles[1], titles
        log = [json.loads(x) for x in (git_repo / "coordination/runs/notify/events.jsonl").read_text().splitlines()]
        assert [e["data"]["items"] for e in log if e["kind"] == "notify_sent"] == [1, 1]


def test_an_unreachable_sink_is_an_event_and_the_run_goes_on(git_repo: Path, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = ASK.format(url=f"json://127.0.0.1:{port}/hook").replace(
        '"ask Apply the migration to prod.db?", ', "").replace('"approval_waiting", ', "")
    events = run_to_end(make_sup(git_repo, text, tmp_path))
    errors = [e for e in events if e.kind == "notify_error"]
    assert len(errors) == 1 and errors[0].data["sink"] == "json://…" and errors[0].data["kinds"] == ["run_done"]
    assert errors[0].data["error"]
    assert [e.data["state"] for e in events if e.kind == "state" and e.session == "api"][-1] == "finished"
