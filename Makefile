# litecursor: `make run` serves the offline demo over HTTPS, `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 4000
CONFIG ?= examples/config.mock.yaml
DEV_KEY := sk-litecursor-dev-key

.PHONY: install run certs test lint format bench clean

install: $(STAMP)

$(STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint,fast,otel]'
	@touch $(STAMP)

certs/cert.pem: | $(STAMP)
	$(BIN)/litecursor certs --dir certs --host localhost --host 127.0.0.1 --host ::1

certs: certs/cert.pem

run: $(STAMP) certs/cert.pem
	@echo ""
	@echo "  Base URL:    https://localhost:$(PORT)/cursor     (OpenAI clients: https://localhost:$(PORT)/v1)"
	@echo "  Master key:  $(DEV_KEY)   (the example's literal dev key)"
	@echo "  Try it:      curl --cacert certs/ca.pem https://localhost:$(PORT)/cursor/chat/completions \\"
	@echo "                 -H 'Authorization: Bearer $(DEV_KEY)' -H 'Content-Type: application/json' \\"
	@echo "                 -d '{\"model\": \"mock\", \"stream\": true, \"messages\": [{\"role\": \"user\", \"content\": \"hello from curl\"}]}'"
	@echo ""
	$(BIN)/litecursor serve --config $(CONFIG) --cert certs/cert.pem --key certs/key.pem --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check litecursor tests benchmarks
	$(BIN)/ruff format --check litecursor tests benchmarks
	$(BIN)/mypy litecursor

format: $(STAMP)
	$(BIN)/ruff format litecursor tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
