"""SFT throughput: this project's SFT stage vs a plain TRL SFTTrainer script on the same data.

    python -m benchmarks.bench_sft [--repeats 2 --steps 6]

Both sides: builtin:smollm2-135m-instruct (fp32), the same synthetic CoT rows, batch 8,
LoRA r 32 / alpha 64 / dropout 0.05 on all linear layers, lr 3e-4, seed 0, ``--steps``
optimizer steps. Ours is ``reasoning.stages.sft.run`` as a user runs it with its CPU
recipe's choices (completion-only loss, no gradient checkpointing on a CPU); plain is
``benchmarks.plain_trl_sft`` (TRL's defaults). The figure is training tokens per second:
the tokens TRL counts as processed (``num_tokens``) over ``train_runtime``, so model
loading and saving are outside it on both sides. Runs alternate; median and spread.
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import Comparison, alternate, record
from benchmarks.plain_trl_sft import DATASET, plain_sft_trainer

SHARED = {"batch_size": 8, "lora_r": 32, "lora_alpha": 64, "lora_dropout": 0.05, "learning_rate": 3e-4, "seed": 0}


def tokens_per_second(history: list[dict]) -> float:
    tokens = max(float(entry["num_tokens"]) for entry in history if "num_tokens" in entry)
    runtime = next(float(entry["train_runtime"]) for entry in reversed(history) if "train_runtime" in entry)
    return tokens / runtime


def run_ours(model: str, out: Path, steps: int) -> float:
    from reasoning.io import artifacts
    from reasoning.stages import sft
    config = sft.SFTStageConfig(model=model, dataset=DATASET, output=str(out), max_steps=steps,
                                use_gradient_checkpointing=False, warmup_ratio=0.0, save_steps=10_000, **SHARED)
    sft.run(config)
    return tokens_per_second(artifacts.read_train_log(out))


def run_plain(model_dir: str, out: Path, steps: int) -> float:
    trainer = plain_sft_trainer(model_dir, str(out), steps=steps, **SHARED)
    trainer.train()
    return tokens_per_second(trainer.state.log_history)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_sft", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin:smollm2-135m-instruct")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("REASONING_LOG_LEVEL", "WARNING")
    from reasoning.modeling.models import resolve_model
    model_dir = str(resolve_model(args.model))
    with tempfile.TemporaryDirectory(prefix="bench-sft-") as tmp:
        counter = iter(range(1_000_000))
        results = alternate({"ours": lambda: run_ours(args.model, Path(tmp) / f"ours{next(counter)}", args.steps),
                             "plain": lambda: run_plain(model_dir, Path(tmp) / f"plain{next(counter)}", args.steps)},
                            args.repeats)
    comparison = record(Comparison("SFT training tokens/s", "tok/s", results["ours"], results["plain"]))
    print(comparison.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
