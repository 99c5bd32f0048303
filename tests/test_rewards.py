"""The five rewards, their combination, the TRL calling convention and reward-hacking cases."""
from __future__ import annotations

import time

import pytest

from reasoning import RewardConfig, create_reward_function
from reasoning.errors import InputError
from reasoning.rewards import REWARD_NAMES, trl_reward_functions

PROBLEM = "What is 23 * 17?"
HONEST_RIGHT = "<think>23 × 17 = 23 × 10 + 23 × 7 = 230 + 161 = 391</think>\nThe answer is 391."
HONEST_WRONG = "<think>23 × 17 = 23 × 10 + 23 × 7 = 230 + 151 = 381</think>\nThe answer is 381."


def score(response, name="combined", config=None, **kwargs):
    kwargs.setdefault("reference", "391")
    kwargs.setdefault("problem", PROBLEM)
    return create_reward_function(name, config).compute(response=response, **kwargs)


def test_issue_example():
    config = RewardConfig(correctness_weight=0.5, format_weight=0.3)
    result = create_reward_function("combined", config).compute(
        response="<think>Let me solve...</think>\n42", reference="42", problem="What is 6 * 7?")
    assert 0.8 < result.reward <= 1.0
    assert result.components["correctness"] == 1.0 and result.components["format"] == 1.0
    assert set(result.reasons) == {"correctness", "format", "consistency", "length", "process"}


def test_combined_is_the_weighted_mean_and_stays_in_unit_interval():
    for weights in [(0.4, 0.2, 0.2, 0.1, 0.1), (5, 5, 5, 5, 5), (1, 0, 0, 0, 0), (0.01, 3, 0, 0, 0)]:
        config = RewardConfig(*weights)
        result = score(HONEST_WRONG, config=config)
        used = {n: w for n, w in config.weights().items() if w > 0}
        expected = sum(w * result.components[n] for n, w in used.items()) / sum(used.values())
        assert result.reward == pytest.approx(expected)
        assert 0.0 <= result.reward <= 1.0


@pytest.mark.parametrize("kwargs, field", [
    ({"format_weight": -0.1}, "format_weight"),
    ({"correctness_weight": 0, "format_weight": 0, "consistency_weight": 0, "length_weight": 0, "process_weight": 0},
     "correctness_weight"),
    ({"length_budget": 0}, "length_budget"),
    ({"process_neutral": 2}, "process_neutral"),
])
def test_bad_config_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(InputError, match=field):
        RewardConfig(**kwargs)


def test_unknown_reward_name_is_refused():
    with pytest.raises(InputError, match="unknown reward 'accuracy'.*correctness"):
        create_reward_function("accuracy")
    assert set(REWARD_NAMES) == {"correctness", "format", "consistency", "length", "process", "combined"}


@pytest.mark.parametrize("response, expected", [
    (HONEST_RIGHT, 1.0),
    ("<think>\n</think>\n391", 0.75),                   # empty reasoning
    ("<think>work</think>", 0.75),                       # no answer after the block
    ("Sure! <think>work</think> 391", 0.5),              # text before <think> halves it
    ("391", 0.0), ("<think>never closed 391", 0.0),
    ("<think>a</think><think>b</think> 391", 0.0),       # repeated block
    ("<think><think>a</think></think> 391", 0.0),        # nested
    ("</think>a<think> 391", 0.0),                       # out of order
])
def test_format_partial_credit(response, expected):
    assert score(response, "format").reward == expected


def test_format_with_a_template_that_already_opened_think():
    completion = "23 × 17 = 391</think>\nThe answer is 391."
    fn = create_reward_function("format")
    assert fn(prompts=["<|im_start|>assistant\n<think>\n"], completions=[completion]) == [1.0]
    assert fn(prompts=["<|im_start|>assistant\n"], completions=[completion]) == [0.0]
    prefill = [{"role": "user", "content": PROBLEM}, {"role": "assistant", "content": "<think>"}]
    assert fn(prompts=[prefill], completions=[completion]) == [1.0]
    forced = create_reward_function("format", RewardConfig(think_prefilled=True))
    assert forced(prompts=[[{"role": "user", "content": PROBLEM}]], completions=[completion]) == [1.0]


