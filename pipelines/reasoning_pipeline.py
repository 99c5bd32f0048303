"""The DeepSeek-R1 style training pipeline, wired from the components in ``components/``.

    validate_parameters -> import_model, import_dataset -> generate_cot -> reasoning_sft
      -> extend_context -> reasoning_grpo -> evaluate (base vs SFT vs GRPO)
      -> [export_model -> if promoted: [serve_model], [register_model]]

One task per stage, optional stages included: a switched-off stage (``enable_cot``,
``enable_context``) runs, writes a skipped marker instead of a model or rows, and the task
after it takes both that output and what the stage would have changed, and keeps one
(``reasoning.pipeline.steps.stage_input``). So the Kubeflow UI shows the five stages once,
and kfp.local runs the very graph that is compiled. Every cluster setting is made here, where the
pipeline is assembled: images, resources, accelerators, tolerations, node selectors,
retries, caching, step timeouts, the object-store and Hub-token secrets, the settings
ConfigMap and each task's own cache volume.

The first task (validate_parameters) also derives what depends on several parameters or on
the run: the per-run checkpoint prefix (``<checkpoint_uri>/<KFP run id>``) and GPU placement
(GPU requests, the GPU toleration and node selector only for tasks that get GPUs; a
multi-node training task's own pod gets none, its TrainJob does; a switched-off stage none).

Compile (writes pipelines/reasoning_pipeline.yaml):
    python -m pipelines.cli compile --image-registry ghcr.io/example --image-tag 0.1.0
"""

import os
from dataclasses import dataclass
from pathlib import Path

from kfp import dsl, kubernetes
from kfp.dsl.types import type_utils

from components import _common
from components.evaluate.component import build as build_evaluate
from components.export_model.component import build as build_export_model
from components.extend_context.component import build as build_extend_context
from components.generate_cot.component import build as build_generate_cot
from components.import_dataset.component import build as build_import_dataset
from components.import_model.component import build as build_import_model
from components.reasoning_grpo.component import build as build_grpo
from components.reasoning_sft.component import build as build_sft
from components.register_model.component import build as build_register_model
from components.serve_model.component import build as build_serve_model
from components.validate_parameters.component import build as build_validate
from reasoning.pipeline.cluster_settings import (
    DEFAULTS as SETTINGS_DEFAULTS,
)
from reasoning.pipeline.cluster_settings import (
    HF_TOKEN_SECRET,
    OBJECT_STORE_KEYS,
    OBJECT_STORE_SECRET,
    SETTINGS_CONFIG_MAP,
)
from reasoning.pipeline.params import PARAMETER_NAMES, pipeline_docstring, pipeline_signature
from reasoning.pipeline.registry import TOKEN_ENV as REGISTRY_TOKEN_ENV
from reasoning.pipeline.registry import TOKEN_SECRET as REGISTRY_TOKEN_SECRET

PIPELINE_NAME = "reasoning-r1-pipeline"
SECRET_NAME = OBJECT_STORE_SECRET
SECRET_KEYS = OBJECT_STORE_KEYS
# Each task gets its own cache volume (an emptyDir: world-writable, so UID 10001 writes it without an
# fsGroup, and it never makes two pods wait on one ReadWriteOnce claim). The image ships the builtin
# model converted (/opt/reasoning/cache); a downloaded model lives in the artifact, not in this cache.
CACHE_VOLUME, CACHE_MOUNT, CACHE_ENV, CACHE_SIZE = "reasoning-cache", "/cache", "/cache/reasoning", "200Gi"
# pod deadline per kind of task (kfp.kubernetes.set_timeout): a hung step fails instead of holding a node
TIMEOUTS = {"light": 15 * 60, "data": 6 * 3600, "train": 72 * 3600, "eval": 24 * 3600}

# (cpu request, memory request, cpu limit, memory limit) per kind of task. Training sizes
# fit a 135M-parameter model on CPU and leave a GPU node's host memory for dataloaders.
RESOURCES = {
    "light": ("500m", "1Gi", "2", "4Gi"),
    "data": ("1", "4Gi", "4", "16Gi"),
    "train": ("4", "16Gi", "16", "64Gi"),
    "eval": ("2", "8Gi", "8", "32Gi"),
}
# (retries, first backoff, factor, max backoff): transient failures (a node drained, the object
# store briefly unavailable) are retried; training resumes from its pushed checkpoints.
RETRIES = {
    "none": None,
    "io": (3, "30s", 2.0, "600s"),
    "train": (2, "120s", 2.0, "1800s"),
}
# Caching: deterministic steps keyed on their inputs are cached (a rerun with one changed
# parameter reuses everything upstream); validation always runs (it checks files that may
# have changed) and export always runs (its effect is outside the pipeline).
CACHING = {"validate": False, "import": True, "cot": True, "train": True, "eval": True, "export": False}

