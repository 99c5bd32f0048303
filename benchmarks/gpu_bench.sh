#!/usr/bin/env bash
# GPU benchmark (SFT MFU; GRPO completion tokens/s: PEFT vs merged-twin generation, TRL vs
# FastGRPOTrainer, vLLM colocated when installed). From the repo root on one H100/H200:
#     bash benchmarks/gpu_bench.sh                    # < 8 min from a bare machine; $OUT/gpu_bench.json
#     GPU_BENCH_DRY=1 bash benchmarks/gpu_bench.sh    # tiny sizes on the CPU (checks that it runs)
# The GPU machine has no network: the wheels it lacks travel in .whl/, SmolLM2's tokenizer in
# .gpubench/tokenizer/. The local venv already has everything, so a dry run skips the install.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${GPU_BENCH_DRY:-0}" == "0" ]]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
    PYTHON=python3
else
    export PYTHONPATH=$PWD
    PYTHON=${PYTHON:-.venv/bin/python}
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
exec timeout 470 "$PYTHON" -m benchmarks.gpu_bench
