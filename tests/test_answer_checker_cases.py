"""Edge cases of the answer checker, one table per helper, each row a behaviour a user sees.

Written against the mutants that survived `make mutate` (issue 14). Under mutmut every
mutant's tests run in a process forked from the one that collected coverage, so module
state (the digit table's cache, the shared worker pool) is already warm there: the tests
below use a fresh digit table and fresh pools so the code paths they guard really run.
"""
from __future__ import annotations

import io
import logging
import sys
import threading
import time
from fractions import Fraction

import pytest

from reasoning.scoring import answers
from reasoning.scoring.answers import (
    check_response,
    extract_code,
    extract_final_answer,
    is_equivalent,
    normalize_logic_label,
    split_think,
    to_ascii_digits,
)


@pytest.fixture
def fresh_digit_table(monkeypatch):
    """An empty translate table, so ``_DigitsToAscii.__missing__`` runs for every character."""
    monkeypatch.setattr(answers, "_DIGITS", answers._DigitsToAscii())


@pytest.mark.parametrize("text, expected", [
    ("٤٢", "42"),  # Arabic-Indic
    ("４２", "42"),  # full-width
    ("x = ٣", "x = 3"),  # ASCII letters around a non-ASCII digit stay as they are
    ("é٣", "é3"),  # a non-ASCII letter is no digit: kept, and no error
    ("x²", "x²"),  # a superscript is not a decimal digit: x² must not become x2
    ("٤2", "42"),  # mixed scripts
])
def test_unicode_digits_become_ascii(fresh_digit_table, text, expected):
    assert to_ascii_digits(text) == expected


# ----------------------------------------------------------------------------- code

@pytest.mark.parametrize("response, expected", [
    (None, ""), ("", ""),
    ("<think>still writing def f():", ""),  # cut off inside the reasoning: no code
    ("<think>still writing ```python\nx = 1\n```", "x = 1"),  # only fenced code inside the think block
    ("<think>x</think>\nprint(1)", "print(1)"),  # unfenced code after the think block
    ("<think>a</think>mid</think>\nprint(1)", "print(1)"),  # after the *last* </think>
    ("</think>\nprint(1)", "print(1)"),  # prefilled template: the response starts with </think>
    ("</think>\nprint(1)  # <think>", "print(1)  # <think>"),  # </think> at index 0 then <think>
    ("\n\nprint(1)\n", "print(1)"),  # leading blank lines dropped
    ("X = 1\nprint(X)", "X = 1\nprint(X)"),  # only newlines are stripped, not letters
    ("    return x\n", "    return x"),  # a HumanEval body keeps its indentation
    ("```python\n    return x\n```", "    return x"),  # fenced body keeps its indentation too
    ("```python\nX = 1\n```", "X = 1"),
    ("```python\nx = 1\n```", "x = 1"),  # a fence at the very start of the response
    ("inline ```code``` then\n```python\nx = 1\n```", "x = 1"),  # a fence without a header is skipped
    ("```python\na = 1\n```\ntext\n```python\nb = 2\n```", "b = 2"),  # the last of several blocks
    ("```python\na = 1\n```\ntext\n```python\nb = 2\n```\nthird\n```python\nc = 3\n```", "c = 3"),
    ("```python\na = 1\n```\n```python\nb = ", "a = 1"),  # a trailing unclosed fence is ignored
    ("````python\nx = 1\n````", "x = 1"),  # a four-backtick fence
    ("```python\na = 1\n``````python\nb = 2\n```", "b = 2"),  # back-to-back fences
    ("```py\nz = 3\n```", "z = 3"), ("``` Python3 \nz = 3\n```", "z = 3"),
])
def test_extract_code_cases(response, expected):
    assert extract_code(response) == expected


def test_fenced_blocks_are_returned_in_order():
    text = "```python\na\n```\nthen\n```\nb\n```\n```js\nc\n```"
    assert answers._fenced_blocks(text) == ["a\n", "b\n"]  # the js block has no python header


# ----------------------------------------------------------------------------- logic and text

