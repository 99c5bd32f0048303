#!/usr/bin/env bash
# Run the reasoning pipeline locally (kfp.local), compile it, or submit it to a Kubeflow cluster.
#
#   ./run_reasoning_pipeline.sh                                   # default CPU recipe, locally
#   ./run_reasoning_pipeline.sh --base-model PATH --enable-cot --enable-context --target-context 131072
#   ./run_reasoning_pipeline.sh --enable-context --scaling-type all --long-context-lengths 8192,32768 --context-gate-min-score 0.5
#   ./run_reasoning_pipeline.sh --host http://localhost:8080 --experiment reasoning --run-name try1 --gpu-count 1
#   ./run_reasoning_pipeline.sh --dry-run                         # only compile pipelines/reasoning_pipeline.yaml
#   ./run_reasoning_pipeline.sh --print-params ...                # print what the flags resolve to, run nothing
#   ./run_reasoning_pipeline.sh --host URL --param export_destination=s3://b/m --register-model http://model-registry-service.kubeflow:8080
#
# Any other pipeline parameter: --param name=value (names as in reasoning/pipeline/params.py).
set -euo pipefail
cd "$(dirname "$0")"
PY=python3
[[ -x .venv/bin/python ]] && PY=.venv/bin/python

RECIPE=recipes/pipeline_default_cpu.yaml
HOST="" DRY_RUN=0 PRINT_PARAMS=0 EXPERIMENT=reasoning RUN_NAME="" STORAGE="" OUTPUT_DIR=runs
REGISTRY="${REGISTRY:-ghcr.io/example}" TAG="${TAG:-0.1.0}"
PARAMS=()

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }  # the header comment
need() { [[ $# -ge 2 && -n "$2" ]] || { echo "error: $1 needs a value" >&2; exit 2; }; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --recipe) need "$@"; RECIPE="$2"; shift 2 ;;
    --base-model) need "$@"; PARAMS+=("base_model=$2"); shift 2 ;;
    --dataset) need "$@"; PARAMS+=("dataset=$2"); shift 2 ;;
    --enable-cot) PARAMS+=("enable_cot=true"); shift ;;
    --no-cot) PARAMS+=("enable_cot=false"); shift ;;
    --enable-context) PARAMS+=("enable_context=true"); shift ;;
    --target-context) need "$@"; PARAMS+=("target_context=$2"); shift 2 ;;
    --scaling-type) need "$@"; PARAMS+=("scaling_type=$2"); shift 2 ;;
    --long-context-lengths) need "$@"; PARAMS+=("long_context_lengths=$2"); shift 2 ;;
    --context-gate-min-score) need "$@"; PARAMS+=("context_gate_min_score=$2"); shift 2 ;;
    --sft-epochs) need "$@"; PARAMS+=("sft_epochs=$2" "sft_max_steps=0"); shift 2 ;;
    --lora-r) need "$@"; PARAMS+=("lora_r=$2"); shift 2 ;;
    --grpo-iterations) need "$@"; PARAMS+=("grpo_iterations=$2"); shift 2 ;;
    --group-size) need "$@"; PARAMS+=("group_size=$2"); shift 2 ;;
    --eval-datasets) need "$@"; PARAMS+=("eval_datasets=$2"); shift 2 ;;
    --eval-limit) need "$@"; PARAMS+=("eval_limit=$2"); shift 2 ;;
    --gpu-type) need "$@"; PARAMS+=("gpu_type=$2"); shift 2 ;;
    --gpu-count) need "$@"; PARAMS+=("gpu_count=$2"); shift 2 ;;
    --num-nodes) need "$@"; PARAMS+=("num_nodes=$2"); shift 2 ;;
    # registration (gated on the evaluation) needs the registry's address; the token comes from a Secret
    --register-model) need "$@"; PARAMS+=("register_model=true" "model_registry_address=$2"); shift 2 ;;
    --param) need "$@"; PARAMS+=("$2"); shift 2 ;;
    --storage) need "$@"; STORAGE="$2"; shift 2 ;;
    --output-dir) need "$@"; OUTPUT_DIR="$2"; shift 2 ;;
    --host) need "$@"; HOST="$2"; shift 2 ;;
    --experiment) need "$@"; EXPERIMENT="$2"; shift 2 ;;
    --run-name) need "$@"; RUN_NAME="$2"; shift 2 ;;
    --image-registry) need "$@"; REGISTRY="$2"; shift 2 ;;
    --image-tag) need "$@"; TAG="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --print-params) PRINT_PARAMS=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown flag $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [[ $PRINT_PARAMS == 1 ]]; then
  # One line per resolved setting and pipeline parameter (tests check every flag's mapping).
  MODE=run
  [[ -n "$HOST" ]] && MODE=submit
  [[ $DRY_RUN == 1 ]] && MODE=compile
  printf 'setting %s=%s\n' mode "$MODE" recipe "$RECIPE" storage "$STORAGE" output_dir "$OUTPUT_DIR" host "$HOST" \
    experiment "$EXPERIMENT" run_name "$RUN_NAME" image_registry "$REGISTRY" image_tag "$TAG"
  for param in ${PARAMS[@]+"${PARAMS[@]}"}; do printf 'param %s\n' "$param"; done
  exit 0
fi
if [[ $DRY_RUN == 1 ]]; then
  exec "$PY" -m pipelines.cli compile --image-registry "$REGISTRY" --image-tag "$TAG"
fi
if [[ -n "$HOST" ]]; then
  exec "$PY" -m pipelines.cli submit --host "$HOST" --recipe "$RECIPE" --experiment "$EXPERIMENT" \
    ${RUN_NAME:+--run-name "$RUN_NAME"} --compile --image-registry "$REGISTRY" --image-tag "$TAG" \
    ${PARAMS[@]+"${PARAMS[@]}"}
fi
exec "$PY" -m pipelines.cli run --recipe "$RECIPE" --output-dir "$OUTPUT_DIR" ${STORAGE:+--storage "$STORAGE"} \
  ${RUN_NAME:+--run-name "$RUN_NAME"} ${PARAMS[@]+"${PARAMS[@]}"}