def test_consistency():
    assert score(HONEST_RIGHT, "consistency").reward == 1.0
    disagree = "<think>23 × 17 = 391</think>\nThe answer is 392."
    assert score(disagree, "consistency").reward == 0.0
    several = "<think>23 × 17 = 391</think>\nThe answer is 391. Actually the answer is 392."
    assert score(several, "consistency").reward == 0.0
    # Language: a Chinese prompt answered with English reasoning loses most of the score.
    chinese = score("<think>First compute twenty three times seventeen = 391</think> 391", "consistency",
                    problem="计算二十三乘以十七").reward
    chinese_ok = score("<think>先算二十三乘以十七 = 391</think> 391", "consistency", problem="计算二十三乘以十七").reward
    assert chinese < 0.2 and chinese_ok == 1.0


def test_length_is_cosine_scaled_and_wrong_answers_never_gain_from_brevity():
    config = RewardConfig(length_budget=1000)
    short_right, long_right = HONEST_RIGHT, HONEST_RIGHT.replace("</think>", " checking each digit." * 40 + "</think>")
    short_wrong, long_wrong = HONEST_WRONG, HONEST_WRONG.replace("</think>", " checking each digit." * 40 + "</think>")
    values = {name: score(text, "length", config).reward for name, text in
              [("short_right", short_right), ("long_right", long_right), ("short_wrong", short_wrong),
               ("long_wrong", long_wrong)]}
    assert values["short_right"] > values["long_right"] >= 0.5
    assert values["long_wrong"] > values["short_wrong"] >= 0.0
    assert values["long_wrong"] <= 0.25 < values["long_right"]
    assert score(HONEST_RIGHT, "length", reference=None).components == {}  # no reference: does not apply


@pytest.mark.parametrize("reasoning, expected", [
    ("23 × 17 = 391", 1.0), ("23 × 17 = 381", 0.0), ("3/4 of 20 = 15 and 15 + 5 = 21", 0.5),
    ("<<48/2=24>> then <<24*3=72>>", 1.0), ("2 + 3 = 5 = 10/2 = 6", 2 / 3), ("We just know it.", 0.5),
    ("Janet sells 16 - 3 - 4 = 9 duck eggs. He runs 9*60=540 meters", 1.0),
    ("25% of 80 = 20", 1.0), ("$12 × 3 = $36", 1.0), ("10/3 = 3.33", 1.0), ("x - 3 = 5, 9**9**9**9 = 1", 0.5),
    # a step right after a sentence's full stop is still a step
    ("Jo has 3 apples. 3 + 4 = 7 apples.", 1.0), ("Jo has 3 apples. 3 + 4 = 8 apples.", 0.0),
])
def test_process_checks_each_step(reasoning, expected):
    assert score(f"<think>{reasoning}</think> 391", "process").reward == pytest.approx(expected)


def test_correctness_for_math_logic_and_code():
    assert score(HONEST_RIGHT, "correctness").reward == 1.0
    assert score(HONEST_WRONG, "correctness").reward == 0.0
    assert score("<think>...</think> Uncertain", "correctness", reference="Unknown", reasoning_type="logic").reward == 1.0
    tests = "def check(candidate):\n    assert candidate(3) == 9\n"
    code = "<think>square</think>\n```python\ndef sq(x):\n    return x * x\n```"
    assert score(code, "correctness", reference=None, reasoning_type="code", tests=tests, entry_point="sq").reward == 1.0
    assert score(code.replace("x * x", "x + x"), "correctness", reference=None, reasoning_type="code", tests=tests,
                 entry_point="sq").reward == 0.0


