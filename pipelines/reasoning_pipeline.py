"""The DeepSeek-R1 style training pipeline, wired from the components in ``components/``.

    validate_parameters -> import_model, import_dataset
      -> [generate_cot] -> reasoning_sft -> [extend_context] -> reasoning_grpo
      -> evaluate (base vs SFT vs GRPO) -> [export_model -> if promoted: [serve_model], [register_model]]

Optional stages are ``dsl.If``/``dsl.Else`` pairs; each branch calls the same sub-pipeline
(``train_and_report``: SFT -> [context] -> ``rl_and_report``: GRPO -> evaluate -> [export])
with what that branch produced, so downstream tasks always get the model the run actually
made (SFT on CoT rows or on the rows as they are; GRPO on the context-extended model or
on the SFT model). Every cluster setting is made here, where the
pipeline is assembled: images, resources, accelerators, tolerations, node selectors,
retries, caching, step timeouts, the object-store and Hub-token secrets, the settings
ConfigMap and each task's own cache volume.

The first task (validate_parameters) also derives what depends on several parameters or on
the run: the per-run checkpoint prefix (``<checkpoint_uri>/<KFP run id>``) and GPU placement
(GPU requests, the GPU toleration and node selector only for tasks that get GPUs; a
multi-node training task's own pod gets none, its TrainJob does).

Compile (writes pipelines/reasoning_pipeline.yaml):
    python -m pipelines.cli compile --image-registry ghcr.io/example --image-tag 0.1.0
"""

import inspect
import os
from dataclasses import dataclass
from pathlib import Path

from kfp import dsl, kubernetes
from kfp.dsl import Dataset, Input, Model

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
from reasoning.pipeline.params import parameter_defaults
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

