"""reasoning_sft: supervised fine-tuning on chain-of-thought rows (stage 2), through reasoning.pipeline.launch."""
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components._common import image, lightweight


def reasoning_sft(model: Input[Model], dataset: Input[Dataset], sft_model: Output[Model], metrics: Output[Metrics],
                  sft_epochs: float, sft_max_steps: int, sft_learning_rate: float, sft_batch_size: int,
                  lora_r: int, max_length: int, train_rows: int, seed: int, checkpoint_uri: str,
                  gpu_count: int, num_nodes: int):
    """SFT with LoRA (merged into the saved model); logs the final training metrics."""
    from reasoning.pipeline.params import make_parameters, sft_stage_config
    from reasoning.pipeline.steps import artifact_metadata, dataset_rows, numeric_metrics, run_training_stage

    params = make_parameters(dict(sft_epochs=sft_epochs, sft_max_steps=sft_max_steps,
                                  sft_learning_rate=sft_learning_rate, sft_batch_size=sft_batch_size,
                                  lora_r=lora_r, max_length=max_length, train_rows=train_rows, seed=seed,
                                  checkpoint_uri=checkpoint_uri, gpu_count=gpu_count, num_nodes=num_nodes))
    config = sft_stage_config(params, model=model.path, dataset=str(dataset_rows(dataset.path)),
                              output=sft_model.path)
    result = run_training_stage("sft", config, gpus=gpu_count, num_nodes=num_nodes)
    for name, value in numeric_metrics(result.get("metrics", {})).items():
        metrics.log_metric(name, value)
    sft_model.metadata.update(artifact_metadata(sft_model.path))
    sft_model.metadata["base_model"] = model.metadata.get("source") or model.metadata.get("base_model", "")


def build(base_image: str | None = None):
    return lightweight(reasoning_sft, base_image or image("gpu"))
