# The two set-up commands of the README: `make demo` and `make test`. Both create .venv from the
# pinned lock file when it is missing (or older than the pins), so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv dev-ui mlflow-ui bench clean

venv: $(STAMP)

# uv installs the 137 pinned wheels in ~15 s where pip takes ~90 s; it is itself pinned.
UV_VERSION := 0.13.9

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> installing pinned dependencies into $(VENV) (first run only, ~20 s)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) 2>&1 | grep -v "is ignored" || true
	@$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/attrition demo

# One pytest worker per core (pytest-xdist), whole files per worker, the slowest first
# (attrition_platform_tests/conftest.py): the CLI tests run real demos in subprocesses.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile --durations=25

dev-ui: $(STAMP)
	$(BIN)/attrition ui

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py

clean:
	rm -rf .attrition
