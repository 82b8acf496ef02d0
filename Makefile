# `make run` installs and runs a short default test; `make test` installs everything the suite needs and runs it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBS := chromium debootstrap etcd-server etcd-client fuse3 iptables iproute2 openssh-client procps golang-go zookeeper redis-server redis-sentinel
STAMP := $(VENV)/.installed
# the example plugin the suite tests "your own system" with, pip-installed like a user's would be
EXAMPLE := examples/pbkv-plugin
EXAMPLE_STAMP := $(VENV)/.example-installed

.PHONY: run test test-slow install debs images examples lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

$(EXAMPLE_STAMP): $(STAMP) $(EXAMPLE)/pyproject.toml $(wildcard $(EXAMPLE)/pbkv_plugin/*.py)
	$(BIN)/pip install -q --no-deps ./$(EXAMPLE)
	touch $(EXAMPLE_STAMP)

examples: $(EXAMPLE_STAMP)

debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

images: install debs
	@if docker info >/dev/null 2>&1; then $(BIN)/splitbrain image build; else echo "no Docker engine: skipping image build"; fi

run: install
	@$(BIN)/splitbrain run raft --workload register --nemesis partition,kill,pause --time-limit 20; rc=$$?; \
	echo "splitbrain is installed in $(VENV)/: run '. $(VENV)/bin/activate' to put it on PATH (or type $(BIN)/splitbrain)"; \
	exit $$rc

test: install debs images examples
	$(BIN)/ruff check splitbrain tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -m "not slow" --durations=15

# The long end-to-end tests left out of `make test` (listed in the README).
test-slow: install debs images
	$(BIN)/pytest -q -m slow --durations=15

lint: install
	$(BIN)/ruff check splitbrain tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) store
