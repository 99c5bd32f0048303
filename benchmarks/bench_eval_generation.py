"""Evaluation generation throughput: batched generation vs one prompt at a time.

    python -m benchmarks.bench_eval_generation [--prompts 32 --max-new-tokens 64 --batch-size 16 --repeats 3]

Runs ``reasoning.modeling.generation.generate`` (greedy, chat template, left padding) on the
default model with synthetic two-digit addition prompts, once with ``batch_size`` prompts
per forward batch and once with a single prompt per call, alternating the two modes
(and which goes first) in every repeat so that load from other processes on a shared
machine hits both alike. Prints one line: median tokens/second of each mode, their
spread (min-max over repeats) and the batched/single ratio.

Tokens are the generated tokens of every completion, counted by re-tokenising the
decoded text (end-of-sequence and padding excluded), so both modes are credited only
for text they produced.

On a shared machine, ``OMP_NUM_THREADS=1`` (or ``--threads 1``) gives steadier and, under
heavy load, higher numbers: two threads that wait on each other lose more to a busy
neighbour than one thread does.
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

from reasoning.modeling.generation import SamplingSettings, generate
from reasoning.modeling.models import DEFAULT_MODEL, load_model, load_tokenizer


def addition_prompts(count: int, seed: int = 0) -> list[list[dict[str, str]]]:
    rng = random.Random(seed)
    prompts = []
    for _ in range(count):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        question = f"What is {a} + {b}? Show your reasoning, then give the final answer as a number."
        prompts.append([{"role": "user", "content": question}])
    return prompts


def timed_generation(model, tokenizer, prompts, settings: SamplingSettings) -> tuple[float, int]:
    """Return (seconds, generated tokens) for one pass over all prompts."""
    start = time.perf_counter()
    completions = generate(model, tokenizer, prompts, settings)
    seconds = time.perf_counter() - start
    tokens = sum(len(tokenizer(samples[0], add_special_tokens=False)["input_ids"]) for samples in completions)
    return seconds, tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_eval_generation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = parser.parse_args(argv)

    import torch
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer(args.model, padding_side="left")
    model = load_model(args.model, dtype="float32")
    prompts = addition_prompts(args.prompts)
    batched = SamplingSettings(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    single = SamplingSettings(max_new_tokens=args.max_new_tokens, batch_size=1)
    # Warm-up: first calls pay for lazy initialisation, which neither mode should be charged.
    generate(model, tokenizer, prompts[:2], SamplingSettings(max_new_tokens=4, batch_size=2))

    rates: dict[str, list[float]] = {"batched": [], "single": []}
    modes = [("batched", batched), ("single", single)]
    for repeat in range(args.repeats):
        for name, settings in (modes if repeat % 2 == 0 else modes[::-1]):
            seconds, tokens = timed_generation(model, tokenizer, prompts, settings)
            rates[name].append(tokens / seconds)
            print(f"  repeat {repeat + 1} {name:7s}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.1f} tok/s",
                  flush=True)

    def summary(values: list[float]) -> str:
        return f"median {statistics.median(values):.1f} tok/s (spread {min(values):.1f}-{max(values):.1f})"

    ratio = statistics.median(rates["batched"]) / statistics.median(rates["single"])
    print(f"eval generation {args.model}, {args.prompts} prompts x <= {args.max_new_tokens} new tokens, "
          f"{args.repeats} repeats, torch threads {torch.get_num_threads()}: "
          f"batched (batch {args.batch_size}) {summary(rates['batched'])}; one at a time {summary(rates['single'])}; "
          f"batched/single {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
