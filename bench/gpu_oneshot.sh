#!/usr/bin/env bash
# One lent-GPU session in a single command, for device machines that hold the CUDA toolkit and
# PyTorch but not weft's Debian packages (OpenBLAS, Catch2, Google Benchmark, ...) and that must
# not be spent compiling. Two halves:
#
#   bench/gpu_oneshot.sh pack           here: bundle the built binaries (build/, Release, CUDA),
#                                       the shared libraries they need that a CUDA image lacks,
#                                       and Fashion-MNIST into .devcarry/, all by xz -9e (its
#                                       64 MiB window finds the code the binaries share: 19 MB
#                                       where tar -J made 27); it prints the carry plus the
#                                       tree a call sends beside it and fails above 64 MiB,
#                                       their limit together (PACK_APPS=fashion-mnist carries
#                                       one app)
#   bench/gpu_oneshot.sh run SECONDS [STAGES]
#                                       there: unpack, then run the checks in order of value,
#                                       each capped, all within SECONDS; after every stage the
#                                       results folder is packed again into $OUT/results.tgz,
#                                       so a run cut short still returns what it finished
#
# The stages of `run` (STAGES picks some, e.g. tests,sanitize; default all), in order: strongbg
# (the strong Fashion-MNIST net at fp32 and at bf16, started in the background beside the untimed
# stages and waited for before the first timed one: issue 13's accuracy pair); the [gpu] tests
# (hand kernels, cuDNN/cuBLAS, the GPU dispatch under hand, vendor and auto, all against the CPU
# reference; a captured CUDA graph of a training step against eager steps); the Fashion-MNIST CNN
# trained on the CPU and on the GPU with one seed (parity); compute-sanitizer memcheck and
# racecheck; models: bench_models on cuda-auto (the default, with auto's autotune table and cache
# file), cuda-hand and cuda-vendor, each model's row also carrying the runtime counters per step
# (launches, cuDNN/cuBLAS calls, host syncs, copies, driver allocations vs pool hits:
# kernels/runtime_counters.h) and an op profile of each step (gpu_profile.md); graphs: cuda-auto
# again with CUDA graphs (engine/graph.h), fp32 and bf16; rules: the fp32 graphs row again with
# cuDNN's algorithms by rules rather than measured (WEFT_CUDNN_ALGOS=rules); PyTorch's twins of
# the same models (bench/pytorch/step_bench.py: eager and with the step in a CUDA graph, fp32 with
# TF32 off and under bf16 autocast, all in one Python process; the fp32 eager steps also profiled
# op by op and set beside weft's profiles by bench/profile_gap.py, gpu_profile_gap_*.md); make
# run's recipe at fp32 and at bf16, seeds 1-3 (mainjob); kernels: bench_kernels_cuda (hand vs
# cuDNN/cuBLAS per layer shape at fp32, the convolutions again at tf32 and bf16, and the
# device-to-device copy ceiling that the memory-bound rows are divided by in
# gpu_kernels_bandwidth.md; and every row's speed-up since the second lease,
# gpu_kernels*_since_run5.md, by bench_tables.py --since); the conv kernel lab (each version of
# the hand conv forward beside the dispatch's kernel and cuDNN per layer shape, gpu_conv_lab.json,
# the table of docs/kernels.md); layout: the tensor-core convolutions (gathers and
# backward-filter) from NCHW (WEFT_CONV_CHANNELS_LAST=0) against the kernels stage's channels-last
# rows, at tf32 and bf16 (gpu_kernels_*_layout.md); each app end to end on the GPU; the speedrun
# (weft-fashion-mnist --setup speedrun, seeds 1-5, each with its PyTorch twin
# bench/pytorch/fashion_recipe.py --setup speedrun). Not in the default list, `strong` runs the
# strong net at fp32 and then at bf16 in the foreground, the second for whatever time is left
# (stopped by SIGTERM, which weft honours by saving a checkpoint and its metrics). Whole models
# come before single kernels: in a short lease the step against PyTorch is what a headless run is
# chosen on.
set -uo pipefail
mode=${1:?"usage: bench/gpu_oneshot.sh pack | run SECONDS [STAGES]"}
carry=.devcarry

