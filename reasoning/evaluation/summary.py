"""A compact text table of an evaluation, printed at the end of ``reasoning eval``,
by the pipeline and by ``make run``: models (base/sft/grpo) x datasets, each cell
``accuracy / format compliance``.

    model | synthetic-test | gsm8k
    ------+----------------+---------------
    base  | 18.8% / 0.0%   | 0.0% / 0.0%
    grpo  | 71.9% / 100.0% | 3.1% / 96.9%
"""
from __future__ import annotations

from typing import Any


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.1f}%"


def format_summary(metrics: dict[str, Any]) -> str:
    """Render ``metrics.json`` (the dict ``reasoning.stages.eval`` writes) as a fixed-width table."""
    results = metrics.get("results", {})
    datasets: list[str] = list(metrics.get("datasets", {}))
    for entry in results.values():
        datasets += [d for d in entry.get("datasets", {}) if d not in datasets]
    if not results:
        return "(no evaluation results)"
    header = ["model", *datasets]
    rows = []
    for model, entry in results.items():
        cells = [model]
        for dataset in datasets:
            overall = entry.get("datasets", {}).get(dataset, {}).get("overall", {})
            cells.append(f"{_percent(overall.get('accuracy'))} / {_percent(overall.get('format_compliance'))}"
                         if overall.get("problems") else "n/a")
        rows.append(cells)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    samples = metrics.get("settings", {}).get("samples", 1)
    title = f"accuracy (pass@1) / format compliance, {samples} sample(s) per problem"
    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([title, line(header), rule, *[line(row) for row in rows]])
