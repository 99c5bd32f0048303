"""Plots for the evaluation report, returned as base64 PNG so the report is one file.

matplotlib's Agg backend is selected explicitly: evaluation runs in containers and
CI without a display, where the default interactive backend would fail.
"""
from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

LOSS_KEYS = ("loss", "train_loss")
# TRL logs the mean and std of each reward function; only means are plotted.
_REWARD_KEY = re.compile(r"(^|/)rewards?($|/)", re.IGNORECASE)


def _to_base64(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def accuracy_bar_plot(accuracy: dict[str, dict[str, float | None]], title: str = "Accuracy (pass@1) per dataset") -> str:
    """Grouped bars: one group per dataset, one bar per model. ``accuracy[model][dataset]``."""
    models = list(accuracy)
    datasets: list[str] = []
    for per_dataset in accuracy.values():
        datasets += [d for d in per_dataset if d not in datasets]
    width = 0.8 / max(1, len(models))
    figure, axis = plt.subplots(figsize=(max(4.0, 1.2 * len(datasets) * max(1, len(models)) ** 0.5 + 2), 3.2))
    for index, model in enumerate(models):
        positions = [d + (index - (len(models) - 1) / 2) * width for d in range(len(datasets))]
        values = [100.0 * (accuracy[model].get(d) or 0.0) for d in datasets]
        bars = axis.bar(positions, values, width, label=model)
        axis.bar_label(bars, fmt="%.0f", fontsize=7)
    axis.set_xticks(range(len(datasets)), datasets, rotation=20, ha="right")
    axis.set_ylabel("accuracy (%)")
    axis.set_ylim(0, 105)
    axis.set_title(title)
    axis.legend(fontsize=8)
    return _to_base64(figure)


def _step(record: dict[str, Any], position: int) -> float:
    for key in ("step", "global_step"):
        if isinstance(record.get(key), (int, float)):
            return float(record[key])
    return float(position)


def curve_series(log: Sequence[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """``{metric: [(step, value), ...]}`` for the loss and mean-reward keys of a training log."""
    series: dict[str, list[tuple[float, float]]] = {}
    for position, record in enumerate(log):
        for key, value in record.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            is_loss = key in LOSS_KEYS
            is_reward = bool(_REWARD_KEY.search(key)) and "std" not in key.lower()
            if is_loss or is_reward:
                series.setdefault(key, []).append((_step(record, position), float(value)))
    return series


def training_curves_plot(logs: dict[str, Sequence[dict[str, Any]]]) -> str | None:
    """Loss (left) and reward (right) against the step, one line per model/stage log; None if no data."""
    loss_lines: list[tuple[str, list[tuple[float, float]]]] = []
    reward_lines: list[tuple[str, list[tuple[float, float]]]] = []
    for label, log in logs.items():
        for key, points in curve_series(log).items():
            target = loss_lines if key in LOSS_KEYS else reward_lines
            target.append((f"{label}: {key}", points))
    if not loss_lines and not reward_lines:
        return None
    figure, (loss_axis, reward_axis) = plt.subplots(1, 2, figsize=(10, 3.4))
    for axis, lines, name in ((loss_axis, loss_lines, "loss"), (reward_axis, reward_lines, "reward")):
        for label, points in lines:
            axis.plot([p[0] for p in points], [p[1] for p in points], marker="." if len(points) < 30 else None,
                      label=label)
        axis.set_xlabel("step")
        axis.set_title(f"training {name}")
        if lines:
            axis.legend(fontsize=7)
        else:
            axis.text(0.5, 0.5, f"no {name} logged", ha="center", va="center", transform=axis.transAxes)
    return _to_base64(figure)
