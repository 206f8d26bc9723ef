# The two commands README.md starts with: `make demo` and `make test`.
# Both work on a fresh Debian 12 machine as root: they install what they need.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := nsd unbound nginx-light iproute2 nftables dnsutils ldnsutils curl openssl procps chromium fonts-noto-cjk

.PHONY: demo test deps venv lint typecheck pytest lab-up lab-down bench clean

demo: deps venv
	$(PY) -m tests.lab demo

test: deps venv lint typecheck pytest

# Debian packages the lab needs (installed only when missing).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@if ! $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; fi

# The virtualenv with the package and its test extras (rebuilt when setup.cfg changes).
venv: $(VENV)/.installed
$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

lint: venv
	$(VENV)/bin/ruff check v6scan tests benchmarks

typecheck: venv
	$(VENV)/bin/mypy

# pytest's exit code 5 ("no tests ran") is a failure here.  Two pytest-xdist processes, each test
# file in one of them (module fixtures scan once): most lab tests wait on timeouts and servers, not
# on the CPU, and each process brings up a lab of its own (labs never share names or namespaces).
# 21 min in one process, 10.5 min in two on the 2-core CI machine.  PYTEST_ARGS= runs one process.
PYTEST_ARGS ?= -n 2 --dist loadfile
pytest: venv
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

# Benchmarks (not part of the tests): one scale-mode lab, one table, written to benchmarks/results/<date>.md.
bench: deps venv
	@dpkg-query -W -f='$${Status}' dnsperf 2>/dev/null | grep -q "install ok installed" || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dnsperf)
	$(PY) -m benchmarks $(BENCH_ARGS)

lab-up: deps venv
	$(PY) -m tests.lab up

lab-down: venv
	$(PY) -m tests.lab down --all

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
