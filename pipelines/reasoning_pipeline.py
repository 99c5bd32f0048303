"""The DeepSeek-R1 style training pipeline, wired from the components in ``components/``.

    validate_parameters -> import_model, import_dataset
      -> [generate_cot] -> reasoning_sft -> [extend_context] -> reasoning_grpo
      -> evaluate (base vs SFT vs GRPO) -> [export_model]

Optional stages are ``dsl.If``/``dsl.Else`` pairs; each branch calls the same sub-pipeline
(``train_and_report``: SFT -> [context] -> ``rl_and_report``: GRPO -> evaluate -> [export])
with what that branch produced, so downstream tasks always get the model the run actually
made (SFT on CoT rows or on the rows as they are; GRPO on the context-extended model or
on the SFT model). Every cluster setting is made here, where the
pipeline is assembled: images, resources, accelerators, tolerations, node selectors,
retries, caching, the object-store secret and the model-cache PVC.

Compile (writes pipelines/reasoning_pipeline.yaml):
    python -m pipelines.cli compile --image-registry ghcr.io/example --image-tag 0.1.0
"""

import inspect
from dataclasses import dataclass

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
from components.validate_parameters.component import build as build_validate
from reasoning.pipeline_params import parameter_defaults

PIPELINE_NAME = "reasoning-r1-pipeline"
SECRET_NAME = "reasoning-object-store"
SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")
CACHE_PVC, CACHE_MOUNT, CACHE_ENV = "reasoning-model-cache", "/cache", "/cache/reasoning"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}

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
    would stall a failing local run for minutes, and the /cache env of the model-cache PVC)."""
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
    # optional: a run that reads and writes no object storage needs no secret in its namespace.
    kubernetes.use_secret_as_env(task, secret_name=SECRET_NAME, secret_key_to_env={k: k for k in SECRET_KEYS},
                                 optional=True)
    kubernetes.mount_pvc(task, pvc_name=CACHE_PVC, mount_path=CACHE_MOUNT)
    if not placement.local:
        task.set_env_variable("REASONING_CACHE", CACHE_ENV)
    return task


SETTINGS_CONFIG_MAP = "reasoning-settings"
SETTINGS_KEYS = ("REASONING_CPU_IMAGE", "REASONING_GPU_IMAGE", "REASONING_GPU_NODE_SELECTOR",
                 "REASONING_GPU_TOLERATIONS", "REASONING_TRAIN_CPU", "REASONING_TRAIN_MEMORY")


def on_accelerator(task: dsl.PipelineTask, gpu_type, gpu_count, node_selector) -> dsl.PipelineTask:
    """Training placement; pipeline parameters, so one compiled YAML serves CPU and GPU runs."""
    task.set_accelerator_type(gpu_type).set_accelerator_limit(gpu_count)
    kubernetes.add_toleration_json(task, GPU_TOLERATION)
    kubernetes.add_node_selector_json(task, node_selector)
    # Sizes, node selector and tolerations of multi-node TrainJob pods come from the cluster's
    # `reasoning-settings` ConfigMap (manifests/base), read by reasoning.launch.
    kubernetes.use_config_map_as_env(task, SETTINGS_CONFIG_MAP,
                                     {key: key for key in SETTINGS_KEYS}, optional=True)
    return task


def build_pipeline(cpu_image: str | None = None, gpu_image: str | None = None, *, local: bool = False):
    """The pipeline function for the given images (``local=True`` for kfp.local runs)."""
    placement = Placement(cpu_image or _common.image("cpu"), gpu_image or _common.image("gpu"), local)
    validate_op = build_validate(placement.cpu_image)
    import_model_op = build_import_model(placement.cpu_image)
    import_dataset_op = build_import_dataset(placement.cpu_image)
    cot_op = build_generate_cot(placement.cpu_image)
    sft_op = build_sft(placement.gpu_image)
    context_op = build_extend_context(placement.gpu_image)
    grpo_op = build_grpo(placement.gpu_image)
    evaluate_op = build_evaluate(placement.cpu_image)
    export_op = build_export_model(placement.cpu_image)

    def train(op, display: str, checkpoint_uri, gpu_type, gpu_count, num_nodes, gpu_node_selector, **inputs):
        task = configure(op(**inputs, checkpoint_uri=checkpoint_uri, gpu_count=gpu_count, num_nodes=num_nodes),
                         placement, name=display, resources="train", retries="train", caching="train")
        return on_accelerator(task, gpu_type, gpu_count, gpu_node_selector)

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
        export_destination: str, checkpoint_uri: str, gpu_type: str, gpu_count: int, num_nodes: int,
        gpu_node_selector: dict,
    ):
        grpo = train(grpo_op, "GRPO", checkpoint_uri, gpu_type, gpu_count, num_nodes, gpu_node_selector,
                     model=policy, dataset=problems, grpo_iterations=grpo_iterations, group_size=group_size,
                     grpo_learning_rate=grpo_learning_rate, grpo_batch_size=grpo_batch_size,
                     max_completion_length=max_completion_length, lora_r=lora_r, train_rows=train_rows, seed=seed,
                     correctness_weight=correctness_weight, format_weight=format_weight,
                     consistency_weight=consistency_weight, length_weight=length_weight,
                     process_weight=process_weight)
        configure(evaluate_op(base_model=base_model, sft_model=sft_model, grpo_model=grpo.outputs["grpo_model"],
                              eval_datasets=eval_datasets, eval_limit=eval_limit,
                              eval_max_new_tokens=eval_max_new_tokens, seed=seed),
                  placement, name="evaluate base vs SFT vs GRPO", resources="eval", retries="io", caching="eval")
        with dsl.If(export_destination != "", name="export"):
            configure(export_op(model=grpo.outputs["grpo_model"], destination=export_destination), placement,
                      name="export final model", resources="data", retries="io", caching="export")

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
        export_destination: str, checkpoint_uri: str, gpu_type: str, gpu_count: int, num_nodes: int,
        gpu_node_selector: dict,
    ):
        given = dict(locals())
        rl = {name: given[name] for name in rl_names}
        placing = (checkpoint_uri, gpu_type, gpu_count, num_nodes, gpu_node_selector)
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
        correctness_weight: float = D["correctness_weight"], format_weight: float = D["format_weight"],
        consistency_weight: float = D["consistency_weight"], length_weight: float = D["length_weight"],
        process_weight: float = D["process_weight"],
        eval_datasets: str = D["eval_datasets"], eval_limit: int = D["eval_limit"],
        eval_max_new_tokens: int = D["eval_max_new_tokens"], export_destination: str = D["export_destination"],
        checkpoint_uri: str = D["checkpoint_uri"],
        gpu_type: str = D["gpu_type"], gpu_count: int = D["gpu_count"], num_nodes: int = D["num_nodes"],
        gpu_node_selector: dict = D["gpu_node_selector"],
    ):
        given = {name: value for name, value in locals().items() if name in D}
        rest = {name: given[name] for name in tail_names}
        check = configure(validate_op(**given), placement, name="validate parameters", resources="light",
                          retries="none", caching="validate")
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
                sampled = configure(cot_op(problems=rows, reasoning_type=reasoning_type, seed=seed,
                                           teacher=teacher.outputs["model"]),
                                    placement, name="generate CoT (teacher)", resources="eval", retries="io",
                                    caching="cot")
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
    """Compile for ``${registry}/reasoning-{cpu,gpu}:${tag}`` into ``path``."""
    from kfp import compiler
    pipeline = build_pipeline(_common.image("cpu", registry, tag), _common.image("gpu", registry, tag))
    compiler.Compiler().compile(pipeline, package_path=str(path))
    return str(path)


if __name__ == "__main__":
    compile_pipeline("pipelines/reasoning_pipeline.yaml", _common.DEFAULT_REGISTRY, _common.DEFAULT_TAG)
