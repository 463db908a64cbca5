# chamber: the two commands a newcomer needs are `make demo` and `make test`.
# Each one sets up what it needs by itself: Debian packages (when missing), a venv, PyPI packages.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# fonts-liberation2: Liberation Serif, metric-compatible with Times New Roman (the minutes' font
# under Decree 30/2020/NĐ-CP), with Vietnamese; without it the minutes print in DejaVu Serif.
DEB_PACKAGES := mosquitto mosquitto-clients socat mbpoll chromium fonts-dejavu-core fonts-liberation2 tmux poppler-utils systemd etcd-server
# The command each Debian package provides, to tell whether it is already there.
DEB_COMMANDS := mosquitto mosquitto_pub socat mbpoll chromium tmux pdftotext systemd-analyze etcd

.PHONY: demo test lint links typecheck pytest torture-short torture fuzz bench setup debs clean

demo: setup
	$(BIN)/chamber demo

test: setup lint typecheck pytest torture-short

setup: debs $(STAMP)

debs:
	@missing=""; for c in $(DEB_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages (missing:$$missing)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEB_PACKAGES) >/dev/null; \
	fi

# The editable install maps the fixed folders to chamber.* with setuptools' import finder, which
# prints an informational notice on every such install ("folders in the working directory named
# like the package take precedence"). The one installed name is chamber and no folder here has
# it, so the notice does not apply and is filtered out by its own text.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

lint: $(STAMP) links
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=build/typecheck $(BIN)/lint-imports --no-cache

# mypy and the import rules (lint-imports, pyproject.toml) check the fixed folders as the
# chamber.* modules they install as: build/typecheck/chamber holds one link per folder.
CHAMBER_PACKAGES := controller drivers protocols simulator console firmware_specs
links:
	@mkdir -p build/typecheck/chamber
	@for p in $(CHAMBER_PACKAGES); do ln -sfn ../../../$$p build/typecheck/chamber/$$p; done

typecheck: $(STAMP) links
	$(BIN)/mypy

# pytest exits 5 when it collects nothing; make treats any non-zero exit as failure.
# The suite runs in one worker per CPU (pytest-xdist), each test module whole in one worker, so
# a module's shared fixtures (a built wheel, a browser, an installed root) are made once.
# The end-to-end tests drive real brokers, serial lines and browsers on a shared 2-core
# machine: the tests that failed are run once more, alone and in one process, and the build
# fails if they fail again. The torture tests are not among them: they run in their own
# invocation, once, and a failure fails the build at once with its seed and the command that
# replays it.
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
pytest: $(STAMP)
	$(BIN)/pytest -q -m "not torture" -n $(WORKERS) --dist loadfile || { \
		echo "--- running the failed tests once more ---"; \
		$(BIN)/pytest -q -m "not torture" --lf; }

torture-short: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider -m torture tests/torture

# The long torture run (docs/reliability.md): make torture KILLS=50 BROKER_KILLS=10 SEED=1
KILLS ?= 50
BROKER_KILLS ?= 10
SEED ?= 1
SEATS ?= 48
REPORT ?= torture-report.json
torture: setup
	$(BIN)/python -m tests.torture --kills $(KILLS) --broker-kills $(BROKER_KILLS) \
		--seed $(SEED) --seats $(SEATS) --report $(REPORT)

fuzz: setup
	$(BIN)/python -m tests.fuzz --count 1000000

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
