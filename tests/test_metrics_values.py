"""Evaluation metrics, the cases mutation testing found unchecked: which samples vote and how
they are grouped, what missing values do to the means, the defaults of absent fields."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest

from reasoning.evaluation.metrics import aggregate, compute_metrics, flat_metrics, majority_vote, pass_at_k, report_ks


def sample(pid, index, correct, answer, *, rtype=None, reward=None, components=None, dataset="d", model="m"):
    row = {"model": model, "dataset": dataset, "id": pid, "sample": index, "correct": correct,
           "extracted_answer": answer, "format_ok": True, "tokens": 10, "reward": reward,
           "components": components or {}}
    if rtype is not None:
        row["reasoning_type"] = rtype
    return row


def numeric(a: str, b: str, kind: str = "math") -> bool:
    return Fraction(a) == Fraction(b)


def test_report_ks_are_the_powers_of_two_below_n_and_n():
    assert report_ks(200) == [1, 2, 4, 8, 16, 32, 64, 128, 200]
    assert report_ks(9) == [1, 2, 4, 8, 9]


def test_bad_pass_at_k_arguments_are_named():
    with pytest.raises(ValueError, match=r"pass@k needs 1 <= k <= n and 0 <= c <= n, got n=2, c=3, k=1"):
        pass_at_k(2, 3, 1)


def test_blank_answers_cast_no_vote_and_lengths_must_match():
    assert majority_vote(["  ", "  ", "4"], [True, True, False], lambda a, b: a == b) is False
    with pytest.raises(ValueError, match="answers and correct flags must have the same length"):
        majority_vote(["1"], [True, False], lambda a, b: a == b)


def test_empty_group_has_no_metrics():
    assert aggregate([]) == {"problems": 0, "samples": 0}


def test_samples_vote_in_sample_order_whatever_order_they_arrive_in():
    # one "5" (wrong, sample 0) and one "4" (right, sample 1): a tie goes to sample 0
    samples = [sample("p", 1, True, "4"), sample("p", 0, False, "5")]
    assert aggregate(samples)["majority_accuracy"] == 0.0
    assert aggregate(list(reversed(samples)))["majority_accuracy"] == 0.0


def test_without_an_equivalence_answers_vote_together_when_equal_after_stripping():
    samples = [sample("p", 0, False, "5"), sample("p", 1, True, " 4"), sample("p", 2, True, "4 ")]
    assert aggregate(samples)["majority_accuracy"] == 1.0


def test_the_equivalence_gets_both_answers_and_the_reasoning_type():
    calls = []

    def equivalent(a, b, kind):
        calls.append((a, b, kind))
        return numeric(a, b)

    samples = [sample("p", 0, False, "5", rtype="logic"), sample("p", 1, True, "0.5", rtype="logic"),
               sample("p", 2, True, "1/2", rtype="logic")]
    assert aggregate(samples, equivalent)["majority_accuracy"] == 1.0
    assert ("1/2", "0.5", "logic") in calls
    untyped = [sample("q", 0, True, "2"), sample("q", 1, True, "2")]
    aggregate(untyped, equivalent)
    assert calls[-1] == ("2", "2", "math")  # no reasoning_type: math


def test_missing_rewards_and_nan_components_are_left_out_of_the_means():
    samples = [sample("p", 0, True, "1", reward=1.0, components={"format": 1.0, "length": math.nan}),
               sample("p", 1, False, "2", reward=None, components={"format": None, "length": 0.5}),
               sample("p", 2, False, "2", reward=0.0, components={"format": 0.5})]
    result = aggregate(samples)
    assert result["mean_reward"] == 0.5
    assert result["reward_components"] == {"format": 0.75, "length": 0.5}
    assert aggregate([sample("p", 0, True, "1")])["mean_reward"] is None


def test_compute_metrics_uses_the_equivalence_and_reports_models_without_samples():
    samples = [sample("p", 0, False, "5"), sample("p", 1, True, "0.5"), sample("p", 2, True, "1/2")]
    metrics = compute_metrics(samples, ["m", "absent"], ["d"], numeric)
    assert metrics["m"]["datasets"]["d"]["overall"]["majority_accuracy"] == 1.0
    assert metrics["m"]["datasets"]["d"]["by_reasoning_type"]["math"]["majority_accuracy"] == 1.0
    assert metrics["m"]["by_reasoning_type"]["math"]["majority_accuracy"] == 1.0
    assert metrics["absent"]["datasets"]["d"]["overall"] == {"problems": 0, "samples": 0}
    assert compute_metrics(samples, ["m"], ["d"])["m"]["by_reasoning_type"]["math"]["majority_accuracy"] == 0.0


def test_flat_metrics_skip_missing_values_and_keep_the_rest():
    metrics = {"m": {"datasets": {"d": {"overall": {"accuracy": None, "pass@1": 0.5, "problems": 3,
                                                    "mean_reward": 0.25}}}}}
    assert flat_metrics(metrics) == {"m/d/pass@1": 0.5, "m/d/mean_reward": 0.25}
