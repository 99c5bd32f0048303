"""Combined-reward throughput on GSM8K-style completions, against math-verify alone.

    python -m benchmarks.bench_rewards [--completions 1000 --repeats 3]

Builds realistic completions from ``../shared/data/gsm8k/test.jsonl``: the reference
solution's steps (calculator annotations removed) inside ``<think>``, then a final line
in one of several styles ("The answer is N.", ``\\boxed{N}``, "#### N"); one in four is
made wrong (answer off by one, or a wrong step). Measures, on one core
(OMP_NUM_THREADS=1), completions per second of the ``combined`` reward (all five
components, answers checked against the reference) and of math-verify's ``parse`` +
``verify`` alone on the same final answers, alternating the two in every repeat.
Prints one line: medians, spread (min-max) and the ratio.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gsm8k" / "test.jsonl"


def build_completions(count: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(question, completion, reference answer) triples."""
    rng = random.Random(seed)
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    for index in range(count):
        row = rows[index % len(rows)]
        steps, reference = row["answer"].split("####")
        reference = reference.strip().replace(",", "")
        reasoning = re.sub(r"<<[^>]*>>", "", steps).strip()
        answer = reference
        if rng.random() < 0.25:
            if rng.random() < 0.5:
                answer = str(int(float(answer)) + 1) if re.fullmatch(r"-?\d+", answer) else answer + "1"
            else:
                reasoning = re.sub(r"= ?(\d+)", lambda m: f"= {int(m.group(1)) + 3}", reasoning, count=1)
        style = rng.choice(["The answer is {}.", "So the final answer is \\boxed{{{}}}.", "#### {}"])
        out.append((row["question"], f"<think>\n{reasoning}\n</think>\n\n{style.format(answer)}", reference))
    return out


def time_combined(samples) -> float:
    from reasoning.rewards import create_reward_function

    reward = create_reward_function("combined")
    started = time.perf_counter()
    for question, completion, reference in samples:
        reward.compute(response=completion, reference=reference, problem=question)
    return len(samples) / (time.perf_counter() - started)


def time_math_verify(samples) -> float:
    from math_verify import parse, verify

    from reasoning.scoring.answers import extract_final_answer

    answers = [(extract_final_answer(c) or "", r) for _, c, r in samples]
    started = time.perf_counter()
    for predicted, reference in answers:
        verify(parse(f"${reference}$", parsing_timeout=None), parse(f"${predicted}$", parsing_timeout=None),
               timeout_seconds=None)
    return len(samples) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_rewards", description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    except (AttributeError, OSError):
        pass
    samples = build_completions(args.completions)
    time_combined(samples[:20]), time_math_verify(samples[:20])  # warm-up: imports and caches
    combined, alone = [], []
    for repeat in range(args.repeats):
        order = [(time_combined, combined), (time_math_verify, alone)]
        for measure, into in order if repeat % 2 == 0 else order[::-1]:
            into.append(measure(samples))
    ratio = statistics.median(combined) / statistics.median(alone)
    print(f"bench_rewards: {args.completions} GSM8K-style completions, 1 core, {args.repeats} repeats: "
          f"combined reward {statistics.median(combined):.0f}/s (spread {min(combined):.0f}-{max(combined):.0f}), "
          f"math-verify parse+verify alone {statistics.median(alone):.0f}/s "
          f"(spread {min(alone):.0f}-{max(alone):.0f}), ratio {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
