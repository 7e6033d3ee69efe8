# The two commands: `make demo` and `make test`. Each creates or reuses .venv itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint bench bench-salesforce bench-kpis clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev,text]'
	@rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/crmpulse demo

# pytest exits 5 when it collects nothing; that is not a failure.
test: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/sync_hubspot.py --scale medium

bench-salesforce: $(STAMP)
	$(BIN)/python bench/sync_salesforce.py --scale medium

# full HubSpot and Salesforce pulls under the CRMs' real limits: refusals and share of the limit used
.PHONY: bench-limits
bench-limits: $(STAMP)
	$(BIN)/python bench/rate_limits.py --scale medium

# crmpulse serve under a flood of signed webhooks: latency, throughput, exactly-once
.PHONY: bench-ingest bench-live
bench-ingest: $(STAMP)
	$(BIN)/python bench/webhook_ingest.py --seconds 60

# a survey answer in the emulator -> the company's NPS on the CRM record, through serve
bench-live: $(STAMP)
	$(BIN)/python bench/live_latency.py

# builds (once, ~7 GB, cached in ~/.cache/crmpulse) a 10-million-record store, then measures
bench-kpis: $(STAMP)
	$(BIN)/python bench/kpis_full.py --scale 1.0 --accounts 50

clean:
	rm -rf $(VENV) crmpulse-demo.db* .pytest_cache .mypy_cache .ruff_cache
