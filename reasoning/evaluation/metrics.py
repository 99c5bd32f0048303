"""Evaluation metrics: pass@k, majority vote and the per-group aggregation of scored samples.

A *scored sample* is one completion of one problem, as written to ``samples.jsonl``::

    {"model": "grpo", "dataset": "gsm8k", "id": "gsm8k-test-3", "reasoning_type": "math",
     "sample": 0, "response": "...", "extracted_answer": "18", "correct": true,
     "format_ok": true, "tokens": 87, "reward": 0.9, "components": {"correctness": 1.0, ...}}

Every number in ``metrics.json`` is computed here from those records, so the report,
the summary table and the samples file can never disagree.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# Sample fields the aggregation reads.
Sample = dict[str, Any]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator of Chen et al. (2021, the Codex paper).

    The probability that at least one of ``k`` completions drawn without replacement
    from ``n`` generated ones, ``c`` of them correct, is correct:
    ``1 - C(n-c, k) / C(n, k)``, computed as a product so large ``n`` cannot overflow.

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 4), pass_at_k(4, 0, 2)
    (0.25, 1.0, 0.0)
    """
    if n < 1 or not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n and 0 <= c <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
    failure = 1.0
    for i in range(n - c + 1, n + 1):
        failure *= 1.0 - k / i
    return 1.0 - failure


def report_ks(samples_per_problem: int) -> list[int]:
    """The k values reported for n samples a problem: 1, powers of two below n, and n."""
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128) if k < samples_per_problem]
    return sorted(set(ks + [samples_per_problem]))


def majority_vote(answers: Sequence[str | None], correct: Sequence[bool],
                  equivalent: Callable[[str, str], bool]) -> bool:
    """Is the most frequent final answer among a problem's samples correct?

    Answers are grouped with ``equivalent`` (so ``0.5`` and ``\\frac{1}{2}`` vote
    together); a sample with no extractable answer casts no vote. The largest group
    wins, ties going to the group whose first member came first (deterministic), and
    the vote is correct when that group's first member was judged correct.

    >>> same = lambda a, b: a == b
    >>> majority_vote(["3", "4", "4"], [True, False, False], same)
    False
    >>> majority_vote(["3", None, "3", "4"], [True, False, True, False], same)
    True
    """
    if len(answers) != len(correct):
        raise ValueError("answers and correct flags must have the same length")
    groups: list[list[int]] = []  # indexes of the samples in each group, first member = representative
    for index, answer in enumerate(answers):
        if answer is None or not str(answer).strip():
            continue
        for group in groups:
            if equivalent(answer, answers[group[0]]):  # type: ignore[arg-type]
                group.append(index)
                break
        else:
            groups.append([index])
    if not groups:
        return False
    winner = max(groups, key=len)  # max returns the first of equally large groups
    return bool(correct[winner[0]])


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def group_by_problem(samples: Iterable[Sample]) -> dict[tuple[str, str], list[Sample]]:
    """Samples keyed by (dataset, problem id), each list in sample order."""
    problems: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for sample in samples:
        problems[(sample["dataset"], str(sample["id"]))].append(sample)
    for group in problems.values():
        group.sort(key=lambda s: s.get("sample", 0))
    return problems


def aggregate(samples: Sequence[Sample], equivalent: Callable[[str, str, str], bool] | None = None) -> dict[str, Any]:
    """Metrics of one group of scored samples (one model on one dataset, or one reasoning type).

    ``equivalent(a, b, reasoning_type)`` groups answers for the majority vote; without it
    answers must match exactly after stripping whitespace. Code problems vote on the
    extracted program text (identical programs vote together).
    """
    if not samples:
        return {"problems": 0, "samples": 0}
    problems = group_by_problem(samples)
    sizes = {len(group) for group in problems.values()}
    n = min(sizes)  # every problem gets the same number of samples; min() guards a partial run
    ks = report_ks(n)
    result: dict[str, Any] = {"problems": len(problems), "samples": len(samples), "samples_per_problem": n,
                              "accuracy": _mean(float(bool(s["correct"])) for s in samples)}
    for k in ks:
        result[f"pass@{k}"] = _mean(pass_at_k(len(g), sum(bool(s["correct"]) for s in g), k)
                                    for g in problems.values())
    if n > 1:
        votes = []
        for group in problems.values():
            rtype = group[0].get("reasoning_type", "math")
            if equivalent is None:
                def same(a: str, b: str) -> bool:
                    return a.strip() == b.strip()
            else:
                def same(a: str, b: str, _rtype: str = rtype) -> bool:
                    return equivalent(a, b, _rtype)
            votes.append(majority_vote([s.get("extracted_answer") for s in group],
                                       [bool(s["correct"]) for s in group], same))
        result["majority_accuracy"] = _mean(float(v) for v in votes)
    result["format_compliance"] = _mean(float(bool(s["format_ok"])) for s in samples)
    result["mean_response_tokens"] = _mean(float(s["tokens"]) for s in samples)
    result["mean_reward"] = _mean(float(s["reward"]) for s in samples if s.get("reward") is not None)
    components: dict[str, list[float]] = defaultdict(list)
    for sample in samples:
        for name, value in (sample.get("components") or {}).items():
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                components[name].append(float(value))
    result["reward_components"] = {name: _mean(values) for name, values in sorted(components.items())}
    return result


def compute_metrics(samples: Sequence[Sample], model_names: Sequence[str], dataset_names: Sequence[str],
                    equivalent: Callable[[str, str, str], bool] | None = None) -> dict[str, Any]:
    """``{model: {"datasets": {dataset: {"overall": m, "by_reasoning_type": {t: m}}},
    "by_reasoning_type": {t: m}}}`` where each ``m`` is an ``aggregate`` dict."""
    by_model: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_model[sample["model"]].append(sample)
    result: dict[str, Any] = {}
    for model in model_names:
        model_samples = by_model.get(model, [])
        datasets = {}
        for dataset in dataset_names:
            subset = [s for s in model_samples if s["dataset"] == dataset]
            datasets[dataset] = {"overall": aggregate(subset, equivalent),
                                 "by_reasoning_type": _by_type(subset, equivalent)}
        result[model] = {"datasets": datasets, "by_reasoning_type": _by_type(model_samples, equivalent)}
    return result


def _by_type(samples: Sequence[Sample], equivalent) -> dict[str, Any]:
    types: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        types[sample.get("reasoning_type", "math")].append(sample)
    return {rtype: aggregate(group, equivalent) for rtype, group in sorted(types.items())}


KEY_METRICS = ("accuracy", "format_compliance", "majority_accuracy", "mean_response_tokens", "mean_reward")


def flat_metrics(metrics_by_model: dict[str, Any]) -> dict[str, float]:
    """``{"<model>/<dataset>/<metric>": value}`` of the headline numbers (for KFP Metrics)."""
    flat: dict[str, float] = {}
    for model, entry in metrics_by_model.items():
        for dataset, scores in entry["datasets"].items():
            overall = scores["overall"]
            for key, value in overall.items():
                if value is None:
                    continue
                if key in KEY_METRICS or key.startswith("pass@"):
                    flat[f"{model}/{dataset}/{key}"] = float(value)
    return flat
