"""Hostile text against answer extraction and the rewards: every call must stay under 1 s.

The adversarial inputs are the shapes that made the old regexes backtrack (long runs of
spaces or digits between the pieces a pattern looks for, thousands of unclosed boxes or
fences); the random ones are built from the characters those patterns care about, so a new
pattern with the same flaw is found without knowing its shape in advance."""
from __future__ import annotations

import random
import threading
import time

import pytest

from reasoning.rewards import create_reward_function
from reasoning.rewards.components import Sample, consistency
from reasoning.rewards.process import process_score
from reasoning.scoring import answers

LIMIT_S = 1.0
N = 20_000

ADVERSARIAL = {
    "digit, spaces, letter": "1" + " " * N + "x",
    "digit, spaces, or": "1" + " " * N + "or",
    "unclosed boxes then an answer": "\\boxed{" * 3000 + " The answer is 42",
    "1 MB of unclosed boxes": "\\boxed{" * (1_000_000 // 7),
    "equals then spaces": "=" + " " * N + "x",
    "answer is, spaces": "The answer is" + " " * N + "x",
    "answer, spaces, no verb": "answer" + " " * N + "x",
    "hashes, spaces": "####" + " " * N + "x" + " " * N + "y",
    "digits and spaces": "1 " * N + "=",
    "thousands commas": "1," * N + "x",
    "dollars": "$" * N + "1",
    "unclosed fences": "```python\n" * 5000,
    "of-chains": "1 of " * 4000 + "= x",
    "percent runs": "1" + " " * N + "%x",
    "times runs": "1" + " " * N + "x" + " " * N + "y",
    "exponent tower": "9^{9^{9^{9}}}",
    "deep frac": "\\frac{" * 10_000 + "1" + "}" * 10_000,
    "long process lines": "\n".join(("1 " * 1000)[:1990] + "=" for _ in range(60)),
    "unicode digits": "٤" * N + " ４" * N,
    "think soup": "<think>" * 500 + "</think>" * 500 + "1 " * N,
}
ALPHABET = list("0123456789 \n\t=+-*/^().,$%!{}\\#:xXor") + ["\\boxed{", "\\frac{", "answer is ", "#### ", "```",
                                                            "<think>", "</think>", " or ", " of ", "٣", "７"]


def _random_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        pieces = rng.choices(ALPHABET, k=rng.randint(1, 400))
        # Long runs of one piece are what exposes backtracking: repeat a random piece a lot.
        run = rng.choice(ALPHABET) * rng.randint(100, 5000)
        at = rng.randint(0, len(pieces))
        texts.append("".join(pieces[:at]) + run + "".join(pieces[at:]))
    return texts


def _calls(text: str):
    combined = create_reward_function("combined")
    response = f"<think>{text}</think>\n{text}"
    return {
        "extract_final_answer": lambda: answers.extract_final_answer(response),
        "extract_final_answer (answer part only)": lambda: answers.extract_final_answer(text),
        "extract_code": lambda: answers.extract_code(response),
        "find_boxed": lambda: answers.find_boxed(text),
        "is_equivalent(text, 42)": lambda: answers.is_equivalent(text[:8000], "42"),
        "is_equivalent(42, text)": lambda: answers.is_equivalent("42", text[:8000]),
        "is_equivalent logic": lambda: answers.is_equivalent(text[:8000], "True", "logic"),
        "process_score": lambda: process_score(text),
        "consistency": lambda: consistency(Sample(response=response, reference="42", problem="q")),
        "combined reward": lambda: combined.compute(response=response, reference="42", problem="q"),
    }


def _slow_calls(texts: dict[str, str]) -> list[tuple[str, str, float]]:
    slow = []
    for name, text in texts.items():
        for call_name, call in _calls(text).items():
            started = time.monotonic()
            call()
            elapsed = time.monotonic() - started
            if elapsed >= LIMIT_S:
                slow.append((name, call_name, round(elapsed, 2)))
    return slow


@pytest.fixture(scope="module", autouse=True)
def _warm():
    # The first math-verify call imports sympy (seconds): not what this file measures.
    answers.is_equivalent("x^2+2x+1", "(x+1)^2")
    answers.is_equivalent("\\frac{1}{2}", "0.5")


def test_adversarial_inputs_each_score_in_under_a_second():
    assert _slow_calls(ADVERSARIAL) == []


@pytest.mark.parametrize("seed", [0, 1])
def test_random_inputs_each_score_in_under_a_second(seed):
    texts = {f"random {seed}/{i}": text for i, text in enumerate(_random_texts(25, seed))}
    assert _slow_calls(texts) == []


def test_the_last_answer_survives_the_length_bound():
    # Bounding the input keeps its end: an answer after megabytes of junk is still found.
    junk = "\\boxed{" * 200_000 + "1 " * 100_000
    assert answers.extract_final_answer("<think>x</think>" + junk + "\nThe answer is 42.") == "42"
    assert answers.extract_final_answer("<think>x</think>" + " " * 1_000_000 + "\\boxed{42}") == "42"


def test_boxes_are_found_in_order_nested_and_unclosed():
    assert answers.find_boxed("\\boxed{1} and \\boxed{\\frac{1}{2}} \\boxed{") == ["1", "\\frac{1}{2}"]
    assert answers.find_boxed("\\boxed{\\boxed{3}}") == ["\\boxed{3}", "3"]
    assert answers.find_boxed("\\fbox {x}") == ["x"]


def test_code_blocks_are_the_last_closed_fence():
    assert answers.extract_code("```python\na = 1\n```\ntext\n```py\nb = 2\n```") == "b = 2"
    assert answers.extract_code("```python3\nc = 3\n```") == "c = 3"
    assert answers.extract_code("```js\nnot python\n```") == "```js\nnot python\n```"


def test_a_think_tag_after_the_answer_gets_no_credit():
    # Deliberate: "</think>42<think>" has its tags out of order; no answer is extracted.
    assert answers.extract_final_answer("</think>42<think>") is None
    assert not answers.check_response("</think>42<think>", "42")
    assert create_reward_function("combined").compute(response="</think>42<think>", reference="42").components[
        "correctness"] == 0.0
    assert answers.extract_final_answer("<think>6*7</think>42") == "42"


@pytest.mark.parametrize("written", ["٤٢", "４２", "The answer is ٤٢.", "\\boxed{４２}"])
def test_digits_of_any_script_are_the_same_number(written):
    # Deliberate: Arabic-Indic and full-width digits are read as the ASCII digits they are.
    response = f"<think>6*7</think> {written}"
    assert answers.extract_final_answer(response) == "42"
    assert answers.check_response(response, "42")
    assert answers.is_equivalent(written if written.isdigit() else "٤٢", "42")
    assert answers.is_equivalent("42", "٤٢")


def test_a_harmless_check_does_not_wait_behind_a_slow_one():
    # One worker behind a lock made a harmless call wait for the slow call's timeout plus
    # the worker's restart (3.9 s with 4 threads).
    assert answers.is_equivalent("x^2+2x+1", "(x+1)^2")
    idle = getattr(answers._WORKER, "_idle", None)
    deadline = time.monotonic() + 30
    while idle is not None and len(idle) < 2 and time.monotonic() < deadline:
        answers.is_equivalent("x^2+2x+1", "(x+1)^2")  # lets the pool warm its spare
        time.sleep(0.2)
    slow = threading.Thread(target=answers.is_equivalent,
                            args=("\\frac{(x+1)^{40}}{(x-1)^{40}}", "(x+3)^{40}"), kwargs={"timeout": 1.0})
    slow.start()
    time.sleep(0.2)
    timings = []
    for _ in range(3):
        started = time.monotonic()
        assert answers.is_equivalent("x^2+2x+1", "(x+1)^2")
        timings.append(time.monotonic() - started)
    slow.join()
    assert max(timings) < 0.5, timings
