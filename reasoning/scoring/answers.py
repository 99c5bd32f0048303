"""The one implementation of "what did the model answer, and is it right".

Used by the rewards (training) and by the evaluation stage, so training and evaluation
can never disagree about "correct".

Rules, in order:

* ``split_think``: the reasoning is what lies between the opening ``<think>`` and the
  **last** ``</think>``; the answer part is everything after that last ``</think>``.
  Without any ``</think>``: a response that opens ``<think>`` was cut off inside its
  reasoning (answer part ``""``); one without tags is all answer part (base models).
* ``extract_final_answer`` looks only at the answer part, so an answer hidden inside the
  think block never counts. Repeated or nested think tags, or an answer part that hedges
  ("12 or 13") or lists many numbers, give ``None``. Priority: ``\\boxed{...}`` (several boxes with different
  contents are ambiguous: ``None``), then "The (final) answer is X" / "Answer: X", then
  "#### X", then the fallback: the last number in the answer part, or without any
  number the whole answer part when it is short (at most 200 characters).
* ``is_equivalent``: math goes through math-verify (``parse`` + ``verify``) with its
  signal-based timeouts switched off (they only work in the main thread); the bound is
  enforced here instead: plain numbers take a fast exact path in-process, other short,
  harmless-looking answers are checked in-process, and anything else (exponents,
  factorials, long or deeply nested input) runs in a reusable worker process that is
  killed when it overruns ``timeout``. Exponent towers such as ``9^{9^{9}}`` are refused
  before sympy ever sees them. Percentages: ``50\\%`` equals both ``50`` and ``0.5``.
  Hedged answers ("1 or 2 or 391") are never equivalent to a single reference.
  Logic: True / False / Uncertain with synonyms (yes/correct/entailed/valid -> True,
  no/incorrect/contradiction/refuted -> False, unknown/undetermined/cannot be
  determined/neither -> Uncertain), case and punctuation insensitive.

Hostile input (every call well under a second, whatever the text): the answer part is cut
to its last ``MAX_ANSWER_PART_CHARS`` characters before any regex (the final answer is at
the end), boxes are matched in one linear pass, and the patterns use possessive
quantifiers so none backtracks over long runs of spaces or digits. Decisions:

* ``</think>42<think>`` has no answer: a ``<think>`` after the last ``</think>`` means the
  tags are out of order (the format reward gives 0 for it too), so nothing is extracted.
* Digits of any script count as the same digits: full-width ``４２`` and Arabic-Indic
  ``٤٢`` are read as ``42`` (``to_ascii_digits``), in the answer and in the reference alike.
  The value is the same number; refusing it would mark a correct answer wrong, and the
  language reward is what judges the script.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import select
import subprocess
import sys
import threading
import time
import unicodedata
from fractions import Fraction

from reasoning.schema import THINK_CLOSE, THINK_OPEN

MAX_ANSWER_CHARS = 400  # references and final answers longer than this are not math answers
# The final answer is at the end: only this much of the answer part is searched, so every
# pattern below runs on a bounded input (a 1 MB answer part costs what 4,000 characters do).
MAX_ANSWER_PART_CHARS = 4_000
MAX_PLAIN_NUMBER_CHARS = 100
_NUMBER = r"[-+−]?+\$?+\s?+(?:\d{1,3}(?:,\d{3})++|\d++)(?:\.\d++)?+|[-+−]?+\.\d++"
_NUMBER_RE = re.compile(_NUMBER)
_PLAIN_NUMBER_RE = re.compile(rf"^\s*+(?:{_NUMBER})\s*+(\\?+%)?+\s*+\.?+\s*+$")
_ANSWER_IS_RE = re.compile(
    r"(?:final\s++answer|the\s++answer|answer)\s*+(?:is|:|=)\s*+:?+\s*+([^\n]+)", re.IGNORECASE)
_HASHES_RE = re.compile(r"####\s*+([^\n]+)")
_HEDGED_NUMBERS_RE = re.compile(r"\d\s*+,?+\s*+\b(?:or|and/or)\b\s*+\$?+\s*+[-+]?+\d", re.IGNORECASE)
_HEDGE_RE = re.compile(r"\bor\b|\band/or\b", re.IGNORECASE)

logger = logging.getLogger(__name__)


class _DigitsToAscii(dict):
    """``str.translate`` table: every Unicode decimal digit (category Nd) to its ASCII digit."""

    def __missing__(self, code: int) -> int | None:
        char = chr(code)
        value = unicodedata.decimal(char, None) if not char.isascii() else None
        self[code] = ord(str(value)) if value is not None else code
        return self[code]


_DIGITS = _DigitsToAscii()


def to_ascii_digits(text: str) -> str:
    """``"٤٢"`` and ``"４２"`` -> ``"42"`` (see the module docstring); ASCII text is returned as is."""
    return text if text.isascii() else text.translate(_DIGITS)


# ----------------------------------------------------------------------------- splitting

def split_think(response: str | None) -> tuple[str | None, str]:
    """Split a response into (reasoning, answer part); see the module docstring.

    >>> split_think("<think>6*7=42</think>\\nThe answer is 42.")
    ('6*7=42', 'The answer is 42.')
    """
    text = response or ""
    close = text.rfind(THINK_CLOSE)
    if close < 0:
        start = text.find(THINK_OPEN)
        if start >= 0:
            return text[start + len(THINK_OPEN):].strip(), ""
        return None, text.strip()
    head = text[:close]
    start = head.find(THINK_OPEN)
    reasoning = head[start + len(THINK_OPEN):] if start >= 0 else head
    return reasoning.strip(), text[close + len(THINK_CLOSE):].strip()


_BOX_OPEN_RE = re.compile(r"\\(?:boxed|fbox)\s*+\{")
_BRACE_RE = re.compile(r"[{}]")


def find_boxed(text: str) -> list[str]:
    """Contents of every ``\\boxed{...}`` / ``\\fbox{...}`` with balanced braces, in order.

    One pass over the braces with a stack (scanning forward from each box separately was
    quadratic: 3,000 unclosed boxes took 17 s)."""
    box_starts = {match.end() - 1 for match in _BOX_OPEN_RE.finditer(text)}
    if not box_starts:
        return []
    stack: list[int] = []
    spans = []
    for match in _BRACE_RE.finditer(text):
        position = match.start()
        if text[position] == "{":
            stack.append(position)
        elif stack:
            opened = stack.pop()
            if opened in box_starts:
                spans.append((opened, position))
    return [text[start + 1:end].strip() for start, end in sorted(spans)]


def _clean_statement(answer: str) -> str:
    answer = answer.strip().rstrip(".").strip().strip("*").strip()  # markdown bold: "**42**."
    if answer.count("$") >= 2:
        answer = re.sub(r"^\$+|\$+$", "", answer).strip()
    return answer.rstrip(".").strip()


def extract_final_answer(response: str | None) -> str | None:
    """The final answer after ``</think>``, or ``None`` when there is none (or it is ambiguous).

    >>> extract_final_answer("<think>23*17=391</think> So \\\\boxed{391}.")
    '391'
    >>> extract_final_answer("<think>the answer is 5</think>")  # only inside the think block
    """
    if response and (response.count(THINK_OPEN) > 1 or response.count(THINK_CLOSE) > 1):
        return None  # repeated or nested think blocks: which part is the answer is ambiguous
    _, answer_part = split_think(response)
    if not answer_part or THINK_OPEN in answer_part:
        return None  # nothing after </think>, or "</think>42<think>": tags out of order
    answer_part = to_ascii_digits(answer_part[-MAX_ANSWER_PART_CHARS:])
    if _HEDGED_NUMBERS_RE.search(answer_part):
        return None  # "12 or 13": several candidate answers
    boxed = [b for b in find_boxed(answer_part) if b]
    if boxed:
        return boxed[0] if len(set(boxed)) == 1 else None
    statements = _ANSWER_IS_RE.findall(answer_part)
    if statements:
        return _clean_statement(statements[-1]) or None
    hashes = [h.strip() for h in _HASHES_RE.findall(answer_part)]
    if hashes:
        return _clean_statement(hashes[-1]) or None
    numbers = _NUMBER_RE.findall(answer_part)
    if len(numbers) >= 5 and len(numbers) >= 0.5 * len(answer_part.split()):
        return None  # a list of candidate numbers, not an answer
    if numbers:
        return numbers[-1].strip()
    # No number at all: a short answer part is the answer itself ("Monday", "Uncertain").
    return _clean_statement(answer_part) if len(answer_part) <= 200 else None


def extract_code(response: str | None) -> str:
    """The program in a response: the last fenced block of the answer part (or of the whole
    response when the answer part has none); unfenced text is taken as code as it is, with
    its indentation (HumanEval completions are often an indented function body)."""
    text = response or ""
    close = text.rfind(THINK_CLOSE)
    answer_part = text[close + len(THINK_CLOSE):] if close >= 0 else text
    if close < 0 and THINK_OPEN in text:
        answer_part = ""
    for candidate in (answer_part, text):
        blocks = _fenced_blocks(candidate)
        if blocks:
            return blocks[-1].strip("\n")
    return answer_part.lstrip("\n").rstrip()


_FENCE_HEADER_RE = re.compile(r"[ \t]*+(?:python3|python|py)?+[ \t]*+\n", re.IGNORECASE)


def _fenced_blocks(text: str) -> list[str]:
    """Bodies of the ```python fenced blocks, in order, in one pass (a lazy regex per opening
    fence was quadratic on many unclosed fences)."""
    blocks, position = [], text.find("```")
    while position >= 0:
        header = _FENCE_HEADER_RE.match(text, position + 3)
        if header is None:
            position = text.find("```", position + 1)
            continue
        close = text.find("```", header.end())
        if close < 0:
            break  # no fence closes after this one, so none of the later ones can be closed either
        blocks.append(text[header.end():close])
        position = text.find("```", close + 3)
    return blocks


