#!/usr/bin/env bash
# Prints the Python interpreter that bench/ runs PyTorch with: $PLAIT_BENCH_PYTHON if set, else the
# virtual environment that `scripts/setup.sh --bench` fills with PyPI's newest torch, else python3 on
# PATH where it has torch (a machine's own PyTorch), else Debian's /usr/bin/python3 (python3-torch).
set -euo pipefail
venv=${PLAIT_BENCH_VENV:-$HOME/.cache/plait/bench-venv}
if [[ -n ${PLAIT_BENCH_PYTHON:-} ]]; then
  echo "$PLAIT_BENCH_PYTHON"
elif "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "$venv/bin/python"
elif command -v python3 >/dev/null 2>&1 && python3 -c 'import torch' 2>/dev/null; then
  command -v python3
else
  echo /usr/bin/python3
fi
