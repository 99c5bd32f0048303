"""Does the faster GRPO stage learn what plain TRL learns? Fixed-seed training curves side by side.

    python -m benchmarks.grpo_curves [--steps 12 --seeds 0 1 --lora-dropout 0.05 0.0]

For each LoRA dropout and seed: this project's GRPO stage and a plain TRL GRPOTrainer on the
benchmark's work (benchmarks.bench_grpo: SmolLM2-135M, 2 prompts x 4 completions of <= 64
tokens, LoRA r 16), ``--steps`` iterations each, printing reward, completion length, KL and
loss per step. What to expect:
- dropout 0: the twin samples TRL's tokens for the same seed, so the curves coincide until
  float rounding (the twin's oneDNN matmuls sum in another order, ~1e-6) flips one sampled
  token; from then on the two are different draws, compared like the dropout case;
- dropout 0.05: TRL samples through the adapter's dropout (its random draws shift the sampling
  stream), the twin does not, so each step is a different random draw; the gap between ours and
  plain at one seed is then compared with the gap between two seeds of plain TRL (the noise).
Not part of ``make bench`` (it takes ~15 minutes at the defaults).
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

KEYS = ("reward", "completions/mean_length", "kl", "loss")


def curve(history: list[dict]) -> list[dict[str, float]]:
    return [{key: float(r[key]) for key in KEYS} for r in history if "reward" in r]


def mean_gap(a: list[dict[str, float]], b: list[dict[str, float]], key: str) -> float:
    return statistics.mean(abs(x[key] - y[key]) for x, y in zip(a, b, strict=True))


def print_curves(label: str, curves: dict[str, list[dict[str, float]]]) -> None:
    print(f"{label}: per step " + ", ".join(f"{k}" for k in KEYS))
    for step in range(len(next(iter(curves.values())))):
        cells = "   ".join(f"{name} " + " ".join(f"{c[step][k]:8.4g}" for k in KEYS) for name, c in curves.items())
        print(f"  {step + 1:>3}  {cells}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grpo_curves", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin:smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--lora-dropout", type=float, nargs="+", default=[0.0, 0.05])
    parser.add_argument("--learning-rate", type=float, default=1e-5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("REASONING_LOG_LEVEL", "WARNING")
    from benchmarks.bench_grpo import ours_history, plain_history
    from reasoning.modeling.models import resolve_model
    model_dir = str(resolve_model(args.model))
    with tempfile.TemporaryDirectory(prefix="grpo-curves-") as tmp:
        for dropout in args.lora_dropout:
            runs: dict[str, list[dict[str, float]]] = {}
            for seed in args.seeds:
                overrides = {"lora_dropout": dropout, "seed": seed, "learning_rate": args.learning_rate}
                out = Path(tmp) / f"d{dropout}-s{seed}"
                # The stage's own default schedule is cosine; TRL's is linear: same schedule on both sides.
                runs[f"ours/s{seed}"] = curve(ours_history(args.model, out / "ours", args.steps, 64, 0.04,
                                                           lr_scheduler="linear", **overrides))
                runs[f"plain/s{seed}"] = curve(plain_history(model_dir, out / "plain", args.steps, 64, 0.04,
                                                             **overrides))
            print_curves(f"LoRA dropout {dropout}", runs)
            for key in KEYS:
                same_seed = [mean_gap(runs[f"ours/s{s}"], runs[f"plain/s{s}"], key) for s in args.seeds]
                line = (f"  dropout {dropout} {key}: mean |ours - plain| per step at the same seed "
                        f"{statistics.mean(same_seed):.3g}")
                if len(args.seeds) > 1:
                    first, second = args.seeds[:2]
                    line += (f"; noise, mean |plain seed {first} - plain seed {second}| "
                             f"{mean_gap(runs[f'plain/s{first}'], runs[f'plain/s{second}'], key):.3g}")
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
