# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# The PostgreSQL run of `make test`; override, or use `make test-sqlite` without a server.
TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
export FLASK_APP := app

.PHONY: setup run test test-sqlite test-pg translations bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate requirements.txt requirements-dev.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

translations: $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -d translations -D messages --statistics 2>&1 | tail -1
	$(BIN)/pybabel compile -d translations -D flask_security --statistics 2>&1 | tail -1

setup: $(VENV)/.installed translations

run: setup
	$(BIN)/flask init-db --demo-if-new
	$(BIN)/flask run --host $(HOST) --port $(PORT)

test: test-sqlite test-pg

test-sqlite: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-pg: setup
	TEST_DATABASE_URL=$(TEST_PG_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache
