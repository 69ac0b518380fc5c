"""``python -m cortex_tui.cli``."""

from cortex_tui.cli import main

main()
