# Sävy — the two commands of the quick start:
#   make serve   set everything up, then run the server on the embedded default model
#   make test    set everything up, then run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup serve test bench eval clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Sävy needs Python >= 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# llama-cpp-python builds from source (about 5 minutes on 2 cores; pip caches the wheel)
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc 2>/dev/null || echo 2) $(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

serve: setup
	$(BIN)/savy serve

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/speed.py

eval: setup
	$(BIN)/python bench/eval.py

clean:
	rm -rf $(VENV) build *.egg-info server/*.egg-info
