# Atrium's entry points. `make run` builds (the server, then the web UI) and starts a server on
# 127.0.0.1:8080; `make test` builds everything and runs every test (unit, integration, browser,
# fuzz) through ctest. Each target
# installs what it needs first (scripts/install-deps.sh, idempotent).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

BUILD_DIR := build
FUZZ_DIR := build-fuzz
# libstdc++ 12's <expected> needs __cpp_concepts >= 202002L: clang 19, not Debian's default clang 14.
FUZZ_CC := clang-19
FUZZ_CXX := clang++-19
JOBS ?= 2
# `make run LISTEN=ADDR:PORT`: where the server listens (the SLURM dev cluster's nodes reach the bridge address)
LISTEN ?= 127.0.0.1:8080

.PHONY: deps build run fuzz-build test bench

deps:
	./scripts/install-deps.sh

build: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo; \
	fi
	ninja -C $(BUILD_DIR) -j $(JOBS)

run: build
	mkdir -p var
	exec ./$(BUILD_DIR)/src/atrium server --listen $(LISTEN) --data-dir ./var

fuzz-build: deps
	@if [ ! -f $(FUZZ_DIR)/build.ninja ] || \
	    ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*$(FUZZ_CXX)$$' $(FUZZ_DIR)/CMakeCache.txt; then \
	  rm -rf $(FUZZ_DIR); \
	  CC=$(FUZZ_CC) CXX=$(FUZZ_CXX) cmake -S . -B $(FUZZ_DIR) -G Ninja -DATRIUM_FUZZ=ON -DATRIUM_BUILD_TESTS=OFF; \
	fi
	ninja -C $(FUZZ_DIR) -j $(JOBS) fuzzers

# Two at a time: the integration suites take one lock, so they run one after another, from the
# start (their COST); the fuzzers (one core) and then the browser suite run beside them.
test: build fuzz-build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

bench: build
	ATRIUM_BENCH=1 ./scripts/install-deps.sh
	./bench/api/run.sh