# Reward hacking: none of these may score higher than the honest wrong answer (381) under
# the combined reward. Each row is one trick a policy could learn.
HACKS = [
    # answer only inside the think block, nothing after it
    "<think>23 × 17 = 391, so the answer is 391</think>",
    # repeated think blocks, the right number hidden among them
    "<think>23 × 17 = 391</think> 381 <think>again</think> 391",
    # nested think tags
    "<think><think>23 × 17 = 391</think></think> The answer is 391.",
    # hedging over several candidates
    "<think>23 × 17 = 391</think> The answer is 389 or 390 or 391 or 392.",
    "<think>23 × 17 = 391</think> " + " or ".join(str(n) for n in range(300, 400)),
    # a list of candidates without words
    "<think>23 × 17 = 391</think> " + ", ".join(str(n) for n in range(380, 400)),
    # many boxed numbers
    "<think>23 × 17 = 391</think> " + " ".join(f"\\boxed{{{n}}}" for n in range(385, 395)),
    # padding the reasoning to farm the length reward with a wrong answer
    "<think>" + "hmm " * 2000 + "</think> The answer is 381.",
    # no reasoning, no format, bare wrong guess
    "381",
]


@pytest.mark.parametrize("hack", HACKS, ids=range(len(HACKS)))
def test_reward_hacks_do_not_beat_an_honest_wrong_answer(hack):
    honest = score(HONEST_WRONG).reward
    assert score(hack).reward <= honest, score(hack)


HOSTILE = [None, "", "9**9**9**9", "<think>9^{9^{9^{9}}} = 1</think> \\boxed{10^{10^{10}}}",
           "<think>" + "\\frac{" * 300 + "</think> \\boxed{" + "{" * 300 + "}", "7" * 1_000_000,
           "<think>" + "1+1=2\n" * 100_000 + "</think> 2", "<think>٣٩١</think> ٣٩١", "\x00\ud800" * 10,
           ["not", "a", "string"], 12345]


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_neither_crashes_nor_hangs_nor_counts_as_correct(hostile):
    started = time.monotonic()
    result = score(hostile)
    assert 0.0 <= result.reward <= 1.0
    # Only the Arabic-Indic digits (٣٩١ is 391) answer the question; nothing else may be credited.
    correct = isinstance(hostile, str) and hostile.endswith("٣٩١")
    assert result.components["correctness"] == (1.0 if correct else 0.0)
    assert time.monotonic() - started < 10


def test_trl_calling_convention():
    """Called exactly as GRPOTrainer._calculate_rewards calls a sync reward function."""
    from trl.trainer.utils import get_callable_name, is_async_callable

    funcs, weights = trl_reward_functions(RewardConfig())
    assert [get_callable_name(f) for f in funcs] == ["correctness", "format", "consistency", "length", "process"]
    assert weights == pytest.approx([0.4, 0.2, 0.2, 0.1, 0.1]) and not any(is_async_callable(f) for f in funcs)
    prompts = [[{"role": "user", "content": PROBLEM}]] * 3
    completions = [[{"role": "assistant", "content": HONEST_RIGHT}], [{"role": "assistant", "content": HONEST_WRONG}],
                   [{"role": "assistant", "content": "<think>x</think> hello"}]]
    columns = {"answer": ["391", "391", None], "reasoning_type": ["math"] * 3, "tests": [None] * 3,
               "entry_point": [None] * 3, "id": ["a", "b", "c"], "trainer_state": object(),
               "log_extra": lambda *a, **k: None, "log_metric": lambda *a, **k: None}
    rewards = {get_callable_name(f): f(prompts=prompts, completions=completions, completion_ids=[[1]] * 3, **columns)
               for f in funcs}
    assert rewards["correctness"] == [1.0, 0.0, None]  # None: no reference for that row
    assert rewards["length"][2] is None and rewards["format"] == [1.0, 1.0, 1.0]
    combined = create_reward_function("combined")(prompts=prompts, completions=completions, **columns)
    assert combined[0] > combined[1] > 0 and all(isinstance(v, float) for v in combined)
