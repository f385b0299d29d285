# The two commands of the README. Both create and use .venv/ in this directory.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HAZGATE := $(BIN)/hazgate

.PHONY: run test lint typecheck check system-deps test-system-deps clean-venv web

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

# Browser libraries (ECharts), pinned by web/package-lock.json, installed from the npm registry by
# npm ci and copied next to the pages: the service serves them itself, nothing loads from a CDN.
VENDOR := api/static/vendor
WEB_STAMP := $(VENDOR)/.installed

$(WEB_STAMP): web/package.json web/package-lock.json
	@command -v npm >/dev/null || scripts/apt-install nodejs npm
	cd web && npm ci --no-audit --no-fund
	mkdir -p $(VENDOR)
	cp web/node_modules/echarts/dist/echarts.esm.min.mjs $(VENDOR)/echarts.esm.min.js
	cp web/node_modules/echarts/LICENSE $(VENDOR)/echarts-LICENSE.txt
	cp web/node_modules/echarts/NOTICE $(VENDOR)/echarts-NOTICE.txt
	touch $(WEB_STAMP)

web: $(WEB_STAMP)

# Services, schema, a demo park with its registry and users, then the service and the
# simulator; prints the dashboard URL and logins. Ctrl-C stops it.
run: $(STAMP) $(WEB_STAMP)
	$(HAZGATE) run

test: $(STAMP) $(WEB_STAMP) test-system-deps
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
