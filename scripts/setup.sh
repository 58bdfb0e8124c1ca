#!/usr/bin/env bash
# Install the Debian packages weft needs, only those missing, as root or through sudo.
# Called by `make run` and `make test`; safe to run again (it does nothing when all are there).
# CUDA is not installed here: with /usr/local/cuda present weft builds its CUDA backend too,
# without it weft builds for the CPU only.
set -euo pipefail

packages=(
  g++ make cmake pkg-config
  catch2                 # Catch2 2.x, the test framework
  libbenchmark-dev       # Google Benchmark
  libopenblas-openmp-dev # CPU GEMM, the OpenMP build (one thread pool with weft's loops)
  libcli11-dev           # command-line parsing
  nlohmann-json3-dev     # JSON for safetensors headers and reports
  zlib1g-dev             # gzipped IDX files
  libstb-dev             # stb_image, stb_image_write, stb_easy_font
  dataset-fashion-mnist  # the real Fashion-MNIST, in /usr/share/datasets/fashion-mnist
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "weft setup: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "weft setup: these Debian packages are missing and I am not root and have no sudo: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
