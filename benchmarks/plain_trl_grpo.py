"""The "plain library" GRPO baseline: a TRL GRPOTrainer script with TRL's defaults.

    python -m benchmarks.plain_trl_grpo [--steps 4 --max-completion-length 64]

What it fixes to match the project's GRPO stage on the same work (everything else is TRL
1.16's default, gradient checkpointing included): the model (builtin:smollm2-135m-instruct
resolved by ``reasoning.modeling.models.resolve_model``), the data (synthetic arithmetic prompts),
the reward functions and weights (``reasoning.rewards.trl_reward_functions``), group size,
batch, completion length, LoRA (r, alpha, dropout, all linear layers), learning rate, beta,
seed, and fp32 (TRL's bf16 default is a GPU setting). Prints TRL's log lines.
"""
from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from typing import Any

DATASET = "synthetic:math?n=64&seed=0&split=train&family=arithmetic&difficulty=1"


def grpo_dataset(spec: str = DATASET):
    """The rows as TRL reads them: a chat prompt plus the columns the reward functions use."""
    from datasets import Dataset

    from reasoning.data.datasets import resolve_dataset
    records = [{"prompt": row.prompt_messages, "answer": row.answer or "", "reasoning_type": row.reasoning_type,
                "tests": row.tests or "", "entry_point": row.entry_point or ""} for row in resolve_dataset(spec)]
    return Dataset.from_list(records)


def plain_grpo_trainer(model_dir: str, output_dir: str, *, steps: int, group_size: int = 4, batch_size: int = 8,
                       max_completion_length: int = 64, lora_r: int = 16, lora_alpha: int = 32,
                       lora_dropout: float = 0.05, learning_rate: float = 1e-5, beta: float = 0.04, seed: int = 0,
                       dataset: str = DATASET, trainer_cls: Any = None, config_overrides: dict | None = None,
                       model_dtype: str = "float32", **trainer_kwargs):
    """A GRPOTrainer as a TRL user would write it.

    ``trainer_cls`` swaps in a subclass (the benchmark's fast variant, tests); ``config_overrides``
    sets further GRPOConfig fields (the GPU benchmark: bf16, forced completion length, vLLM)."""
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import GRPOConfig, GRPOTrainer

    from reasoning.rewards import RewardConfig, trl_reward_functions

    set_seed(seed)
    functions, weights = trl_reward_functions(RewardConfig())
    args = GRPOConfig(output_dir=output_dir, max_steps=steps, per_device_train_batch_size=batch_size,
                      num_generations=group_size, max_completion_length=max_completion_length,
                      learning_rate=learning_rate, beta=beta, seed=seed, reward_weights=weights,
                      **{"bf16": False, "logging_steps": 1, "save_strategy": "no", "report_to": "none",
                         "disable_tqdm": True, **(config_overrides or {})})
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=model_dtype)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    peft_config = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                             target_modules="all-linear", task_type="CAUSAL_LM")
    return (trainer_cls or GRPOTrainer)(model=model, reward_funcs=functions, args=args,
                                        train_dataset=grpo_dataset(dataset), processing_class=tokenizer,
                                        peft_config=peft_config, **trainer_kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plain_trl_grpo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin:smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--max-completion-length", type=int, default=64)
    args = parser.parse_args(argv)
    from reasoning.modeling.models import resolve_model
    with tempfile.TemporaryDirectory() as out:
        trainer = plain_grpo_trainer(str(resolve_model(args.model)), out, steps=args.steps,
                                     max_completion_length=args.max_completion_length)
        trainer.train()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
