"""Every CPU benchmark in turn, then a table of (ours, plain library, ratio).

    python -m benchmarks.run_all            # what `make bench` runs
    python -m benchmarks.run_all grpo sft   # only these

Each module's main() prints its own lines; modules that record a ``benchmarks.common.Comparison``
appear in the final table with their figures, the others with their last printed line. A
module that is missing or fails is reported and skipped; the exit code is 1 if any failed.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import sys
import time
import traceback
from collections.abc import Sequence

from benchmarks import common

MODULES = ("bench_grpo", "bench_sft", "bench_rewards", "bench_stage1", "bench_pipeline", "bench_eval_generation",
           "bench_storage")


class Tee(io.TextIOBase):
    """Echo to the terminal and keep the text (for the summary of modules without a Comparison)."""

    def __init__(self, target) -> None:
        self.target, self.text = target, []

    def write(self, text: str) -> int:
        self.target.write(text)
        self.text.append(text)
        return len(text)

    def flush(self) -> None:
        self.target.flush()


def main(argv: Sequence[str] | None = None) -> int:
    wanted = list(argv if argv is not None else sys.argv[1:])
    names = [m for m in MODULES if not wanted or m in wanted or m.removeprefix("bench_") in wanted]
    rows: list[tuple[str, str, str, str]] = []
    failed = False
    for name in names:
        print(f"=== {name}", flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ImportError as exc:
            print(f"SKIP {name}: not available ({exc})", flush=True)
            rows.append((name, "-", "-", f"skipped: {exc}"))
            continue
        before = len(common.RESULTS)
        tee = Tee(sys.stdout)
        started = time.perf_counter()
        try:
            with contextlib.redirect_stdout(tee):
                code = module.main([])
        except BaseException as exc:  # noqa: BLE001 - one failing benchmark must not hide the others
            if isinstance(exc, KeyboardInterrupt):
                raise
            traceback.print_exc()
            code = 1
        failed |= bool(code)
        print(f"=== {name}: exit {code}, {time.perf_counter() - started:.0f} s", flush=True)
        for comparison in common.RESULTS[before:]:
            rows.append((comparison.name, common.describe(comparison.ours, comparison.unit),
                         common.describe(comparison.plain, comparison.unit), f"{comparison.ratio:.2f}x"))
        if len(common.RESULTS) == before:
            lines = [line for line in "".join(tee.text).splitlines() if line.strip()]
            rows.append((name, lines[-1] if lines else "(no output)", "-", "-" if not code else f"exit {code}"))
    print("\n| benchmark | ours | plain library | ratio |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
