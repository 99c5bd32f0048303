"""reasoning_grpo: GRPO reinforcement learning with the combined reward (stage 4), through reasoning.pipeline.launch."""
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components._common import image, lightweight


def reasoning_grpo(model: Input[Model], dataset: Input[Dataset], grpo_model: Output[Model],
                   metrics: Output[Metrics], grpo_iterations: int, group_size: int, grpo_learning_rate: float,
                   grpo_batch_size: int, max_completion_length: int, lora_r: int, train_rows: int, seed: int,
                   correctness_weight: float, format_weight: float, consistency_weight: float,
                   length_weight: float, process_weight: float, checkpoint_uri: str, gpu_count: int,
                   num_nodes: int, grpo_dynamic_sampling: bool = True):
    """GRPO on the problems' reference answers; logs the final reward and KL."""
    from reasoning.pipeline.params import grpo_stage_config, make_parameters
    from reasoning.pipeline.steps import artifact_metadata, dataset_rows, numeric_metrics, run_training_stage

    params = make_parameters(dict(grpo_iterations=grpo_iterations, group_size=group_size,
                                  grpo_learning_rate=grpo_learning_rate, grpo_batch_size=grpo_batch_size,
                                  max_completion_length=max_completion_length, lora_r=lora_r,
                                  train_rows=train_rows, seed=seed, correctness_weight=correctness_weight,
                                  format_weight=format_weight, consistency_weight=consistency_weight,
                                  length_weight=length_weight, process_weight=process_weight,
                                  checkpoint_uri=checkpoint_uri, gpu_count=gpu_count, num_nodes=num_nodes,
                                  grpo_dynamic_sampling=grpo_dynamic_sampling))
    config = grpo_stage_config(params, model=model.path, dataset=str(dataset_rows(dataset.path)),
                               output=grpo_model.path)
    result = run_training_stage("grpo", config, gpus=gpu_count, num_nodes=num_nodes)
    for name, value in numeric_metrics(result.get("metrics", {})).items():
        metrics.log_metric(name, value)
    grpo_model.metadata.update(artifact_metadata(grpo_model.path))


def build(base_image: str | None = None):
    return lightweight(reasoning_grpo, base_image or image("gpu"))
