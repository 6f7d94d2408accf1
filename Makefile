# tinyunfold — the two commands: `make demo` and `make test`. Both bootstrap what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tinyunfold-deps
APT_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gdb-multiarch cmake ninja-build \
  clang libclang-rt-14-dev
PYTEST_ARGS ?=
# `make test` spreads the tests over every core (pytest-xdist; each worker has its own build trees,
# tests/conftest.py). PYTEST_WORKERS=0 runs them in one process.
PYTEST_WORKERS ?= auto
# matplotlib's font cache per virtual environment: one shared ~/.cache/matplotlib written while
# another venv was half-installed listed 19 of 71 fonts, and every plot then printed
# "findfont: ... not found" lines (seen on this machine with several clones).
export MPLCONFIGDIR ?= $(abspath $(VENV))/.mplconfig

.PHONY: all bootstrap apt python-deps cmsis demo test test-all bench lint format clean help fuzz

help:
	@echo "make demo      bootstrap, then run the NMF model end to end on both QEMU boards"
	@echo "make test      bootstrap, then run the test suite (not the slow experiments)"
	@echo "make test-all  all tests, slow experiments included"
	@echo "make bench     instruction/flash/RAM report and long experiments"
	@echo "make lint      ruff + mypy + import layers (import-linter) + clang-format --dry-run"
	@echo "make fuzz      libFuzzer + ASan/UBSan on the C frame parser for FUZZ_SECONDS (180)"

bootstrap: apt python-deps cmsis

# Debian packages, --no-install-recommends, skipped when every tool is present.
apt:
	@if command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null \
	   && command -v gdb-multiarch >/dev/null && command -v cmake >/dev/null \
	   && command -v ninja >/dev/null && [ -f /usr/lib/arm-none-eabi/include/stdlib.h ] \
	   && command -v clang >/dev/null && ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1; then \
	  echo "apt: toolchain present"; \
	else \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends $(APT_PKGS) || { echo "error: apt-get failed; install: $(APT_PKGS)"; exit 3; }; \
	fi

python-deps: $(STAMP)

# Editable install with every extra (train, plots, device, sweep, dev: the tests use them all), at the exact
# versions of constraints.txt; pyproject.toml holds the ranges a `pip install tinyunfold` user gets.
# torch first, as the local CPU wheel (==2.13.0), so no resolver step looks for a newer one.
EXTRAS := train,plots,device,sweep,dev
$(STAMP): pyproject.toml setup.py constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=23" -c constraints.txt setuptools wheel
	$(PY) -m pip install -q -c constraints.txt "torch==2.13.0" numpy
	$(PY) -m pip install -q -c constraints.txt --no-build-isolation -e ".[$(EXTRAS)]"
	@touch $(STAMP)

# Pinned CMSIS-DSP sources (sha256-verified) into the cache outside git.
cmsis: python-deps
	$(PY) -m tinyunfold setup cmsis

demo: bootstrap
	$(PY) -m tinyunfold demo

test: bootstrap
	$(PY) -m pytest -m "not slow" -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-all: bootstrap
	$(PY) -m pytest $(PYTEST_ARGS)

bench: bootstrap
	test -f build/bench/d1/labels.csv || $(PY) -m tinyunfold dataset mdof --preset dataset1 --out build/bench/d1 --no-progress
	test -f build/bench/d1.tum || $(PY) -m tinyunfold train padnmf --dataset build/bench/d1 --config examples/padnmf/d1_b48.toml --out build/bench/d1.tum --no-progress
	test -f build/bench/d1_k20.tum || $(PY) -m tinyunfold train padnmf --dataset build/bench/d1 --config examples/padnmf/d1_b48.toml --set model.n_layers=20 --out build/bench/d1_k20.tum --no-progress
	$(PY) -m tinyunfold model stream build/bench/d1_k20.tum --decision ur
	$(PY) -m tinyunfold bench --out build/bench --detector build/bench/d1.tum --stream-detector build/bench/d1_k20.tum --stream-dataset build/bench/d1
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

lint: python-deps
	@command -v clang-format >/dev/null || { if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends clang-format; }
	$(PY) -m ruff check host codegen tests examples
	$(PY) -m ruff format --check host codegen tests examples
	$(PY) -m mypy host/tinyunfold codegen examples/diagnostics
	$(PY) .ci/lint_imports.py
	clang-format --dry-run --Werror $$(git ls-files 'firmware/*.[ch]' 'boards/*.[ch]' 'fuzz/*.[ch]')

format: python-deps
	$(PY) -m ruff format host codegen tests examples
	clang-format -i $$(git ls-files 'firmware/*.[ch]' 'boards/*.[ch]' 'fuzz/*.[ch]')

# libFuzzer with ASan + UBSan on the serial-link frame parser and payload codecs (fuzz/).
FUZZ_SECONDS ?= 180
fuzz: apt
	mkdir -p build/fuzz/corpus
	cp -n fuzz/corpus/* build/fuzz/corpus/
	clang -g -O1 -std=c11 -ffp-contract=off -fno-sanitize-recover=all \
	  -fsanitize=fuzzer,address,undefined -Ifirmware/include -Ifirmware/src \
	  fuzz/tu_proto_parser_fuzz.c firmware/src/tu_proto_*.c -o build/fuzz/tu_proto_parser_fuzz
	build/fuzz/tu_proto_parser_fuzz -max_total_time=$(FUZZ_SECONDS) \
	  -artifact_prefix=build/fuzz/ build/fuzz/corpus

clean:
	rm -rf build
