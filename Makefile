# The two commands: `make demo` runs the main job on the shipped sample corpus, `make test` runs the suite.
# Both create .venv when it is missing and install everything (CPU torch first, so pip never pulls CUDA).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.garimpo-installed

.PHONY: demo test install lint bench clean

$(STAMP): pyproject.toml scripts/install.sh
	PY=$(PY) bash scripts/install.sh $(VENV)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/garimpo demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf artifacts .pytest_cache
