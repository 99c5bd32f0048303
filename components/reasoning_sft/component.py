"""reasoning_sft: supervised fine-tuning on chain-of-thought rows (stage 2), through reasoning.pipeline.launch."""
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components._common import image, lightweight


def reasoning_sft(model: Input[Model], dataset: Input[Dataset], sft_model: Output[Model], metrics: Output[Metrics],
                  sft_epochs: float, sft_max_steps: int, sft_learning_rate: float, sft_batch_size: int,
                  lora_r: int, max_length: int, train_rows: int, seed: int, checkpoint_uri: str,
                  gpu_count: int, num_nodes: int, cot_dataset: Input[Dataset] = None):
    """SFT with LoRA (merged into the saved model) on the CoT rows, or on ``dataset`` when the CoT
    stage was skipped; logs the final training metrics."""
    given = dict(locals())  # the arguments, before any import adds a name
    from reasoning.pipeline.steps import stage_input, train_in_pipeline

    rows = stage_input(cot_dataset.path if cot_dataset is not None else None, dataset.path, stage="cot")
    sft_model.metadata.update(train_in_pipeline("sft", given, model=model.path, dataset=rows, output=sft_model.path,
                                                log_metric=metrics.log_metric))
    sft_model.metadata["base_model"] = model.metadata.get("source") or model.metadata.get("base_model", "")


def build(base_image: str | None = None):
    return lightweight(reasoning_sft, base_image or image("gpu"))