@pytest.mark.parametrize("text, expected", [
    ("\\text{False}", "False"), ("\\text{Uncertain}", "Uncertain"), ("\\mathrm{True}", "True"),
    ("$\\mathrm{false}$", "False"), ("\\textbf{True}", None),  # only \text and \mathrm are unwrapped
    ("cannot be determined.", "Uncertain"), ("NO", "False"), (None, None), ("", None),
])
def test_logic_labels_in_latex(text, expected):
    assert normalize_logic_label(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("\\text{Paris}", "paris"), ("Paris.", "paris"), ("PARIS!", "paris"), ("New  York", "new york"),
    ("a,b", "a b"), (".5", ".5"), ("\\text{New York}.", "new york"), ("x-ray", "x-ray"),
])
def test_normalize_text(text, expected):
    assert answers._normalize_text(text) == expected


@pytest.mark.parametrize("predicted, reference, expected", [
    ("\\text{Paris}", "paris", True), ("Paris.", "paris", True), ("New York!", "new york", True),
    ("Paris", "London", False),
])
def test_general_answers_compare_as_text(predicted, reference, expected):
    assert is_equivalent(predicted, reference, "general") is expected


# ----------------------------------------------------------------------------- math routing

@pytest.mark.parametrize("text, expected", [
    ("x" * 400, False), ("x" * 401, True),  # longer than MAX_ANSWER_CHARS
    ("x^2 + y^2", False),  # two powers, no tower
    ("2^3^4", True), ("2**3**4", True), ("2^{3^{4}}", True),  # towers
    ("x^{1000}", True), ("x^{999}", False), ("2**12345", True),  # huge exponents
    ("100!", True), ("99!", False), ("10!!", True), ("9!!", False),  # huge factorials
    ("{" * 13 + "}" * 13, True), ("{" * 12 + "}" * 12, False),  # nesting depth
    ("([{" * 5, True), ("{}" * 13, False),  # every bracket kind opens; closing brackets close
    ("{{}" * 12, True),  # one level deeper per group: 13 at the end
    ("{a" * 13, True), ("{X" * 13, True), ("X" * 13, False),  # other characters leave the depth alone
])
def test_too_hostile(text, expected):
    assert answers._too_hostile(text) is expected


@pytest.mark.parametrize("text, expected", [
    ("x+1", True), ("x" * 80, True), ("x" * 81, False), ("x+" * 50, False),
    ("x^2", False), ("x**2", False), ("5!", False),
    ("\\int x dx", False), ("\\sum x", False), ("\\prod x", False), ("\\lim x", False),
    ("{a}{b}{c}{d}{e}{f}", True), ("{a}{b}{c}{d}{e}{f}{g}", False),  # at most six braces
])
def test_trivially_safe(text, expected):
    assert answers._trivially_safe(text) is expected


def test_unparsable_prediction_is_not_equivalent():
    assert is_equivalent("\\", "391") is False  # math-verify parses "\\" to nothing


def test_in_process_math_check_works_from_a_thread():
    """The short, safe path runs math-verify in the calling thread: its signal-based timeouts
    must be off there, or every check from a trainer's worker thread fails."""
    results = {}
    thread = threading.Thread(target=lambda: results.update(value=is_equivalent("\\frac{782}{2}", "391")))
    thread.start()
    thread.join(30)
    assert results == {"value": True}


# ----------------------------------------------------------------------------- the worker process

def test_serve_worker_protocol(monkeypatch):
    """One JSON pair a line in, "true"/"false" a line out; a bad request answers "false"."""
    requests = '["\\\\frac{1}{2}", "0.5"]\n["1", "2"]\nnot json\n["1"]\n'
    monkeypatch.setattr(sys, "stdin", io.StringIO(requests))
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    math_verify_logger = logging.getLogger("math_verify")
    monkeypatch.setattr(math_verify_logger, "level", math_verify_logger.level)  # restored afterwards
    answers.serve_worker()
    assert sys.stdout.getvalue() == "ready\ntrue\nfalse\nfalse\nfalse\n"
    assert math_verify_logger.level == logging.ERROR  # its per-call warnings would flood the log


def test_worker_process_answers_and_stops():
    worker = answers._VerifyWorker()
    try:
        assert worker.check("(x+1)^2", "x^2+2x+1", 10.0) is True
        assert worker.check("x", "y", 10.0) is False
        assert worker.alive  # a "false" answer is an answer, not a failure
        process = worker._process
    finally:
        worker.stop()
    assert not worker.alive
    assert process.poll() is not None  # the process is gone, not only forgotten
    worker.stop()  # stopping twice is harmless


