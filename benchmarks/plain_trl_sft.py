"""The "plain library" SFT baseline: a TRL SFTTrainer script with TRL's defaults.

    python -m benchmarks.plain_trl_sft [--steps 6]

Fixed to match the project's SFT stage on the same work (everything else is TRL 1.16's
default, including gradient checkpointing and training on the whole conversation): the
model (builtin:smollm2-135m-instruct via ``reasoning.modeling.models.resolve_model``), the data (the
same synthetic CoT rows as chat ``messages``), batch size, steps, learning rate, LoRA (r,
alpha, dropout, all linear layers), seed, and fp32 (TRL's bf16 default is a GPU setting).
"""
from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from typing import Any

DATASET = "synthetic:math?n=256&seed=0&split=train&family=arithmetic&difficulty=1"


def sft_messages(spec: str = DATASET):
    """The CoT rows as a TRL user would load them: one ``messages`` column."""
    from datasets import Dataset

    from reasoning.data.datasets import resolve_dataset
    return Dataset.from_list([{"messages": row.messages} for row in resolve_dataset(spec)])


def plain_sft_trainer(model_dir: str, output_dir: str, *, steps: int, batch_size: int = 8, lora_r: int = 32,
                      lora_alpha: int = 64, lora_dropout: float = 0.05, learning_rate: float = 3e-4, seed: int = 0,
                      dataset: str = DATASET, **overrides: Any):
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    set_seed(seed)
    args = SFTConfig(output_dir=output_dir, max_steps=steps, per_device_train_batch_size=batch_size,
                     learning_rate=learning_rate, seed=seed, bf16=False, fp16=False, report_to="none",
                     save_strategy="no", logging_steps=1, **overrides)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    peft_config = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                             target_modules="all-linear", task_type="CAUSAL_LM")
    return SFTTrainer(model=model, args=args, train_dataset=sft_messages(dataset), processing_class=tokenizer,
                      peft_config=peft_config)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plain_trl_sft", description=__doc__)
    parser.add_argument("--model", default="builtin:smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args(argv)
    from reasoning.modeling.models import resolve_model
    with tempfile.TemporaryDirectory() as tmp:
        trainer = plain_sft_trainer(str(resolve_model(args.model)), tmp, steps=args.steps)
        print(trainer.train().metrics)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
