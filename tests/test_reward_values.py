"""Each reward component and the weight mapping against values computed by hand.

Every expected number below is a literal worked out from the documented formula, never
recomputed with the code under test (a test that builds its expectation with
``config.weights()`` passes whatever that mapping does).
"""
from __future__ import annotations

import math

import pytest

from reasoning import RewardConfig, create_reward_function
from reasoning.rewards import problem_of, prompt_opens_think, trl_reward_functions

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


# --------------------------------------------------------------------------- what the reasoning reached

@pytest.mark.parametrize("response, kind", [
    # the last logic label of the reasoning, not the first
    ("<think>All cats are mammals, so it is true. Wait, no: it is false.</think> The answer is False.", "logic"),
    # the last boxed value
    ("<think>first \\boxed{12} then \\boxed{391}</think> The answer is 391.", "math"),
    # the last "answer is" statement, in any case
    ("<think>The answer is 12? No. So the answer is 391.</think> The answer is 391.", "math"),
    ("<think>Answer is 391 checked with 17 and 5</think> The answer is 391.", "math"),
    # the last "= number", before any later bare number
    ("<think>23 × 17 = 391 (17 × 23 also, counted 2 times)</think> The answer is 391.", "math"),
    # only a bare number
    ("<think>It is 391</think> The answer is 391.", "math"),
])
def test_consistency_compares_with_the_result_the_reasoning_reached(response, kind):
    reference = "False" if kind == "logic" else "391"
    result = create_reward_function("consistency").compute(response=response, reference=reference, problem="q",
                                                            reasoning_type=kind)
    assert result.reward == 1.0, result.reasons


@pytest.mark.parametrize("response, kind", [
    ("<think>it is true</think> The answer is True, or maybe False.", "logic"),
    ("<think>23 × 17 = 391</think> \\boxed{391} and the answer is 392", "math"),
    ("<think>23 × 17 = 391</think> The answer is 391. ANSWER IS 392", "math"),
])
def test_consistency_is_zero_when_the_answer_states_several_results(response, kind):
    result = create_reward_function("consistency").compute(response=response, reference="391", problem="q",
                                                            reasoning_type=kind)
    assert (result.reward, result.reasons["consistency"]) == (0.0, "the answer states several different results")


@pytest.mark.parametrize("response, expected", [
    ("<think>23 × 17 = 391</think>\nThe answer is 391.", (1.0, "well formed")),
    ("<think>\n</think>\n391", (0.75, "empty or padded reasoning")),
    ("<think>work</think>", (0.75, "no answer after </think>")),
    ("Sure! <think>work</think> 391", (0.5, "text before <think>")),
    ("Sure! <think></think>", (0.25, "empty or padded reasoning, no answer after </think>, text before <think>")),
    ("</think>a<think> 391", (0.0, "</think> comes before <think>")),
    ("391", (0.0, "0 <think> and 0 </think> tags (need one each)")),
])
def test_format_says_what_is_missing(response, expected):
    result = create_reward_function("format").compute(response=response)
    assert (result.reward, result.reasons["format"]) == expected


# --------------------------------------------------------------------------- configuration limits

@pytest.mark.parametrize("kwargs, field, message", [
    ({"format_weight": float("inf")}, "format_weight", "must be a finite number >= 0, got inf"),
    ({"length_weight": float("nan")}, "length_weight", "must be a finite number >= 0, got nan"),
    ({"process_weight": "0.1"}, "process_weight", "must be a finite number >= 0, got '0.1'"),
    ({"correctness_weight": 0, "format_weight": 0, "consistency_weight": 0, "length_weight": 0, "process_weight": 0},
     "correctness_weight", "at least one reward weight must be > 0"),
    ({"length_budget": 0}, "length_budget", "must be > 0, got 0"),
    ({"consistency_neutral": -0.1}, "consistency_neutral", "must lie in [0, 1], got -0.1"),
    ({"length_min_correct": 0.9, "length_max_correct": 0.8}, "length_min_correct", "must not exceed length_max_correct"),
    ({"length_max_wrong": 0.6}, "length_max_wrong", "must not exceed length_min_correct"),
    ({"timeout": 0}, "timeout", "must be > 0, got 0"),
    ({"code_timeout": 0.0}, "code_timeout", "must be > 0, got 0.0"),
    ({"max_response_chars": 999}, "max_response_chars", "must be at least 1000"),
])
def test_config_refuses_each_bad_value_naming_field_and_limit(kwargs, field, message):
    from reasoning.errors import InputError
    with pytest.raises(InputError) as error:
        RewardConfig(**kwargs)
    assert error.value.field == field and str(error.value).endswith(message)


