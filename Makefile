# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: demo test test-stress ofx ofx-deps install bench-quality bench-reference bench-ceiling bench-speed bench-memory bench-server clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned to the CPU wheel available here, so the project's range does not pull CUDA builds.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m e2fgvi_core.cli.main demo

# The OpenFX plug-in (host_plugin/ofx): build/ofx/RemoveObject.ofx.bundle. Its build dependencies are Debian
# packages: installed with apt-get when we run as root and one is missing, else the one command that does is printed.
OFX_DEPS := g++ cmake pkg-config libzmq3-dev cppzmq-dev libmsgpack-cxx-dev
ofx-deps:
	@missing=$$(for p in $(OFX_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else echo "missing build dependencies of the OpenFX plug-in; run: sudo apt-get install $$missing"; exit 1; fi; \
	fi

ofx: $(STAMP) ofx-deps
	cmake -S host_plugin/ofx -B build/ofx -DPython_EXECUTABLE=$(abspath $(PY))
	cmake --build build/ofx -j2

# ruff first (lint, then formatting): a style error fails fast, before the ~15 minutes of tests (ruff is in the test extra).
test: $(STAMP) ofx
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q -ra --durations=15

# The same tests while a CPU hog keeps every core busy: a test that races the clock fails here, not on a loaded CI
# machine. The hog (stress-ng, else one Python busy loop per core) runs in a session of its own (setsid), whose
# process group the trap stops however pytest ends (pass, fail, Ctrl-C); pytest's exit status is make's.
test-stress: $(STAMP) ofx  # the prerequisites of `test`, so the same tests run (ruff needs no load)
	@if command -v stress-ng >/dev/null 2>&1; then setsid stress-ng --cpu 0 --quiet & \
	else setsid $(PY) -c 'import os; any(os.fork() == 0 for _ in range((os.cpu_count() or 1) - 1)); exec("while True: pass")' & \
	fi; \
	hog=$$!; trap 'kill -TERM -$$hog 2>/dev/null || kill -TERM $$hog 2>/dev/null; wait $$hog 2>/dev/null' EXIT INT TERM; \
	echo "test-stress: CPU hog (process group $$hog) on $$(getconf _NPROCESSORS_ONLN) cores"; \
	$(PY) -m pytest -q -ra

bench-quality: $(STAMP)
	$(PY) benchmarks/quality.py

bench-reference: $(STAMP)
	$(PY) benchmarks/reference_walkthrough.py

bench-ceiling: $(STAMP)
	$(PY) benchmarks/propagation_ceiling.py

bench-speed: $(STAMP)
	$(PY) benchmarks/speed.py --frames 20 --threads 1

bench-memory: $(STAMP)
	$(PY) benchmarks/memory.py

bench-server: $(STAMP)
	$(PY) benchmarks/server_overhead.py

clean:
	rm -rf $(VENV) build *.egg-info
