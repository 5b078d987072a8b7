# `make test` is the README's test command and what CI runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: test install validate bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q

# Every card in model_zoo/: schema, weights and sha256, model contract, claimed clean accuracy.
validate: install
	$(VENV)/bin/snnbench validate --all $(VALIDATE_FLAGS)

bench: install
	$(PY) benchmarks/neurons.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