def _fake_python(tmp_path, monkeypatch, body: str):
    """Start workers from a shell script instead of Python (its arguments are ignored)."""
    script = tmp_path / "fake_python"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(script))


def _in_thread(function, limit: float = 5.0) -> dict:
    """Run ``function`` in a thread and wait at most ``limit``: a hang fails the test instead of the run."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), "the call hung"
    return outcome


def test_worker_that_never_says_ready_is_given_up_after_the_startup_timeout(tmp_path, monkeypatch):
    _fake_python(tmp_path, monkeypatch, "exec sleep 30\n")
    monkeypatch.setattr(answers._VerifyWorker, "STARTUP_TIMEOUT", 0.3)
    outcome = _in_thread(answers._VerifyWorker)
    assert isinstance(outcome.get("error"), RuntimeError)
    assert str(outcome["error"]) == "the math-verify worker process did not start"


def test_worker_that_does_not_answer_in_time_is_stopped(tmp_path, monkeypatch):
    _fake_python(tmp_path, monkeypatch, "echo ready\nexec sleep 30\n")
    worker = answers._VerifyWorker()
    try:
        outcome = _in_thread(lambda: worker.check("1", "1", 0.3))
        assert outcome == {"value": None}
        assert not worker.alive
    finally:
        worker.stop()


def test_worker_that_died_is_reported(tmp_path, monkeypatch, caplog):
    _fake_python(tmp_path, monkeypatch, "echo ready\n")
    worker = answers._VerifyWorker()
    worker._process.wait(5)
    with caplog.at_level(logging.WARNING, logger="reasoning.scoring.answers"):
        assert worker.check("1", "1", 1.0) is None
    assert caplog.messages == ["math check failed ([Errno 32] Broken pipe); counted as not equivalent"]
    assert not worker.alive


# ----------------------------------------------------------------------------- the pool
# Fake workers: the pool's bookkeeping is what is tested here, and a real worker costs a
# second of start-up (the mutation run executes these tests hundreds of times).

class _FakeWorker:
    def __init__(self, factory: _Factory) -> None:
        self.factory = factory
        self.alive = True
        self.timeouts: list[float] = []

    def check(self, predicted: str, reference: str, timeout: float) -> bool | None:
        self.timeouts.append(timeout)
        self.factory.entered.append(self)  # list.append is atomic; `+= 1` from four threads is not
        if self.factory.hold is not None:
            self.factory.hold.acquire(timeout=5)
        return self.factory.answer

    def stop(self) -> None:
        self.alive = False


class _Factory:
    """Stands in for the ``_VerifyWorker`` class: counts the workers it makes."""

    STARTUP_TIMEOUT = 2.0

    def __init__(self) -> None:
        self.made: list[_FakeWorker] = []
        self.answer: bool | None = True
        self.fail = False
        self.hold: threading.Semaphore | None = None  # each release lets one worker.check return
        self.start_gate: threading.Event | None = None  # the constructor waits on it
        self.entered: list[_FakeWorker] = []  # one entry per call that reached worker.check

    @property
    def checking(self) -> int:
        return len(self.entered)

    def __call__(self) -> _FakeWorker:
        if self.start_gate is not None:
            self.start_gate.wait(5)
        if self.fail:
            raise RuntimeError("boom")
        worker = _FakeWorker(self)
        self.made.append(worker)
        return worker


@pytest.fixture
def factory(monkeypatch):
    made = _Factory()
    monkeypatch.setattr(answers, "_VerifyWorker", made)
    return made


def _settle(pool) -> tuple[int, int]:
    """Wait for the background starts to finish; then (workers counted, workers idle)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with pool._lock:
            if pool._starting == 0:
                assert all(isinstance(worker, _FakeWorker) for worker in pool._idle)
                return pool._count, len(pool._idle)
        time.sleep(0.005)
    raise AssertionError("a background start never finished")


