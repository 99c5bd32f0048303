"""GRPO throughput: this project's GRPO stage vs a plain TRL GRPOTrainer script on the same work.

    python -m benchmarks.bench_grpo [--repeats 2 --steps 4 --max-completion-length 64]

Both sides: builtin:smollm2-135m-instruct (fp32), synthetic arithmetic prompts, the project's
reward functions and weights, 2 prompts x 4 completions (group 4, batch 8) of 64 tokens a
step (EOS suppressed until then on both sides, so both do the same work whatever they sample:
the two sides draw different random samples, and with natural lengths a run's token count
depends on its luck; ``--natural-lengths`` measures that way anyway), LoRA r 16 / alpha 32 / dropout 0.05 on all linear layers, lr 1e-5, beta 0.04 (the
stage's default; TRL's own default is 0), seed 0. Ours is ``reasoning.stages.grpo.run`` as a
user runs it (artifact written at the end, outside the timed steps); plain is
``benchmarks.plain_trl_grpo`` (TRL's defaults otherwise, gradient checkpointing included).
Each run does ``--steps`` iterations; the first is a warm-up, the rest are measured. Runs
alternate (ours, plain, then plain, ours, ...). Reports completion tokens per second of the
whole iteration (sampled tokens / iteration wall time) and seconds per iteration: median and
spread over the repeats, the ratio, and where the time goes per iteration, before (plain)
and after (ours): generation, rewards, scoring forward (reference log-probs), loss forward,
backward, optimizer.
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import Comparison, alternate, median_profile, profile_table, record
from benchmarks.plain_trl_grpo import DATASET, plain_grpo_trainer

SHARED = {"group_size": 4, "batch_size": 8, "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05,
          "learning_rate": 1e-5, "seed": 0}


def ours_history(model: str, out: Path, steps: int, length: int, beta: float, **overrides) -> list[dict]:
    """The project's GRPO stage as a user runs it; its logged history (train_log.jsonl)."""
    from reasoning.io import artifacts
    from reasoning.stages import grpo
    config = grpo.GRPOStageConfig(model=model, dataset=DATASET, output=str(out), iterations=steps,
                                  max_completion_length=length, beta=beta, warmup_ratio=0.0,
                                  save_steps=10_000, profile=True, **{**SHARED, **overrides})
    grpo.run(config)
    return artifacts.read_train_log(out)


def plain_history(model_dir: str, out: Path, steps: int, length: int, beta: float, **overrides) -> list[dict]:
    """A plain TRL GRPOTrainer on the same work (profiled alike); its log history."""
    from reasoning.fast_grpo.profiler import attach_phase_profiler
    trainer = plain_grpo_trainer(model_dir, str(out), steps=steps, max_completion_length=length, beta=beta,
                                 **{**SHARED, **overrides})
    attach_phase_profiler(trainer)
    trainer.train()
    return trainer.state.log_history


def run_ours(model: str, out: Path, steps: int, length: int, beta: float, full_length: bool) -> dict[str, float]:
    from reasoning.fast_grpo.profiler import profile_summary
    forced = {"min_completion_length": length} if full_length else {}
    return profile_summary(ours_history(model, out, steps, length, beta, **forced), skip_first=1)


def run_plain(model_dir: str, out: Path, steps: int, length: int, beta: float, full_length: bool
              ) -> dict[str, float]:
    from reasoning.fast_grpo.profiler import profile_summary
    forced = {"config_overrides": {"generation_kwargs": {"min_new_tokens": length}}} if full_length else {}
    return profile_summary(plain_history(model_dir, out, steps, length, beta, **forced), skip_first=1)


def tokens_per_second(profile: dict[str, float]) -> float:
    return profile["completion_tokens"] / profile["iteration_s"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_grpo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin:smollm2-135m-instruct")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side (alternated)")
    parser.add_argument("--steps", type=int, default=4, help="iterations per run; the first is a warm-up")
    parser.add_argument("--max-completion-length", type=int, default=64)
    parser.add_argument("--beta", type=float, default=0.04, help="KL coefficient, both sides")
    parser.add_argument("--natural-lengths", action="store_true",
                        help="let completions end at EOS (then each side's sampled lengths differ run to run)")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps must be >= 2 (one warm-up step plus measured ones)")
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("REASONING_LOG_LEVEL", "WARNING")
    from reasoning.fast_grpo.profiler import PHASES
    from reasoning.modeling.models import resolve_model
    model_dir = str(resolve_model(args.model))
    with tempfile.TemporaryDirectory(prefix="bench-grpo-") as tmp:
        counter = iter(range(1_000_000))

        def ours():
            return run_ours(args.model, Path(tmp) / f"ours{next(counter)}", args.steps, args.max_completion_length,
                            args.beta, not args.natural_lengths)

        def plain():
            return run_plain(model_dir, Path(tmp) / f"plain{next(counter)}", args.steps,
                             args.max_completion_length, args.beta, not args.natural_lengths)

        lengths = "<=" if args.natural_lengths else "exactly"
        print(f"GRPO benchmark: {args.repeats} x (ours, plain), {args.steps} steps each (1 warm-up), "
              f"8 completions of {lengths} {args.max_completion_length} tokens a step", flush=True)
        runs = alternate({"ours": ours, "plain": plain}, args.repeats)
    for side in ("ours", "plain"):
        for index, profile in enumerate(runs[side], 1):
            print(f"  {side} run {index}: {tokens_per_second(profile):.1f} completion tokens/s, "
                  f"{profile['iteration_s']:.1f} s/iteration, {profile['completion_tokens']:.0f} tokens/iteration")
    print("Where the time goes, seconds per iteration (median over runs):")
    print(profile_table({"plain TRL (before)": median_profile(runs["plain"]),
                         "ours (after)": median_profile(runs["ours"])}, PHASES))
    seconds = record(Comparison("GRPO seconds per iteration", "s", [p["iteration_s"] for p in runs["ours"]],
                                [p["iteration_s"] for p in runs["plain"]], lower_is_better=True))
    headline = record(Comparison("GRPO completion tokens/s", "tokens/s",
                                 [tokens_per_second(p) for p in runs["ours"]],
                                 [tokens_per_second(p) for p in runs["plain"]]))
    print(seconds.line())
    print(headline.line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
