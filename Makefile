# Two commands for a newcomer:  `make demo`  and  `make test`.
# Both create (or refresh, when pyproject.toml changed) the virtual environment first.
PYTHON ?= python3
VENV ?= .venv
WORKSPACE ?= workspace
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/curate ingest demo --workspace $(WORKSPACE)
	$(BIN)/curate filter --workspace $(WORKSPACE) --recipe skylines
	$(BIN)/curate embed --workspace $(WORKSPACE)
	$(BIN)/curate prefilter --workspace $(WORKSPACE) --recipe skylines
	$(BIN)/curate split --workspace $(WORKSPACE)
	$(BIN)/curate check-leakage --workspace $(WORKSPACE)
	$(BIN)/curate score --workspace $(WORKSPACE)
	$(BIN)/curate status --workspace $(WORKSPACE)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python bench/ingest_urls.py
	$(BIN)/python bench/geo_filter.py
	$(BIN)/python bench/neardup.py

clean:
	rm -rf $(WORKSPACE) .pytest_cache
