#!/bin/sh
# ctest's entry to the Pillow check: run_check.sh VENV DECODE_TOOL WORK_DIR. Exits 77 (ctest:
# skipped) with a message when the project's virtual environment or Pillow is missing.
venv=$1
python="$venv/bin/python"
if [ ! -x "$python" ] || ! "$python" -c "import PIL, numpy" 2>/dev/null; then
  echo "SKIPPED: no Python virtual environment with Pillow and numpy at $venv (scripts/setup.sh creates it)"
  exit 77
fi
exec "$python" "$(dirname "$0")/check_pillow_decode.py" "$2" "$3"
