# The two set-up commands of the README: `make demo` and `make test`. Both create .venv from the
# pinned lock file when it is missing (or older than the pins), so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv dev-ui mlflow-ui bench clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> installing pinned dependencies into $(VENV) (first run only, ~1.5 min)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/attrition demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

dev-ui: $(STAMP)
	$(BIN)/attrition ui

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py

clean:
	rm -rf .attrition
