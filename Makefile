# Jarvis: `make run` starts the whole desk locally (paper mode, SQLite); `make test` runs the suite
# against the machine's Postgres and Redis.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

# The test suite uses the real Postgres and Redis; override to isolate parallel runs.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/jarvis
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

# Images are tagged with the project's version and the commit they were built from (docs/runbooks/DEPLOYMENT.md).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
IMAGE ?= jarvis
IMAGE_TAG := $(IMAGE):$(VERSION)-$(COMMIT)

.PHONY: install run test bench chaos check clean audit lock image image-tag

# Exactly the versions and files of requirements-dev.lock (hashes checked), then the project itself without resolving.
$(VENV)/.installed: pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip setuptools  # venv's bundled setuptools is old (known CVEs)
	$(VENV)/bin/pip install -q --require-hashes -r requirements-dev.lock
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

install: $(VENV)/.installed

# Recompile requirements.lock and requirements-dev.lock from pyproject.toml (tools/lock.py; needs PyPI).
lock: install
	$(PY) tools/lock.py

image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE_TAG) .
	@echo $(IMAGE_TAG)

image-tag:
	@echo $(IMAGE_TAG)

run: install
	@$(PY) jarvis/bootstrap.py
	@$(PY) manage.py preflight
	@$(PY) manage.py migrate --noinput -v0
	@$(PY) manage.py collectstatic --noinput -v0
	@$(PY) manage.py setup_periodic_tasks
	@$(PY) manage.py setup_operator_groups
	@$(PY) manage.py create_demo_operator
	@$(PY) manage.py desk_procfile --port $(PORT) > var/Procfile
	@$(PY) manage.py desk_urls --port $(PORT)
	@exec $(PY) -m jarvis.desk -d . -f var/Procfile start

test: install
	$(PY) tools/lock.py --check  # the lock files agree with pyproject.toml (offline; `make lock` rewrites them)
	$(VENV)/bin/lint-imports --no-logo  # the import contracts in pyproject.toml (docs/architecture.md: direction of knowledge)
	@bash tools/chromium.sh
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=test-only-secret-key-not-for-production \
	JARVIS_IGNORE_DOTENV=true JARVIS_VAR_DIR=$(CURDIR)/var/test $(VENV)/bin/pytest $(PYTEST_ARGS)

bench: install
	@for b in bench/*.py; do [ $$b = bench/chaos.py ] && continue; echo "== $$b"; $(PY) $$b || exit 1; done

# Chaos run (bench/chaos.py): its own Postgres and Redis on spare ports, worker kills, restarts; about 10 minutes.
chaos: install
	$(PY) bench/chaos.py $(CHAOS_ARGS)

check: install
	DEBUG=false SECRET_KEY=$$(openssl rand -hex 32) SECURE_SSL_REDIRECT=true SECURE_HSTS_SECONDS=31536000 \
	SECURE_COOKIES=true JARVIS_IGNORE_DOTENV=true $(PY) manage.py check --deploy --fail-level WARNING

# Known vulnerabilities in the installed dependencies (tools/dependency_audit.py; docs/runbooks/security.md).
audit: install
	$(PY) tools/dependency_audit.py $(AUDIT_ARGS)

clean:
	rm -rf $(VENV) var/test .pytest_cache
