"""Stage 1 throughput: synthetic generation and GSM8K conversion, 3 repeats each.

    python -m benchmarks.bench_stage1 [--repeats 3] [--samples 10000]

Prints one line per measurement: the median rate, the spread (min-max) over the repeats,
and the median wall time. Each repeat writes the full output file (rows + lineage), as
`reasoning cot` does, so the figures include serialisation and the atomic write.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from reasoning.cot import CoTGenerator
from reasoning.data.datasets import data_dir


def measure(work: Callable[[], int], repeats: int) -> tuple[list[float], list[float]]:
    """(rows per second, seconds) for each repeat."""
    rates, seconds = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        rows = work()
        elapsed = time.perf_counter() - start
        rates.append(rows / elapsed)
        seconds.append(elapsed)
    return rates, seconds


def line(name: str, rates: list[float], seconds: list[float], rows: int) -> str:
    return (f"{name}: median {statistics.median(rates):,.0f} rows/s (spread {min(rates):,.0f}-{max(rates):,.0f}, "
            f"{len(rates)} runs), {rows} rows in {statistics.median(seconds):.2f} s median")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_stage1", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=10000, help="synthetic rows per run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    generator = CoTGenerator()
    gsm8k = data_dir() / "gsm8k" / "train.jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)

        def synthetic() -> int:
            return generator.generate_synthetic_math(out / "synthetic.jsonl", num_samples=args.samples)["rows_written"]

        rates, seconds = measure(synthetic, args.repeats)
        print(line("synthetic math generation", rates, seconds, args.samples), flush=True)
        if max(seconds) >= 10:
            print(f"WARNING: {args.samples} synthetic samples took {max(seconds):.1f} s (target: under 10 s)")
        if gsm8k.exists():
            def convert() -> int:
                return generator.generate_from_dataset(gsm8k, out / "gsm8k.jsonl")["rows_written"]

            rates, seconds = measure(convert, args.repeats)
            print(line("GSM8K train conversion", rates, seconds, 7473), flush=True)
        else:
            print(f"GSM8K conversion: skipped, {gsm8k} is missing (set REASONING_DATA_DIR)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
