# The two commands of the README: `make demo` and `make test`.
# Both create .venv on first use and install the project into it
# (`make demo` the runtime dependencies, `make test` also the test and data tools).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DATE ?= 2026-07-15
DEMO_OUT ?= out/demo

.PHONY: demo test bench serve venv clean messages

venv: $(VENV)/.installed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps "pvanalytics>=0.2.2"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/microgrid schedule cases/zhengzhou_park --date $(DEMO_DATE) --out $(DEMO_OUT)

# The HTTP service on 127.0.0.1:8000 (MICROGRID_HOST / MICROGRID_PORT), SQLite under var/,
# the reference park registered; docs at http://127.0.0.1:8000/docs.
serve: $(VENV)/.installed
	$(BIN)/microgrid service serve

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/day_ahead.py
	$(BIN)/python bench/strategies.py

clean:
	rm -rf $(VENV) out .pytest_cache

# The problem messages' catalog: extract every Message(...) and N_(...) text into
# service/locale/messages.pot and merge it into the Chinese catalog (then translate the new entries).
messages: $(VENV)/.installed-dev
	$(BIN)/pybabel extract --no-default-keywords -k Message -k N_ --sort-by-file --width 120 \
		--project "microgrid" --version 1 --copyright-holder "the microgrid authors" \
		-o service/locale/messages.pot microgrid forecasting dispatch service
	$(BIN)/pybabel update -D messages -i service/locale/messages.pot -d service/locale -l zh_CN --width 120 \
		--init-missing --no-fuzzy-matching