def test_config_accepts_the_limits_themselves():
    config = RewardConfig(length_budget=1, length_min_correct=0.5, length_max_correct=0.5, length_max_wrong=0.5,
                          max_response_chars=1000, timeout=0.01, code_timeout=0.01, correctness_weight=0,
                          format_weight=0, consistency_weight=0, length_weight=0, process_weight=1e-9)
    assert config.weights()["process"] == 1e-9


def test_unknown_reward_or_config_type_is_refused_naming_the_argument():
    from reasoning.errors import InputError
    with pytest.raises(InputError) as error:
        create_reward_function("accuracy")
    assert error.value.field == "reward"
    assert "known: correctness, format, consistency, length, process, combined" in str(error.value)
    with pytest.raises(InputError) as error:
        create_reward_function("format", {"format_weight": 1})
    assert error.value.field == "config" and "expected a RewardConfig, got dict" in str(error.value)
    assert create_reward_function("  Format ").name == "format"


# --------------------------------------------------------------------------- reasons and boundaries

@pytest.mark.parametrize("response, reference, kind, expected", [
    ("<think>x</think> The answer is 391.", "391", "math", (1.0, "correct")),
    ("<think>x</think> The answer is 392.", "391", "math", (0.0, "wrong final answer '392'")),
    ("<think>391</think>", "391", "math", (0.0, "no final answer after </think>")),
    ("<think>x</think> no code here", None, "code", (0.0, "wrong")),
    ("<think>x</think>", None, "code", (0.0, "wrong")),  # code: no "final answer" to miss
])
def test_correctness_reasons(response, reference, kind, expected):
    tests = CODE_TESTS if kind == "code" else None
    result = create_reward_function("correctness").compute(response=response, reference=reference,
                                                            reasoning_type=kind, tests=tests,
                                                            entry_point="sq" if tests else None)
    assert (result.reward, result.reasons["correctness"]) == expected


CODE_TESTS = "def check(candidate):\n    assert candidate(3) == 9\n"


def test_consistency_checks_logic_answers_as_labels():
    # "Uncertain" and "unknown" are the same logic label: the answer agrees with the reasoning
    response = "<think>The premises leave it unknown.</think> The answer is Uncertain."
    result = create_reward_function("consistency").compute(response=response, reference="Unknown", problem="q",
                                                            reasoning_type="logic")
    assert (result.reward, result.reasons["consistency"]) == (1.0, "answer agrees with the reasoning; "
                                                                    "100% of the reasoning in the prompt's script")
    code = create_reward_function("consistency").compute(response=CODE_RESPONSE, problem="q", reasoning_type="code",
                                                          tests=CODE_TESTS, entry_point="sq")
    assert (code.reward, code.reasons["consistency"].split(";")[0]) == (0.5, "no reasoning result to compare")


CODE_RESPONSE = "<think>square it</think>\n```python\ndef sq(x):\n    return x * x\n```"


def test_consistency_reasons_name_both_results():
    result = create_reward_function("consistency").compute(response="<think>23 × 17 = 391</think> The answer is 392.",
                                                            reference="391", problem="q")
    assert result.reasons["consistency"].startswith("answer '392' differs from the reasoning's '391'")
    none = create_reward_function("consistency").compute(response="<think>hmm</think>", reference="391")
    assert (none.reward, none.reasons["consistency"]) == (0.0, "no final answer")