DESCRIPTION = ("DeepSeek-R1 style reasoning training: CoT data, SFT, context extension, GRPO, evaluation of "
               "base vs SFT vs GRPO, export.")
# Component inputs that are not pipeline parameters of the same name, and what the pipeline gives them
# (every other parameter input is the pipeline parameter it is named after: ``parameter_inputs``).
# tests/test_parameter_schema.py holds the components to this.
WIRED_INPUTS = {
    "run_id": "the KFP run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER)",
    "source": "import_model: base_model; import_dataset: dataset",
    "limit": "import_dataset: train_rows",
    "destination": "export_destination",
    "registry_address": "model_registry_address",
    "gpus": "eval_gpu_count (the InferenceService's GPUs)",
    "promotion_reason": "the evaluation's promotion_reason output",
}
# pipeline parameters whose value a task gets from validate_parameters instead, under the same name
DERIVED_INPUTS = {"checkpoint_uri": "validate_parameters' checkpoint_prefix: <checkpoint_uri>/<run id>"}


def parameter_inputs(op, given: dict) -> dict:
    """The pipeline parameters ``op`` declares as inputs (a parameter input named like a
    PipelineParameters field), with the pipeline's values."""
    return {name: given[name] for name, spec in op.component_spec.inputs.items()
            if name in given and type_utils.is_parameter_type(spec.type)}


@dataclass(frozen=True)
class Placement:
    """How tasks are placed: ``local`` drops what only makes sense in a pod (retries that
    would stall a failing local run for minutes, and the /cache env of the per-task cache volume)."""
    cpu_image: str
    gpu_image: str
    local: bool = False


def configure(task: dsl.PipelineTask, placement: Placement, *, name: str, resources: str, retries: str,
              caching: str) -> dsl.PipelineTask:
    task.set_display_name(name)
    cpu_request, memory_request, cpu_limit, memory_limit = RESOURCES[resources]
    task.set_cpu_request(cpu_request).set_memory_request(memory_request)
    task.set_cpu_limit(cpu_limit).set_memory_limit(memory_limit)
    task.set_caching_options(enable_caching=CACHING[caching])
    retry = RETRIES[retries]
    if retry and not placement.local:
        count, backoff, factor, backoff_max = retry
        task.set_retry(num_retries=count, backoff_duration=backoff, backoff_factor=factor,
                       backoff_max_duration=backoff_max)
    kubernetes.set_timeout(task, TIMEOUTS[resources])
    # optional: a run that reads and writes no object storage needs no secret in its namespace
    # (validate_parameters names the missing key when the run does).
    kubernetes.use_secret_as_env(task, secret_name=SECRET_NAME, secret_key_to_env={k: k for k in SECRET_KEYS},
                                 optional=True)
    # a Hub model id in-cluster (HF_HUB_OFFLINE=0 in reasoning-settings) may need a token
    kubernetes.use_secret_as_env(task, secret_name=HF_TOKEN_SECRET, secret_key_to_env={"HF_TOKEN": "HF_TOKEN"},
                                 optional=True)
    # Every task sees the cluster's settings (validated by the first task): images and sizes for
    # multi-node jobs, the Trainer version, timeouts, and HF_HUB_OFFLINE over the image's default.
    kubernetes.use_config_map_as_env(task, SETTINGS_CONFIG_MAP, {key: key for key in SETTINGS_DEFAULTS},
                                     optional=True)
    kubernetes.empty_dir_mount(task, volume_name=CACHE_VOLUME, mount_path=CACHE_MOUNT, size_limit=CACHE_SIZE)
    if not placement.local:
        task.set_env_variable("REASONING_CACHE", CACHE_ENV)
    return task


