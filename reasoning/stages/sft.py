"""Stage 2: supervised fine-tuning on chain-of-thought rows (TRL SFTTrainer, LoRA or full).

    python -m reasoning.stages.sft --model builtin:smollm2-135m-instruct \\
        --dataset data/cot_math.jsonl --output checkpoints/reasoning_sft --epochs 3 --lora-r 64
    python -m reasoning.stages.sft --config recipes/sft_default_cpu.yaml       # the CPU recipe
    reasoning sft ...                                                          # same flags

Multi-GPU (DeepSpeed ZeRO-2; use deepspeed_zero3.yaml to shard the weights of 7B+ models):

    accelerate launch --config_file configs/accelerate/deepspeed_zero2.yaml \\
        -m reasoning.stages.sft --config recipes/sft_7b_gpu.yaml

Each row's prompt (every message up to the last user turn) and completion (the assistant
turn) become a conversational prompt/completion pair, and the loss covers the completion
only. Why not ``assistant_only_loss``: it needs ``{% generation %}`` markers in the chat
template, which SmolLM2's (and most) templates lack; completion-only loss on a
prompt/completion split works with any chat template.

Options: ``--no-lora`` trains all weights; ``--extend-context --target-context 131072``
applies RoPE scaling (reasoning.modeling.context_extension) before training; ``--resume`` continues
after a preemption (SIGTERM saves a checkpoint in <output>.checkpoints first).
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasoning.config import option, require
from reasoning.stages import common

log = logging.getLogger(__name__)


@dataclasses.dataclass
class SFTStageConfig(common.TrainingStageConfig):
    output: str = option("checkpoints/reasoning_sft", "output model directory or s3:// URI")
    epochs: float = option(3.0, "passes over the dataset (ignored when --max-steps is set)")
    max_steps: int = option(-1, "stop after N optimizer steps (-1 = run --epochs)")
    max_length: int = option(1024, "truncate prompt+completion to N tokens")
    use_packing: bool = option(False, "pack several rows into each max-length sequence (faster on GPU)")
    loss_type: str = option("nll", "TRL SFT loss: nll or dft", choices=("nll", "dft"))
    extend_context: bool = option(False, "apply RoPE scaling to --target-context before training")
    target_context: int = option(131072, "context length for --extend-context")
    scaling_type: str = option("yarn", "RoPE scaling for --extend-context: yarn, linear, dynamic or ntk")

    def __post_init__(self) -> None:
        self.validate_common()
        require(self.epochs > 0, f"must be > 0, got {self.epochs}", "--epochs")
        require(self.max_steps == -1 or self.max_steps >= 1, f"must be -1 or >= 1, got {self.max_steps}",
                "--max-steps")
        require(self.max_length >= 16, f"must be >= 16, got {self.max_length}", "--max-length")
        require(self.loss_type in ("nll", "dft"), f"must be nll or dft, got {self.loss_type!r}", "--loss-type")
        if self.extend_context:
            from reasoning.modeling.context_extension import check_scaling_type
            self.scaling_type = check_scaling_type(self.scaling_type)
            require(self.target_context >= 1, f"must be positive, got {self.target_context}", "--target-context")

    def to_trl_config(self, precision: str, checkpoints: Path):
        """Build TRL's SFTConfig from this config.

        Why not subclass SFTConfig: it inherits hundreds of TrainingArguments fields, every one
        of which would become a CLI flag and recipe key; this stage exposes the few that matter
        and sets the rest here, where the choice is visible."""
        from trl import SFTConfig
        return SFTConfig(**common.common_trainer_args(self, precision, checkpoints),
                         num_train_epochs=self.epochs, max_steps=self.max_steps,
                         max_length=self.max_length, packing=self.use_packing, loss_type=self.loss_type,
                         completion_only_loss=True, dataset_num_proc=None,
                         # Keeps the row order reproducible from --seed only (the sampler still shuffles).
                         shuffle_dataset=False)


def sft_records(rows) -> list[dict[str, Any]]:
    """Row -> conversational prompt/completion (the completion is every turn after the last user turn)."""
    records = []
    for row in rows:
        prompt = row.prompt_messages
        records.append({"prompt": prompt, "completion": row.messages[len(prompt):]})
    return records


def extender_for(config: SFTStageConfig | Any, model_dir: str | None = None):
    """The RoPE extender for ``config`` (target_context, scaling_type), validated against the model.

    Reads config.json directly when the model is local, so a target below the model's
    original context is refused before any weights are loaded."""
    from reasoning.modeling.context_extension import create_context_extender
    original = getattr(config, "original_context", 0) or None
    model_config = common.local_model_config(model_dir or config.model)
    if model_config is None and original is None:
        return None  # validated once the model is resolved
    return create_context_extender(config.target_context, original_length=original,
                                   scaling_type=config.scaling_type, model_config=model_config)


def check_inputs(config: SFTStageConfig):
    """Every cheap check, before any model is loaded: model reference, dataset rows, context."""
    common.check_model(config.model)
    rows, lineage = common.load_stage_rows(config.dataset, limit=config.limit, require_completion=True)
    common.check_outputs(config)
    if config.extend_context:
        extender_for(config)
    return rows, lineage


def run(config: SFTStageConfig) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import AutoConfig, set_seed
    from trl import SFTTrainer

    from reasoning.modeling import cpu_training
    from reasoning.modeling.models import resolve_model

    rows, lineage = check_inputs(config)
    hardware = common.detect_hardware()
    # Long-context SFT keeps checkpointing on a CPU too: its activations grow with length.
    settings = common.resolve_settings(config, hardware, long_sequences=config.extend_context)
    precision, attention = settings.precision, settings.attention
    model_dir = resolve_model(config.model)
    model_config, context = None, {}
    if config.extend_context:
        extender = extender_for(config, model_dir)
        model_config = extender.apply_to_config(AutoConfig.from_pretrained(model_dir))
        context = extender.describe()
    checkpoints, resume_from = common.prepare_checkpoints(config)
    log.info("SFT: %d rows, model %s, %s, %s, LoRA %s", len(rows), config.model, precision, attention,
             f"r={config.lora_r}" if config.use_lora else "off (full fine-tuning)")

    set_seed(config.seed)
    tokenizer = common.load_tokenizer_for_training(model_dir)
    model = common.load_causal_lm(model_dir, precision, attention, config=model_config)
    train_dataset = Dataset.from_list(sft_records(rows))
    trl_config = config.to_trl_config(precision, checkpoints)
    cpu_training.configure_cpu_threads()
    with common.sigterm_guard() as stop_flag:
        trainer = SFTTrainer(model=model, args=trl_config,
                             train_dataset=train_dataset, processing_class=tokenizer,
                             peft_config=common.lora_config(config),
                             callbacks=common.stage_callbacks(checkpoints / "live_log.jsonl", checkpoints,
                                                              common.checkpoint_uri_for(config), stop_flag))
        # With packing the prepared dataset holds packed sequences, not rows (and packing truncates nothing).
        trained_rows = len(rows) if config.use_packing else len(trainer.train_dataset)
        if trained_rows < len(rows):
            # TRL drops rows whose completion --max-length cuts off entirely (no loss token left).
            log.warning("%d of %d rows have no completion token within --max-length %d and are not trained on; "
                        "raise --max-length to train on them", len(rows) - trained_rows, len(rows), config.max_length)
        common.train_with_preemption(trainer, resume_from, stop_flag)
    lineage.update({"base_model": config.model, "precision": precision, **({"context": context} if context else {})})
    result = common.save_model_artifact(trainer.model, tokenizer, config=config, stage="sft",
                                        history=trainer.state.log_history, lineage=lineage,
                                        extra_metrics={"train_rows": trained_rows, "dataset_rows": len(rows),
                                                       "rows_dropped_by_max_length": len(rows) - trained_rows})
    common.finish_checkpoints(checkpoints)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    return common.stage_main(SFTStageConfig, run, argv, prog="reasoning sft", description=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())


