#!/usr/bin/env bash
# Install the Debian packages weft needs, only those missing, as root or through sudo.
# Called by `make run` and `make test` (and `make fuzz`, with "fuzz"); safe to run again (it does
# nothing when all are there).
# Then the Python side of the ONNX export and Pillow decoding tests: a virtual environment in
# .venv at the repository root with onnx, onnxruntime, numpy and pillow from PyPI
# (setup_python_venv below), and in a CUDA build NVIDIA's cuobjdump and nvdisasm where the
# toolkit lacks them (setup_cuobjdump).
# CUDA is not installed here: with /usr/local/cuda present weft builds its CUDA backend too,
# without it weft builds for the CPU only.
set -euo pipefail

venv="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv"  # the tests' Python side

packages=(
  g++ make cmake pkg-config
  catch2                 # Catch2 2.x, the test framework
  libbenchmark-dev       # Google Benchmark
  libopenblas-openmp-dev # CPU GEMM, the OpenMP build (one thread pool with weft's loops)
  libdnnl-dev            # oneDNN, the CPU vendor path (optional in CMake; OpenMP build)
  ocl-icd-opencl-dev     # OpenCL headers: oneDNN's CMake package looks for them (a Recommends
                         # that --no-install-recommends skips; without it CMake stops)
  libcli11-dev           # command-line parsing
  nlohmann-json3-dev     # JSON for safetensors headers and reports
  zlib1g-dev             # gzipped IDX files
  libstb-dev             # stb_image, stb_image_write, stb_easy_font
  libjpeg62-turbo-dev    # libjpeg-turbo: JPEG decoding (engine/data/jpeg_decode.h)
  libpng-dev             # libpng: PNG decoding (engine/data/png_decode.h)
  dataset-fashion-mnist  # the real Fashion-MNIST, in /usr/share/datasets/fashion-mnist
  python3-venv           # the .venv of the ONNX Runtime test (tests/onnx/check_onnx_export.py)
  openmpi-bin            # mpirun: data-parallel runs and their tests (docs/distributed.md)
  libopenmpi-dev         # MPI headers and library (without them weft builds for one process)
)

# `setup.sh fuzz` (make fuzz) adds clang with libFuzzer's runtime and LLVM's OpenMP, for the
# fuzzing build of tests/fuzz (tests/fuzz/README.md); nothing else needs them.
if [ "${1:-}" = fuzz ]; then
  packages+=(clang libclang-rt-14-dev libomp-dev)
fi

# .venv with onnx, onnxruntime and numpy, for the ONNX export test. Quick when they are already
# importable; when PyPI cannot be reached it says so and carries on, and the test then reports
# itself as skipped (tests/onnx/run_check.sh).
setup_python_venv() {
  if [ -x "$venv/bin/python" ] &&
     "$venv/bin/python" -c "import onnx, onnxruntime, numpy, PIL" 2>/dev/null; then
    return 0
  fi
  echo "weft setup: creating $venv with onnx, onnxruntime, numpy and pillow (for the ONNX" \
       "export and Pillow decoding tests)"
  if ! python3 -m venv "$venv" ||
     ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
         onnx onnxruntime numpy pillow; then
    echo "weft setup: could not install onnx/onnxruntime/numpy/pillow into $venv;" \
         "the ONNX Runtime and Pillow tests will be skipped" >&2
  fi
}

# cuobjdump (and the nvdisasm its -sass runs) for the static table of the hand CUDA kernels
# (bench/kernel_static_table.py and its ctest check), where the CUDA toolkit has none (CUDA
# 13.0's at /usr/local/cuda has not): NVIDIA's own wheels into .venv. Without them the check
# reports itself as skipped.
setup_cuobjdump() {
  local nvcc
  nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
  [ -x "$nvcc" ] || return 0
  if { [ -x "$(dirname "$nvcc")/cuobjdump" ] && [ -x "$(dirname "$nvcc")/nvdisasm" ]; } ||
     { command -v cuobjdump >/dev/null && command -v nvdisasm >/dev/null; } ||
     compgen -G "$venv/lib/python3*/site-packages/nvidia/cu13/bin/nvdisasm" >/dev/null; then
    return 0
  fi
  [ -x "$venv/bin/python" ] || return 0
  echo "weft setup: installing NVIDIA's cuobjdump and nvdisasm into $venv (the CUDA toolkit" \
       "has none; for the static table of the hand kernels)"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
       "nvidia-cuda-cuobjdump>=13,<14" "nvidia-cuda-nvdisasm>=13,<14"; then
    echo "weft setup: could not install nvidia-cuda-cuobjdump and nvidia-cuda-nvdisasm;" \
         "kernel_static_table_check will be skipped" >&2
  fi
}

setup_python_side() {
  setup_python_venv
  setup_cuobjdump
}

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  setup_python_side
  exit 0
fi

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
setup_python_side