def on_accelerator(task: dsl.PipelineTask, gpu_type, gpus, tolerations, node_selector) -> dsl.PipelineTask:
    """GPU placement from values validate_parameters derived, so one compiled YAML serves CPU and GPU
    runs: with 0 GPUs there is no toleration and no node selector (a CPU task stays off GPU nodes)."""
    task.set_accelerator_type(gpu_type).set_accelerator_limit(gpus)
    kubernetes.add_toleration_json(task, tolerations)
    kubernetes.add_node_selector_json(task, node_selector)
    # NCCL and DataLoader workers share memory through /dev/shm (64 MiB by default in a container)
    kubernetes.empty_dir_mount(task, volume_name="dshm", mount_path="/dev/shm", medium="Memory")
    return task


def build_pipeline(cpu_image: str | None = None, gpu_image: str | None = None, *, local: bool = False):
    """The pipeline function for the given images (``local=True`` for kfp.local runs)."""
    placement = Placement(cpu_image or _common.image("cpu"), gpu_image or _common.image("gpu"), local)
    validate_op = build_validate(placement.cpu_image)
    import_model_op = build_import_model(placement.cpu_image)
    import_dataset_op = build_import_dataset(placement.cpu_image)
    # teacher sampling may get GPUs (cot_task_gpus): the image with CUDA torch, which templated CoT runs on too
    cot_op = build_generate_cot(placement.gpu_image)
    sft_op = build_sft(placement.gpu_image)
    context_op = build_extend_context(placement.gpu_image)
    grpo_op = build_grpo(placement.gpu_image)
    evaluate_op = build_evaluate(placement.gpu_image)
    export_op = build_export_model(placement.cpu_image)
    serve_op = build_serve_model(placement.cpu_image)
    register_op = build_register_model(placement.cpu_image)

    def reasoning_pipeline(*values):
        # The parameters are PipelineParameters' fields (the signature set below); KFP passes them in order.
        given = dict(zip(PARAMETER_NAMES, values, strict=True))

        def call(op, **inputs) -> dsl.PipelineTask:
            """``op`` with every pipeline parameter it declares (by name), and ``inputs``: artifacts and the
            values wired under another name or derived by validate_parameters (WIRED_INPUTS)."""
            return op(**{**parameter_inputs(op, given), **inputs})

        check = configure(call(validate_op, run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER), placement,
                          name="validate parameters", resources="light", retries="none", caching="validate")
        derived = check.outputs  # the run's checkpoint prefix and each task's GPU placement

        def on_gpus(task: dsl.PipelineTask, kind: str, gpus=None) -> dsl.PipelineTask:
            return on_accelerator(task, given["gpu_type"], gpus if gpus is not None else derived[f"{kind}_task_gpus"],
                                  derived[f"{kind}_tolerations"], derived[f"{kind}_node_selector"])

        def train(op, display: str, kind: str, **inputs) -> dsl.PipelineTask:
            task = call(op, **inputs, checkpoint_uri=derived["checkpoint_prefix"])
            configure(task, placement, name=display, resources="train", retries="train", caching="train")
            return on_gpus(task, kind)

        base = configure(call(import_model_op, source=given["base_model"]).after(check), placement,
                         name="import base model", resources="data", retries="io", caching="import")
        problems = configure(call(import_dataset_op, source=given["dataset"], limit=given["train_rows"]).after(check),
                             placement, name="import dataset", resources="data", retries="io", caching="import")
        rows = problems.outputs["dataset"]
        # Why one task per stage, optional or not, rather than dsl.If/Else around each optional
        # stage: kfp.local 2.17 cannot pick an artifact out of two branches (dsl.OneOf resolves
        # parameters only: kfp/local/orchestrator/orchestrator_utils.py, get_dag_output_artifacts,
        # "Expected 1 artifact in ArtifactSelectorSpec"), and repeating the downstream graph in each
        # branch made 135 component specs in 948 KB of YAML. A switched-off stage writes a skipped marker (no copy of
        # a model in the store), asks for no GPU, and the task after it keeps the input the stage
        # would have changed (reasoning.pipeline.steps.stage_input). What it still costs on a
        # cluster: its pod starts, and the KFP launcher downloads every input artifact before the
        # component runs (backend/src/v2/component/launcher_v2.go, execute -> downloadArtifacts),
        # so the skipped context task reads the SFT model into its pod, and GRPO after a context
        # stage that ran reads the SFT model as well as the extended one. Reads, no new objects.
        cot = configure(call(cot_op, problems=rows), placement, name="generate CoT", resources="eval", retries="io",
                        caching="cot")
        on_gpus(cot, "cot")
        sft = train(sft_op, "SFT", "train", model=base.outputs["model"], dataset=rows,
                    cot_dataset=cot.outputs["cot_dataset"])
        sft_model = sft.outputs["sft_model"]
        context = train(context_op, "extend context", "context", model=sft_model)
        policy = context.outputs["long_model"]
        grpo = train(grpo_op, "GRPO", "train", model=sft_model, context_model=policy, dataset=rows)
        final = grpo.outputs["grpo_model"]
        evaluation = configure(call(evaluate_op, base_model=base.outputs["model"], sft_model=sft_model,
                                    grpo_model=final),
                               placement, name="evaluate base vs SFT vs GRPO", resources="eval", retries="io",
                               caching="eval")
        on_gpus(evaluation, "eval", given["eval_gpu_count"])
        # Export, serving and registration stay dsl.If: their conditions are parameters (which
        # kfp.local resolves), nothing after them needs their outputs, and a task that is not
        # started downloads no model (register_model reads four).
        destination = given["export_destination"]
        with dsl.If(destination != "", name="export"):
            export = configure(call(export_op, model=final, destination=destination),
                               placement, name="export final model", resources="data", retries="io",
                               caching="export")
            # Serving and registration are gated on the evaluation: only a model ahead of the one it started
            # from gets an InferenceService or a Model Registry version; otherwise the report's "Promotion"
            # section says why not. Both need the exported copy (validation asks for an s3:// destination),
            # so they sit inside the export branch and run after it.
            with dsl.If(evaluation.outputs["promote"] == True, name="promoted"):  # noqa: E712 - a KFP condition
                with dsl.If(given["serve_model"] == True, name="serve"):  # noqa: E712
                    configure(call(serve_op, model=final, destination=destination, gpus=given["eval_gpu_count"],
                                   promotion_reason=evaluation.outputs["promotion_reason"]).after(export),
                              placement, name="InferenceService for the promoted model", resources="light",
                              retries="io", caching="export")
                with dsl.If(given["register_model"] == True, name="register"):  # noqa: E712
                    registered = configure(
                        call(register_op, model=final, sft_model=sft_model, policy=policy,
                             base_model=base.outputs["model"], problems=rows,
                             evaluation=evaluation.outputs["metrics"], destination=destination,
                             registry_address=given["model_registry_address"], run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                             promotion_reason=evaluation.outputs["promotion_reason"]).after(export),
                        placement, name="register in Model Registry", resources="light", retries="io",
                        caching="export")
                    # optional: without it the client sends the pod's ServiceAccount token
                    kubernetes.use_secret_as_env(registered, secret_name=REGISTRY_TOKEN_SECRET,
                                                 secret_key_to_env={REGISTRY_TOKEN_ENV: REGISTRY_TOKEN_ENV},
                                                 optional=True)

    reasoning_pipeline.__signature__ = pipeline_signature()
    reasoning_pipeline.__doc__ = pipeline_docstring(DESCRIPTION)
    return dsl.pipeline(name=PIPELINE_NAME, description=DESCRIPTION)(reasoning_pipeline)


