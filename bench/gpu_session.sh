#!/usr/bin/env bash
# What a session with a lent GPU runs, in stages short enough for one command each (the device
# machine allows 10 minutes per command), every output kept under one results folder so it can
# be copied back and recorded in docs/gpu-runs.md and docs/benchmarks.md.
#
#   bench/gpu_session.sh build      configure and build (Release, CUDA) in build/
#   bench/gpu_session.sh tests      the gpu ctest label, then the whole suite
#   bench/gpu_session.sh sanitize   compute-sanitizer memcheck and racecheck on the [gpu] tests
#   bench/gpu_session.sh parity     3 epochs of the Fashion-MNIST CNN on the CPU and on the GPU
#   bench/gpu_session.sh kernels    bench_kernels_cuda (hand vs cuDNN/cuBLAS), JSON + plots
#   bench/gpu_session.sh models     bench_models on the GPU (hand vs vendor), JSON + plot
#   bench/gpu_session.sh pytorch    bench/compare_pytorch.py --device cuda (needs CUDA PyTorch)
#
# Results go to $RESULTS (default: $OUT when the device tool sets it, else gpu-results/).
set -euo pipefail
stage=${1:?"usage: bench/gpu_session.sh build|tests|sanitize|parity|kernels|models|pytorch"}
results=${RESULTS:-${OUT:-gpu-results}}
build=${BUILD:-build}
jobs=$(nproc)
mkdir -p "$results"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$results/session.log"; }

case "$stage" in
  build)
    log "build: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
    git rev-parse HEAD > "$results/commit.txt" 2>/dev/null || true
    nvidia-smi > "$results/nvidia-smi.txt"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > "$results/cmake.log"
    cmake --build "$build" -j "$jobs" 2>&1 | tail -n 20 > "$results/build.log"
    log "build done"
    ;;
  tests)
    ctest --test-dir "$build" -L gpu --output-on-failure -j 4 2>&1 | tee "$results/ctest-gpu.log" | tail -n 5
    ctest --test-dir "$build" --output-on-failure -j "$jobs" 2>&1 | tee "$results/ctest-all.log" | tail -n 5
    ;;
  sanitize)
    for tool in memcheck racecheck; do
      log "compute-sanitizer $tool"
      compute-sanitizer --tool "$tool" --error-exitcode 1 "$build/tests/weft_tests" "[gpu]" \
        > "$results/sanitizer-$tool.log" 2>&1 && log "$tool: clean" || log "$tool: FAILED (see log)"
      tail -n 3 "$results/sanitizer-$tool.log"
    done
    ;;
  parity)
    for device in cpu cuda; do
      "$build/weft-fashion-mnist" --device "$device" --epochs 3 --seed 1 \
        --out "$results/parity-$device" > "$results/parity-$device.log" 2>&1
      tail -n 2 "$results/parity-$device.log"
    done
    ;;
  kernels)
    # bench_kernels_cuda's own default min time is 0.05 s a case; ~600 cases fit one command.
    "$build/bench/bench_kernels_cuda" \
      --benchmark_out="$results/gpu_kernels.json" --benchmark_out_format=json | tail -n 5
    for family in conv2d conv_transpose2d linear; do
      "$build/bench/plot/bench_plot" --out "$results/gpu_${family}.png" --counter GFLOP/s \
        --filter "^${family}_" --series-from-name "$results/gpu_kernels.json" || true
    done
    for family in batch_norm dropout max_pool2d relu; do
      "$build/bench/plot/bench_plot" --out "$results/gpu_${family}.png" --counter GB/s \
        --filter "^${family}_" --series-from-name "$results/gpu_kernels.json" || true
    done
    ;;
  models)
    "$build/bench/bench_models" --weft_device=cuda --benchmark_min_time=1 \
      --weft_profile="$results/gpu_profile.md" \
      --benchmark_out="$results/gpu_models.json" --benchmark_out_format=json | tail -n 25
    "$build/bench/plot/bench_plot" --out "$results/gpu_models.png" --counter images_per_second \
      --series-from-name "$results/gpu_models.json"
    ;;
  pytorch)
    python3 bench/compare_pytorch.py --device cuda --build "$build" \
      --out "$results/compare_pytorch_cuda.json" | tee "$results/compare_pytorch_cuda.md"
    ;;
  *)
    echo "unknown stage '$stage'" >&2
    exit 2
    ;;
esac
