# animelib: two commands do everything on a fresh machine.
#   make figures   regenerate the report's figures (quick profile, synthetic data) and the report
#   make test      the test suite (unit tests + every notebook on the smoke profile)
# Options: make figures PROFILE=full DATA_DIR=/data DEVICE=cuda SEEDS=3 WORKERS=1

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
DATA_DIR ?=
SEEDS ?=
WORKERS ?=
DEVICE ?= auto
FIGURES_DIR ?= figures
RUNS_DIR ?= runs
PYTEST_ARGS ?=
STAMP := $(VENV)/.animelib-installed
TEST_STAMP := $(VENV)/.animelib-test-installed
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: figures test test-slow lab clean install lint strip

install: $(STAMP)

# The venv is made once and reused; it is refreshed when pyproject.toml changes.
$(STAMP): pyproject.toml
	@echo "[make] setting up $(VENV): torch 2.14.1 + torchvision 0.29.1 first, then animelib and its dependencies"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	@$(PIP) torch==2.14.1 torchvision==0.29.1 2>&1 | grep -v "^WARNING: Location" || true
	@$(PIP) -e . 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import torch, torchvision, animelib, cv2, papermill" || (echo "[make] install failed"; exit 1)
	@touch $(STAMP)
	@echo "[make] $(VENV) ready"

# The test tools (pytest, nbval, ruff, playwright, nbstripout): the `test` extra, on top of the above.
$(TEST_STAMP): $(STAMP)
	@echo "[make] adding the test tools to $(VENV) (pip install -e .[test])"
	@$(PIP) -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import pytest, nbval" || (echo "[make] install of the test extra failed"; exit 1)
	@touch $(TEST_STAMP)

figures: $(STAMP)
	@echo "[make] running every notebook on the $(PROFILE) profile (figures -> $(FIGURES_DIR)/, runs -> $(RUNS_DIR)/)"
	$(PY) -m animelib run --profile $(PROFILE) --device $(DEVICE) --figures-dir $(FIGURES_DIR) --runs-dir $(RUNS_DIR) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(WORKERS),--workers $(WORKERS))
	$(PY) -m animelib report --figures-dir $(FIGURES_DIR) --out $(RUNS_DIR)/report
	@echo "[make] open $(RUNS_DIR)/report/index.html"

test: $(TEST_STAMP)
	@echo "[make] unit tests, then every notebook through nbval (smoke profile); the long tests: make test-slow"
	@rm -rf runs/smoke
	$(PY) -m pytest $(PYTEST_ARGS)
	ANIMELIB_PROFILE=smoke ANIMELIB_OFFLINE=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
		$(PY) -m pytest --nbval-lax -p no:cacheprovider notebooks $(PYTEST_ARGS)

# The tests marked slow (long and covered in part by the default set); CI runs them after `make test`.
test-slow: $(TEST_STAMP)
	$(PY) -m pytest --run-slow -m slow $(PYTEST_ARGS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

# Before committing a notebook you ran in JupyterLab: outputs go, the parameters tag stays.
strip: $(TEST_STAMP)
	$(VENV)/bin/nbstripout --keep-id --extra-keys "metadata.widgets metadata.papermill" notebooks/*.ipynb

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check animelib tests

clean:
	rm -rf $(RUNS_DIR) .pytest_cache .ruff_cache test-artifacts
	find . -name __pycache__ -type d -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
