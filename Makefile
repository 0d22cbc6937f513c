# Two commands for a newcomer: `make run` and `make test`. Everything else is what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DB ?= $(or $(CLOSELOOP_DB),data/closeloop.db)
HOST ?= 127.0.0.1
PORT ?= 8501
SWEEP_EVERY ?= 60

.PHONY: run test setup setup-dev demo-db bench clean

# The sweep worker (spike alerts, triggers, cases, SLA clocks) runs beside the app and stops
# with it: the trap kills it however the app ends (Ctrl-C, an error, the app's own exit).
run: setup demo-db
	CLOSELOOP_DB=$(DB) $(PY) -m analysis worker --every $(SWEEP_EVERY) & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	CLOSELOOP_DB=$(DB) $(PY) -m streamlit run app.py --server.address $(HOST) \
		--server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: setup-dev demo-db
	$(PY) -m pytest

setup: $(VENV)/.installed

setup-dev: $(VENV)/.installed-dev

# torch goes in first and alone: pip then takes the local CPU wheel, and nothing that
# depends on torch can pull a multi-gigabyte CUDA build instead.
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Builds the demo database only when the database holds no feedback yet.
demo-db: setup
	CLOSELOOP_DB=$(DB) $(PY) -m analysis demo --if-empty

bench: setup-dev
	for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .numba_cache test-artifacts
