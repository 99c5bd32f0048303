"""extend_context: RoPE-scale the model to a longer context, optionally fine-tuning on long rows (stage 3).

With ``enable_context`` false the task writes only a skipped marker (reasoning.pipeline.steps.skip_stage)
and GRPO trains the SFT model. The long rows (``context_dataset``, a dataset spec) are read by the
stage itself, so a run without them imports nothing.
"""
from kfp.dsl import Input, Model, Output

from components._common import image, lightweight


def extend_context(model: Input[Model], long_model: Output[Model], enable_context: bool, target_context: int,
                   scaling_type: str, context_dataset: str, context_steps: int, lora_r: int, seed: int,
                   checkpoint_uri: str, gpu_count: int, num_nodes: int, long_context_lengths: str,
                   long_context_tasks: str, context_gate_metric: str, context_gate_min_score: float,
                   context_gate_max_window_ppl_ratio: float):
    """Context extension through reasoning.stages.context (via reasoning.pipeline.launch).

    With long_context_lengths the stage evaluates each scaling type, keeps the best and fails
    (exit 3, GRPO never starts) when the gate refuses it; its report is in the output."""
    given = dict(locals())  # the arguments, before any import adds a name
    from reasoning.pipeline.steps import skip_stage

    if not enable_context:
        long_model.metadata.update(skip_stage(long_model.path, "context",
                                              "enable_context is false: GRPO trains the SFT model"))
        return
    from reasoning.io.artifacts import read_metadata
    from reasoning.pipeline.steps import train_in_pipeline

    long_model.metadata.update(train_in_pipeline("context", given, model=model.path, dataset=context_dataset,
                                                 output=long_model.path))
    long_model.metadata.update({"target_context": target_context, "scaling_type": scaling_type})
    proof = (read_metadata(long_model.path).get("lineage") or {}).get("long_context")
    if proof:  # the sweep's choice and the gate, where the UI shows them
        long_model.metadata.update({"chosen_scaling_type": proof["choice"]["chosen"],
                                    "gate": proof["gate"]["reason"]})


def build(base_image: str | None = None):
    return lightweight(extend_context, base_image or image("gpu"))
