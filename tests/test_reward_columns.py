"""The TRL calling form of the rewards: each dataset column and the prompt reach the scoring
of the completion at the same index (found missing by mutation testing: a reward that
ignored the reasoning_type, tests or problem column, or read the wrong chat turn, passed)."""
from __future__ import annotations

from reasoning import RewardConfig, create_reward_function
from reasoning.rewards import problem_of, prompt_opens_think, trl_reward_functions

RIGHT = "<think>23 × 17 = 391</think>\nThe answer is 391."
CODE = "<think>square</think>\n```python\ndef sq(x):\n    return x * x\n```"
CODE_TESTS = "def check(candidate):\n    assert candidate(3) == 9\n"


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
