#!/usr/bin/env bash
# Fuzz the file readers (tests/fuzz/README.md): build the libFuzzer targets with clang,
# AddressSanitizer and UBSan in build-fuzz/, then run each for SECONDS (default 60) on a working
# copy of its corpus. Exit status 1 when any target found an input that breaks the rule (a
# crash, a non-weft exception, an error without the file name, a leak, a hang); the inputs are
# listed. Add each one, after the fix, to tests/fuzz/corpus/<target>/ so the ctest replay keeps
# it fixed.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 300 safetensors checkpoint
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(safetensors checkpoint idx fashion_csv multilabel_csv image autotune_cache
           metrics_jsonl product_styles)
fi
build="$root/build-fuzz"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWEFT_FUZZ=ON -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_BENCH=OFF -DWEFT_ENABLE_CUDA=OFF \
  -DWEFT_ENABLE_ONEDNN=OFF -DWEFT_ENABLE_MPI=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

failed=()
for target in "${targets[@]}"; do
  work="$build/fuzz-work/$target"
  mkdir -p "$work/corpus" "$work/found"
  cp -n "$root/tests/fuzz/corpus/$target/"* "$work/corpus/"
  echo "fuzz: $target for $seconds s (corpus: $work/corpus)"
  status=0
  (cd "$work" && OMP_NUM_THREADS=1 WEFT_AUTOTUNE_CACHE=off \
    "$build/tests/fuzz/fuzz_$target" corpus -max_total_time="$seconds" -rss_limit_mb=4096 \
    -timeout=20 -max_len=8192 -artifact_prefix="$work/found/" -print_final_stats=1 \
    >"$work/log.txt" 2>&1) || status=$?
  grep -a -E "^Done|peak_rss_mb" "$work/log.txt" | sed 's/^/  /' || true
  if [ "$status" -ne 0 ] || [ -n "$(ls -A "$work/found")" ]; then
    failed+=("$target")
    echo "fuzz: $target FAILED (status $status); inputs: $(ls "$work/found" | tr '\n' ' ')"
    echo "      log: $work/log.txt"
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failing targets: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, $seconds s each, nothing found"