D = parameter_defaults()


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
    cot_op = build_generate_cot(placement.cpu_image)
    # teacher sampling and evaluation may get GPUs (eval_gpu_count): the image with CUDA torch
    teacher_cot_op = build_generate_cot(placement.gpu_image)
    sft_op = build_sft(placement.gpu_image)
    context_op = build_extend_context(placement.gpu_image)
    grpo_op = build_grpo(placement.gpu_image)
    evaluate_op = build_evaluate(placement.gpu_image)
    export_op = build_export_model(placement.cpu_image)
    serve_op = build_serve_model(placement.cpu_image)
    register_op = build_register_model(placement.cpu_image)

    def train(op, display: str, checkpoint_uri, gpu_type, gpu_count, num_nodes, train_task_gpus,
              train_tolerations, train_node_selector, **inputs):
        task = configure(op(**inputs, checkpoint_uri=checkpoint_uri, gpu_count=gpu_count, num_nodes=num_nodes),
                         placement, name=display, resources="train", retries="train", caching="train")
        return on_accelerator(task, gpu_type, train_task_gpus, train_tolerations, train_node_selector)

    # Why sub-pipelines rather than dsl.OneOf: kfp.local (2.17) resolves OneOf for parameters
    # only, not artifacts. Each optional stage is a dsl.If/dsl.Else pair whose branches call
    # the same sub-pipeline with the model that branch produced, so the compiled graph and
    # the local run are one and the same, and every downstream task gets the right model.
    @dsl.pipeline(name="grpo-evaluate-export", description="GRPO, then evaluation of base vs SFT vs GRPO, export.")
    def rl_and_report(
        base_model: Input[Model], sft_model: Input[Model], policy: Input[Model], problems: Input[Dataset],
        grpo_iterations: int, group_size: int, grpo_learning_rate: float, grpo_batch_size: int,
        max_completion_length: int, lora_r: int, train_rows: int, seed: int,
        correctness_weight: float, format_weight: float, consistency_weight: float, length_weight: float,
        process_weight: float, eval_datasets: str, eval_limit: int, eval_max_new_tokens: int,
        grpo_dynamic_sampling: bool, eval_sampled_k: int,
        export_destination: str, serve_model: bool, serving_name: str, register_model: bool,
        model_registry_address: str, registered_model_name: str, checkpoint_uri: str, gpu_type: str,
        gpu_count: int, num_nodes: int, train_task_gpus: int, train_tolerations: list, train_node_selector: dict, eval_gpu_count: int,
        eval_tolerations: list, eval_node_selector: dict,
    ):
        grpo = train(grpo_op, "GRPO", checkpoint_uri, gpu_type, gpu_count, num_nodes, train_task_gpus,
                     train_tolerations, train_node_selector,
                     model=policy, dataset=problems, grpo_iterations=grpo_iterations, group_size=group_size,
                     grpo_learning_rate=grpo_learning_rate, grpo_batch_size=grpo_batch_size,
                     max_completion_length=max_completion_length, lora_r=lora_r, train_rows=train_rows, seed=seed,
                     correctness_weight=correctness_weight, format_weight=format_weight,
                     consistency_weight=consistency_weight, length_weight=length_weight,
                     process_weight=process_weight, grpo_dynamic_sampling=grpo_dynamic_sampling)
        evaluation = configure(evaluate_op(base_model=base_model, sft_model=sft_model,
                                           grpo_model=grpo.outputs["grpo_model"], eval_datasets=eval_datasets,
                                           eval_limit=eval_limit, eval_max_new_tokens=eval_max_new_tokens, seed=seed,
                                           eval_sampled_k=eval_sampled_k),
                               placement, name="evaluate base vs SFT vs GRPO", resources="eval", retries="io",
                               caching="eval")
        on_accelerator(evaluation, gpu_type, eval_gpu_count, eval_tolerations, eval_node_selector)
        with dsl.If(export_destination != "", name="export"):
            export = configure(export_op(model=grpo.outputs["grpo_model"], destination=export_destination),
                               placement, name="export final model", resources="data", retries="io",
                               caching="export")
            # Serving and registration are gated on the evaluation: only a model ahead of the one it started
            # from gets an InferenceService or a Model Registry version; otherwise the report's "Promotion"
            # section says why not. Both need the exported copy (validation asks for an s3:// destination),
            # so they sit inside the export branch and run after it.
            with dsl.If(evaluation.outputs["promote"] == True, name="promoted"):  # noqa: E712 - a KFP condition
                with dsl.If(serve_model == True, name="serve"):  # noqa: E712
                    configure(serve_op(model=grpo.outputs["grpo_model"], destination=export_destination,
                                       serving_name=serving_name, gpus=eval_gpu_count,
                                       promotion_reason=evaluation.outputs["promotion_reason"]).after(export),
                              placement, name="InferenceService for the promoted model", resources="light",
                              retries="io", caching="export")
                with dsl.If(register_model == True, name="register"):  # noqa: E712
                    registered = configure(
                        register_op(model=grpo.outputs["grpo_model"], sft_model=sft_model, policy=policy,
                                    base_model=base_model, problems=problems,
                                    evaluation=evaluation.outputs["metrics"], destination=export_destination,
                                    registry_address=model_registry_address,
                                    registered_model_name=registered_model_name,
                                    run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                                    promotion_reason=evaluation.outputs["promotion_reason"]).after(export),
                        placement, name="register in Model Registry", resources="light", retries="io",
                        caching="export")
                    # optional: without it the client sends the pod's ServiceAccount token
                    kubernetes.use_secret_as_env(registered, secret_name=REGISTRY_TOKEN_SECRET,
                                                 secret_key_to_env={REGISTRY_TOKEN_ENV: REGISTRY_TOKEN_ENV},
                                                 optional=True)

    rl_names = [name for name in inspect.signature(rl_and_report.pipeline_func).parameters
                if name not in ("base_model", "sft_model", "policy", "problems")]

    @dsl.pipeline(name="sft-context-grpo", description="SFT, optional context extension, then GRPO and evaluation.")
    def train_and_report(
        base_model: Input[Model], sft_rows: Input[Dataset], problems: Input[Dataset],
        sft_epochs: float, sft_max_steps: int, sft_learning_rate: float, sft_batch_size: int, max_length: int,
        enable_context: bool, target_context: int, scaling_type: str, context_dataset: str, context_steps: int,
        long_context_lengths: str, long_context_tasks: str, context_gate_metric: str,
        context_gate_min_score: float,
        grpo_iterations: int, group_size: int, grpo_learning_rate: float, grpo_batch_size: int,
        max_completion_length: int, lora_r: int, train_rows: int, seed: int,
        correctness_weight: float, format_weight: float, consistency_weight: float, length_weight: float,
        process_weight: float, eval_datasets: str, eval_limit: int, eval_max_new_tokens: int,
        grpo_dynamic_sampling: bool, eval_sampled_k: int,
        export_destination: str, serve_model: bool, serving_name: str, register_model: bool,
        model_registry_address: str, registered_model_name: str, checkpoint_uri: str, gpu_type: str,
        gpu_count: int, num_nodes: int, train_task_gpus: int, train_tolerations: list, train_node_selector: dict, eval_gpu_count: int,
        eval_tolerations: list, eval_node_selector: dict,
    ):
        given = dict(locals())
        rl = {name: given[name] for name in rl_names}
        placing = (checkpoint_uri, gpu_type, gpu_count, num_nodes, train_task_gpus, train_tolerations,
                   train_node_selector)
        sft = train(sft_op, "SFT", *placing, model=base_model, dataset=sft_rows, sft_epochs=sft_epochs,
                    sft_max_steps=sft_max_steps, sft_learning_rate=sft_learning_rate, sft_batch_size=sft_batch_size,
                    lora_r=lora_r, max_length=max_length, train_rows=train_rows, seed=seed)
        sft_model = sft.outputs["sft_model"]
        context = dict(model=sft_model, target_context=target_context, scaling_type=scaling_type,
                       context_steps=context_steps, lora_r=lora_r, seed=seed,
                       long_context_lengths=long_context_lengths, long_context_tasks=long_context_tasks,
                       context_gate_metric=context_gate_metric,
                       context_gate_min_score=context_gate_min_score)
        with dsl.If(enable_context == True, name="context-extension"):  # noqa: E712 - a KFP condition
            with dsl.If(context_dataset != "", name="with-long-data"):
                long_rows = configure(import_dataset_op(source=context_dataset, limit=0), placement,
                                      name="import long dataset", resources="data", retries="io", caching="import")
                extended = train(context_op, "extend context (long data)", *placing,
                                 long_dataset=long_rows.outputs["dataset"], **context)
                rl_and_report(base_model=base_model, sft_model=sft_model, policy=extended.outputs["long_model"],
                              problems=problems, **rl)
            with dsl.Else():
                scaled = train(context_op, "extend context", *placing, **context)
                rl_and_report(base_model=base_model, sft_model=sft_model, policy=scaled.outputs["long_model"],
                              problems=problems, **rl)
        with dsl.Else():
            rl_and_report(base_model=base_model, sft_model=sft_model, policy=sft_model, problems=problems, **rl)

    tail_names = [name for name in inspect.signature(train_and_report.pipeline_func).parameters
                  if name not in ("base_model", "sft_rows", "problems")]

    @dsl.pipeline(name=PIPELINE_NAME,
                  description="DeepSeek-R1 style reasoning training: CoT data, SFT, context extension, GRPO, "
                              "evaluation of base vs SFT vs GRPO, export.")
    def reasoning_pipeline(
        base_model: str = D["base_model"], dataset: str = D["dataset"], train_rows: int = D["train_rows"],
        seed: int = D["seed"],
        enable_cot: bool = D["enable_cot"], reasoning_type: str = D["reasoning_type"],
        teacher_model: str = D["teacher_model"],
        sft_epochs: float = D["sft_epochs"], sft_max_steps: int = D["sft_max_steps"],
        sft_learning_rate: float = D["sft_learning_rate"], sft_batch_size: int = D["sft_batch_size"],
        lora_r: int = D["lora_r"], max_length: int = D["max_length"],
        enable_context: bool = D["enable_context"], target_context: int = D["target_context"],
        scaling_type: str = D["scaling_type"], context_dataset: str = D["context_dataset"],
        context_steps: int = D["context_steps"],
        long_context_lengths: str = D["long_context_lengths"], long_context_tasks: str = D["long_context_tasks"],
        context_gate_metric: str = D["context_gate_metric"],
        context_gate_min_score: float = D["context_gate_min_score"],
        grpo_iterations: int = D["grpo_iterations"], group_size: int = D["group_size"],
        grpo_learning_rate: float = D["grpo_learning_rate"], grpo_batch_size: int = D["grpo_batch_size"],
        max_completion_length: int = D["max_completion_length"],
        grpo_dynamic_sampling: bool = D["grpo_dynamic_sampling"],
        correctness_weight: float = D["correctness_weight"], format_weight: float = D["format_weight"],
        consistency_weight: float = D["consistency_weight"], length_weight: float = D["length_weight"],
        process_weight: float = D["process_weight"],
        eval_datasets: str = D["eval_datasets"], eval_limit: int = D["eval_limit"],
        eval_max_new_tokens: int = D["eval_max_new_tokens"], eval_sampled_k: int = D["eval_sampled_k"],
        export_destination: str = D["export_destination"],
        serve_model: bool = D["serve_model"], serving_name: str = D["serving_name"],
        register_model: bool = D["register_model"], model_registry_address: str = D["model_registry_address"],
        registered_model_name: str = D["registered_model_name"],
        checkpoint_uri: str = D["checkpoint_uri"],
        gpu_type: str = D["gpu_type"], gpu_count: int = D["gpu_count"], num_nodes: int = D["num_nodes"],
        eval_gpu_count: int = D["eval_gpu_count"], gpu_node_selector: dict = D["gpu_node_selector"],
    ):
        given = {name: value for name, value in locals().items() if name in D}
        check = configure(validate_op(**given, run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER), placement,
                          name="validate parameters", resources="light", retries="none", caching="validate")
        # checkpoint_uri becomes this run's prefix; placement comes from the validated parameters
        derived = {"checkpoint_uri": check.outputs["checkpoint_prefix"],
                   **{name: check.outputs[name] for name in ("train_task_gpus", "train_tolerations",
                                                             "train_node_selector", "eval_tolerations",
                                                             "eval_node_selector")}}
        rest = {name: derived.get(name, given.get(name)) for name in tail_names}
        base = configure(import_model_op(source=base_model).after(check), placement, name="import base model",
                         resources="data", retries="io", caching="import")
        problems = configure(import_dataset_op(source=dataset, limit=train_rows).after(check), placement,
                             name="import dataset", resources="data", retries="io", caching="import")
        rows = problems.outputs["dataset"]
        # Stage 1: chain-of-thought rows (from a teacher when one is given), or the rows as they are.
        with dsl.If(enable_cot == True, name="chain-of-thought"):  # noqa: E712 - a KFP condition
            with dsl.If(teacher_model != "", name="with-teacher"):
                teacher = configure(import_model_op(source=teacher_model), placement, name="import teacher",
                                    resources="data", retries="io", caching="import")
                sampled = configure(teacher_cot_op(problems=rows, reasoning_type=reasoning_type, seed=seed,
                                                   teacher=teacher.outputs["model"]),
                                    placement, name="generate CoT (teacher)", resources="eval", retries="io",
                                    caching="cot")
                on_accelerator(sampled, gpu_type, eval_gpu_count, check.outputs["eval_tolerations"],
                               check.outputs["eval_node_selector"])
                train_and_report(base_model=base.outputs["model"], sft_rows=sampled.outputs["cot_dataset"],
                                 problems=rows, **rest)
            with dsl.Else():
                templated = configure(cot_op(problems=rows, reasoning_type=reasoning_type, seed=seed),
                                      placement, name="generate CoT", resources="data", retries="io", caching="cot")
                train_and_report(base_model=base.outputs["model"], sft_rows=templated.outputs["cot_dataset"],
                                 problems=rows, **rest)
        with dsl.Else():
            train_and_report(base_model=base.outputs["model"], sft_rows=rows, problems=rows, **rest)

    return reasoning_pipeline


reasoning_pipeline = build_pipeline()


def compile_pipeline(path: str, registry: str | None = None, tag: str | None = None) -> str:
    """Compile for ``${registry}/reasoning-{cpu,gpu}:${tag}`` into ``path``.

    Why in a child process on the pure-Python protobuf: kfp 2.17 numbers the copies of a
    sub-pipeline's components (``comp-condition-3-2-2``) while iterating a protobuf map, and the
    C (upb) maps iterate in an order seeded per process, so two compiles of one graph differed
    and the committed YAML was never reproducible. Python maps keep insertion order.
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
