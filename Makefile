# Everything runs from the project venv that scripts/bootstrap.sh makes (.venv/), never the system Python.
VENV ?= .venv
PY := $(VENV)/bin/python
export CORTEX_VENV := $(VENV)
.PHONY: test-slow demo test lint bench bootstrap soak

## make demo: install what is missing, then run the demo (TUI in a terminal, headless otherwise)
demo:
	@scripts/bootstrap.sh
	@$(VENV)/bin/cortex-tui demo

## make test: install what is missing (incl. test tools), then run the whole suite
test:
	@scripts/bootstrap.sh --dev
	$(PY) -m pytest

## make test-slow: only the slow soak/scale tests (left out of `make test`)
test-slow:
	@scripts/bootstrap.sh --dev
	$(PY) -m pytest -m slow

## make soak: the reliability soak (kill -9 cycles, a killed tmux server, a full tmpfs, hostile names); every
## loss column must read 0 (docs/reliability.md). Mounting the tmpfs needs root; without it that part is skipped.
soak: bootstrap
	$(PY) benchmarks/soak.py --cycles 100

bootstrap:
	@scripts/bootstrap.sh --dev

lint: bootstrap
	$(VENV)/bin/ruff check cortex_tui tests benchmarks
	$(VENV)/bin/mypy --strict cortex_tui tests
	$(VENV)/bin/lint-imports

bench: bootstrap
	$(PY) benchmarks/spawn.py
	$(PY) benchmarks/triggers.py
