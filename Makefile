# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# The PostgreSQL run of `make test`; override, or use `make test-sqlite` without a server.
TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
export FLASK_APP := app

.PHONY: setup run test lint test-sqlite test-pg translations catalog bench bench-large bench-small clean lock install-prod

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# The development install: the test tools on top of the runtime, every package at the
# version of the locks, so it runs exactly what `make install-prod` installs.
$(VENV)/.installed: $(BIN)/activate requirements.txt requirements-dev.txt requirements.lock requirements-dev.lock
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c requirements-dev.lock
	touch $@

define compile-translations
	$(BIN)/pybabel -q compile -d translations -D messages
	$(BIN)/pybabel -q compile -d translations -D flask_security
	$(BIN)/pybabel -q compile -d translations -D admin
endef

translations: $(VENV)/.installed
	$(compile-translations)

# Re-pin everything, transitively, from requirements*.txt (after adding or changing a
# requirement; LOCK_ARGS=--upgrade moves every pin to the newest release). For Debian 12's
# Python 3.11, whoever runs it.
LOCK_ARGS ?=
lock: $(VENV)/.installed
	$(BIN)/uv pip compile --quiet --python-version 3.11 $(LOCK_ARGS) \
		requirements.txt -o requirements.lock
	$(BIN)/uv pip compile --quiet --python-version 3.11 $(LOCK_ARGS) \
		requirements-dev.txt -c requirements.lock -o requirements-dev.lock

# A production server (docs/DEPLOY.md): only the runtime packages, exactly as locked, no test
# tools; run again after every upgrade. No pip upgrade either: Debian's pip does this well.
install-prod:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.lock
	$(BIN)/python -m pip check
	$(compile-translations)

# Re-extract the UI texts and merge them into the English catalog (then translate the new ones).
catalog: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ -k gettext -k _ -k lazy_pgettext:1c,2 --no-location --sort-output \
		-o translations/messages.pot .
	$(BIN)/pybabel update --ignore-obsolete -i translations/messages.pot -d translations -l en -D messages

setup: $(VENV)/.installed translations

# The demo: SQLite in instance/crm.db, with the demo accounts when new. init-db refuses to put
# them into any other database (a DATABASE_URL) unless DEMO=1 asks for it.
run: setup
	$(BIN)/flask init-db --demo-if-new $(if $(DEMO),--force-demo)
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

# tests/test_deploy.py checks deploy/ with the tools of a Debian server: systemd-analyze
# (package systemd) and nginx. nginx is unpacked from Debian's packages into .cache/nginx,
# never installed: installing it would start a server on port 80.
SYSTEMD_ANALYZE ?= /usr/bin/systemd-analyze
NGINX := .cache/nginx/usr/sbin/nginx
# pg_dump and pg_restore: `flask backup` and `flask restore` on PostgreSQL.
PG_DUMP ?= /usr/bin/pg_dump

$(SYSTEMD_ANALYZE) $(PG_DUMP):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			$(if $(filter $(PG_DUMP),$@),postgresql-client,systemd) >/dev/null; \
	else \
		echo "$@ is needed by the tests: sudo apt-get install systemd postgresql-client"; exit 1; \
	fi

$(NGINX):
	mkdir -p .cache/nginx/debs
	cd .cache/nginx/debs && { apt-get download nginx nginx-common 2>/dev/null || \
		{ apt-get update -qq && apt-get download nginx nginx-common; }; }
	for deb in .cache/nginx/debs/*.deb; do dpkg-deb -x "$$deb" .cache/nginx; done
	test -x $@

# tests/test_workers.py starts its own Redis (Debian's redis-server, on a free loopback port)
# to show two server processes sharing the login throttle.
REDIS_SERVER ?= /usr/bin/redis-server

$(REDIS_SERVER):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	else \
		echo "Redis is needed by the tests: sudo apt-get install redis-server"; exit 1; \
	fi

TEST_TOOLS := $(CHROMIUM) $(SYSTEMD_ANALYZE) $(NGINX) $(PG_DUMP) $(REDIS_SERVER)

# One pytest worker per core (pytest-xdist); each has its own database, created when
# missing (tests/conftest.py), so the server needs no database beforehand.
PYTEST := $(BIN)/python -m pytest -n auto

test-sqlite: setup $(TEST_TOOLS)
	$(PYTEST) $(PYTEST_ARGS)

test-pg: setup $(TEST_TOOLS)
	TEST_DATABASE_URL=$(TEST_PG_URL) $(PYTEST) $(PYTEST_ARGS)

# The benchmark at 100,000 customers (bench/README.md). `make bench-large` builds the large
# databases (SQLite .cache/bench/large.db and PostgreSQL BENCH_PG_URL; DB=sqlite or DB=pg for
# one; skipped when current); `make bench` builds what is missing, then measures every page
# and writes bench/results.json and the table of bench/README.md. `make bench-small`: the
# marketing verbs and assignment races on a scaled-up demo (bench/run.py).
DB ?= both
bench-large: setup
	$(BIN)/python bench/generate.py --db $(DB)

bench: setup
	$(BIN)/python bench/large.py --db $(DB)

bench-small: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .cache