pack() {
  set -e
  rm -rf "$carry" && mkdir -p "$carry/stage/build/bench" "$carry/stage/build/tests" \
    "$carry/stage/lib" "$carry/fashion-mnist"
  # What `run` calls (bench_plot stays behind: the plots are made here from the JSON, and the
  # 64 MiB a call carries is nearly full).
  # PACK_APPS (default: every app) names the apps to carry, e.g. PACK_APPS=fashion-mnist when
  # the apps stage will not run: the carry and the tracked tree share one 64 MiB.
  local apps=() app
  for app in ${PACK_APPS:-$(cd build && ls -d weft-* | sed 's/^weft-//')}; do apps+=("build/weft-$app"); done
  local bins=(build/tests/weft_tests build/bench/bench_models build/bench/bench_kernels_cuda
              "${apps[@]}")
  for b in "${bins[@]}"; do
    strip --strip-unneeded -o "$carry/stage/$b" "$b"
  done
  # Every library the binaries load, except the C runtime and libstdc++ (the CUDA image has
  # newer ones) and the big CUDA libraries (cuBLAS, cuDNN, NCCL: the image has its own, in
  # PyTorch's nvidia-* packages; NCCL alone would be 200 MiB of the 64 MiB a call can carry).
  ldd "${bins[@]}" | awk '/=> \//{print $3}' | sort -u |
    grep -Ev '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so' |
    grep -Ev 'libcublas|libcudnn|libnccl' | while read -r lib; do cp -L "$lib" "$carry/stage/lib/"; done
  tar -C "$carry/stage" -cf - . | xz -9e -T2 > "$carry/weft-build.tar.xz"
  rm -rf "$carry/stage"
  # The data set as xz too (its gzip files are 31 MB, xz 26): run() turns it back into .gz.
  local f
  for f in /usr/share/datasets/fashion-mnist/*.gz; do
    gzip -dc "$f" | xz -9e -T2 > "$carry/fashion-mnist/$(basename "$f" .gz).xz"
  done
  # A call carries the tree (tracked files and untracked ones git does not ignore) and the
  # carry together, at most 64 MiB.
  local carry_kib tree_kib total_kib
  carry_kib=$(du -sk "$carry" | cut -f1)
  tree_kib=$(git ls-files -z --cached --others --exclude-standard | du -ck --files0-from=- 2>/dev/null |
             tail -n 1 | cut -f1)
  total_kib=$((carry_kib + tree_kib))
  echo "carry $((carry_kib / 1024)) MiB + tree $((tree_kib / 1024)) MiB = $((total_kib / 1024)) MiB of 64"
  if ((total_kib > 64 * 1024)); then
    echo "over the 64 MiB a call carries: pack fewer apps (PACK_APPS=fashion-mnist)" >&2
    return 1
  fi
}

run() {
  local budget=$1 stages=",${2:-strongbg,tests,parity,sanitize,models,graphs,rules,pytorch,mainjob,kernels,lab,layout,apps,speedrun}," start=$SECONDS
  want() { [[ $stages == *",$1,"* ]]; }
  local res=/tmp/weft-gpu-results
  local out=${OUT:-gpu-results}
  mkdir -p "$res" "$out"
  log() { echo "[$(date -u +%H:%M:%S) +$((SECONDS - start))s] $*" | tee -a "$res/session.log"; }
  # Weights and checkpoints stay behind: $OUT returns at most 16 MiB a file.
  save() {
    find "$res" -type f \( -name '*.safetensors' -o -size +4M \) ! -name 'gpu_*.json' -delete
    tar -C "$res" -czf "$out/results.tgz" . ; cp "$res/session.log" "$out/session.log"
  }
  left() { echo $((budget - (SECONDS - start))); }
  # capped SECONDS CMD...: run CMD under timeout min(SECONDS, time left - 15); SIGTERM first
  capped() {
    local cap=$1; shift
    local t; t=$(left); t=$((t - 15)); ((cap < t)) && t=$cap
    if ((t < 5)); then log "skipped (no time left): $*"; return 124; fi
    timeout -k 10 "$t" "$@"
  }

  tar -C . -xJf "$carry/weft-build.tar.xz"
  export PATH="$PATH:/usr/local/cuda/bin"
  if [[ ! -e /usr/share/datasets/fashion-mnist ]]; then
    local f
    for f in "$carry"/fashion-mnist/*.xz; do
      xz -dc "$f" | gzip -1 > "${f%.xz}.gz" && rm -f "$f"
    done
    mkdir -p /usr/share/datasets && ln -s "$PWD/$carry/fashion-mnist" /usr/share/datasets/fashion-mnist
  fi
  local cudnn cublas nccl
  cudnn=$(find /usr /opt -name 'libcudnn.so.9' 2>/dev/null | head -n 1)
  cublas=$(find /usr/local/cuda*/ /usr /opt -name 'libcublas.so.13' 2>/dev/null | head -n 1)
  nccl=$(find /usr/local/cuda*/ /usr /opt -name 'libnccl.so.2' 2>/dev/null | head -n 1)
  export LD_LIBRARY_PATH="$PWD/lib:$(dirname "${cudnn:-/x/x}"):$(dirname "${cublas:-/x/x}"):$(dirname "${nccl:-/x/x}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  git rev-parse HEAD > "$res/commit.txt" 2>/dev/null || true
  git status --short > "$res/git-status.txt" 2>/dev/null || true
  nvidia-smi > "$res/nvidia-smi.txt" 2>&1
  log "card: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
  log "cudnn: ${cudnn:-not found}; cublas: ${cublas:-not found}; nccl: ${nccl:-not found};" \
    "$(nproc) cores"
  ldd build/tests/weft_tests build/bench/bench_models > "$res/ldd.txt" 2>&1
  grep -q "not found" "$res/ldd.txt" && log "MISSING LIBRARIES: $(grep 'not found' "$res/ldd.txt" | sort -u | tr -d '\t' | tr '\n' ' ')"
  save

  # strongbg: the strong net at fp32 and at bf16 (issue 13's accuracy pair), both started now in
  # the background, beside the untimed stages (tests, parity, sanitize), and waited for before
  # the first timed one; a short lease then gets the pair without spending its own minutes.
  local strong_pids=()
  if want strongbg; then
    log "stage strongbg: the strong net at fp32 and bf16 in the background"
    for precision in fp32 bf16; do
      capped 240 build/weft-fashion-mnist --device cuda --setup strong --seed 1 \
        --precision "$precision" --out "$res/strong-$precision" > "$res/strong-$precision.log" 2>&1 &
      strong_pids+=($!)
    done
  fi
  wait_strong() {
    ((${#strong_pids[@]} == 0)) && return
    local i=0
    for precision in fp32 bf16; do
      wait "${strong_pids[$i]}"
      log "strong $precision exit $?: $(tail -n 3 "$res/strong-$precision.log" | tr '\n' ' ')"
      i=$((i + 1))
    done
    strong_pids=()
    save
  }

  # weft's op profiles (models stage) beside PyTorch's (pytorch stage), by whichever of the two
  # stages runs second; when they ran in two calls on different machines, run the same
  # bench/profile_gap.py here on the two returned files.
  profile_gaps() {
    [[ -s $res/gpu_profile.md.json && -s $res/pytorch_cuda.jsonl ]] || return 0
    local backend
    for backend in cuda-auto cuda-hand cuda-vendor; do
      python3 bench/profile_gap.py --weft "$res/gpu_profile.md.json" \
        --weft-bench "$res/gpu_models.json" --pytorch "$res/pytorch_cuda.jsonl" \
        --backend "$backend" \
        > "$res/gpu_profile_gap_$backend.md" 2>&1
      log "profile gap $backend exit $?"
      python3 bench/profile_gap.py --weft "$res/gpu_profile.md.json" \
        --weft-bench "$res/gpu_models.json" --pytorch "$res/pytorch_cuda.jsonl" \
        --backend "$backend" --phase inference \
        > "$res/gpu_profile_gap_${backend}_inference.md" 2>&1
    done
  }

  if want tests; then
    log "stage tests"
    capped 120 build/tests/weft_tests "[gpu]" -r console --durations yes > "$res/tests-gpu.log" 2>&1
    log "tests exit $?: $(grep -E 'test cases|backend .*cases' "$res/tests-gpu.log" | tr '\n' ' ')"
    save
  fi
  if want parity; then
    log "stage parity"
    for device in cuda cpu; do
      capped 45 build/weft-fashion-mnist --device "$device" --epochs 2 --seed 1 \
        --out "$res/parity-$device" > "$res/parity-$device.log" 2>&1
      log "parity $device exit $?: $(tail -n 2 "$res/parity-$device.log" | tr '\n' ' ')"
    done
    save
  fi
  if want sanitize; then
    log "stage sanitize"
    # Catch2 reads one test spec: names joined by commas.
    capped 100 compute-sanitizer --tool memcheck --error-exitcode 1 build/tests/weft_tests \
      "backend ops: the CUDA backend on a GPU matches the CPU reference,backend ops: cuDNN/cuBLAS on a GPU match the CPU reference,cuda runtime*" \
      > "$res/sanitizer-memcheck.log" 2>&1
    log "memcheck exit $?: $(tail -n 2 "$res/sanitizer-memcheck.log" | tr '\n' ' ')"
    capped 80 compute-sanitizer --tool racecheck --error-exitcode 1 build/tests/weft_tests \
      "backend ops: the CUDA backend on a GPU matches the CPU reference" \
      > "$res/sanitizer-racecheck.log" 2>&1
    log "racecheck exit $?: $(tail -n 2 "$res/sanitizer-racecheck.log" | tr '\n' ' ')"
    save
  fi
  wait_strong
  if want models; then
    log "stage models"
    # cuda-auto (the default: auto measures each shape in the untimed first step, with a fresh
    # cache so the table shows every measurement), cuda-hand and cuda-vendor; auto's table too,
    # and after each benchmark 3 more steps profiled op by op (gpu_profile.md and its rows as
    # gpu_profile.md.json: each op's time on an idle GPU, its kernels and library calls;
    # engine/profile.h).
    WEFT_AUTOTUNE_CACHE="$res/autotune-cache.json" \
    capped 150 build/bench/bench_models --weft_device=cuda --benchmark_min_time=0.3 \
      --weft_kernel_report="$res/autotune-table.txt" --weft_profile="$res/gpu_profile.md" \
      --benchmark_out="$res/gpu_models.json" --benchmark_out_format=json > "$res/gpu_models.log" 2>&1
    log "models exit $?"
    profile_gaps
    save
  fi
  if want graphs; then
    log "stage graphs"
    # The same on cuda-auto with CUDA graphs (--cuda-graphs auto, the apps' default): each step
    # captured once and replayed; graph_launches per step in the counters (the DCGAN too since
    # 2026-12-05: its noise is copied into the graph's input before each replay).
    WEFT_AUTOTUNE_CACHE="$res/autotune-cache.json" \
    capped 60 build/bench/bench_models --weft_device=cuda --weft_graphs=auto \
      --benchmark_filter='/cuda-auto' --benchmark_min_time=0.3 \
      --benchmark_out="$res/gpu_models_graphs.json" --benchmark_out_format=json \
      > "$res/gpu_models_graphs.log" 2>&1
    log "models with graphs exit $?"
    save
    # And at bf16 (--precision bf16: tensor cores with FP32 accumulation in the hand GEMM and
    # convolutions, cuBLAS's FAST_16BF; kernels/selection.h), graphs on, auto.
    WEFT_PRECISION=bf16 WEFT_AUTOTUNE_CACHE="$res/autotune-cache.json" \
    capped 60 build/bench/bench_models --weft_device=cuda --weft_graphs=auto \
      --benchmark_filter='/cuda-auto' --benchmark_min_time=0.3 \
      --benchmark_out="$res/gpu_models_bf16.json" --benchmark_out_format=json \
      > "$res/gpu_models_bf16.log" 2>&1
    log "models at bf16 exit $?"
    save
  fi
  if want rules; then
    log "stage rules"
    # cuda-auto with graphs again, fp32, with cuDNN's algorithms picked by its heuristics and
    # rules (WEFT_CUDNN_ALGOS=rules, the only way before 2026-12-04's third session) instead of
    # measured: what timing cuDNN's algorithms is worth, model by model, in the same minutes.
    WEFT_CUDNN_ALGOS=rules WEFT_AUTOTUNE_CACHE="$res/autotune-cache-rules.json" \
    capped 60 build/bench/bench_models --weft_device=cuda --weft_graphs=auto \
      --benchmark_filter='/cuda-auto' --benchmark_min_time=0.3 \
      --benchmark_out="$res/gpu_models_graphs_rules.json" --benchmark_out_format=json \
      > "$res/gpu_models_graphs_rules.log" 2>&1
    log "models with graphs, cuDNN by rules, exit $?"
    save
  fi
  if want pytorch; then
    log "stage pytorch"
    # fp32 means fp32 on both sides: PyTorch's default runs cuDNN convolutions in TF32
    # (torch.backends.cudnn.allow_tf32), weft's fp32 does not, so --tf32 off (the 2026-12-04
    # run compared weft's fp32 against PyTorch's TF32 convolutions; docs/benchmarks.md).
    # With 3 more steps of each profiled by torch.profiler, which bench/profile_gap.py puts
    # beside the models stage's weft profiles, family by family (gpu_profile_gap*.md: where
    # each model's step loses or gains against PyTorch).
    PYTHONUNBUFFERED=1 capped 95 python3 bench/pytorch/step_bench.py --device cuda \
      --mode eager --min-time 0.3 --in-process --tf32 off --profile-steps 3 \
      > "$res/pytorch_cuda.jsonl" 2> "$res/pytorch_cuda.err"
    log "pytorch exit $?: $(wc -l < "$res/pytorch_cuda.jsonl") rows"
    profile_gaps
    save
    # Eager and with the step in a CUDA graph under bf16 autocast, then fp32 in a CUDA graph:
    # the counterparts of weft's bf16 and graphs-on rows.
    PYTHONUNBUFFERED=1 capped 120 python3 bench/pytorch/step_bench.py --device cuda \
      --mode eager,cudagraphs --precision bf16 --min-time 0.3 --in-process \
      > "$res/pytorch_cuda_bf16.jsonl" 2> "$res/pytorch_cuda_bf16.err"
    log "pytorch bf16 exit $?: $(wc -l < "$res/pytorch_cuda_bf16.jsonl") rows"
    save
    PYTHONUNBUFFERED=1 capped 80 python3 bench/pytorch/step_bench.py --device cuda \
      --mode cudagraphs --min-time 0.3 --in-process --tf32 off \
      > "$res/pytorch_cuda_graphs.jsonl" \
      2> "$res/pytorch_cuda_graphs.err"
    log "pytorch graphs exit $?: $(wc -l < "$res/pytorch_cuda_graphs.jsonl") rows"
    save
  fi
  if want mainjob; then
    # make run's recipe (--setup default, FashionVgg, 12 epochs) at fp32 and at bf16, seeds 1-3
    # interleaved so that a cut still leaves pairs: issue 13's "the main-job model reaches the
    # same test accuracy in bf16 as in fp32 within 0.3 points".
    log "stage mainjob"
    for seed in 1 2 3; do
      for precision in fp32 bf16; do
        capped 60 build/weft-fashion-mnist --device cuda --seed "$seed" --precision "$precision" \
          --out "$res/mainjob-$precision-$seed" > "$res/mainjob-$precision-$seed.log" 2>&1
        log "mainjob $precision seed $seed exit $?:" \
          "$(grep -E '^test accuracy' "$res/mainjob-$precision-$seed.log")"
      done
    done
    save
  fi
  if want kernels; then
    log "stage kernels"
    capped 120 build/bench/bench_kernels_cuda --benchmark_min_time=0.02 \
      --benchmark_out="$res/gpu_kernels.json" --benchmark_out_format=json > "$res/gpu_kernels.log" 2>&1
    log "kernels exit $?: $(grep -c '^[a-z]' "$res/gpu_kernels.log") lines"
    # The convolutions (and transposed ones) and the linear layers again at tf32 and bf16: the
    # hand rows are the tensor-core kernels (conv_tensor_core.cu, gemm_tensor_core.cu); the
    # vendor rows are cuDNN and cuBLAS at the same precision (cuDNN at bf16 on BF16 tensors,
    # the conversions from and to weft's FP32 tensors included: kernels/cuda_vendor/bf16.h).
    for precision in tf32 bf16; do
      WEFT_PRECISION=$precision capped 45 build/bench/bench_kernels_cuda \
        --benchmark_min_time=0.02 --benchmark_filter='^(conv|linear)' \
        --benchmark_out="$res/gpu_kernels_$precision.json" --benchmark_out_format=json \
        > "$res/gpu_kernels_$precision.log" 2>&1
      log "kernels at $precision exit $?:" \
        "$(grep -cE '^(conv|linear)' "$res/gpu_kernels_$precision.log") lines"
    done
    # The memory-bound rows against the copy ceiling of this run (copy_d2d/*: device-to-device
    # cudaMemcpyAsync), pct_of_copy per row, bytes_moved per kernel.
    python3 bench/bench_tables.py --pivot --bandwidth --columns ms,bytes_moved,GB/s,pct_of_copy \
      "$res/gpu_kernels.json" > "$res/gpu_kernels_bandwidth.md" 2>&1
    log "bandwidth table exit $?: $(grep -m1 '^Copy ceiling' "$res/gpu_kernels_bandwidth.md")"
    # What paid off since the second lease (2026-12-04, run 5; its JSON is in docs/benchmarks):
    # every row of both runs with its speed-up, fastest gain first, and per op the geometric mean.
    local old=docs/benchmarks/gpu_kernels new
    for new in "" _tf32 _bf16; do
      python3 bench/bench_tables.py --since "$old${new}_h200_20261204_run5.json" \
        "$res/gpu_kernels$new.json" > "$res/gpu_kernels${new}_since_run5.md" 2>&1
      log "since run 5$new exit $?: $(grep -c '^| ' "$res/gpu_kernels${new}_since_run5.md") lines"
    done
    save
  fi
  if want lab; then
    log "stage lab"
    # The conv forward kernel lab: versions 1-5, the dispatch's kernel and cuDNN per conv shape.
    capped 90 env WEFT_BENCH_CONV_LAB=1 build/bench/bench_kernels_cuda \
      --benchmark_min_time=0.02 --benchmark_out="$res/gpu_conv_lab.json" \
      --benchmark_out_format=json \
      > "$res/gpu_conv_lab.log" 2>&1
    log "lab exit $?: $(grep -c '^conv_lab' "$res/gpu_conv_lab.log") lines"
    save
  fi
  if want layout; then
    log "stage layout"
    # The tensor-core convolutions with channels-last paths (forward, backward-data, both
    # transposed passes; backward-filter and its transposed twin since the thirteenth session)
    # again with WEFT_CONV_CHANNELS_LAST=0: the NCHW kernels, against the kernels stage's rows on
    # channels-last copies (the default since 2026-12-06; docs/kernels.md). The _layout tables:
    # channels-last's speed-up over NCHW per row, the copies included.
    local precision
    local gathers='conv2d_fwd|conv2d_bwd_data|conv2d_bwd_filter|conv_transpose2d_fwd'
    gathers+='|conv_transpose2d_bwd_data|conv_transpose2d_bwd_filter'
    for precision in tf32 bf16; do
      WEFT_CONV_CHANNELS_LAST=0 WEFT_PRECISION=$precision capped 55 \
        build/bench/bench_kernels_cuda --benchmark_min_time=0.02 \
        --benchmark_filter="^($gathers)/.*/hand" \
        --benchmark_out="$res/gpu_kernels_${precision}_nchw.json" --benchmark_out_format=json \
        > "$res/gpu_kernels_${precision}_nchw.log" 2>&1
      log "nchw at $precision exit $?"
      python3 bench/bench_tables.py --filter /hand \
        --since "$res/gpu_kernels_${precision}_nchw.json" "$res/gpu_kernels_$precision.json" \
        > "$res/gpu_kernels_${precision}_layout.md" 2>&1
      log "layout table $precision exit $?"
    done
    save
  fi
  if want apps; then
    log "stage apps"
    local a="--device cuda --epochs 1 --kernel-report"
    capped 25 build/weft-shoes $a --out "$res/app-shoes" > "$res/app-shoes.log" 2>&1
    log "shoes exit $?: $(tail -n 1 "$res/app-shoes.log")"
    capped 25 build/weft-clothing $a --model resnet18 --pretrain-standin --pretrain-epochs 1 \
      --freeze-epochs 1 --out "$res/app-transfer" > "$res/app-transfer.log" 2>&1
    log "clothing transfer exit $?: $(tail -n 1 "$res/app-transfer.log")"
    capped 25 build/weft-apparel $a --size 96 --out "$res/app-apparel" > "$res/app-apparel.log" 2>&1
    log "apparel exit $?: $(tail -n 1 "$res/app-apparel.log")"
    # The same with one loader thread, as before --loader-workers (docs/benchmarks.md, "The host
    # loader"): the two runs' epoch times say whether augmentation on the host holds the step up.
    capped 25 build/weft-apparel $a --size 96 --epochs 2 --loader-workers 1 \
      --out "$res/app-apparel-1worker" > "$res/app-apparel-1worker.log" 2>&1
    log "apparel 1 loader thread exit $?: $(grep -E '^(  loader|epoch)' "$res/app-apparel-1worker.log" | tr '\n' ' ')"
    capped 25 build/weft-apparel $a --size 96 --epochs 2 \
      --out "$res/app-apparel-workers" > "$res/app-apparel-workers.log" 2>&1
    log "apparel default loader threads exit $?: $(grep -E '^(  loader|epoch)' "$res/app-apparel-workers.log" | tr '\n' ' ')"
    capped 25 build/weft-dcgan $a --out "$res/app-dcgan" > "$res/app-dcgan.log" 2>&1
    log "dcgan exit $?: $(tail -n 1 "$res/app-dcgan.log")"
    capped 25 build/weft-shoe-pairs $a --model siamese --out "$res/app-pairs" > "$res/app-pairs.log" 2>&1
    log "shoe-pairs exit $?: $(tail -n 1 "$res/app-pairs.log")"
    save
  fi
  if want speedrun; then
    log "stage speedrun"
    for seed in 1 2 3 4 5; do
      capped 40 build/weft-fashion-mnist --device cuda --setup speedrun --seed "$seed" \
        --test-every-epoch --out "$res/speedrun-$seed" > "$res/speedrun-$seed.log" 2>&1
      log "speedrun seed $seed exit $?: $(grep -E '^test accuracy' "$res/speedrun-$seed.log")"
      capped 40 python3 bench/pytorch/fashion_recipe.py --setup speedrun --device cuda \
        --seed "$seed" > "$res/speedrun-torch-$seed.jsonl" 2>&1
      log "speedrun torch seed $seed exit $?: $(tail -n 1 "$res/speedrun-torch-$seed.jsonl")"
    done
    save
  fi
  if want strong; then
    # The strong net at fp32 and then at bf16, same seed: issue 13's "same test accuracy in
    # bf16 as in fp32 within 0.3 points" (185 s at fp32 on an H200 before graphs and fusion).
    log "stage strong ($(left) s left)"
    capped 260 build/weft-fashion-mnist --device cuda --setup strong --seed 1 \
      --out "$res/strong" > "$res/strong.log" 2>&1
    log "strong exit $?: $(tail -n 3 "$res/strong.log" | tr '\n' ' ')"
    save
    capped 100000 build/weft-fashion-mnist --device cuda --setup strong --seed 1 \
      --precision bf16 --out "$res/strong-bf16" > "$res/strong-bf16.log" 2>&1
    log "strong bf16 exit $?: $(tail -n 3 "$res/strong-bf16.log" | tr '\n' ' ')"
    save
  fi
}

case "$mode" in
  pack) pack ;;
  run) run "${2:?seconds}" "${3:-}" ;;
  *) echo "unknown mode '$mode' (pack or run)" >&2; exit 2 ;;
esac
