# make run: install, migrate, seed the demo if the database is empty, serve on SQLite.
# make test: install what the tests need and run the whole suite (SQLite, or DATABASE_URL).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
FLASK := $(BIN)/flask --app wsgi
# Debian packages the test suite drives: headless Chromium for browser tests, R's survey
# package for reference numbers, zbar and poppler to read QR codes back from posters.
TEST_DEBS := chromium chromium-driver r-base-core r-cran-survey zbar-tools poppler-utils redis-server

.PHONY: install run test test-deps translations translations-update system-deps redis-up clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed translations

translations: $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -d app/translations

# Extract new UI strings and merge them into the catalogs; translate them in
# app/translations/vi/LC_MESSAGES/messages.po, then `make translations`.
translations-update: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
		--project sipas-platform --copyright-holder "SIPAS platform contributors" \
		-o app/translations/messages.pot .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --width 100 --no-fuzzy-matching --ignore-obsolete

run: install
	mkdir -p instance
	$(FLASK) db upgrade
	SIPAS_BASE_URL=http://$(HOST):$(PORT) $(FLASK) sipas seed-demo --if-empty
	$(FLASK) run --host $(HOST) --port $(PORT)

system-deps:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "missing Debian packages:$$missing (install them with apt-get as root; the tests that need them will fail under CI)"; \
		fi; \
	fi

# The rate-limit tests use Redis on 127.0.0.1:6379 (database 13); start it if it is not running.
redis-up:
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { \
		echo "starting Redis on 127.0.0.1:6379"; \
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no; \
		for _ in 1 2 3 4 5 6 7 8 9 10; do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done; }

test-deps: install system-deps redis-up

test: test-deps
	$(BIN)/bandit -q -r app analysis surveys --severity-level high
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache

# Production serving and the load and fault benchmarks (issue 7); see docs/scaling.md.
# serve-prod: PostgreSQL and Redis (started if needed), database $(PROD_DB) (created if missing),
# migrations, the demo if empty, then gunicorn with gunicorn.conf.py on $(PROD_BIND).
PROD_BIND ?= 127.0.0.1:8000
PROD_DB ?= sipas

.PHONY: install-bench serve-prod bench-load bench-faults bench-fault-worker bench-fault-postgres bench-fault-redis

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $@

install-bench: install $(VENV)/.installed-bench

serve-prod: install-bench
	$(BIN)/python -m bench.load.stack serve --bind $(PROD_BIND) --database $(PROD_DB)

# About four minutes; prints page views/s and submissions/s with p50/p95/p99, the accounting
# (accepted = stored) and the COPY ceiling. BENCH_ARGS passes options (see --help).
bench-load: install-bench
	$(BIN)/python -m bench.load.loadtest $(BENCH_ARGS)

# Kill a worker, stop PostgreSQL, stop Redis, each during a load run on a stack of its own.
bench-faults: install-bench
	$(BIN)/python -m bench.load.faults all $(BENCH_ARGS)

bench-fault-worker: install-bench
	$(BIN)/python -m bench.load.faults worker-kill $(BENCH_ARGS)

bench-fault-postgres: install-bench
	$(BIN)/python -m bench.load.faults postgres $(BENCH_ARGS)

bench-fault-redis: install-bench
	$(BIN)/python -m bench.load.faults redis $(BENCH_ARGS)
