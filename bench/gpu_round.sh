#!/usr/bin/env bash
# One GPU round (bench/gpu_round.py) in one command of at most 8 minutes on a fresh GPU machine.
#
# The machine reaches no package index and no model hub: diffusers comes from the wheels in .whl/
# (bench/gpu_wheels.sh fetches them; carry .whl), pip from the index only where one answers; the
# models are the full-size architectures with random weights (the compute of the real ones).
# Compile artifacts from an earlier run are loaded from .gpu-cache/ (carry it, with the
# compile-artifacts.*.bin files an earlier run left in $OUT) and saved again to $OUT.
#
#   bash bench/gpu_round.sh                  # every row that fits the budget
#   bash bench/gpu_round.sh --rows 'svd-25:*'
#   ROUND_BUDGET=300 bash bench/gpu_round.sh  # no new row starts after 300 s of the script
#
# The python part gets ROUND_BUDGET (default 380 s) for its rows, a hard stop 45 s later that
# prints the table so far, and `timeout` ends it at ROUND_TIMEOUT (default 450 s): with the
# install and the start, the whole command stays under 8 minutes.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-python3}

if ! "$PY" -c "import diffusers" 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/gpu-round-site .whl/*.whl || exit 2
    export PYTHONPATH=/tmp/gpu-round-site${PYTHONPATH:+:$PYTHONPATH}
  elif ! timeout 120 "$PY" -m pip install -q "diffusers==$(grep -E '^diffusers==' requirements/worker.txt | cut -d= -f3)"; then
    echo "diffusers is missing and cannot be installed here: run bench/gpu_wheels.sh where PyPI answers and carry .whl" >&2
    exit 2
  fi
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
# A fresh inductor cache each run, so "second-start" measures exactly this run's compiles.
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$(mktemp -d /tmp/inductor-XXXX)}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
"$PY" -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"

budget=${ROUND_BUDGET:-380}
setup=$(($(date +%s) - start))
timeout --signal=TERM "${ROUND_TIMEOUT:-450}" "$PY" bench/gpu_round.py \
  --budget-s $((budget - setup)) --hard-limit-s $((budget - setup + 45)) \
  --cache-dir "${GPU_CACHE_DIR:-.gpu-cache}" --out "$OUT" "$@" 2>&1 | tee "$OUT/round.log"
status=${PIPESTATUS[0]}
echo "gpu_round.sh: exit $status after $(($(date +%s) - start)) s"
exit "$status"
