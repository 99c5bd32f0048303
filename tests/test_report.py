"""Metric functions (pass@k, majority vote, aggregation), plots, report rendering and the summary table.

Pure functions on hand-written samples: no model, runs in about a second.
"""
from __future__ import annotations

import base64
import math
from fractions import Fraction
from itertools import combinations

import pytest

from reasoning.evaluation.metrics import aggregate, compute_metrics, flat_metrics, majority_vote, pass_at_k, report_ks
from reasoning.evaluation.plots import accuracy_bar_plot, curve_series, training_curves_plot
from reasoning.evaluation.report import build_blocks, render_html, render_markdown
from reasoning.evaluation.summary import format_summary

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def exact(a: str, b: str) -> bool:
    return a == b


@pytest.mark.parametrize("n,c,k,expected", [
    (1, 1, 1, 1.0), (1, 0, 1, 0.0),
    (4, 1, 1, 0.25), (4, 2, 1, 0.5),
    (5, 2, 2, 1 - math.comb(3, 2) / math.comb(5, 2)),   # 0.7
    (10, 3, 5, 1 - math.comb(7, 5) / math.comb(10, 5)),  # 1 - 21/252
    (4, 1, 4, 1.0), (4, 0, 4, 0.0), (3, 2, 2, 1.0),
])
def test_pass_at_k_known_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_equals_brute_force_over_subsets():
    flags = [True, False, False, True, False, False]
    n, c = len(flags), sum(flags)
    for k in range(1, n + 1):
        subsets = list(combinations(flags, k))
        brute = sum(any(s) for s in subsets) / len(subsets)
        assert pass_at_k(n, c, k) == pytest.approx(brute)


def test_pass_at_k_rejects_impossible_arguments():
    with pytest.raises(ValueError):
        pass_at_k(2, 3, 1)
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_report_ks():
    assert report_ks(1) == [1]
    assert report_ks(4) == [1, 2, 4]
    assert report_ks(6) == [1, 2, 4, 6]


def test_majority_vote_picks_the_most_frequent_answer():
    assert majority_vote(["3", "4", "4"], [True, False, False], exact) is False
    assert majority_vote(["4", "3", "3"], [False, True, True], exact) is True
    # A sample without an answer casts no vote.
    assert majority_vote([None, None, "7"], [False, False, True], exact) is True
    assert majority_vote([None, None], [False, False], exact) is False
    # Ties go to the answer seen first.
    assert majority_vote(["1", "2", "2", "1"], [True, False, False, True], exact) is True
    assert majority_vote(["2", "1", "1", "2"], [False, True, True, False], exact) is False


def test_majority_vote_groups_equivalent_answers():
    def numeric(a: str, b: str) -> bool:
        return float(a) == float(b)
    # "0.5" and ".50" vote together and outnumber "2".
    assert majority_vote(["2", "0.5", ".50"], [False, True, True], numeric) is True


def sample(model, dataset, pid, index, correct, answer, fmt=True, tokens=10, rtype="math"):
    return {"model": model, "dataset": dataset, "id": pid, "sample": index, "reasoning_type": rtype,
            "correct": correct, "extracted_answer": answer, "format_ok": fmt, "tokens": tokens,
            "reward": 1.0 if correct else 0.0, "components": {"correctness": float(correct), "format": float(fmt)},
            "prompt": [{"role": "user", "content": f"question {pid} <b>&"}], "reference": "4",
            "response": f"<think>x</think> answer {answer} <script>"}


def two_problem_samples(model="m"):
    # p1: 2 of 2 correct; p2: 1 of 2 correct, majority "5" (wrong) vs "4"? tie -> first ("5", wrong).
    return [sample(model, "d", "p1", 0, True, "4", tokens=10), sample(model, "d", "p1", 1, True, "4", tokens=20),
            sample(model, "d", "p2", 0, False, "5", fmt=False, tokens=30),
            sample(model, "d", "p2", 1, True, "4", tokens=40)]


