"""Statistics that say whether one model really beats another, and what RL training did.

- ``paired_bootstrap``: the accuracy difference of two models on the *same* problems with a
  percentile bootstrap confidence interval. Pairing matters: most of the variance of an accuracy
  on 200 problems is which problems were drawn, and both models share that draw, so resampling
  problems (not each model's answers separately) gives the interval of the difference itself.
- ``sampled_scores``: pass@1 (mean correctness over k sampled completions, an unbiased estimate
  of one sample's accuracy) and maj@k (the majority answer of the k samples is correct).
- ``accuracy_by_key``: accuracy per difficulty (or any per-problem label).
- ``grpo_curve``: reward, correctness and the fraction of groups dynamic sampling dropped, per
  step, from a GRPO model's ``train_log.jsonl``.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from reasoning.evaluation.metrics import group_by_problem, majority_vote


def paired_bootstrap(baseline: Sequence[bool], candidate: Sequence[bool], *, resamples: int = 10_000,
                     confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Accuracy of ``candidate`` minus ``baseline`` over the same problems (index i = problem i),
    with a percentile bootstrap interval from ``resamples`` resamplings of the problems.

    >>> result = paired_bootstrap([False, False, True, True], [True, True, True, True], resamples=2000)
    >>> result["difference"], result["low"] >= 0.0
    (0.5, True)
    """
    import numpy as np
    if len(baseline) != len(candidate):
        raise ValueError(f"paired bootstrap needs the same problems: {len(baseline)} vs {len(candidate)} results")
    if not baseline:
        raise ValueError("paired bootstrap needs at least one problem")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    # Per-problem difference in {-1, 0, 1}; a resample's mean difference is the difference of its accuracies.
    delta = np.asarray(candidate, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(delta), size=(resamples, len(delta)))
    means = delta[draws].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return {"difference": float(delta.mean()), "low": float(low), "high": float(high), "problems": len(delta),
            "baseline_accuracy": float(np.mean(baseline)), "candidate_accuracy": float(np.mean(candidate)),
            "confidence": confidence, "resamples": resamples}


def correctness_by_problem(samples: Sequence[dict[str, Any]], model: str, dataset: str) -> dict[str, bool]:
    """problem id -> is the model's first completion correct (the greedy answer in a greedy run)."""
    chosen = [s for s in samples if s["model"] == model and s["dataset"] == dataset]
    return {problem: bool(group[0]["correct"]) for (_dataset, problem), group in group_by_problem(chosen).items()}


def compare_models(samples: Sequence[dict[str, Any]], pairs: Sequence[tuple[str, str]], datasets: Sequence[str],
                   **bootstrap: Any) -> list[dict[str, Any]]:
    """``paired_bootstrap`` of every (baseline, candidate) pair on every dataset, on the problems both answered."""
    out = []
    for baseline, candidate in pairs:
        for dataset in datasets:
            a = correctness_by_problem(samples, baseline, dataset)
            b = correctness_by_problem(samples, candidate, dataset)
            shared = [p for p in a if p in b]
            if not shared:
                continue
            result = paired_bootstrap([a[p] for p in shared], [b[p] for p in shared], **bootstrap)
            out.append({"baseline": baseline, "candidate": candidate, "dataset": dataset, **result})
    return out


def sampled_scores(samples: Sequence[dict[str, Any]],
                   equivalent: Callable[[str, str, str], bool] | None = None) -> dict[str, float | int]:
    """pass@1 and maj@k of one model on one dataset, from k sampled completions per problem.

    >>> rows = [{"dataset": "d", "id": "1", "sample": i, "correct": c, "extracted_answer": a}
    ...         for i, (c, a) in enumerate([(True, "3"), (False, "4"), (True, "3"), (False, None)])]
    >>> sampled_scores(rows)
    {'problems': 1, 'k': 4, 'pass@1': 0.5, 'maj@k': 1.0}
    """
    problems = group_by_problem(samples)
    if not problems:
        return {"problems": 0, "k": 0}
    k = min(len(group) for group in problems.values())
    pass1, votes = [], []
    for group in problems.values():
        group = group[:k]
        rtype = group[0].get("reasoning_type", "math")

        def same(a: str, b: str, _rtype: str = rtype) -> bool:
            return equivalent(a, b, _rtype) if equivalent else a.strip() == b.strip()

        pass1.append(sum(bool(s["correct"]) for s in group) / k)
        votes.append(majority_vote([s.get("extracted_answer") for s in group], [bool(s["correct"]) for s in group],
                                   same))
    return {"problems": len(problems), "k": k, "pass@1": sum(pass1) / len(pass1),
            "maj@k": sum(votes) / len(votes)}


def accuracy_by_key(samples: Sequence[dict[str, Any]], labels: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Accuracy of the first completion per problem, grouped by ``labels[problem id]`` (e.g. difficulty);
    problems without a label are left out. Returns ``{label: {"problems": n, "accuracy": a}}``."""
    grouped: dict[str, list[bool]] = defaultdict(list)
    for (_dataset, problem), group in group_by_problem(samples).items():
        if problem in labels and labels[problem] is not None:
            grouped[str(labels[problem])].append(bool(group[0]["correct"]))
    return {label: {"problems": len(values), "accuracy": sum(values) / len(values)}
            for label, values in sorted(grouped.items())}


CURVE_KEYS = {"reward": "reward", "correctness": "rewards/correctness/mean",
              "frac_reward_zero_std": "frac_reward_zero_std",
              "frac_groups_dropped": "dynamic_sampling/frac_groups_dropped",
              "prompts_sampled": "dynamic_sampling/prompts_sampled"}


def grpo_curve(records: Sequence[dict[str, Any]]) -> dict[str, list]:
    """Per logged training step: reward, correctness reward (the training accuracy), the fraction of
    groups without reward spread, and dynamic sampling's dropped fraction and prompts sampled (None
    where the run did not log it). Steps without a reward (e.g. the final summary) are skipped."""
    rows = [r for r in records if "reward" in r and "step" in r]
    curve: dict[str, list] = {"step": [int(r["step"]) for r in rows]}
    for name, key in CURVE_KEYS.items():
        curve[name] = [(float(r[key]) if key in r else None) for r in rows]
    return curve


def curve_summary(curve: dict[str, list], window: int = 5) -> dict[str, float | None]:
    """Means of the first and last ``window`` steps of each curve, and the mean dropped fraction."""
    def mean(values):
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    summary: dict[str, float | None] = {"steps": float(len(curve["step"]))}
    for name in ("reward", "correctness"):
        summary[f"{name}_first{window}"] = mean(curve[name][:window])
        summary[f"{name}_last{window}"] = mean(curve[name][-window:])
    summary["frac_groups_dropped"] = mean(curve["frac_groups_dropped"])
    summary["frac_reward_zero_std"] = mean(curve["frac_reward_zero_std"])
    return summary
