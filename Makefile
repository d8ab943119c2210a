# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# The PostgreSQL run of `make test`; override, or use `make test-sqlite` without a server.
TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
export FLASK_APP := app

.PHONY: setup run test lint test-sqlite test-pg translations catalog bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate requirements.txt requirements-dev.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

translations: $(VENV)/.installed
	$(BIN)/pybabel -q compile -d translations -D messages
	$(BIN)/pybabel -q compile -d translations -D flask_security
	$(BIN)/pybabel -q compile -d translations -D admin

# Re-extract the UI texts and merge them into the English catalog (then translate the new ones).
catalog: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ -k gettext -k _ -k lazy_pgettext:1c,2 --no-location --sort-output \
		-o translations/messages.pot .
	$(BIN)/pybabel update --ignore-obsolete -i translations/messages.pot -d translations -l en -D messages

setup: $(VENV)/.installed translations

run: setup
	$(BIN)/flask init-db --demo-if-new
	$(BIN)/flask run --host $(HOST) --port $(PORT)

CHROMIUM ?= /usr/bin/chromium

test: lint test-sqlite test-pg

# ruff (pyproject.toml) holds the line: imports, style, and no Flask in models/.
lint: $(VENV)/.installed
	$(BIN)/ruff check .

# The browser tests drive Debian's Chromium (Playwright cannot download browsers here).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "Chromium is needed for the browser tests: sudo apt-get install chromium"; exit 1; \
	fi

# One pytest worker per core (pytest-xdist); each has its own database.
PYTEST := $(BIN)/python -m pytest -n auto

test-sqlite: setup $(CHROMIUM)
	$(PYTEST) $(PYTEST_ARGS)

test-pg: setup $(CHROMIUM)
	TEST_DATABASE_URL=$(TEST_PG_URL) $(PYTEST) $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache
