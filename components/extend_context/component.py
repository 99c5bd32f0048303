"""extend_context: RoPE-scale the model to a longer context, optionally fine-tuning on long rows (stage 3)."""
from kfp.dsl import Dataset, Input, Model, Output

from components._common import image, lightweight


def extend_context(model: Input[Model], long_model: Output[Model], target_context: int, scaling_type: str,
                   context_steps: int, lora_r: int, seed: int, checkpoint_uri: str, gpu_count: int,
                   num_nodes: int, long_dataset: Input[Dataset] = None, long_context_lengths: str = "",
                   long_context_tasks: str = "passkey,variables,perplexity",
                   context_gate_metric: str = "passkey", context_gate_min_score: float = 0.0):
    """Context extension through reasoning.stages.context (via reasoning.pipeline.launch).

    With long_context_lengths the stage evaluates each scaling type, keeps the best and fails
    (exit 3, GRPO never starts) when the gate refuses it; its report is in the output."""
    from reasoning.pipeline.params import context_stage_config, make_parameters
    from reasoning.pipeline.steps import artifact_metadata, dataset_rows, run_training_stage

    dataset = str(dataset_rows(long_dataset.path)) if long_dataset is not None else ""
    params = make_parameters(dict(target_context=target_context, scaling_type=scaling_type,
                                  context_steps=context_steps if dataset else 0, context_dataset=dataset,
                                  lora_r=lora_r, seed=seed, checkpoint_uri=checkpoint_uri, gpu_count=gpu_count,
                                  num_nodes=num_nodes, long_context_lengths=long_context_lengths,
                                  long_context_tasks=long_context_tasks,
                                  context_gate_metric=context_gate_metric,
                                  context_gate_min_score=context_gate_min_score))
    config = context_stage_config(params, model=model.path, output=long_model.path, dataset=dataset or None)
    run_training_stage("context", config, gpus=gpu_count, num_nodes=num_nodes)
    long_model.metadata.update(artifact_metadata(long_model.path))
    long_model.metadata.update({"target_context": target_context, "scaling_type": scaling_type})
    from reasoning.io.artifacts import read_metadata
    proof = (read_metadata(long_model.path).get("lineage") or {}).get("long_context")
    if proof:  # the sweep's choice and the gate, where the UI shows them
        long_model.metadata.update({"chosen_scaling_type": proof["choice"]["chosen"],
                                    "gate": proof["gate"]["reason"]})


def build(base_image: str | None = None):
    return lightweight(extend_context, base_image or image("gpu"))
