"""Each reward component and the weight mapping against values computed by hand.

Every expected number below is a literal worked out from the documented formula, never
recomputed with the code under test (a test that builds its expectation with
``config.weights()`` passes whatever that mapping does).
"""
from __future__ import annotations

import math

import pytest

from reasoning import RewardConfig, create_reward_function
from reasoning.rewards import trl_reward_functions

PROBLEM = "What is 23 * 17?"


def component(name: str, response: str, reference: str | None = "391", config: RewardConfig | None = None,
              problem: str = PROBLEM) -> float | None:
    result = create_reward_function(name, config).compute(response=response, reference=reference, problem=problem)
    return result.components.get(name)


def varied_text(n: int) -> str:
    """n characters of reasoning-like text that does not compress to nothing (not padding) and holds no equation."""
    words = [f"step{(i * 7919) % 1000}" for i in range(n)]
    return " ".join(words)[:n]


def response_of_length(total: int, answer: str = "391") -> str:
    head, tail = "<think>", f"</think> The answer is {answer}."
    text = head + varied_text(total - len(head) - len(tail)) + tail
    assert len(text) == total
    return text


# --------------------------------------------------------------------------- weights

def test_weights_map_each_flag_to_its_own_component():
    config = RewardConfig(correctness_weight=1.5, format_weight=2.5, consistency_weight=3.5, length_weight=4.5,
                          process_weight=5.5)
    assert config.weights() == {"correctness": 1.5, "format": 2.5, "consistency": 3.5, "length": 4.5,
                                "process": 5.5}


def test_trl_weights_are_the_positive_weights_normalised_in_component_order():
    functions, weights = trl_reward_functions(RewardConfig(correctness_weight=5, format_weight=3,
                                                           consistency_weight=1, length_weight=0, process_weight=1))
    assert [f.__name__ for f in functions] == ["correctness", "format", "consistency", "process"]
    assert weights == pytest.approx([0.5, 0.3, 0.1, 0.1])


def test_combined_is_the_weighted_mean_with_hand_computed_value():
    # format 0.5 (text before <think>), correctness = consistency = process = 1; length switched off.
    response = "Sure! <think>23 × 17 = 391</think> The answer is 391."
    config = RewardConfig(correctness_weight=0.4, format_weight=0.2, consistency_weight=0.3, length_weight=0.0,
                          process_weight=0.1)
    result = create_reward_function("combined", config).compute(response=response, reference="391", problem=PROBLEM)
    assert result.components == {"correctness": 1.0, "format": 0.5, "consistency": 1.0, "process": 1.0}
    # (0.4 * 1 + 0.2 * 0.5 + 0.3 * 1 + 0.1 * 1) / (0.4 + 0.2 + 0.3 + 0.1)
    assert result.reward == pytest.approx(0.9)
    # Weights not summing to 1: the mean divides by their sum. (2*0 + 1*0.5) / 3 with only
    # correctness (wrong: 0) and format counted.
    wrong = create_reward_function("combined", RewardConfig(2, 1, 0, 0, 0)).compute(
        response=response, reference="392", problem=PROBLEM)
    assert wrong.reward == pytest.approx(0.5 / 3)


# --------------------------------------------------------------------------- format

@pytest.mark.parametrize("response, expected", [
    ("<think>" + "hmm " * 200 + "</think> The answer is 391.", 0.75),   # padded reasoning earns nothing
    ("<think>" + "7" * 500 + "</think> The answer is 391.", 0.75),
    ("<think>" + varied_text(600) + "</think> The answer is 391.", 1.0),  # long but not padding
    ("Well. <think>" + "hmm " * 200 + "</think>", 0.25),                 # padded, no answer, text before
])
def test_format_padding_guard(response, expected):
    assert component("format", response) == expected


# --------------------------------------------------------------------------- consistency

@pytest.mark.parametrize("response, problem, config, expected", [
    # the reasoning reaches no number: the configured neutral agreement
    ("<think>I multiply them.</think> The answer is 391.", PROBLEM, RewardConfig(), 0.5),
    ("<think>I multiply them.</think> The answer is 391.", PROBLEM, RewardConfig(consistency_neutral=0.3), 0.3),
    # no final answer at all
    ("<think>23 × 17 = 391</think>", PROBLEM, RewardConfig(), 0.0),
    # agreement 1 x language: 2 CJK words (先, 算) of 3 words (+ "twenty")
    ("<think>先算 twenty = 391</think> 391", "计算二十三乘以十七", RewardConfig(), 2 / 3),
    # agreement 0.5 (neutral) x language 2/3
    ("<think>先算 twenty</think> 391", "计算二十三乘以十七", RewardConfig(), 1 / 3),
])
def test_consistency_values(response, problem, config, expected):
    assert component("consistency", response, config=config, problem=problem) == pytest.approx(expected)


# --------------------------------------------------------------------------- length

# budget 1000 characters; progress p = chars / 1000; c = cos(pi * p)
# correct: 0.5 + 0.5 * (1 + c) / 2      wrong: 0.25 - 0.25 * (1 + c) / 2
@pytest.mark.parametrize("chars, correct, expected", [
    (500, True, 0.75), (500, False, 0.125),
    (250, True, 0.5 + 0.25 * (1 + math.sqrt(0.5))), (250, False, 0.25 - 0.125 * (1 + math.sqrt(0.5))),
    (1000, True, 0.5), (1000, False, 0.25), (1500, True, 0.5), (1500, False, 0.25),
])
def test_length_values(chars, correct, expected):
    config = RewardConfig(length_budget=1000)
    response = response_of_length(chars, "391" if correct else "392")
    assert component("length", response, config=config) == pytest.approx(expected)


def test_length_uses_each_configured_bound():
    config = RewardConfig(length_budget=1000, length_max_correct=0.9, length_min_correct=0.6, length_max_wrong=0.2,
                          length_min_wrong=0.1)
    # 250 chars: (1 + c) / 2 = (1 + sqrt(0.5)) / 2 = 0.853553...
    share = (1 + math.sqrt(0.5)) / 2
    assert component("length", response_of_length(250), config=config) == pytest.approx(0.6 + 0.3 * share)
    assert component("length", response_of_length(250, "392"), config=config) == pytest.approx(0.2 - 0.1 * share)


def test_length_of_padding_is_the_lowest_of_its_kind():
    padded_right = "<think>" + "hmm " * 120 + "</think> The answer is 391."   # 514 chars, degenerate
    padded_wrong = "<think>" + "hmm " * 120 + "</think> The answer is 392."
    config = RewardConfig(length_budget=1000)
    assert component("length", padded_right, config=config) == 0.5
    assert component("length", padded_wrong, config=config) == 0.0


# --------------------------------------------------------------------------- process and correctness

def test_process_neutral_value_is_the_configured_one():
    response = "<think>We just know it.</think> The answer is 391."
    assert component("process", response) == 0.5
    assert component("process", response, config=RewardConfig(process_neutral=0.2)) == 0.2


@pytest.mark.parametrize("response, reference, expected", [
    ("<think>23 × 17 = 391</think> The answer is 391.", "391", 1.0),
    ("<think>23 × 17 = 391</think> The answer is 391.", "392", 0.0),
    ("<think>23 × 17 = 391</think>", "391", 0.0),        # the answer only inside the think block
    ("<think>23 × 17 = 391</think> The answer is 391.", None, None),  # nothing to check against
])
def test_correctness_values(response, reference, expected):
    assert component("correctness", response, reference=reference) == expected