def test_pool_reuses_workers_and_keeps_one_spare(factory):
    pool = answers._VerifyPool()
    assert pool.check("a", "b", 0.5) is True  # none idle: started for this call, then kept
    assert (_settle(pool), len(factory.made)) == ((1, 1), 1)
    factory.start_gate = threading.Event()
    before = set(threading.enumerate())  # the shared pool may be warming a spare of its own
    assert pool.check("a", "b", 0.5) is True  # takes the idle one; a spare starts in the background
    starters = [thread for thread in set(threading.enumerate()) - before if thread.name == "math-verify-start"]
    assert len(starters) == 1 and starters[0].daemon  # a hung start never blocks interpreter exit
    factory.start_gate.set()
    assert (_settle(pool), len(factory.made)) == ((2, 2), 2)
    assert pool.check("a", "b", 0.5) is True
    assert (_settle(pool), len(factory.made)) == ((2, 2), 2)  # reused: nothing new started
    assert all(timeout == 0.5 for worker in factory.made for timeout in worker.timeouts)


def test_pool_never_exceeds_max_workers_and_a_fifth_call_waits(factory):
    pool = answers._VerifyPool()
    factory.hold = threading.Semaphore(0)
    results = []
    busy = [threading.Thread(target=lambda: results.append(pool.check("a", "b", 0.5)), daemon=True)
            for _ in range(answers._VerifyPool.MAX_WORKERS)]
    for thread in busy:
        thread.start()
    deadline = time.monotonic() + 5
    while factory.checking < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert factory.checking == 4 and len(factory.made) == 4
    assert _in_thread(lambda: pool._take(wait=0.2)) == {"value": None}  # all busy: gives up after `wait`
    fifth = {}
    waiting = threading.Thread(target=lambda: fifth.update(value=pool.check("c", "d", 0.5)), daemon=True)
    waiting.start()
    time.sleep(0.1)
    factory.hold.release()  # one busy call finishes; the waiting one takes its worker, leaving none idle
    deadline = time.monotonic() + 5
    while factory.checking < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert factory.checking == 5
    assert _settle(pool) == (4, 0) and len(factory.made) == 4  # no spare: four is the most
    factory.hold.release(4)
    for thread in [*busy, waiting]:
        thread.join(3)
    assert results == [True] * 4 and fifth == {"value": True}
    assert _settle(pool) == (4, 4) and len(factory.made) == 4  # no fifth process, not even a spare


def test_pool_retires_a_worker_that_timed_out(factory, caplog):
    factory.answer = None  # the worker overran its timeout
    pool = answers._VerifyPool()
    with caplog.at_level(logging.WARNING, logger="reasoning.scoring.answers"):
        assert pool.check("a", "b", 0.5) is False
    assert caplog.messages == ["math check timed out after 0.5s; counted as not equivalent"]
    assert (_settle(pool), len(factory.made)) == ((1, 1), 2)  # the stuck one is gone, a fresh spare waits
    assert factory.made[0] not in pool._idle


def test_pool_replaces_a_dead_idle_worker(factory):
    pool = answers._VerifyPool()
    assert pool.check("a", "b", 0.5) is True
    factory.made[0].alive = False
    assert pool.check("a", "b", 0.5) is True
    assert (_settle(pool), len(factory.made)) == ((1, 1), 2)
    assert pool._idle == [factory.made[1]]


def test_pool_start_failures_are_counted_and_logged(factory, caplog):
    pool = answers._VerifyPool()
    factory.fail = True
    with caplog.at_level(logging.WARNING, logger="reasoning.scoring.answers"):
        assert pool.check("a", "b", 0.5) is False  # no worker: not shown equal
    assert caplog.messages == ["math check failed (boom); counted as not equivalent"]
    assert _settle(pool) == (0, 0)
    caplog.clear()
    factory.fail = False
    assert pool.check("a", "b", 0.5) is True
    factory.hold = threading.Semaphore(0)  # keep two calls busy so the pool must start a spare for each
    busy = [threading.Thread(target=lambda: pool.check("a", "b", 0.5), daemon=True) for _ in range(2)]
    busy[0].start()
    deadline = time.monotonic() + 5
    while (factory.checking < 2 or len(factory.made) < 2) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert _settle(pool) == (2, 1)  # one busy, its spare idle
    factory.fail = True  # the next background spare fails to start
    with caplog.at_level(logging.WARNING, logger="reasoning.scoring.answers"):
        busy[1].start()
        while factory.checking < 3 and time.monotonic() < deadline + 5:
            time.sleep(0.005)
        assert _settle(pool) == (2, 0)  # two busy, the failed start no longer counted
    assert caplog.messages == ["could not start a math-verify worker: boom"]
    factory.hold.release(2)
    for thread in busy:
        thread.join(3)
    assert _settle(pool) == (2, 2)