# ----------------------------------------------------------------------------- numbers

def _plain_number(text: str) -> tuple[Fraction, bool] | None:
    """(value, had a percent sign) for a plain number such as "1,234.5", "$12", "50\\%"."""
    if len(text) > MAX_PLAIN_NUMBER_CHARS:
        return None
    match = _PLAIN_NUMBER_RE.match(text)
    if not match:
        return None
    digits = re.sub(r"[\s$,%\\]", "", text).rstrip(".").replace("−", "-")
    try:
        return Fraction(digits), match.group(1) is not None
    except (ValueError, ZeroDivisionError):
        return None


def _numbers_equal(a: tuple[Fraction, bool], b: tuple[Fraction, bool]) -> bool:
    candidates_a = {a[0], a[0] / 100} if a[1] else {a[0]}
    candidates_b = {b[0], b[0] / 100} if b[1] else {b[0]}
    return any(abs(x - y) <= Fraction(1, 10**6) * max(1, abs(y)) for x in candidates_a for y in candidates_b)


# ----------------------------------------------------------------------------- logic

_LOGIC_LABELS = {
    "True": ("true", "yes", "correct", "valid", "entailed", "entailment", "follows", "t"),
    "False": ("false", "no", "incorrect", "invalid", "contradiction", "contradicted", "refuted", "f"),
    "Uncertain": ("uncertain", "unknown", "undetermined", "cannot be determined", "can not be determined",
                  "cannot determine", "not enough information", "neither", "neutral", "indeterminate", "unsure"),
}


