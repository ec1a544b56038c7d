# umedata: `make demo` runs the pipeline on the bundled sample; `make test` runs the suite. Both set up .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# A CPU build where one is on disk; override on a GPU box, e.g. `make TORCH_SPEC='torch==2.14.1' setup`.
TORCH_SPEC ?= torch==2.13.0
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME ?= $(CURDIR)/.prefect
# A flow run without a server starts a temporary one; on a busy machine that can take longer than Prefect's 20 s.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 600

.PHONY: setup demo test test-fast test-busy demo-busy bench findings sample clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[data,train,dev,cluster]"
	touch $@

setup: $(VENV)/.installed

sample: setup
	$(PY) examples/make_sample.py --out examples/sample

demo: setup
	$(PY) -m flows.demo

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2 --timeout 900

test-fast: setup
	$(PY) -m pytest -q -n 2 -m "not slow"

# The same, with two CPU-bound processes spinning beside them: what a shared 2-core machine feels like.
test-busy: setup
	$(PY) tests/busy.py --spinners 2 --record test -- $(MAKE) test

demo-busy: setup
	$(PY) tests/busy.py --spinners 2 --record demo -- $(MAKE) demo

# Each script prints its figures and rewrites its own section of BENCHMARKS.md. Never part of `make test`; together
# they take about an hour on 2 cores (bench/findings.py, the toy-scale findings, is apart: `make findings`).
bench: setup
	$(PY) bench/ingest.py
	$(PY) bench/teacher_throughput.py --write
	$(PY) bench/versions.py
	$(PY) bench/checks.py
	$(PY) bench/curation.py
	$(PY) bench/warehouse_scale.py
	$(PY) bench/train_step.py --write BENCHMARKS.md
	$(PY) bench/grpo_step.py --write BENCHMARKS.md
	$(PY) bench/soak.py
	$(PY) bench/startup.py

findings: setup
	$(PY) bench/findings.py --write

clean:
	rm -rf $(VENV) .prefect warehouse/*.duckdb warehouse/*.duckdb.wal warehouse/*.staging warehouse/media
