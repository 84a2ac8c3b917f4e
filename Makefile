# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SERVICE_NAMES := recruitment randomisation surveys workshops analytics
MEMBERS := shared clients $(addprefix services/,$(SERVICE_NAMES)) cli testkit

.PHONY: run install test test-postgres test-sqlite lint lock bench clean

run: install ## install everything, migrate, start the five services and load the demo trial
	$(BIN)/rlc up --demo

install: $(STAMP)

# Pinned, hashed install from requirements.lock; the workspace's own packages go in editable, without deps.
$(STAMP): requirements.lock $(addsuffix /pyproject.toml,$(MEMBERS))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation $(addprefix -e ,$(MEMBERS))
	touch $(STAMP)

test: install lint ## the whole suite: PostgreSQL first, then the SQLite path
	$(MAKE) test-postgres
	$(MAKE) test-sqlite

test-postgres: install
	RLC_TEST_DATABASE=postgresql $(BIN)/pytest -p no:cacheprovider -n 2 --dist loadfile

test-sqlite: install
	RLC_TEST_DATABASE=sqlite $(BIN)/pytest -p no:cacheprovider -n 2 --dist loadfile -m "not postgres_only"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared/rlc_shared clients/rlc_clients cli/rlc_cli testkit/rlc_testkit $(foreach s,$(SERVICE_NAMES),services/$(s)/$(s))

# requirements.lock: everything (dev tools included) for development and CI;
# requirements-runtime.lock: what the service images need, no test or lint tools.
lock: ## regenerate both locks (uv.lock stays out of git: it records the registry's address)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv lock
	$(BIN)/uv export --frozen --all-groups --no-emit-workspace --no-header -o requirements.lock
	$(BIN)/uv export --frozen --no-dev --prune rlc-cli --no-emit-workspace --no-header -o requirements-runtime.lock

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var
