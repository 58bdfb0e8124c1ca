#!/bin/sh
# ctest's entry to the ONNX Runtime check: run_check.sh VENV CASES_TOOL OUT_DIR, or
# run_check.sh VENV --exports FILE.onnx ... for the files the apps wrote.
# Exits 77 (ctest: skipped) with a message when the project's virtual environment or its
# packages are missing; otherwise runs check_onnx_export.py, which writes the cases with
# CASES_TOOL and checks each export.
venv=$1
python="$venv/bin/python"
if [ ! -x "$python" ]; then
  echo "SKIPPED: no Python virtual environment at $venv (scripts/setup.sh creates it with onnx, onnxruntime and numpy)"
  exit 77
fi
script="$(dirname "$0")/check_onnx_export.py"
shift
if [ "$1" = "--exports" ]; then
  exec "$python" "$script" "$@"
fi
exec "$python" "$script" --cases-tool "$1" --out "$2"