def normalize_logic_label(text: str | None) -> str | None:
    """Map a logic answer to True/False/Uncertain, or None when it is none of them."""
    if text is None:
        return None
    text = text.replace("\\text", " ").replace("\\mathrm", " ")
    words = re.sub(r"[^a-z ]+", " ", text.lower())
    words = " ".join(words.split())
    for label, synonyms in _LOGIC_LABELS.items():
        if words in synonyms:
            return label
    return None


# ----------------------------------------------------------------------------- math safety

def _too_hostile(text: str) -> bool:
    """Inputs that make sympy blow up: exponent towers, huge powers/factorials, deep nesting."""
    if len(text) > MAX_ANSWER_CHARS:
        return True
    if len(re.findall(r"\^|\*\*", text)) >= 2 and re.search(
            r"(\^|\*\*)\s*+\{?+\s*+\(?+\s*+[\w.]++\s*+\}?+\s*+\)?+\s*+(\^|\*\*)", text):
        return True  # a ^ b ^ c: exponent tower
    if re.search(r"(\^|\*\*)\s*+\{?+\s*+\(?+\s*+\d{4,}", text):
        return True  # exponent of 1000 or more
    if re.search(r"\d{3,}\s*+!|\d{2,}\s*+!\s*+!", text):
        return True  # 100! and beyond
    depth = max_depth = 0
    for char in text:
        depth += char in "{([" and 1 or (-1 if char in "})]" else 0)
        max_depth = max(max_depth, depth)
    return max_depth > 12


