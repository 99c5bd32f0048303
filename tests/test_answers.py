"""Answer extraction and equivalence: the one implementation shared by rewards and evaluation."""
from __future__ import annotations

import threading
import time

import pytest

from reasoning.scoring.answers import (
    check_response,
    extract_code,
    extract_final_answer,
    is_equivalent,
    normalize_logic_label,
    split_think,
)


def test_split_think_uses_the_last_close_tag_and_handles_truncation():
    assert split_think("<think>6*7=42</think>\nThe answer is 42.") == ("6*7=42", "The answer is 42.")
    assert split_think("<think>still thinking") == ("still thinking", "")  # cut off inside the block
    assert split_think("no tags, 42") == (None, "no tags, 42")
    assert split_think("reasoning only closed</think> 5") == ("reasoning only closed", "5")  # prefilled template
    assert split_think(None) == (None, "")


@pytest.mark.parametrize("response, expected", [
    ("<think>x</think> So \\boxed{391}.", "391"),
    ("<think>x</think> \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("<think>x</think>The answer is **42**.", "42"),
    ("<think>x</think>The final answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
    ("<think>x</think>Answer: True", "True"),
    ("<think>x</think>\n#### 1,234", "1,234"),
    ("<think>x</think> so she has 3 then 7 apples", "7"),  # fallback: last number of the answer part
    ("plain reply without tags: 12", "12"),
    ("<think>the answer is 5</think>", None),  # answer only inside the think block
    ("<think>a</think>\\boxed{1} \\boxed{2}", None),  # several different boxes
    ("<think>a</think>\\boxed{2} and again \\boxed{2}", "2"),
    ("<think>a</think><think>b</think> 391", None),  # repeated blocks
    ("<think>a</think> it is 390 or 391", None),  # hedging
    ("<think>a</think> 1, 2, 3, 4, 5, 6, 391", None),  # a list of candidates
    ("", None), (None, None),
])
def test_extract_final_answer(response, expected):
    assert extract_final_answer(response) == expected


@pytest.mark.parametrize("predicted, reference, kind, expected", [
    ("391", "391", "math", True), ("391.0", "391", "math", True), ("\\frac{782}{2}", "391", "math", True),
    ("1,000", "1000", "math", True), ("$12", "12", "math", True), ("392", "391", "math", False),
    ("1/2", "0.5", "math", True), ("\\frac12", "0.5", "math", True),
    # Percentages: 50\% equals both 50 and 0.5 (references write percents either way).
    ("50\\%", "0.5", "math", True), ("0.5", "50\\%", "math", True), ("50", "50\\%", "math", True),
    ("\\{1,2\\}", "\\{2,1\\}", "math", True), ("[1,2)", "[1,2)", "math", True), ("(1,2)", "[1,2)", "math", False),
    ("(x+1)^2", "x^2+2x+1", "math", True), ("\\text{Monday}", "Monday", "math", True),
    ("1 or 2 or 391", "391", "math", False),
    ("uncertain", "Unknown", "logic", True), ("Yes", "True", "logic", True), ("\\text{False}", "false", "logic", True),
    ("Cannot be determined", "Uncertain", "logic", True), ("True", "False", "logic", False), ("maybe", "True", "logic", False),
    ("Paris", "paris", "general", True), (None, "1", "math", False), ("", "1", "math", False),
])
def test_is_equivalent(predicted, reference, kind, expected):
    assert is_equivalent(predicted, reference, kind) is expected


def test_normalize_logic_label():
    assert normalize_logic_label("**True**.") == "True"
    assert normalize_logic_label("not sure at all") is None


HOSTILE = ["9**9**9**9", "9^{9^{9^{9}}}", "10^{10^{10}}", "{" * 500 + "1" + "}" * 500, "\\frac{" * 200 + "1",
           "1" * 1_000_000, "٣٩١", "\x00\x01", "   ", "(" * 10000, "1000000!", "2^{99999}"]


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_answers_neither_crash_nor_hang(hostile):
    started = time.monotonic()
    # Unicode digits are digits: "٣٩١" is 391. Everything else here is not 391.
    assert is_equivalent(hostile, "391") is (hostile == "٣٩١")
    extract_final_answer(f"<think>x</think> \\boxed{{{hostile}}}")
    assert time.monotonic() - started < 5


def test_bounded_in_worker_threads_where_signal_alarm_cannot_work():
    """math-verify's own timeout needs the main thread; ours must hold in any thread."""
    results = {}

    def check():
        started = time.monotonic()
        results["value"] = is_equivalent("x^{2}+2x+1 + \\sqrt{\\sin^{2}(y)+\\cos^{2}(y)}", "(x+1)^2+1", timeout=1.0)
        results["elapsed"] = time.monotonic() - started
        results["easy"] = is_equivalent("x^{2}+2x+1", "(x+1)^2", timeout=10.0)

    thread = threading.Thread(target=check)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    assert isinstance(results["value"], bool)  # equal or cut off by the timeout (then: not equivalent)
    assert results["easy"] is True  # from a thread the check really runs; it does not just give up
    assert results["elapsed"] < 30  # includes starting the worker process once


def test_extract_code_prefers_the_last_fenced_block_after_think():
    response = "<think>```python\nbad()\n```</think>\nHere:\n```python\ndef f():\n    return 1\n```\n"
    assert extract_code(response) == "def f():\n    return 1"
    assert extract_code("def g():\n    return 2") == "def g():\n    return 2"


def test_check_response_math_and_logic():
    assert check_response("<think>23*17=391</think> The answer is 391.", "391")
    assert not check_response("<think>23*17=381</think> The answer is 381.", "391")
    assert check_response("<think>premises...</think> Uncertain", "Uncertain", "logic")


def test_check_response_code_runs_the_tests_in_the_sandbox():
    tests = "def check(candidate):\n    assert candidate(2) == 4\n"
    good = "<think>square it</think>\n```python\ndef sq(x):\n    return x * x\n```"
    bad = "<think>double it</think>\n```python\ndef sq(x):\n    return x + 3\n```"
    assert check_response(good, None, "code", tests=tests, entry_point="sq")
    assert not check_response(bad, None, "code", tests=tests, entry_point="sq")
    # A HumanEval-style body completion is joined to the prompt's signature.
    assert check_response("    return x * x\n", None, "code", tests=tests, entry_point="sq", problem="def sq(x):\n")
