# Two entry points (see README): `make run` and `make test`. Both create the environment first.
PYTHON ?= python3.11
VENV   ?= .venv
CORES  ?= 2
# pytest workers (pytest-xdist); each test file runs whole on one worker, so module fixtures are built once
TEST_WORKERS ?= 2
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup system-packages run smoke rehearsal test lint docs format-check dag rulegraph report bench clean-results

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) (Python 3.11); set PYTHON=..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $@

# The main job on the embedded default: corpus → training → WER table → landscapes → attributions → videos.
run: setup
	$(BIN)/snakemake --cores $(CORES) all
	$(BIN)/snakemake --report report.html

smoke: setup
	$(BIN)/snakemake all --cores $(CORES) --configfile config/smoke.yaml --directory .smoke

# Every stage of `all` at the LibriSpeech recipe's shapes (ContextNet-S, 1024 word-pieces, 1-17 s utterances) on a
# synthetic corpus, with the smallest counts; tests/test_rehearsal.py runs it in CI (docs/testing.md).
rehearsal: setup
	$(BIN)/snakemake all --cores $(CORES) --configfile config/rehearsal.yaml --directory .rehearsal

# graphviz, slurm-wlm and munge: apt-get installs them when missing (Debian, as root), else a message names them.
system-packages:
	bash tests/system_packages.sh

lint: setup
	$(BIN)/ruff check lib workflow_scripts tests
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules

test: setup system-packages docs format-check
	$(BIN)/ruff check lib workflow_scripts tests docs
	$(BIN)/python -m pytest tests -n $(TEST_WORKERS) --dist loadfile --durations=30

# The documentation site, strictly (a broken link or anchor fails), and config/README.md up to date with the schema.
docs: setup
	$(BIN)/python docs/gen_config_reference.py --check
	$(BIN)/mkdocs build --strict --quiet

# Formatting is checked, not applied: `ruff format lib workflow_scripts tests docs` and `snakefmt Snakefile rules` fix it.
format-check: setup
	$(BIN)/ruff format --check lib workflow_scripts tests docs
	$(BIN)/snakefmt --check Snakefile rules

dag rulegraph: setup
	$(BIN)/snakemake --$@ dot all | dot -Tsvg > $@.svg

report: setup
	$(BIN)/snakemake --report report.html

bench: setup
	$(BIN)/python tests/benchmarks/run_all.py --out tests/benchmarks/results/report.md
