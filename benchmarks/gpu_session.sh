#!/usr/bin/env bash
# Every GPU check in one run, for a machine with a GPU and PyTorch (CUDA/ROCm) or CuPy:
#
#     bash benchmarks/gpu_session.sh [OUT_DIR]      (from the repository root)
#
# Runs from the checkout without installing it (PYTHONPATH), so it needs only what a GPU
# image usually has: python3 with numpy, matplotlib, threadpoolctl, pytest and the GPU
# library; nothing is downloaded. It prints, and saves into OUT_DIR (default gpu-results/):
#   gpu_check.txt  the ratios to the spec sheet (benchmarks/gpu_check.py)
#   test_gpu.txt   tests/test_gpu.py, the real-GPU test included
#   report.txt, report.json   `memwall-lab report --quick` with its GPU section
# Record the ratios in the README's "On a GPU" section, with the device they came from.
set -uo pipefail  # a failing check, not tee, sets the exit status
out="${1:-gpu-results}"
mkdir -p "$out"
PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH PYTHONUNBUFFERED=1
status=0
python3 benchmarks/gpu_check.py 2>&1 | tee "$out/gpu_check.txt" || status=1
python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$out/test_gpu.txt" \
    || status=1
MEMWALL_QUICK=1 python3 -m memwall_lab report --quick --json "$out/report.json" 2>&1 \
    | tee "$out/report.txt" || status=1
exit "$status"
