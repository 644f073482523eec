# Two commands for a fresh machine (each sets itself up first):
#   make test      run the test suite
#   make workflow  run the spaCy project workflow end to end on the bundled sample
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test workflow clean

setup: $(VENV)/.installed

# torch first, pinned to the CPU build available here, so that installing the
# package does not pull a CUDA build; an existing torch is kept as it is.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[test,transformers,ray]"
	touch $@

test: setup
	$(PY) -m pytest -q -p no:cacheprovider

workflow: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m weasel run all .

clean:
	rm -rf $(VENV) corpus training metrics packages
