# make test : build .venv from scratch (CPU torch pinned) and run the whole test suite
# make demo : build .venv and run the main job on data the project generates
# make lint : ruff
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
TORCH_PIN ?= torch==2.13.0
export MPLCONFIGDIR ?= $(CURDIR)/.cache/mpl

.PHONY: venv test demo lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

test: venv
	mkdir -p $(MPLCONFIGDIR)
	$(VENV)/bin/ruff check gazekit hgdtgl tests benchmarks examples
	$(PY) -m pytest -q

demo: venv
	mkdir -p $(MPLCONFIGDIR)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH bash examples/demo.sh

lint: venv
	$(VENV)/bin/ruff check gazekit hgdtgl tests benchmarks examples

clean:
	rm -rf $(VENV) .cache demo_out
