#!/usr/bin/env bash
# The GPU checks, in one short run on a lent accelerator (no network there).
#
# Carry a CUDA build of torch 2.13.0 with the working tree (the CPU wheel pinned in
# constraints.txt has no CUDA) and the project's .venv; then run:
#   bash benchmarks/gpu_checks.sh > gpu_checks.log 2>&1
# Every figure it prints is measured on the card beside a CPU baseline of the same run.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" - <<'PYEOF'
import torch
assert torch.cuda.is_available(), "no CUDA device visible to torch"
print("device", torch.cuda.get_device_name(0), "torch", torch.__version__)
PYEOF
"$PY" -m pytest -q -x tests/test_dstrf.py tests/test_training.py tests/test_models_layers.py \
  tests/test_subspace.py tests/test_tuning_streamed.py
timeout 240 "$PY" benchmarks/bench_training.py --epochs 5
timeout 240 "$PY" benchmarks/bench_dstrf.py
# 40,000 and 20,000 bins, projected to the 200,000 of the goal (the full size may outlast a lease)
timeout 240 "$PY" benchmarks/bench_every_bin.py --bins 40000
timeout 300 "$PY" benchmarks/bench_recovery.py --device cuda