def _trivially_safe(text: str) -> bool:
    """Short LaTeX without powers, factorials or deep nesting: math-verify is fast on it."""
    return len(text) <= 80 and not re.search(r"\^|\*\*|!|\\int|\\sum|\\prod|\\lim", text) and text.count("{") <= 6


def _math_verify(predicted: str, reference: str) -> bool:
    from math_verify import parse, verify

    # Wrapping in $...$ makes math-verify read the whole answer as one expression
    # ("1 or 2 or 391" becomes the set {1, 2, 391} instead of its last number).
    gold = parse(f"${reference}$", parsing_timeout=None)
    target = parse(f"${predicted}$", parsing_timeout=None)
    if not gold or not target:
        return False
    return bool(verify(gold, target, timeout_seconds=None))


def serve_worker() -> None:
    """The worker process: one JSON request a line on stdin, one JSON bool a line on stdout."""
    import json
    import sys

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    _math_verify("(x+1)^2", "x^2+2x+1")  # warm up imports and caches before the first timed request
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        try:
            predicted, reference = json.loads(line)
            result = _math_verify(predicted, reference)
        except Exception:  # noqa: BLE001 - any failure to compare means "not shown equal"
            result = False
        sys.stdout.write("true\n" if result else "false\n")
        sys.stdout.flush()


