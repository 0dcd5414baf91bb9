# dhbv: set-up and run commands. `make demo` runs the embedded real demo, `make test` the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
# torch is installed first and separately so the wheel matches the machine:
#   default torch==2.13.0 -> on Linux PyPI a CUDA build; choose another wheel index with e.g.
#   make venv TORCH_INDEX=https://download.pytorch.org/whl/cu128   (or .../whl/cpu)
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
CORES ?= all
PYTEST_ARGS ?=

export PATH := $(BIN):$(PATH)

.PHONY: venv demo test lint clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml envs/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -r envs/requirements.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $@

demo: venv
	$(BIN)/snakemake --cores $(CORES)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/

clean:
	rm -rf results logs .snakemake
