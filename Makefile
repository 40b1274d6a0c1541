# gridablate: `make run` runs the main job, `make test` runs every check. Both set up .venv first.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: install run test check-sync nbtest pytest readme clean

$(STAMP): settings.ini setup.py
	@test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/gridablate run $(ARGS)

test: check-sync nbtest pytest

# The library, the README and the notebooks' cleanliness are all derived from the notebooks:
# regenerating them must change nothing that git tracks.
check-sync: $(STAMP)
	@before="$$(git status --porcelain)"; \
	$(BIN)/nbdev_export; \
	[ "$$(git status --porcelain)" == "$$before" ] || { git status --short; echo "Notebooks and library are not in sync: run nbdev_export and commit."; exit 1; }; \
	$(BIN)/nbdev_clean; \
	[ "$$(git status --porcelain)" == "$$before" ] || { git status --short; echo "Detected unstripped notebooks: run nbdev_clean and commit."; exit 1; }; \
	$(BIN)/python tools/readme.py; \
	[ "$$(git status --porcelain)" == "$$before" ] || { git status --short; echo "README.md is out of date: run 'make readme' and commit."; exit 1; }

nbtest: $(STAMP)
	$(BIN)/nbdev_test --n_workers 2

pytest: $(STAMP)
	$(BIN)/python -m pytest -q tests

readme: $(STAMP)
	$(BIN)/python tools/readme.py

clean:
	rm -rf _proc _docs .pytest_cache
