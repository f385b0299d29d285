# The two commands of the README. Both create and use .venv/ in this directory.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HAZGATE := $(BIN)/hazgate

.PHONY: run test lint typecheck check system-deps test-system-deps clean-venv

# Debian packages the project itself needs (Mosquitto and the TimescaleDB root are installed
# by `hazgate services up`, which knows when they are missing).
system-deps:
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || scripts/apt-install python3-venv
	@# The monthly report (hazgate report monthly) renders Chinese text with this font.
	@scripts/apt-install fonts-wqy-microhei

# Browser tests need Chromium and a CJK font, or Chinese renders as boxes; report tests read
# the PDF with poppler-utils (pdftotext, pdftoppm).
test-system-deps: system-deps
	@scripts/apt-install chromium fonts-wqy-microhei poppler-utils

$(STAMP): pyproject.toml | system-deps
	@echo "[make] creating $(VENV) and installing hazgate (about a minute the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@# face_recognition's metadata asks for dlib, which compiles for minutes; dlib-bin
	@# (a dependency above) ships the same module prebuilt.
	$(BIN)/pip install -q --no-deps 'face_recognition==1.3.0'
	touch $(STAMP)

# Services, schema, a demo park with its registry and users, then the service and the
# simulator; prints the dashboard URL and logins. Ctrl-C stops it.
run: $(STAMP)
	$(HAZGATE) run

test: $(STAMP) test-system-deps
	@# pytest's exit 5 means no test ran: that is a failure here, not a pass.
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "[make] no tests ran"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

clean-venv:
	rm -rf $(VENV)
