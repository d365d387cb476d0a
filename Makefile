# Sävy — the two commands of the quick start:
#   make serve   set everything up, then run the server on the embedded default model
#   make test    set everything up, then run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup system-deps serve test bench eval extension token clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Sävy needs Python >= 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# llama-cpp-python builds from source (about 5 minutes on 2 cores; pip caches the wheel)
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc 2>/dev/null || echo 2) $(BIN)/python -m pip install --quiet -e '.[test,finnish]'
	touch $(STAMP)

setup: $(STAMP)

serve: setup
	$(BIN)/savy serve

# The browser tests drive Debian's chromium (never a downloaded browser); the extension's unit tests
# run on Node, and npm installs the editor libraries and web-ext they use (tests/web, from its
# lockfile, on the first test run). Installed from Debian packages when missing (root, or sudo).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: setup system-deps
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/speed.py

eval: setup
	$(BIN)/python bench/eval.py

extension:
	$(PYTHON) extension/build.py

token: setup
	$(BIN)/savy token

clean:
	rm -rf $(VENV) build *.egg-info server/*.egg-info