def test_two_stated_results_are_several_but_one_repeated_is_not():
    fn = create_reward_function("consistency")
    two = fn.compute(response="<think>23 × 17 = 391</think> The answer is 391. The answer is 392.", reference="391")
    same = fn.compute(response="<think>23 × 17 = 391</think> The answer is 391. The answer is 391.", reference="391")
    assert (two.reward, same.reward) == (0.0, 1.0)


@pytest.mark.parametrize("text, degenerate", [
    ("a" * 399, False), ("a" * 400, True), (varied_text(400), False), ("ab" * 200, True),
])
def test_padding_is_long_text_that_compresses_to_almost_nothing(text, degenerate):
    from reasoning.rewards.components import is_degenerate
    assert is_degenerate(text) is degenerate


def test_length_reason_and_padding_of_a_wrong_answer():
    config = RewardConfig(length_budget=1000)
    right = create_reward_function("length", config).compute(response=response_of_length(500), reference="391")
    wrong = create_reward_function("length", config).compute(response=response_of_length(500, "392"),
                                                              reference="391")
    assert right.reasons["length"] == "correct, 500 of 1000 chars"
    assert wrong.reasons["length"] == "wrong, 500 of 1000 chars"
    none = create_reward_function("length").compute(response=RIGHT_RESPONSE, reference=None)
    assert none.reasons["length"] == "no reference: length is only judged together with correctness"


RIGHT_RESPONSE = "<think>23 × 17 = 391</think>\nThe answer is 391."


# --------------------------------------------------------------------------- the TRL calling form
# Each dataset column and the prompt reach the scoring of the completion at the same index
# (found missing by mutation testing: a reward that ignored the reasoning_type, tests or
# problem column, or read the wrong chat turn, passed).

RIGHT = "<think>23 × 17 = 391</think>\nThe answer is 391."
CODE = "<think>square</think>\n```python\ndef sq(x):\n    return x * x\n```"


def test_reasoning_type_column_selects_the_checker():
    correctness = create_reward_function("correctness")
    logic = "<think>The premises do not settle it.</think> Uncertain"
    # "Uncertain" equals the logic label "Unknown", but is no math answer for it
    assert correctness(completions=[logic, logic], answer=["Unknown", "Unknown"],
                       reasoning_type=["logic", "math"]) == [1.0, 0.0]
    assert correctness(completions=[logic], answer=["Unknown"]) == [0.0]  # no column: math


def test_tests_and_entry_point_columns_run_the_code_in_the_sandbox():
    correctness = create_reward_function("correctness")
    wrong = CODE.replace("x * x", "x + x")
    assert correctness(completions=[CODE, wrong], reasoning_type=["code", "code"], tests=[CODE_TESTS, CODE_TESTS],
                       entry_point=["sq", "sq"], answer=[None, None]) == [1.0, 0.0]


def test_a_scalar_column_applies_to_every_completion():
    assert create_reward_function("correctness")(completions=[RIGHT, RIGHT], answer="391") == [1.0, 1.0]


def test_problem_column_and_chat_prompts_give_the_language_to_reason_in():
    consistency = create_reward_function("consistency")
    english = "<think>twenty three times seventeen = 391</think> 391"
    chinese = "计算二十三乘以十七"
    # the problem column, when present, is the problem
    assert consistency(completions=[english, english], problem=[chinese, "What is 23 times 17?"]) == [0.0, 1.0]
    # otherwise the last user turn of the chat prompt (not the system prompt, not an earlier turn)
    prompt = [{"role": "system", "content": "You are a helpful assistant who always reasons step by step carefully"},
              {"role": "user", "content": "Please answer the next question in my language"},
              {"role": "assistant", "content": "Sure, go ahead with your question"},
              {"role": "user", "content": chinese}]
    assert problem_of(prompt) == chinese
    assert consistency(prompts=[prompt], completions=[english]) == [0.0]
    assert problem_of("plain prompt") == "plain prompt"
    assert problem_of([{"role": "system", "content": "only a system turn"}]) == "only a system turn"


def test_prompts_shorter_or_missing_are_scored_without_a_prompt():
    format_reward = create_reward_function("format")
    assert format_reward(completions=[RIGHT, RIGHT]) == [1.0, 1.0]
    assert format_reward(prompts=["<think>"], completions=["x</think> 1", "x</think> 1"]) == [1.0, 0.0]