# ----------------------------------------------------------------------------- splitting and extraction

@pytest.mark.parametrize("response, expected", [
    ("<think>a</think>b</think> 5", ("a</think>b", "5")),  # the answer part follows the *last* </think>
    ("</think> 5", ("", "5")),  # prefilled template: </think> at index 0
    ("<think>a<think>b", ("a<think>b", "")),  # cut off: everything after the *first* <think>
    ("<think>a<think>b</think> 5", ("a<think>b", "5")),
])
def test_split_think_tag_positions(response, expected):
    assert split_think(response) == expected


@pytest.mark.parametrize("answer_part, expected", [
    ("The answer is X.", "X"), ("The answer is **X**.", "X"),  # only dots and asterisks are trimmed
    ("The answer is $\\frac{1}{2}.$", "\\frac{1}{2}"), ("The answer is $2X.$", "2X"),  # a dot inside $...$
    ("\n#### Monday", "Monday"), ("\n#### 42\n(7 boxes)", "42"),  # "####" wins over the last number
    ("1, 2, 3, 4, 5", None),  # five candidates and nothing else: a list, not an answer
    ("a 1 b 2 c 3 d 4 e 5", None),  # numbers are exactly half of the words: still a list
    ("We checked the cases 1, 2, 3, 4 and 5 carefully, and in the end the count we want is 5", "5"),
    ("a" * 200, "a" * 200), ("a" * 201, None),  # a number-free answer part counts only when short
    ("word " * 50, None),
])
def test_extract_final_answer_statements_and_lists(answer_part, expected):
    assert extract_final_answer("<think>t</think>" + answer_part) == expected


@pytest.mark.parametrize("response", [
    "<think>a<think>b</think> 5",  # two openings, one closing
    "<think>a</think>b</think> 5",  # one opening, two closings
])
def test_repeated_think_tags_give_no_answer(response):
    assert extract_final_answer(response) is None


# ----------------------------------------------------------------------------- numbers

@pytest.mark.parametrize("text, expected", [
    ("1" * 100, (Fraction(int("1" * 100)), False)), ("1" * 101, None),  # longer: not a "plain" number
    (".5", (Fraction(1, 2), False)), ("42.", (Fraction(42), False)), ("$12", (Fraction(12), False)),
    ("1,000", (Fraction(1000), False)), ("−5", (Fraction(-5), False)), ("50\\%", (Fraction(50), True)),
    ("2.5.", (Fraction(5, 2), False)),  # a sentence's full stop after a decimal
    ("x", None), ("1/2", None),
])
def test_plain_number(text, expected):
    assert answers._plain_number(text) == expected


@pytest.mark.parametrize("predicted, reference, expected", [
    ("50\\%", "50", True), ("50", "0.5", False), ("0.5", "50", False),  # only a percent sign divides by 100
    ("1.000001", "1", True), ("1.000002", "1", False),  # relative tolerance 1e-6, boundary included
    ("1.0000001", "1", True),  # math-verify alone says no: the fast number path decides
    ("1000001", "1000000", True), ("1000002", "1000000", False),  # tolerance grows with the value
])
def test_number_tolerance_and_percent(predicted, reference, expected):
    assert is_equivalent(predicted, reference) is expected


def test_hedges_and_towers():
    assert is_equivalent("1 or 2", "1 or 2") is True  # a hedge-shaped reference may be matched
    assert is_equivalent("2^{2^{2}}", "16") is False  # towers are refused, even small ones


# ----------------------------------------------------------------------------- kinds and defaults

