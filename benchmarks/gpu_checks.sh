#!/usr/bin/env bash
# The GPU checks, in one short run on a lent accelerator (no network there).
#
# The accelerator's python3 holds a CUDA build of torch with numpy, scipy, scikit-learn,
# h5py, pandas and pyyaml; the NWB packages it lacks travel as wheels in .whl/, made here
# by benchmarks/gpu_wheels.sh and carried with the working tree. Then, there:
#   bash benchmarks/gpu_checks.sh
# Every figure it prints is measured on the card beside a CPU baseline of the same run;
# the log is also written to $OUT/gpu_checks.log when $OUT is set.
#
# The whole run stays within $BUDGET seconds (540): a step that no longer fits is skipped,
# and says so. The paper-scale site takes minutes to simulate on one core; made here once,
#   .venv/bin/python benchmarks/bench_paper_scale.py --make-site --site-cache .whl/paper_scale_site.npz
# it travels with the wheels and the benchmark reads it instead ($SITE_CACHE). The NS1
# archive travels the same way when copied to .whl/ns1/ns1_compact.npz (never committed):
#   mkdir -p .whl/ns1 && cp ../shared/data/ns1/ns1_compact.npz .whl/ns1/
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
LOG=${OUT:-/tmp}/gpu_checks.log
BUDGET=${BUDGET:-540}
SITE_CACHE=${SITE_CACHE:-.whl/paper_scale_site.npz}
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
  local left=$((BUDGET - SECONDS))
  if [ "$left" -lt "$limit" ]; then
    echo "== skipped (needs ${limit} s, ${left} s of the budget left): $*" | tee -a "$LOG"
    return
  fi
  echo "== $*" | tee -a "$LOG"
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  echo "== exit $rc (${SECONDS} s into the run)" | tee -a "$LOG"
  [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
}

"$PY" - <<'PYEOF' 2>&1 | tee -a "$LOG"
import torch
assert torch.cuda.is_available(), "no CUDA device visible to torch"
print("device", torch.cuda.get_device_name(0), "torch", torch.__version__)
PYEOF
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
cat <<'GOALS' | tee -a "$LOG"
goals on one H100/H200-class GPU:
  a paper-scale site (50 units, 600 s of estimation sound, 8 x 4 CNN and LN ensembles,
    dSTRFs, subspace models) in under 180 s, so 68 sites in under 4 h
  every bin of a 200,000-bin 50-unit site for 8 models in under 60 s
    (bench_every_bin: 40,000 bins, projected to 200,000)
GOALS
# most important first: the lease may end before the last step
step 140 "$PY" -m pytest -q -p no:cacheprovider tests/test_training_ensemble_batched.py \
  tests/test_dstrf.py tests/test_subspace.py tests/test_tuning_streamed.py \
  tests/test_models_layers.py tests/test_training.py tests/test_training_members.py
# the paper's epochs (hundreds per fit on the simulated site) outlast the step: 20 per
# stage, projected to 400 per fit; the host's cores for the CPU parts of the subspaces
step 200 "$PY" benchmarks/bench_paper_scale.py --device cuda --scale 1.0 --threads 0 \
  --max-epochs 20 --site-cache "$SITE_CACHE" --profile
step 90 "$PY" benchmarks/bench_every_bin.py --bins 40000
step 45 "$PY" benchmarks/bench_dstrf.py
step 30 "$PY" benchmarks/bench_training.py --epochs 5
# NS1 with the paper's 8 x 4 ensembles of the LN and the CNN, on the GPU, last: it runs
# with whatever the budget has left. bench_recovery.py --device cuda (about 5 minutes)
# does not fit in one lease beside the steps above; run it alone when it is wanted.
if [ -f .whl/ns1/ns1_compact.npz ]; then
  left=$((BUDGET - SECONDS))  # whatever is left, 60 to 250 s: it prints as it goes
  export NDX_ES_SHARED_DATA=$PWD/.whl
  step $((left < 60 ? 60 : (left < 250 ? left : 250))) "$PY" benchmarks/bench_ns1.py \
    --ensemble 8x4 --device cuda --threads 0
else
  echo "== skipped: NS1 (no .whl/ns1/ns1_compact.npz)" | tee -a "$LOG"
fi
echo "== $FAILED step(s) failed, ${SECONDS} s" | tee -a "$LOG"
[ "$FAILED" -eq 0 ]
