"""The evaluation's statistics section: is a model really ahead, by how much, and where.

Kept apart from ``report.py`` (which renders the per-model tables) so the comparison can grow
without touching the core report: ``comparison_metrics`` computes the numbers that go to
``metrics.json["comparison"]``; ``comparison_blocks`` and ``comparison_summary`` render them.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasoning.evaluation import statistics
from reasoning.evaluation.report import Block, fmt_number, fmt_percent
from reasoning.io import artifacts


def _answers_equivalent(a: str, b: str, reasoning_type: str) -> bool:
    from reasoning.scoring.answers import answers_equivalent
    return answers_equivalent(a, b, reasoning_type)


def comparison_metrics(samples: Sequence[dict[str, Any]], sampled: Sequence[dict[str, Any]],
                       datasets: dict[str, tuple[str, list]], models: dict[str, dict[str, Any]],
                       pairs: Sequence[tuple[str, str]], *, resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    names = list(datasets)
    result: dict[str, Any] = {
        "paired_bootstrap": statistics.compare_models(samples, pairs, names, resamples=resamples, seed=seed),
        "sampled": {}, "by_difficulty": {}, "grpo_curves": {}}
    for model in models:
        for dataset in names:
            chosen = [s for s in sampled if s["model"] == model and s["dataset"] == dataset]
            if chosen:
                result["sampled"].setdefault(model, {})[dataset] = statistics.sampled_scores(chosen,
                                                                                            _answers_equivalent)
    for dataset, (_spec, rows) in datasets.items():
        labels = {row.id: (row.metadata or {}).get("difficulty") for row in rows}
        if not any(v is not None for v in labels.values()):
            continue
        for model in models:
            chosen = [s for s in samples if s["model"] == model and s["dataset"] == dataset]
            result["by_difficulty"].setdefault(model, {})[dataset] = statistics.accuracy_by_key(chosen, labels)
    for model, info in models.items():
        directory = Path(str(info.get("resolved", "")))
        if info.get("stage") == "grpo" and directory.is_dir():
            curve = statistics.grpo_curve(artifacts.read_train_log(directory))
            if curve["step"]:
                result["grpo_curves"][model] = {"curve": curve, "summary": statistics.curve_summary(curve)}
    return result


def _interval(entry: dict[str, Any]) -> str:
    return f"{100 * entry['difference']:+.1f} [{100 * entry['low']:+.1f}, {100 * entry['high']:+.1f}]"


def comparison_blocks(comparison: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    pairs = comparison.get("paired_bootstrap") or []
    if pairs:
        confidence = int(round(100 * pairs[0]["confidence"]))
        blocks += [Block("h2", "Accuracy differences (paired bootstrap)"),
                   Block("p", f"Candidate minus baseline accuracy on the same problems, in points, with a "
                              f"{confidence}% percentile bootstrap interval ({pairs[0]['resamples']} resamplings "
                              "of the problems). An interval that excludes 0 is a difference the problem draw "
                              "does not explain."),
                   Block("table", headers=["dataset", "baseline", "candidate", "problems", "baseline acc.",
                                           "candidate acc.", f"difference [{confidence}% CI]", "excludes 0"],
                         rows=[[e["dataset"], e["baseline"], e["candidate"], str(e["problems"]),
                                fmt_percent(e["baseline_accuracy"]), fmt_percent(e["candidate_accuracy"]),
                                _interval(e), "yes" if e["low"] > 0 or e["high"] < 0 else "no"] for e in pairs])]
    sampled = comparison.get("sampled") or {}
    if sampled:
        blocks += [Block("h2", "Sampled completions: pass@1 and maj@k"),
                   Block("p", "pass@1 is the mean accuracy of k sampled completions per problem; maj@k the "
                              "accuracy of their most frequent final answer (equivalent answers vote together).")]
        rows = [[model, dataset, str(s.get("k")), str(s.get("problems")), fmt_percent(s.get("pass@1")),
                 fmt_percent(s.get("maj@k"))]
                for model, per_dataset in sampled.items() for dataset, s in per_dataset.items()]
        blocks.append(Block("table", headers=["model", "dataset", "k", "problems", "pass@1", "maj@k"], rows=rows))
    by_difficulty = comparison.get("by_difficulty") or {}
    if by_difficulty:
        blocks.append(Block("h2", "Accuracy per difficulty"))
        rows = [[model, dataset, label, str(v["problems"]), fmt_percent(v["accuracy"])]
                for model, per_dataset in by_difficulty.items() for dataset, per_label in per_dataset.items()
                for label, v in per_label.items()]
        blocks.append(Block("table", headers=["model", "dataset", "difficulty", "problems", "accuracy"], rows=rows))
    curves = comparison.get("grpo_curves") or {}
    if curves:
        blocks.append(Block("h2", "GRPO training: reward, accuracy and dynamic sampling"))
        blocks.append(Block("p", "From the GRPO model's train_log.jsonl. Correctness is the mean correctness "
                                 "reward of the completions sampled at each step (the training accuracy); "
                                 "dropped = groups whose completions all got the same reward, replaced by "
                                 "fresh prompts (dynamic sampling)."))
        rows = []
        for model, entry in curves.items():
            summary = entry["summary"]
            rows.append([model, f"{summary['steps']:.0f}", fmt_number(summary.get("reward_first5")),
                         fmt_number(summary.get("reward_last5")), fmt_percent(summary.get("correctness_first5")),
                         fmt_percent(summary.get("correctness_last5")), fmt_percent(summary.get("frac_groups_dropped")),
                         fmt_percent(summary.get("frac_reward_zero_std"))])
        blocks.append(Block("table", headers=["model", "steps", "reward (first 5)", "reward (last 5)",
                                              "accuracy (first 5)", "accuracy (last 5)", "groups dropped",
                                              "flat groups in batch"], rows=rows))
        png = grpo_curves_plot({model: entry["curve"] for model, entry in curves.items()})
        if png:
            blocks.append(Block("image", text="GRPO reward, accuracy and dropped groups per step", items=[png]))
    return blocks


def grpo_curves_plot(curves: dict[str, dict[str, list]]) -> str | None:
    from reasoning.evaluation.plots import _to_base64, plt
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    drawn = False
    for model, curve in curves.items():
        for axis, key, title in zip(axes, ("reward", "correctness", "frac_groups_dropped"),
                                    ("reward", "accuracy (correctness reward)", "fraction of groups dropped"),
                                    strict=True):
            points = [(s, v) for s, v in zip(curve["step"], curve[key], strict=True) if v is not None]
            if points:
                axis.plot(*zip(*points, strict=True), marker=".", label=model)
                drawn = True
            axis.set_title(title)
            axis.set_xlabel("step")
    if not drawn:
        plt.close(figure)
        return None
    axes[0].legend()
    return _to_base64(figure)


def comparison_summary(comparison: dict[str, Any]) -> str:
    """Lines for the text summary ``make run`` prints: each difference with its interval, and pass@1 / maj@k."""
    lines = []
    for e in comparison.get("paired_bootstrap") or []:
        lines.append(f"{e['candidate']} - {e['baseline']} on {e['dataset']} ({e['problems']} problems): "
                     f"{_interval(e)} points ({int(round(100 * e['confidence']))}% paired bootstrap CI)")
    for model, per_dataset in (comparison.get("sampled") or {}).items():
        for dataset, s in per_dataset.items():
            lines.append(f"{model} on {dataset}: pass@1 {fmt_percent(s.get('pass@1'))}, "
                         f"maj@{s.get('k')} {fmt_percent(s.get('maj@k'))} ({s.get('k')} samples per problem)")
    return "\n".join(lines)