def test_aggregate_values():
    result = aggregate(two_problem_samples(), lambda a, b, t: a == b)
    assert result["problems"] == 2 and result["samples"] == 4 and result["samples_per_problem"] == 2
    assert result["accuracy"] == pytest.approx(0.75)
    assert result["pass@1"] == pytest.approx(0.75)
    assert result["pass@2"] == pytest.approx(1.0)
    assert result["majority_accuracy"] == pytest.approx(0.5)
    assert result["format_compliance"] == pytest.approx(0.75)
    assert result["mean_response_tokens"] == pytest.approx(25.0)
    assert result["reward_components"] == {"correctness": pytest.approx(0.75), "format": pytest.approx(0.75)}


def test_single_sample_has_no_majority_or_pass_k():
    result = aggregate([sample("m", "d", "p1", 0, True, "4")])
    assert result["accuracy"] == 1.0 and "majority_accuracy" not in result and "pass@2" not in result


def test_compute_metrics_structure_and_flat_keys():
    samples = two_problem_samples("a") + [sample("b", "d", "p1", 0, False, "1", rtype="logic"),
                                          sample("b", "d", "p1", 1, False, "1", rtype="logic")]
    metrics = compute_metrics(samples, ["a", "b"], ["d"], lambda x, y, t: x == y)
    assert metrics["a"]["datasets"]["d"]["overall"]["accuracy"] == pytest.approx(0.75)
    assert metrics["b"]["datasets"]["d"]["overall"]["accuracy"] == 0.0
    assert set(metrics["b"]["by_reasoning_type"]) == {"logic"}
    assert metrics["a"]["datasets"]["d"]["by_reasoning_type"]["math"]["problems"] == 2
    flat = flat_metrics(metrics)
    assert flat["a/d/accuracy"] == pytest.approx(0.75) and flat["a/d/pass@2"] == 1.0
    assert flat["b/d/majority_accuracy"] == 0.0


def full_metrics():
    samples = two_problem_samples("base") + two_problem_samples("grpo")
    for s in samples[4:]:
        s["correct"], s["format_ok"] = True, True
    results = compute_metrics(samples, ["base", "grpo"], ["d"], lambda x, y, t: x == y)
    return {"created_at": "now", "settings": {"samples": 2, "limit": 2, "subset": "first 2 rows"},
            "models": {"base": {"reference": "builtin:x"}, "grpo": {"reference": "ckpt/grpo", "stage": "grpo"}},
            "datasets": {"d": {"spec": "d.jsonl", "rows": 2, "reasoning_types": {"math": 2}}},
            "results": results}, samples


def test_format_summary_table():
    metrics, _ = full_metrics()
    text = format_summary(metrics)
    lines = text.splitlines()
    assert "accuracy (pass@1) / format compliance" in lines[0]
    assert lines[1].split("|")[0].strip() == "model" and lines[1].split("|")[1].strip() == "d"
    assert "75.0% / 75.0%" in lines[3] and lines[3].startswith("base")
    assert "100.0% / 100.0%" in lines[4] and lines[4].startswith("grpo")
    assert format_summary({}) == "(no evaluation results)"


def decode_png(b64: str) -> bytes:
    data = base64.b64decode(b64)
    assert data.startswith(PNG_MAGIC)
    return data


def test_plots_are_png():
    decode_png(accuracy_bar_plot({"base": {"a": 0.1, "b": None}, "grpo": {"a": 0.5, "b": 0.25}}))
    log = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5, "reward": 0.2, "reward_std": 0.1,
                                      "rewards/format/mean": 0.5, "rewards/format/std": 0.3}]
    series = curve_series(log)
    assert set(series) == {"loss", "reward", "rewards/format/mean"}
    assert series["loss"] == [(1.0, 2.0), (2.0, 1.5)]
    decode_png(training_curves_plot({"grpo": log}))
    assert training_curves_plot({"base": [{"step": 1, "epoch": 0.1}]}) is None


