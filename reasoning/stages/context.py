"""Stage 3: context extension by RoPE scaling, optionally fine-tuned on long sequences.

    python -m reasoning.stages.context --model checkpoints/reasoning_sft \\
        --output checkpoints/reasoning_long --target-context 131072 --scaling-type yarn
    python -m reasoning.stages.context --model M --output O --target-context 32768 \\
        --scaling-type yarn --dataset data/long.jsonl --steps 200      # + long-sequence tuning
    python -m reasoning.stages.context --config recipes/context_default_cpu.yaml
    reasoning context ...                                              # same flags

Multi-GPU fine-tuning (long sequences want ZeRO-3 to shard weights and optimizer state):

    accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml \\
        -m reasoning.stages.context --config recipes/context_default_cpu.yaml

The saved model's config.json carries the scaling (``rope_parameters`` and
``max_position_embeddings``, see reasoning.context_extension), so the next stage loads it
with plain ``from_pretrained`` and no extra flag. With ``--steps N`` and ``--dataset``, the
scaled model is trained for N steps on the dataset's conversations (loss on the whole
sequence: the point is to teach attention at far positions), gradient checkpointing on.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasoning.config import option, require
from reasoning.stages import common
from reasoning.stages.sft import extender_for

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ContextStageConfig(common.TrainingStageConfig):
    output: str = option("checkpoints/reasoning_long", "output model directory or s3:// URI")
    dataset: str = option("", "optional long-sequence rows to fine-tune on (needs --steps > 0)")
    target_context: int = option(131072, "context length (tokens) the scaled model should handle")
    scaling_type: str = option("yarn", "RoPE scaling: yarn, linear, dynamic or ntk")
    original_context: int = option(0, "the model's pretraining context (0 = read from its config)")
    steps: int = option(0, "fine-tuning steps on --dataset after scaling (0 = only rescale)")
    max_length: int = option(4096, "truncate each training sequence to N tokens")
    batch_size: int = option(1, "sequences per device and step (long sequences: keep small)")
    learning_rate: float = option(1e-4, "peak learning rate (AdamW)")
    lora_r: int = option(16, "LoRA rank")
    lora_alpha: int = option(32, "LoRA alpha (scaling = alpha / r)")

    def __post_init__(self) -> None:
        self.validate_common()
        from reasoning.context_extension import check_scaling_type
        self.scaling_type = check_scaling_type(self.scaling_type)
        require(self.target_context >= 1, f"must be positive, got {self.target_context}", "--target-context")
        require(self.original_context >= 0, f"must be >= 0, got {self.original_context}", "--original-context")
        require(not self.original_context or self.target_context > self.original_context,
                f"target context {self.target_context} must be above the original {self.original_context}",
                "--target-context")
        require(self.steps >= 0, f"must be >= 0, got {self.steps}", "--steps")
        require(self.steps == 0 or bool(self.dataset), "fine-tuning steps need a --dataset of long rows", "--steps")
        require(self.max_length >= 16, f"must be >= 16, got {self.max_length}", "--max-length")

    def to_trl_config(self, precision: str, checkpoints: Path):
        """TRL's SFTConfig for the long-sequence tuning (why not a subclass: see SFTStageConfig)."""
        from trl import SFTConfig
        return SFTConfig(**common.common_trainer_args(self, precision, checkpoints), max_steps=self.steps,
                         max_length=self.max_length, completion_only_loss=False, shuffle_dataset=False)


def check_inputs(config: ContextStageConfig):
    common.check_model(config.model)
    extender_for(config)  # target vs. the model's own context, when its config is on disk
    common.check_outputs(config)
    if config.steps > 0:
        return common.load_stage_rows(config.dataset, limit=config.limit)
    return [], {}


def run(config: ContextStageConfig) -> dict[str, Any]:
    from transformers import AutoConfig, set_seed

    from reasoning.models import resolve_model

    rows, lineage = check_inputs(config)
    hardware = common.detect_hardware()
    precision = common.resolve_precision(config.precision, hardware)
    attention = common.resolve_attention(config.attn_implementation, hardware)
    model_dir = resolve_model(config.model)
    extender = extender_for(config, model_dir)
    model_config = extender.apply_to_config(AutoConfig.from_pretrained(model_dir))
    context = extender.describe()
    log.info("context: %s -> %s tokens by %s (factor %.2f)", context["original_length"], context["target_length"],
             context["scaling_type"], context["factor"])

    set_seed(config.seed)
    tokenizer = common.load_tokenizer_for_training(model_dir)
    model = common.load_causal_lm(model_dir, precision, attention, config=model_config)
    history: list[dict] = []
    checkpoints = None
    if config.steps > 0:
        from datasets import Dataset
        from trl import SFTTrainer
        checkpoints, resume_from = common.prepare_checkpoints(config)
        with common.sigterm_guard() as stop_flag:
            trainer = SFTTrainer(model=model, args=config.to_trl_config(precision, checkpoints),
                                 train_dataset=Dataset.from_list([{"messages": r.messages} for r in rows]),
                                 processing_class=tokenizer, peft_config=common.lora_config(config),
                                 callbacks=common.stage_callbacks(checkpoints / "live_log.jsonl", checkpoints,
                                                                  common.checkpoint_uri_for(config), stop_flag))
            common.train_with_preemption(trainer, resume_from, stop_flag)
        model, history = trainer.model, trainer.state.log_history
    # from_pretrained(config=...) keeps our config object, but PEFT merging or a trainer may
    # touch it: state the scaling again right before saving so the artifact always carries it.
    target = model.get_base_model() if hasattr(model, "get_base_model") else model
    extender.apply_to_config(target.config)
    lineage.update({"base_model": config.model, "precision": precision, "context": context})
    result = common.save_model_artifact(model, tokenizer, config=config, stage="context", history=history,
                                        lineage=lineage, extra_metrics={
                                            "target_context": context["target_length"],
                                            "original_context": context["original_length"],
                                            "rope_factor": float(context["factor"])})
    if checkpoints is not None:
        common.finish_checkpoints(checkpoints)
    result["context"] = context
    return result


def main(argv: Sequence[str] | None = None) -> int:
    return common.stage_main(ContextStageConfig, run, argv, prog="reasoning context", description=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
