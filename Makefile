# `make test` is the README's test command and what CI runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: evaluate test test-slow test-browser browser screenshot plots install validate leaderboard verify-changed bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# The first command to run: the full protocol on the first 50 MNIST test images for the default zoo model
# (an unofficial result, written under snnbench-results/), printed as a leaderboard row.
EVAL_MODEL ?= mnist-convnet-lif-at
EVAL_FLAGS ?= --n-examples 50 --batch-size 50
evaluate: install
	$(VENV)/bin/snnbench evaluate --model $(EVAL_MODEL) $(EVAL_FLAGS)

# The fast tier (offline, minutes); `make test-slow` runs the tests marked slow, and CI runs both.
test: install
	$(PY) -m pytest -q -m "not slow"

test-slow: install
	$(PY) -m pytest -q -m slow

# Every card in model_zoo/: schema, weights and sha256, model contract, claimed clean accuracy.
validate: install
	$(VENV)/bin/snnbench validate --all $(VALIDATE_FLAGS)

# The committed leaderboard tables must equal their regeneration from the result files.
leaderboard: install
	$(VENV)/bin/snnbench leaderboard --check

# Result files added or changed since VERIFY_BASE (a pull request's base; default: the merge base with
# origin/main, or the previous commit on main itself) are re-run on batches drawn from their flags' sha256 and
# a challenge drawn at random (printed with each verdict, so a draw can be repeated), within VERIFY_FLAGS' time
# budget for all of them (runs visited in an order drawn the same way).
VERIFY_BASE ?= $(shell git merge-base HEAD origin/main 2>/dev/null | grep -v "^$$(git rev-parse HEAD)$$" || git rev-parse --verify -q HEAD~1)
VERIFY_FLAGS ?= --budget-minutes 30 --challenge random
verify-changed: install
	@changed="$$(git diff --name-only --diff-filter=AM $(VERIFY_BASE) -- 'leaderboard/*/v*/results/*.json')"; \
	if [ -z "$$changed" ]; then echo "verify-changed: no result file changed since $(VERIFY_BASE)"; \
	else $(VENV)/bin/snnbench verify $(VERIFY_FLAGS) $$changed; fi

# The web board in a real headless browser: Debian's chromium and chromium-driver, installed when missing
# (apt-get, as root). Without them the test skips with a reason, so `make test` stays offline.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	else echo "make browser: install Debian's chromium and chromium-driver as root (apt-get install chromium chromium-driver)"; exit 1; fi

test-browser: install browser
	$(PY) -m pytest -q -rs tests/test_webboard.py

# The committed screenshot of the web board (web-board.png, shown in the README) from the committed results.
SCREENSHOT_BOARD ?= cifar10-linf-1000/v5
screenshot: install browser
	$(VENV)/bin/snnbench leaderboard --html site
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1600,600 \
		--screenshot=web-board.png file://$(CURDIR)/site/$(SCREENSHOT_BOARD)/index.html

# The committed figures in docs/plots/ (shown in the README), from the committed results.
plots: install
	$(VENV)/bin/snnbench plot board mnist-linf --version 1 --out docs/plots
	$(VENV)/bin/snnbench plot board cifar10-linf-1000 --out docs/plots
	$(VENV)/bin/snnbench plot attacks mnist-convnet-lif-at --n-examples 100 --out docs/plots
	$(VENV)/bin/snnbench plot epsilon mnist-convnet-lif-at --n-examples 100 --out docs/plots --results docs/plots

bench: install
	$(PY) benchmarks/neurons.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
