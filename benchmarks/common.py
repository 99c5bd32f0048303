"""Timing helpers the benchmarks share: median and spread of repeats, alternating runs, and the
(ours, plain library, ratio) results that ``python -m benchmarks.run_all`` tabulates.

The machine these run on is shared (2 cores, other processes come and go), so every
comparison alternates its two sides and swaps which goes first in each repeat: load from
elsewhere then hits both alike. Figures are medians with the min-max spread.
"""
from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


@dataclasses.dataclass
class Comparison:
    """One benchmark's headline: ours vs the plain library on the same work (higher is better)."""

    name: str
    unit: str
    ours: list[float]
    plain: list[float]
    lower_is_better: bool = False  # e.g. seconds: the ratio is then plain / ours

    @property
    def ratio(self) -> float:
        ours, plain = statistics.median(self.ours), statistics.median(self.plain)
        return plain / ours if self.lower_is_better else ours / plain

    def line(self) -> str:
        return (f"{self.name}: ours {describe(self.ours, self.unit)}, plain {describe(self.plain, self.unit)}, "
                f"ratio {self.ratio:.2f}x" + (" (plain/ours)" if self.lower_is_better else ""))


RESULTS: list[Comparison] = []


def record(comparison: Comparison) -> Comparison:
    RESULTS.append(comparison)
    return comparison


def spread(values: Sequence[float]) -> tuple[float, float]:
    return min(values), max(values)


def describe(values: Sequence[float], unit: str) -> str:
    """'12.3 unit (spread 11.0-13.1, 3 runs)' with the median first."""
    low, high = spread(values)
    return f"{fmt(statistics.median(values))} {unit} (spread {fmt(low)}-{fmt(high)}, {len(values)} runs)"


def fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def alternate(runs: dict[str, Callable[[], Any]], repeats: int, log: Callable[[str], None] = print
              ) -> dict[str, list[Any]]:
    """Run each named callable ``repeats`` times, interleaved, reversing the order every other repeat."""
    names = list(runs)
    results: dict[str, list[Any]] = {name: [] for name in names}
    for repeat in range(repeats):
        order = names if repeat % 2 == 0 else names[::-1]
        for name in order:
            started = time.perf_counter()
            results[name].append(runs[name]())
            log(f"  repeat {repeat + 1}/{repeats} {name}: done in {time.perf_counter() - started:.0f} s")
    return results


def median_profile(profiles: list[dict[str, float]]) -> dict[str, float]:
    """Per-key median over several runs' phase profiles."""
    keys = [k for k in profiles[0] if all(k in p for p in profiles)]
    return {k: statistics.median(p[k] for p in profiles) for k in keys}


def profile_table(columns: dict[str, dict[str, float]], phases: Sequence[str]) -> str:
    """Seconds per iteration for each phase, one column per variant, with the share of the iteration."""
    header = f"  {'phase':<18}" + "".join(f"{name:>22}" for name in columns)
    lines = [header]
    for phase in [*phases, "other", "iteration"]:
        cells = []
        for profile in columns.values():
            seconds = profile.get(phase + "_s", 0.0)
            share = 100 * seconds / profile["iteration_s"] if profile.get("iteration_s") else 0.0
            cells.append(f"{seconds:>12.2f} s {share:>5.0f} %")
        lines.append(f"  {phase:<18}" + "".join(f"{c:>22}" for c in cells))
    return "\n".join(lines)
