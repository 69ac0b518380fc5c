PYTHON ?= python3
.PHONY: demo test lint bench

## make demo: install what is missing, then run the demo (TUI in a terminal, headless otherwise)
demo:
	@scripts/bootstrap.sh
	$(PYTHON) -m cortex_tui.cli demo

## make test: install what is missing (incl. test tools), then run the whole suite
test:
	@scripts/bootstrap.sh --dev
	$(PYTHON) -m pytest -q

lint:
	ruff check cortex_tui tests benchmarks
	mypy cortex_tui

bench:
	$(PYTHON) benchmarks/spawn.py
	$(PYTHON) benchmarks/triggers.py
