# The two commands of weft (see README.md):
#   make run    install what is missing, build, train the Fashion-MNIST CNN, print test accuracy
#               (each run replaces the last one in runs/fashion-mnist: --overwrite)
#   make test   install what is missing, build everything, run the whole test suite (ctest)
# and a few more for developers:
#   make build        configure and build (Release) in build/
#   make test-asan    the test suite under AddressSanitizer + UBSan (Debug, build-asan/)
#   make bench        run the CPU kernel and whole-model benchmarks (JSON in runs/bench/)
#   make fuzz         fuzz the file readers for FUZZ_SECONDS each (default 60; clang, build-fuzz/,
#                     tests/fuzz/README.md)
#   make check-includes  compile every C++ source on its own (no precompiled header, no unity
#                     batch, -fsyntax-only): each includes what it uses (scripts/check_includes.py)
#   make kernel-table regenerate the static table of the hand CUDA kernels (registers, spills,
#                     occupancy, main-loop instruction mix) in docs/kernels.md (CUDA builds)
#   make clean
BUILD ?= build
JOBS ?= $(shell nproc)
RUN_ARGS ?= --out runs/fashion-mnist --overwrite
CMAKE_ARGS ?=
# OpenBLAS 0.3.21 runs its SSE3 kernels on x86-64 processors newer than itself; name the kernel
# set the processor's flags call for, unless the caller did (kernels/cpu/openblas_core.h).
ifndef OPENBLAS_CORETYPE
OPENBLAS_CORETYPE := $(shell if grep -qw avx512bw /proc/cpuinfo 2>/dev/null; then echo SkylakeX; \
  elif grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo; then echo Haswell; fi)
endif
ifneq ($(OPENBLAS_CORETYPE),)
export OPENBLAS_CORETYPE
endif

.PHONY: run test build setup test-asan bench fuzz check-includes kernel-table clean

setup:
	@bash scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/weft-fashion-mnist $(RUN_ARGS)

# ctest -j runs $(JOBS) test processes at once, each with an OpenMP thread per core: idle OpenMP
# threads then wait without spinning on the cores the other tests need (the suite's CPU time
# 630 -> 600 s on 2 cores, docs/architecture.md "Build time"). Results do not depend on it.
test: build
	OMP_WAIT_POLICY=passive ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: setup
	cmake --preset debug-asan $(CMAKE_ARGS)
	cmake --build build-asan -j $(JOBS)
	ctest --test-dir build-asan --output-on-failure -j $(JOBS)

bench: build
	mkdir -p runs/bench
	$(BUILD)/bench/bench_kernels_cpu --benchmark_min_time=0.1 \
	  --benchmark_out=runs/bench/cpu_kernels.json --benchmark_out_format=json
	$(BUILD)/bench/bench_models --weft_device=all \
	  --benchmark_out=runs/bench/models.json --benchmark_out_format=json

FUZZ_SECONDS ?= 60
fuzz:
	bash scripts/setup.sh fuzz
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

check-includes: setup
	python3 scripts/check_includes.py --build build-includes

kernel-table: build
	python3 bench/kernel_static_table.py --build $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-fuzz build-includes
