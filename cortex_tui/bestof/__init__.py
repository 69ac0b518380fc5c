"""Best-of-N: fan one task out to N variants, score and rank them, optionally ask an LLM judge, keep the losers.

``generate`` writes the layout, ``score`` is the pure scoring/ranking, ``judge`` the anthropic call,
``compare`` the API front ends use (:func:`~cortex_tui.bestof.compare.compare_run`,
:func:`~cortex_tui.bestof.compare.choose_winner`), ``cortex_tui.cli.bestof`` holds the ``cortex-tui best-of`` command. See docs/bestof.md.
"""