class _VerifyWorker:
    """One worker process (a fresh interpreter, not a fork, so it is safe from threaded
    trainers and never re-imports the caller's main script). Used by one call at a time."""

    STARTUP_TIMEOUT = 60.0

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", "from reasoning.scoring.answers import serve_worker; serve_worker()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        if self._read_line(self.STARTUP_TIMEOUT) != "ready":
            self.stop()
            raise RuntimeError("the math-verify worker process did not start")

    def _read_line(self, timeout: float) -> str | None:
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        return self._process.stdout.readline().strip() if ready else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(5)
            for stream in (self._process.stdin, self._process.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
        self._process = None

    def check(self, predicted: str, reference: str, timeout: float) -> bool | None:
        """The answer, or None when the worker overran ``timeout`` or failed (then it is stopped)."""
        try:
            self._process.stdin.write(json.dumps([predicted, reference]) + "\n")
            self._process.stdin.flush()
            answer = self._read_line(timeout)
        except (OSError, ValueError) as exc:
            logger.warning("math check failed (%s); counted as not equivalent", exc)
            answer = None
        if answer in ("true", "false"):
            return answer == "true"
        self.stop()
        return None


class _VerifyPool:
    """Worker processes shared by threads, one call per worker at a time.

    Why a pool and not one locked worker: a slow call (killed at its timeout, then the
    worker restarted, ~3 s) made every other thread's harmless call wait behind the lock.
    Here a call takes an idle worker; a spare is kept warm in the background, so the next
    call does not pay the start-up either. At most ``MAX_WORKERS`` processes exist."""

    MAX_WORKERS = 4
    SPARES = 1

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._idle: list[_VerifyWorker] = []
        self._count = 0  # workers alive or starting
        self._starting = 0  # spares being started in the background

    def _start_one(self) -> None:
        try:
            worker = _VerifyWorker()
        except (OSError, RuntimeError) as exc:
            logger.warning("could not start a math-verify worker: %s", exc)
            worker = None
        with self._lock:
            self._starting -= 1
            if worker is None:
                self._count -= 1
            else:
                self._idle.append(worker)
            self._lock.notify_all()

    def _warm_spares(self) -> None:
        """Called with the lock held: start workers in the background until a spare is idle or starting."""
        while len(self._idle) + self._starting < self.SPARES and self._count < self.MAX_WORKERS:
            self._count += 1
            self._starting += 1
            threading.Thread(target=self._start_one, daemon=True, name="math-verify-start").start()

    def _take(self, wait: float) -> _VerifyWorker | None:
        deadline = None
        with self._lock:
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive:
                        self._warm_spares()
                        return worker
                    self._count -= 1
                if self._count < self.MAX_WORKERS and not self._starting:
                    self._count += 1
                    break
                deadline = deadline or time.monotonic() + wait
                if time.monotonic() >= deadline:
                    return None
                self._lock.wait(deadline - time.monotonic())
        try:
            return _VerifyWorker()  # none idle: start one for this call (only the first calls get here)
        except (OSError, RuntimeError) as exc:
            with self._lock:
                self._count -= 1
            logger.warning("math check failed (%s); counted as not equivalent", exc)
            return None

    def check(self, predicted: str, reference: str, timeout: float) -> bool:
        worker = self._take(wait=_VerifyWorker.STARTUP_TIMEOUT)
        if worker is None:
            return False
        result = worker.check(predicted, reference, timeout)
        with self._lock:
            if result is None:
                self._count -= 1
                logger.warning("math check timed out after %.1fs; counted as not equivalent", timeout)
            else:
                self._idle.append(worker)
            self._warm_spares()
            self._lock.notify_all()
        return bool(result)


_WORKER = _VerifyPool()


def _math_equivalent(predicted: str, reference: str, timeout: float) -> bool:
    predicted_number, reference_number = _plain_number(predicted), _plain_number(reference)
    if predicted_number is not None and reference_number is not None:
        return _numbers_equal(predicted_number, reference_number)
    if _HEDGE_RE.search(predicted) and not _HEDGE_RE.search(reference):
        return False
    if _too_hostile(predicted) or _too_hostile(reference):
        return False
    if _trivially_safe(predicted) and _trivially_safe(reference):
        try:
            return _math_verify(predicted, reference)
        except Exception:  # noqa: BLE001
            return False
    return _WORKER.check(predicted, reference, timeout)


def _normalize_text(text: str) -> str:
    text = re.sub(r"\\text\{([^{}]*)\}", r"\1", text)
    return " ".join(re.sub(r"[^\w\s.-]", " ", text.lower()).split()).rstrip(".")


def is_equivalent(predicted: str | None, reference: str | None, reasoning_type: str = "math",
                  timeout: float = 1.0) -> bool:
    """Whether a predicted final answer matches the reference (see the module docstring).

    >>> is_equivalent("\\\\frac{782}{2}", "391")
    True
    >>> is_equivalent("uncertain", "Unknown", "logic")
    True
    """
    if predicted is None or reference is None:
        return False
    predicted, reference = str(predicted).strip(), str(reference).strip()
    if not predicted or not reference or len(predicted) > 20 * MAX_ANSWER_CHARS \
            or len(reference) > 20 * MAX_ANSWER_CHARS:
        return False
    predicted, reference = to_ascii_digits(predicted), to_ascii_digits(reference)
    kind = getattr(reasoning_type, "value", reasoning_type) or "math"
    if kind == "logic":
        label = normalize_logic_label(predicted)
        if label is None:  # "Uncertain, since premise 3 ..." / "so the statement is false"
            words = re.findall(r"\b(?:true|false|uncertain|unknown)\b", predicted[-2000:], re.IGNORECASE)
            label = normalize_logic_label(words[-1]) if words else None
        return label is not None and label == normalize_logic_label(reference)
    if kind == "math":
        return _math_equivalent(predicted, reference, timeout)
    # planning, tool use, general: the same text, or the same mathematical value.
    if _normalize_text(predicted) == _normalize_text(reference):
        return True
    return _math_equivalent(predicted, reference, timeout)


def check_response(response: str | None, reference: str | None, reasoning_type: str = "math",
                   tests: str | None = None, entry_point: str | None = None, *,
                   problem: str | None = None, timeout: float = 1.0, code_timeout: float = 10.0) -> bool:
    """Whether a whole response is correct: its final answer matches ``reference``, or for
    code (``tests`` given) its program passes the tests in the sandbox. ``problem`` is the
    HumanEval prompt: prepended when the completion holds only the function body."""
    kind = getattr(reasoning_type, "value", reasoning_type) or "math"
    if kind == "code" or tests:
        if not tests or not entry_point:
            return False
        from reasoning.scoring.sandbox import run_tests

        code = extract_code(response)
        if not code.strip():
            return False
        if problem and not re.search(rf"def\s+{re.escape(entry_point)}\s*\(", code):
            code = problem + code
        return run_tests(code, tests, entry_point, timeout=code_timeout).passed
    predicted = extract_final_answer(response)
    if kind == "logic" and normalize_logic_label(predicted) is None and predicted is not None:
        predicted = split_think(response)[1]  # the label may sit in a sentence with numbers
    return is_equivalent(predicted, reference, kind, timeout=timeout)


def answers_equivalent(a: str, b: str, reasoning_type: str) -> bool:
    """Grouping for the majority vote: the rewards' equivalence check; programs by identical text."""
    if reasoning_type == "code":
        return a.strip() == b.strip()
    return bool(is_equivalent(a, b, reasoning_type))
