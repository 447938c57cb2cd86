#!/usr/bin/env bash
# The GPU check in two steps (docs/gpu.md):
#
#   bash benchmarks/perf/gpu_check.sh prepare   # HERE, with PyPI: wheels the device lacks -> .whl/ (ignored)
#   bash benchmarks/perf/gpu_check.sh device    # ON THE DEVICE (repo root, carry .whl): install, run, copy to $OUT
#
# Why: the device machine has its own Python with a CUDA torch preinstalled (torch 2.11+cu130 when
# last read, /work/.library/device/KINDS.md) and no package index. `pip install -c constraints.txt -e .`
# would try to fetch torch==2.13.0 and fail there, so the project goes in with --no-deps and the few
# pure dependencies the image lacks travel as wheels. The check then runs against the device's torch;
# gpu_check.py prints and records the torch/CUDA versions first.
#
# The device command (one line for the device tool's `run`, carry [".whl"], timeout_s 600):
#   bash benchmarks/perf/gpu_check.sh device
set -euo pipefail

WHEELS=(pydantic==2.14.3 pydantic_core==2.50.4 annotated_types==0.8.0 typing_inspection==0.4.5
        soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 soxr==1.1.0 jiwer==4.0.0 rapidfuzz==3.14.6 pystoi==0.4.1)
TIME_LIMIT="${GPU_CHECK_TIME_LIMIT:-360}"  # 6 min: with the start, a 15-min device budget leaves a shorter rerun

case "${1:-}" in
  prepare)
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    mkdir -p .whl
    for spec in "${WHEELS[@]}"; do
      python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$spec"
    done
    ls -la .whl
    du -sh .whl
    ;;
  device)
    export PYTHONUNBUFFERED=1
    python3 -c 'import torch; print("device python:", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.is_available())'
    if ls .whl/*.whl >/dev/null 2>&1; then
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
      export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    fi
    # the project itself (entry points register the built-in plugins), no dependency resolution
    python3 -m pip install -q --no-index --no-deps --no-build-isolation -e .
    mkdir -p "${OUT:-benchmarks/results}"
    set +e
    python3 benchmarks/perf/gpu_check.py --time-limit "$TIME_LIMIT" --out benchmarks/results 2>&1 | tee "${OUT:-/tmp}/gpu_check.log"
    rc=${PIPESTATUS[0]}
    set -e
    if [ -n "${OUT:-}" ]; then cp benchmarks/results/gpu_check.json benchmarks/results/gpu_check.md "$OUT"/ || true; fi
    exit "$rc"
    ;;
  *)
    echo "usage: bash benchmarks/perf/gpu_check.sh prepare|device" >&2
    exit 2
    ;;
esac
