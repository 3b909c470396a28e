# Every target bootstraps itself: a fresh machine needs only python3 (>= 3.11).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RTINFER_HOME ?= $(abspath .rtinfer)
export DAGSTER_HOME ?= $(RTINFER_HOME)/dagster

.PHONY: install checkov bytecode demo test dev bench lint lock emulator clean

install: $(STAMP)

$(STAMP): requirements.lock requirements-bootstrap.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip >/dev/null
	@$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements-bootstrap.txt
	$(BIN)/uv pip sync -q --python $(BIN)/python --require-hashes --compile-bytecode requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $@

# checkov (run by tests/infra on infra/template.yaml) pins boto3 and others below the product's
# versions: it gets a venv of its own, from its own hash-checked lock.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
checkov: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): requirements-checkov.lock $(STAMP)
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(BIN)/uv pip sync -q --python $(CHECKOV_VENV)/bin/python --require-hashes requirements-checkov.lock
	@touch $@

# Bytecode for the project's own modules, compiled up front: with PYTHONDONTWRITEBYTECODE set (as
# some machines and containers do) nothing is ever cached on import, and every process of the
# product (emulator, model servers, function workers, Dagster runs) would compile its sources anew.
PACKAGES := orchestration assets jobs sensors serving emulator bench tests
bytecode: install
	@$(BIN)/python -m compileall -q -j 0 $(PACKAGES)

demo: bytecode
	$(BIN)/rtinfer demo

# Four workers on two cores: most of the suite waits on real servers, not on the CPU (a run keeps
# about 1.2 cores busy). --dist loadfile keeps a file's tests (and its module fixtures) on one worker;
# --no-loadscope-reorder keeps the collection order, which starts the longest files first
# (tests/conftest.py) instead of the files with the most tests.
TEST_WORKERS ?= 4

test: bytecode checkov
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The S3 compute log manager signs with boto3's default credentials: the emulator's, unless set.
dev: bytecode
	$(BIN)/rtinfer emulator start
	@$(BIN)/python -m orchestration.wiring.instance_config >/dev/null
	AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-local} \
		$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# The stream benches print throughput, CPU per record and cost (stream_throughput), the consumer's
# own CPU per record (consumer_cpu), the emulator's per DynamoDB call (emulator_dynamodb) and latency
# per mapping profile (stream_latency), each beside its baseline measured in the same run.
bench: bytecode
	$(BIN)/python -m bench.features
	$(BIN)/python -m bench.invoke_latency
	$(BIN)/python -m bench.compiled_model
	$(BIN)/python -m bench.consumer_cpu
	$(BIN)/python -m bench.emulator_dynamodb
	$(BIN)/python -m bench.stream_throughput
	$(BIN)/python -m bench.stream_latency

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Re-resolve the lock after changing pyproject.toml's dependencies (keeps existing pins where it can).
lock: install
	$(BIN)/uv pip compile -q --generate-hashes --extra dev --no-header --python-version 3.11 \
		pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile -q --generate-hashes --no-header --python-version 3.11 \
		requirements-checkov.in -o requirements-checkov.lock

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache
