"""The evaluation's statistics on hand-computed cases: the paired bootstrap of an accuracy
difference, pass@1 and maj@k from sampled completions, accuracy per difficulty, the GRPO
curves read from a train log, and the stop at the final-answer line."""
from __future__ import annotations

import pytest

from reasoning.evaluation import statistics
from reasoning.modeling.generation import answer_complete


def test_bootstrap_of_identical_results_is_exactly_zero():
    result = statistics.paired_bootstrap([True, False, True], [True, False, True], resamples=500)
    assert result["difference"] == result["low"] == result["high"] == 0.0


def test_bootstrap_interval_matches_the_hand_computed_distribution():
    # 20 problems: the candidate gains 5 and loses 1 (d = +1 on 5, -1 on 1, 0 on 14) -> difference 4/20 = 0.2.
    baseline = [False] * 5 + [True] + [True] * 7 + [False] * 7
    candidate = [True] * 5 + [False] + [True] * 7 + [False] * 7
    result = statistics.paired_bootstrap(baseline, candidate, resamples=20_000, seed=1)
    assert result["difference"] == pytest.approx(0.2)
    assert result["baseline_accuracy"] == pytest.approx(8 / 20) and result["candidate_accuracy"] == pytest.approx(0.6)
    # The mean of 20 draws of d: sd = sqrt(var(d) / 20) with var(d) = 6/20 - 0.2**2 = 0.26 -> 0.114;
    # the normal approximation gives 0.2 -/+ 1.96 * 0.114 = [-0.02, 0.42]; the bootstrap is within a draw or two.
    assert result["low"] == pytest.approx(-0.02, abs=0.051) and result["high"] == pytest.approx(0.42, abs=0.051)
    assert result["low"] <= 0 < result["high"]  # 6 changed answers out of 20 do not exclude chance (low is 0.0)
    # Pairing matters: the same accuracies with the gains on *different* problems than the losses would be
    # no tighter; ten times the evidence (200 problems, same rates) excludes 0.
    wide = statistics.paired_bootstrap(baseline * 10, candidate * 10, resamples=20_000)
    # Normal approximation at 200 problems: 0.2 -/+ 1.96 * sqrt(0.26 / 200) = [0.129, 0.271] (a 90% interval
    # would be [0.141, 0.259]); the bootstrap lands on the 1/200 grid.
    assert wide["low"] == pytest.approx(0.13, abs=0.004) and wide["high"] == pytest.approx(0.27, abs=0.004)


def test_bootstrap_refuses_unpaired_results():
    with pytest.raises(ValueError, match="same problems"):
        statistics.paired_bootstrap([True], [True, False])


def samples(model: str, rows: list[tuple[str, bool, str | None]], dataset: str = "d") -> list[dict]:
    out, counter = [], {}
    for problem, correct, answer in rows:
        index = counter.get(problem, 0)
        counter[problem] = index + 1
        out.append({"model": model, "dataset": dataset, "id": problem, "sample": index, "correct": correct,
                    "extracted_answer": answer, "reasoning_type": "math"})
    return out


def test_pass1_and_maj_at_k_by_hand():
    rows = samples("m", [
        ("p1", True, "3"), ("p1", False, "4"), ("p1", True, "3"), ("p1", False, None),  # 2/4 right, vote "3" (2) wins
        ("p2", False, "5"), ("p2", False, "5"), ("p2", True, "6"), ("p2", False, "7"),  # 1/4 right, vote "5" wrong
        ("p3", False, "1"), ("p3", True, "2"), ("p3", False, "8"), ("p3", True, "2"),   # 2/4, "2" beats singletons
        ("p4", False, None), ("p4", False, None), ("p4", False, None), ("p4", False, None)])  # no vote: wrong
    scores = statistics.sampled_scores(rows)
    assert scores == {"problems": 4, "k": 4, "pass@1": pytest.approx((0.5 + 0.25 + 0.5 + 0) / 4), "maj@k": 0.5}
    # Tie (1 vs 1): the answer seen first wins, deterministically.
    tie = statistics.sampled_scores(samples("m", [("p", False, "9"), ("p", True, "1")]))
    assert tie["maj@k"] == 0.0
    # Equivalent answers vote together when an equivalence is given.
    split = samples("m", [("p", True, "0.5"), ("p", True, "1/2"), ("p", False, "3")])
    assert statistics.sampled_scores(split)["maj@k"] == 1.0  # "0.5" first, tie 1-1-1 -> the first group
    wrong_first = samples("m", [("p", False, "3"), ("p", True, "0.5"), ("p", True, "1/2")])
    assert statistics.sampled_scores(wrong_first)["maj@k"] == 0.0
    halves = {"0.5", "1/2"}
    assert statistics.sampled_scores(wrong_first, lambda a, b, _t: a == b or {a, b} <= halves)["maj@k"] == 1.0


def test_compare_models_pairs_by_problem_and_accuracy_by_difficulty():
    sft = samples("sft", [("a", True, "1"), ("b", False, "2"), ("c", False, "3")])
    grpo = samples("grpo", [("c", True, "3"), ("b", True, "2"), ("a", True, "1")])  # other order, same problems
    (entry,) = statistics.compare_models(sft + grpo, [("sft", "grpo")], ["d"], resamples=500)
    assert entry["difference"] == pytest.approx(2 / 3) and entry["problems"] == 3
    labels = {"a": 1, "b": 2, "c": 2}
    assert statistics.accuracy_by_key(sft, labels) == {"1": {"problems": 1, "accuracy": 1.0},
                                                       "2": {"problems": 2, "accuracy": 0.0}}
    # With several samples a problem, the first (the greedy one in a greedy run) counts, once per problem.
    two = samples("m", [("a", True, "1"), ("a", False, "2"), ("b", False, "3"), ("b", True, "2")])
    assert statistics.accuracy_by_key(two, {"a": 1, "b": 1}) == {"1": {"problems": 2, "accuracy": 0.5}}
    assert statistics.accuracy_by_key(two, {"a": 1}) == {"1": {"problems": 1, "accuracy": 1.0}}


def test_grpo_curve_from_a_train_log():
    log = [{"step": 1, "reward": 0.2, "rewards/correctness/mean": 0.25, "frac_reward_zero_std": 0.5,
            "dynamic_sampling/frac_groups_dropped": 0.5, "dynamic_sampling/prompts_sampled": 4.0},
           {"step": 2, "reward": 0.6, "rewards/correctness/mean": 0.75, "frac_reward_zero_std": 0.0},
           {"step": 2, "train_runtime": 10.0}]
    curve = statistics.grpo_curve(log)
    assert curve["step"] == [1, 2] and curve["correctness"] == [0.25, 0.75]
    assert curve["frac_groups_dropped"] == [0.5, None]
    summary = statistics.curve_summary(curve, window=1)
    assert summary["correctness_first1"] == 0.25 and summary["correctness_last1"] == 0.75
    assert summary["frac_groups_dropped"] == 0.5


@pytest.mark.parametrize(("text", "done"), [
    ("<think>\n12 + 30 = 42\n</think>\nThe answer is 42. ", True),
    ("<think>\n12 + 30 = 42\n</think>\nThe answer is 42.", False),        # "42." may still become "42.5"
    ("<think>\n12 + 30 = 42\n</think>\nThe answer is 42.5.\n", True),
    ("<think>\nso the answer is 42.\nwait", False),                         # inside the reasoning: not final
    ("<think>\nthe answer is 42.\n</think>\nThe answer is", False),       # only the text after </think> counts
    ("The final answer is: 7\nMore text", True),
    ("So \\boxed{391}.\n", True),
    ("Let me think about 12 + 30. It is 42. ", False),
])
def test_answer_line_ends_generation_only_when_final(text, done):
    assert answer_complete(text) is done


def test_model_hash_is_the_weights_not_the_artifact_metadata(tmp_path):
    from reasoning.evaluation.cache import model_hash
    first, second = tmp_path / "a", tmp_path / "b"
    for directory, stamp in ((first, "2026-01-01"), (second, "2026-02-02")):
        directory.mkdir()
        (directory / "model.safetensors").write_bytes(b"weights")
        (directory / "config.json").write_text("{}")
        (directory / "reasoning_artifact.json").write_text(f'{{"created_at": "{stamp}", "path": "{directory}"}}')
    assert model_hash(str(first)) == model_hash(str(second))  # the same model imported by two runs
    (second / "model.safetensors").write_bytes(b"weightz")
    model_hash.cache_clear()
    assert model_hash(str(first)) != model_hash(str(second))
