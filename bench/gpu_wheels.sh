#!/usr/bin/env bash
# Fetch, HERE (a machine that reaches PyPI), the wheels that bench/gpu_round.sh installs on the
# GPU machine, which reaches no package index. Its image has torch, transformers, numpy,
# Pillow, safetensors, huggingface_hub, regex and zipp; diffusers and importlib_metadata travel.
#
#   bash bench/gpu_wheels.sh        # → .whl/ (git-ignored through .git/info/exclude); carry .whl
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
grep -qx '/.gpu-cache/' .git/info/exclude 2>/dev/null || echo '/.gpu-cache/' >>.git/info/exclude
diffusers=$(grep -E '^diffusers==' requirements/worker.txt | cut -d= -f3)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
  "diffusers==$diffusers" importlib_metadata==10.2.0
ls -l .whl
