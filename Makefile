# Two commands for a newcomer:  `make demo`  and  `make test`.
# Both create (or refresh, when pyproject.toml changed) the virtual environment first.
PYTHON ?= python3
VENV ?= .venv
WORKSPACE ?= workspace
BIN = $(VENV)/bin
# Small enough for about ten minutes on two CPU cores (the demo photos are 160x120 anyway).
DEMO_TRAIN ?= --image-size 96 --cache-side 120 --head-epochs 1 --epochs 2
# A second `make demo` continues (or reuses) the run instead of refusing to overwrite it.
RESUME = $(if $(wildcard $(WORKSPACE)/runs/demo/checkpoint.pt),--resume,)
STAMP = $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  # ingest → filter → embed → prefilter → split → check-leakage → score → train → evaluate → report
	$(BIN)/curate ingest demo --workspace $(WORKSPACE)
	$(BIN)/curate filter --workspace $(WORKSPACE) --recipe skylines
	$(BIN)/curate embed --workspace $(WORKSPACE)
	$(BIN)/curate prefilter --workspace $(WORKSPACE) --recipe skylines
	$(BIN)/curate split --workspace $(WORKSPACE)
	$(BIN)/curate check-leakage --workspace $(WORKSPACE)
	$(BIN)/curate score --workspace $(WORKSPACE)
	$(BIN)/classify train --workspace $(WORKSPACE) --out $(WORKSPACE)/runs/demo $(DEMO_TRAIN) $(RESUME)
	$(BIN)/classify evaluate $(WORKSPACE)/runs/demo --workspace $(WORKSPACE) --uncurated
	$(BIN)/curate report --workspace $(WORKSPACE)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python bench/ingest_urls.py
	$(BIN)/python bench/geo_filter.py
	$(BIN)/python bench/neardup.py
	$(BIN)/python bench/scorecard.py
	$(BIN)/python bench/embed_throughput.py
	$(BIN)/python bench/label_issues.py
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/report.py

clean:
	rm -rf $(WORKSPACE) .pytest_cache
