"""validate_parameters: the pipeline's first task; every other task runs after it.

It checks the whole parameter set at once (types, ranges, group size, reward weights,
dataset names and files, model references, target context vs the model's own) through
``reasoning.pipeline.params.validate_parameters``, so a bad parameter fails in seconds
with the parameter named, not deep inside training.
"""
from typing import NamedTuple

from kfp.dsl import Artifact, Output

from components._common import image, lightweight


def validate_parameters(
    resolved: Output[Artifact],
    base_model: str, dataset: str, train_rows: int, seed: int,
    enable_cot: bool, reasoning_type: str, teacher_model: str,
    sft_epochs: float, sft_max_steps: int, sft_learning_rate: float, sft_batch_size: int, lora_r: int,
    max_length: int,
    enable_context: bool, target_context: int, scaling_type: str, context_dataset: str, context_steps: int,
    long_context_lengths: str, long_context_tasks: str, context_gate_metric: str, context_gate_min_score: float,
    context_gate_max_window_ppl_ratio: float,
    grpo_iterations: int, group_size: int, grpo_learning_rate: float, grpo_batch_size: int,
    max_completion_length: int, grpo_dynamic_sampling: bool,
    correctness_weight: float, format_weight: float, consistency_weight: float, length_weight: float,
    process_weight: float,
    eval_datasets: str, eval_limit: int, eval_max_new_tokens: int, eval_sampled_k: int, export_destination: str,
    serve_model: bool,
    serving_name: str, register_model: bool, model_registry_address: str, registered_model_name: str,
    checkpoint_uri: str,
    gpu_type: str, gpu_count: int, num_nodes: int, eval_gpu_count: int, gpu_node_selector: dict,
    run_id: str,
) -> NamedTuple("Placement", [("checkpoint_prefix", str), ("train_task_gpus", int), ("context_task_gpus", int),
                              ("cot_task_gpus", int), ("train_tolerations", list), ("train_node_selector", dict),
                              ("context_tolerations", list), ("context_node_selector", dict),
                              ("cot_tolerations", list), ("cot_node_selector", dict),
                              ("eval_tolerations", list), ("eval_node_selector", dict)]):
    """Validate every pipeline parameter and, in a pod, the cluster's settings and Secret keys; writes the
    normalised set as JSON (the run's resolved recipe). Returns what the later tasks are given: the
    run's checkpoint prefix and where GPU tasks go (reasoning.pipeline.params.task_placement)."""
    values = {name: value for name, value in locals().items() if name not in ("resolved", "run_id")}
    import json
    import os
    from collections import namedtuple

    from reasoning.pipeline.cluster_settings import check_cluster_settings
    from reasoning.pipeline.params import make_parameters, run_checkpoint_prefix, task_placement
    from reasoning.pipeline.params import validate_parameters as validate

    normalised = validate(values)
    if "KUBERNETES_SERVICE_HOST" in os.environ:  # in a pod: the settings the other tasks will read
        check_cluster_settings([normalised[k] for k in ("base_model", "dataset", "teacher_model", "context_dataset",
                                                        "export_destination", "checkpoint_uri")])
    prefix = run_checkpoint_prefix(normalised["checkpoint_uri"], run_id)
    placement = task_placement(make_parameters(normalised))
    with open(resolved.path, "w", encoding="utf-8") as handle:
        json.dump({**normalised, "run_checkpoint_prefix": prefix, **placement}, handle, indent=2, sort_keys=True)
    resolved.metadata.update({"parameters": len(normalised), "base_model": normalised["base_model"],
                              "dataset": normalised["dataset"], "run_id": run_id})
    outputs = namedtuple("Placement", ["checkpoint_prefix", *placement])
    return outputs(prefix, *placement.values())


def build(base_image: str | None = None):
    return lightweight(validate_parameters, base_image or image("cpu"))