@pytest.mark.parametrize("kind", [None, ""])
def test_missing_kind_means_math(kind):
    assert is_equivalent("(1,2)", "[1,2)", kind) is False  # as text both are "1 2"
    assert is_equivalent("(1,2)", "[1,2)") is False
    assert check_response("<think>t</think> The answer is (1,2)", "[1,2)", kind) is False
    assert check_response("<think>t</think> The answer is (1,2)", "[1,2)") is False


def test_general_text_match_comes_first():
    assert is_equivalent("(1,2)", "[1,2)", "general") is True  # the same text once brackets are dropped


@pytest.mark.parametrize("predicted, reference, kind, expected", [
    (None, "None", "general", False), ("None", None, "general", False),
    (".", "", "general", False), ("", ".", "general", False),
    ("x " * 3998 + "True", "True", "logic", True),  # 8,000 characters: still read
    ("x " * 4000 + "True", "True", "logic", False),  # longer than 20 * MAX_ANSWER_CHARS: refused
    ("ab" * 4000, "ab" * 4000, "general", True), ("ab" * 4000, "ab" * 4000 + "..", "general", False),
])
def test_missing_empty_and_oversized_answers(predicted, reference, kind, expected):
    assert is_equivalent(predicted, reference, kind) is expected


@pytest.mark.parametrize("predicted, reference, expected", [
    ("Therefore the conclusion is False", "False", True),  # the label word, in any case
    ("it looked true, then false, and finally uncertain", "Uncertain", True),  # the last label word counts
    ("it looked true, then false, and finally uncertain", "False", False),
    ("True" + " x" * 998 + ".", "True", False),  # only the last 2,000 characters are searched
    ("x" + " x" * 997 + " True", "True", True),
])
def test_logic_label_inside_a_sentence(predicted, reference, expected):
    assert is_equivalent(predicted, reference, "logic") is expected


def test_logic_response_with_numbers_and_a_label():
    response = "<think>t</think> Premise 3 gives 2 cases, so the statement is False."
    assert check_response(response, "False", "logic") is True  # "2" is not the answer; the label is
    assert check_response("<think>t</think> \\boxed{True} (not false)", "True", "logic") is True
    assert check_response("<think>t</think> \\boxed{391}, checked with 17 and 23.", "391") is True


TESTS = "def check(candidate):\n    assert candidate(2) == 4\n"
GOOD = "<think>square it</think>\n```python\ndef sq(x):\n    return x * x\n```"


def test_code_needs_tests_and_an_entry_point():
    assert check_response(GOOD, None, "math", tests=TESTS, entry_point="sq") is True  # tests given: run them
    assert check_response("<think>t</think> 42", "42", "code") is False  # code is judged by tests only
    assert check_response(GOOD, None, "code", tests=TESTS) is False
    assert check_response(GOOD, None, "code", entry_point="sq") is False


class _RecordingPool:
    """Stands in for the shared worker pool: records what reaches it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float]] = []

    def check(self, predicted: str, reference: str, timeout: float) -> bool:
        self.calls.append((predicted, reference, timeout))
        return True


def test_slow_looking_math_goes_to_the_worker_with_the_callers_timeout(monkeypatch):
    pool = _RecordingPool()
    monkeypatch.setattr(answers, "_WORKER", pool)
    assert is_equivalent("x^2", "4") is True  # a power: never in-process, even against a short reference
    assert is_equivalent("x^2", "4", timeout=2.5) is True
    assert is_equivalent("x^2", "4", "general", timeout=2.5) is True
    assert check_response("<think>t</think> The answer is x^2", "4", timeout=2.5) is True
    assert check_response("<think>t</think> The answer is x^2", "4") is True
    assert pool.calls == [("x^2", "4", 1.0)] + [("x^2", "4", 2.5)] * 3 + [("x^2", "4", 1.0)]


def test_empty_program_fails_without_running():
    assert check_response("<think>t</think>   ", None, "code", tests=TESTS, entry_point="sq") is False
    assert check_response("<think>still thinking", None, "code", tests=TESTS, entry_point="sq") is False


def test_code_timeout_reaches_the_sandbox():
    slow = "```python\nimport time\ndef sq(x):\n    time.sleep(3)\n    return x * x\n```"
    # With the sandbox's default 10 s the 3 s program would pass.
    assert check_response(slow, None, "code", tests=TESTS, entry_point="sq", code_timeout=0.5) is False
