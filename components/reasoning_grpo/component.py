"""reasoning_grpo: GRPO reinforcement learning with the combined reward (stage 4), through reasoning.pipeline.launch."""
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components._common import image, lightweight


def reasoning_grpo(model: Input[Model], dataset: Input[Dataset], grpo_model: Output[Model],
                   metrics: Output[Metrics], grpo_iterations: int, group_size: int, grpo_learning_rate: float,
                   grpo_batch_size: int, max_completion_length: int, lora_r: int, train_rows: int, seed: int,
                   correctness_weight: float, format_weight: float, consistency_weight: float,
                   length_weight: float, process_weight: float, checkpoint_uri: str, gpu_count: int,
                   num_nodes: int, grpo_dynamic_sampling: bool, context_model: Input[Model] = None):
    """GRPO on the problems' reference answers, starting from the context-extended model, or from
    ``model`` (the SFT model) when that stage was skipped; logs the final reward and KL."""
    given = dict(locals())  # the arguments, before any import adds a name
    from reasoning.pipeline.steps import stage_input, train_in_pipeline

    policy = stage_input(context_model.path if context_model is not None else None, model.path, stage="context")
    grpo_model.metadata.update(train_in_pipeline("grpo", given, model=policy, dataset=dataset.path,
                                                 output=grpo_model.path, log_metric=metrics.log_metric))


def build(base_image: str | None = None):
    return lightweight(reasoning_grpo, base_image or image("gpu"))