reasoning_pipeline = build_pipeline()


def compile_pipeline(path: str, registry: str | None = None, tag: str | None = None) -> str:
    """Compile for ``${registry}/reasoning-{cpu,gpu}:${tag}`` into ``path``.

    Why in a child process on the pure-Python protobuf: kfp 2.17 numbers repeated components
    (``comp-condition-3-2-2``, as when an If/Else repeated a sub-graph) while iterating a protobuf
    map, and the C (upb) maps iterate in an order seeded per process, so two compiles of one graph
    could differ. The flat graph repeats nothing today; the child keeps the committed YAML
    reproducible if a repeat comes back. Python maps keep insertion order.
    """
    if os.environ.get("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION") != "python":
        import subprocess
        import sys
        code = ("import sys; from pipelines.reasoning_pipeline import compile_pipeline; "
                "compile_pipeline(sys.argv[1], sys.argv[2] or None, sys.argv[3] or None)")
        subprocess.run([sys.executable, "-c", code, str(path), registry or "", tag or ""], check=True,
                       cwd=Path(__file__).resolve().parents[1],
                       env={**os.environ, "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"})
        return str(path)
    from kfp import compiler
    pipeline = build_pipeline(_common.image("cpu", registry, tag), _common.image("gpu", registry, tag))
    compiler.Compiler().compile(pipeline, package_path=str(path))
    return str(path)


if __name__ == "__main__":
    compile_pipeline("pipelines/reasoning_pipeline.yaml", _common.DEFAULT_REGISTRY, _common.DEFAULT_TAG)
