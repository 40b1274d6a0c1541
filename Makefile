# gridablate: `make run` runs the main job, `make test` runs every check. Both set up .venv first.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: install run test check-sync nbtest pytest readme docs results controls paper clean

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
	$(BIN)/python -m pytest -q -rs tests

readme: $(STAMP)
	$(BIN)/python tools/readme.py

# The docs as a static site in _docs/ that works offline (nbdev's processing, our own HTML; no Quarto needed).
# With Quarto installed, `nbdev_docs` builds the Quarto site from the same notebooks.
docs: $(STAMP)
	$(BIN)/python tools/site.py

# Run the default study and its labels control again, and the same under the paper's preset on the first 8 of its
# classes (its labels control on 2); ship their results (nbs/results/*.nc.gz) and re-execute the pages showing them.
results: $(STAMP)
	$(BIN)/python tools/results.py

# Only the labels controls of the default study and of its paper-preset version, shipped beside them
# (nbs/results/control_labels.nc.gz, presets_paper_control_labels.nc.gz); ARGS="--paper-control 2" for a shorter paper run.
controls: $(STAMP)
	$(BIN)/python tools/results.py --controls-only $(ARGS)

# The paper's setup (needs GRIDABLATE_IMAGENET and the torchvision weights): re-executes nbs/results/paper.ipynb.
paper: $(STAMP)
	$(BIN)/python tools/results.py --paper

clean:
	rm -rf _proc _docs .pytest_cache
