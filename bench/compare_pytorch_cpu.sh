#!/usr/bin/env bash
# One training epoch of the seed-004 Fashion-MNIST CNN (64 filters, dropout 0.3, Adam 1e-3,
# batch 128, 48,000 real training images) in weft and in PyTorch, on this machine's CPU, with
# the same thread count; prints both times and the ratio. PyTorch is Debian's python3-torch
# (a reference only, not a build dependency: `apt-get install python3-torch`).
#
#   bench/compare_pytorch_cpu.sh [build-dir] [epochs]
set -euo pipefail
build=${1:-build}
epochs=${2:-2}
threads=$(nproc)
python=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)

if ! "$python" -c "import torch" 2>/dev/null; then
  echo "PyTorch is not installed for $python: apt-get install python3-torch" >&2
  exit 1
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $threads threads"
echo "weft: $epochs epochs"
OMP_NUM_THREADS=$threads "$build/weft-fashion-mnist" --setup seed64-dropout --epochs "$epochs" --batch-size 128 \
  --filters 64 --dropout 0.3 --validation 0.2 --out "$out/weft" > "$out/weft.log"
weft_seconds=$("$python" -c "import json,sys; h=json.load(open('$out/weft/report.json'))['history']; print(min(e['train_seconds'] for e in h))")
echo "pytorch: $epochs epochs"
torch_json=$("$python" "$here/pytorch/fashion_cnn.py" --epochs "$epochs" --batch-size 128 \
  --filters 64 --dropout 0.3 --train-images 48000 --threads "$threads")
torch_seconds=$("$python" -c "import json; print(min(json.loads('''$torch_json''')['epoch_seconds']))")
torch_version=$("$python" -c "import json; print(json.loads('''$torch_json''')['version'])")
"$python" - <<PY
weft, torch = $weft_seconds, $torch_seconds
print(f"best training epoch of {$epochs}: weft {weft:.2f} s, PyTorch $torch_version {torch:.2f} s; "
      f"weft/PyTorch time ratio {weft / torch:.2f} (below 1 means weft is faster)")
PY
