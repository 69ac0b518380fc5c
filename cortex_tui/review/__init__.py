"""Review queue: finished branches wait for a human; approve/merge, reject, request changes; safe clean.

Public API (imported from the submodules, kept out of this package for a cheap import):

* ``queue.on_session_finished(repo, state_dir, run, session, *, spec=None, state=None, verify=True,
  verify_timeout_s=600.0) -> QueueEntry`` — the engine calls this when a session finishes.
* ``queue.ReviewQueue`` — ``open()``, ``entries()``, ``get()``, ``refresh()`` (base moved), ``reverify()``.
* ``decisions.approve / reject / request_changes`` — one decision each, logged to events.jsonl.
* ``clean.clean(repo, state_dir, older_than_s=6h, max_keep=20, dry_run=False) -> CleanReport``.
* The ``review``/``clean`` commands live in ``cortex_tui.cli.review``.
"""
