# make test : build .venv from scratch (CPU torch pinned) and run the whole test suite
# make demo : build .venv and run the main job on data the project generates
# make lint : ruff
# the first of python3.13, python3.12, python3.11, python3 that runs and is >= 3.11; `make PYTHON=...` overrides
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in python3.13 python3.12 python3.11 python3; do \
  $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
endif
VENV   ?= .venv
PY      = $(VENV)/bin/python
TORCH_PIN ?= torch==2.13.0
export MPLCONFIGDIR ?= $(CURDIR)/.cache/mpl

.PHONY: venv test demo lint clean

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: no Python >= 3.11 found (tried python3.13, python3.12, python3.11, python3); give PYTHON=..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

test: venv
	mkdir -p $(MPLCONFIGDIR)
	$(VENV)/bin/ruff check gazekit hgdtgl experiments tests benchmarks examples
	$(PY) -m pytest -q

demo: venv
	mkdir -p $(MPLCONFIGDIR)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH bash examples/demo.sh

lint: venv
	$(VENV)/bin/ruff check gazekit hgdtgl experiments tests benchmarks examples

clean:
	rm -rf $(VENV) .cache demo_out