def test_report_rendering_escapes_and_embeds():
    metrics, samples = full_metrics()
    png = accuracy_bar_plot({"base": {"d": 0.75}, "grpo": {"d": 1.0}})
    blocks = build_blocks(metrics, samples, accuracy_png=png, curves_png=None, curve_sources={},
                          examples_per_dataset=1)
    markdown, page = render_markdown(blocks), render_html(blocks)
    assert "| model | d |" in markdown and "| base | 75.0% / 75.0% |" in markdown
    assert "pass@2" in markdown and "majority_accuracy" in markdown
    assert f"data:image/png;base64,{png}" in markdown and f"data:image/png;base64,{png}" in page
    # Sample completions: HTML-escaped in the page; one right and one wrong for base.
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "question p1 &lt;b&gt;&amp;" in page
    assert page.count('class="correct"') == 2 and page.count('class="wrong"') == 1
    assert "No training log" in markdown


# --------------------------------------------------------------------------- cases found unchecked by mutation testing
# which samples vote and how they are grouped, what missing values do to the means, defaults of absent fields

def scored(pid, index, correct, answer, *, rtype=None, reward=None, components=None, dataset="d", model="m"):
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
    with pytest.raises(ValueError, match="^answers and correct flags must have the same length$"):
        majority_vote(["1"], [True, False], lambda a, b: a == b)


def test_empty_group_has_no_metrics():
    assert aggregate([]) == {"problems": 0, "samples": 0}


def test_samples_vote_in_sample_order_whatever_order_they_arrive_in():
    # one "5" (wrong, sample 0) and one "4" (right, sample 1): a tie goes to sample 0
    samples = [scored("p", 1, True, "4"), scored("p", 0, False, "5")]
    assert aggregate(samples)["majority_accuracy"] == 0.0
    assert aggregate(list(reversed(samples)))["majority_accuracy"] == 0.0


def test_a_sample_without_an_index_counts_as_sample_zero():
    unnumbered = scored("p", 0, False, "5")
    del unnumbered["sample"]
    # a tie between "4" (sample 1) and "5" (no index: 0) goes to "5", whatever the arrival order
    assert aggregate([scored("p", 1, True, "4"), unnumbered])["majority_accuracy"] == 0.0
    both = [dict(unnumbered), dict(unnumbered)]
    assert aggregate(both)["samples_per_problem"] == 2


def test_without_an_equivalence_answers_vote_together_when_equal_after_stripping():
    samples = [scored("p", 0, False, "5"), scored("p", 1, True, " 4"), scored("p", 2, True, "4 ")]
    assert aggregate(samples)["majority_accuracy"] == 1.0


def test_the_equivalence_gets_both_answers_and_the_reasoning_type():
    calls = []

    def equivalent(a, b, kind):
        calls.append((a, b, kind))
        return numeric(a, b)

    samples = [scored("p", 0, False, "5", rtype="logic"), scored("p", 1, True, "0.5", rtype="logic"),
               scored("p", 2, True, "1/2", rtype="logic")]
    assert aggregate(samples, equivalent)["majority_accuracy"] == 1.0
    assert ("1/2", "0.5", "logic") in calls
    untyped = [scored("q", 0, True, "2"), scored("q", 1, True, "2")]
    aggregate(untyped, equivalent)
    assert calls[-1] == ("2", "2", "math")  # no reasoning_type: math


def test_missing_rewards_and_nan_components_are_left_out_of_the_means():
    samples = [scored("p", 0, True, "1", reward=1.0, components={"format": 1.0, "length": math.nan}),
               scored("p", 1, False, "2", reward=None, components={"format": None, "length": 0.5}),
               scored("p", 2, False, "2", reward=0.0, components={"format": 0.5})]
    result = aggregate(samples)
    assert result["mean_reward"] == 0.5
    assert result["reward_components"] == {"format": 0.75, "length": 0.5}
    assert aggregate([scored("p", 0, True, "1")])["mean_reward"] is None


def test_compute_metrics_uses_the_equivalence_and_reports_models_without_samples():
    samples = [scored("p", 0, False, "5"), scored("p", 1, True, "0.5"), scored("p", 2, True, "1/2")]
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