def test_only_an_assistant_turn_ending_in_think_opens_the_block():
    assert prompt_opens_think([{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>\n"}])
    assert not prompt_opens_think([{"role": "user", "content": "q"}, {"role": "assistant", "content": "Sure."}])
    assert not prompt_opens_think([{"role": "user", "content": "please use <think>"}])
    assert not prompt_opens_think([])
    assert prompt_opens_think("<|im_start|>assistant\n<think>\n")
    format_reward = create_reward_function("format")
    assistant_said_something = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "Sure."}]
    assert format_reward(prompts=[assistant_said_something], completions=[RIGHT]) == [1.0]


def test_compute_takes_the_prompt_into_account_and_gives_zero_when_nothing_applies():
    fn = create_reward_function("format")
    prefill = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>"}]
    assert fn.compute(response="23 × 17 = 391</think> 391", prompt=prefill).reward == 1.0
    nothing = create_reward_function("correctness").compute(response=RIGHT, reference=None)
    assert nothing.reward == 0.0 and nothing.components == {}


def test_trl_reward_functions_score_with_the_given_config():
    functions, _ = trl_reward_functions(RewardConfig(consistency_neutral=0.3, process_neutral=0.2))
    by_name = {f.__name__: f for f in functions}
    no_number = "<think>I multiply them.</think> The answer is 391."
    assert by_name["consistency"](completions=[no_number], answer=["391"]) == [0.3]
    assert by_name["process"](completions=[no_number], answer=["391"]) == [0.2]


# --------------------------------------------------------------------------- process: notation and tolerance

@pytest.mark.parametrize("reasoning, expected", [
    ("\\frac{1}{2} \\times 8 = 4", 1.0), ("\\dfrac{6}{3} \\cdot 5 = 10", 1.0), ("\\tfrac{9}{3} \\div 3 = 1", 1.0),
    ("\\frac{1}{2} \\times 8 = 5", 0.0),
    ("3 x 4 = 12", 1.0), ("3 X 4 = 12", 1.0), ("3x4 = 13", 0.0),
    ("50 % of 8 = 4", 1.0), ("1/4 of 8 = 2", 1.0), ("1/4 of 8 = 3", 0.0),
    ("2^3 = 8", 1.0), ("\\left(2+3\\right) \\cdot 2 = 10", 1.0), ("1,000 + 1 = 1,001", 1.0),
    # exact up to 1e-9 relative; a written decimal may be rounded to its places (half a unit)
    ("1/3 = 333333333/1000000000", 1.0), ("1/3 = 33333333/100000000", 0.0),
    ("16/25 = 0.6", 1.0), ("10/3 = 3.4", 0.0), ("2/3 = 0.667", 1.0), ("2/3 = 0.666", 0.0),
    ("= 5 * y and 2 + 2 = 4", 1.0),
])
def test_process_reads_notation_and_allows_written_rounding(reasoning, expected):
    assert component("process", f"<think>{reasoning}</think> The answer is 391.") == expected


def test_correctness_says_when_there_is_nothing_to_check_against():
    result = create_reward_function("correctness").compute(response=RIGHT, reference=None)
    assert result.reasons["correctness"] == "no reference answer or tests for this row"


def test_consistency_says_when_the_reasoning_reaches_no_result():
    result = create_reward_function("consistency").compute(response="<think>I multiply them.</think> The answer is 391.",
                                                            reference="391", problem="q")
    assert result.reasons["consistency"].startswith("the reasoning reaches no comparable result;")


def test_process_reads_the_reasoning_or_the_whole_response_without_a_think_block():
    assert component("process", "<think>2 + 2 = 4</think> and 2 + 2 = 5") == 1.0
    assert component("process", "2 + 2 = 5, so 391") == 0.0


def test_padding_check_survives_text_that_cannot_be_encoded():
    from reasoning.rewards.components import is_degenerate
    assert is_degenerate("\ud800" * 500) is True
