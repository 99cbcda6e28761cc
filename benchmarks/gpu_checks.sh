#!/usr/bin/env bash
# The GPU checks, in one short run on a lent accelerator (no network there).
#
# The accelerator's python3 holds a CUDA build of torch with numpy, scipy, scikit-learn,
# h5py, pandas and pyyaml; the NWB packages it lacks travel as wheels in .whl/, made here
# by benchmarks/gpu_wheels.sh and carried with the working tree. Then, there:
#   bash benchmarks/gpu_checks.sh
# Every figure it prints is measured on the card beside a CPU baseline of the same run;
# the log is also written to $OUT/gpu_checks.log when $OUT is set.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
LOG=${OUT:-/tmp}/gpu_checks.log
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
FAILED=0

step() {  # step SECONDS COMMAND...: run with a time limit, keep going after a failure
  local limit=$1; shift
  echo "== $*" | tee -a "$LOG"
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  echo "== exit $rc" | tee -a "$LOG"
  [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
}

"$PY" - <<'PYEOF' 2>&1 | tee -a "$LOG"
import torch
assert torch.cuda.is_available(), "no CUDA device visible to torch"
print("device", torch.cuda.get_device_name(0), "torch", torch.__version__)
PYEOF
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
# most important first: the lease may end before the last step
step 200 "$PY" -m pytest -q -x -p no:cacheprovider tests/test_dstrf.py tests/test_subspace.py \
  tests/test_tuning_streamed.py tests/test_models_layers.py tests/test_training.py \
  tests/test_training_members.py
# 40,000 bins, projected to the 200,000 of the goal (the full size may outlast a lease)
step 170 "$PY" benchmarks/bench_every_bin.py --bins 40000
step 90 "$PY" benchmarks/bench_dstrf.py
step 90 "$PY" benchmarks/bench_training.py --epochs 5
step 100 "$PY" benchmarks/bench_recovery.py --device cuda
echo "== $FAILED step(s) failed" | tee -a "$LOG"
[ "$FAILED" -eq 0 ]
