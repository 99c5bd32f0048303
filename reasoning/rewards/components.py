"""The five reward components. Each scores one response in [0, 1] and says why.

A ``Sample`` holds one response with what the rewards need and caches the expensive
parts (final answer, correctness), so the combined reward checks correctness once.
"""
from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from reasoning.rewards.config import RewardConfig
from reasoning.rewards.language import language_consistency
from reasoning.rewards.process import process_score
from reasoning.schema import THINK_CLOSE, THINK_OPEN
from reasoning.scoring.answers import (
    MAX_ANSWER_PART_CHARS,
    check_response,
    extract_final_answer,
    find_boxed,
    is_equivalent,
    normalize_logic_label,
    split_think,
    to_ascii_digits,
)


def is_degenerate(text: str) -> bool:
    """Padding: long text that compresses to almost nothing (repeated filler, one character)."""
    if len(text) < 400:
        return False
    sample = text[:50_000].encode("utf-8", "replace")
    return len(zlib.compress(sample, 1)) < 0.1 * len(sample)


Score = tuple[float | None, str]  # (score in [0, 1] or None when it does not apply, reason)
_NUMBER = re.compile(r"-?\d[\d,]*+(?:\.\d++)?+")
# The result the reasoning reached is near its end: only this tail is searched (bounds every regex).
MAX_REASONING_TAIL_CHARS = 8_000
# Possessive quantifiers: no backtracking over long runs of spaces ("=" + 20,000 spaces took 8 s).
_STATED_RE = re.compile(r"answer\s++(?:is|=|:)\s*+\$?+([^\s$]++)\$?+(?:\s|$)", re.IGNORECASE)
_RESULT_RE = re.compile(r"=\s*+\$?+\s*+(-?\d[\d,]*+(?:\.\d++)?+)")
_HEDGED_RE = re.compile(r"\d\s*+(?:,\s*+)?+\bor\b\s*+\$?+\d")


def _stated(text: str) -> list[str]:
    """What follows "answer is" / "answer:" up to the next space, without a closing '.' or '$'."""
    return [value.rstrip(".$") or value for value in _STATED_RE.findall(text)]


@dataclass
class Sample:
    response: str
    reference: str | None = None
    problem: str = ""
    reasoning_type: str = "math"
    tests: str | None = None
    entry_point: str | None = None
    config: RewardConfig = field(default_factory=RewardConfig)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def parts(self) -> tuple[str | None, str]:
        if "parts" not in self._cache:
            self._cache["parts"] = split_think(self.response)
        return self._cache["parts"]

    @property
    def final_answer(self) -> str | None:
        if "final" not in self._cache:
            self._cache["final"] = extract_final_answer(self.response)
        return self._cache["final"]

    @property
    def has_reference(self) -> bool:
        if self.reasoning_type == "code" or self.tests:
            return bool(self.tests and self.entry_point)
        return self.reference is not None and str(self.reference).strip() != ""

    @property
    def correct(self) -> bool | None:
        """None when there is nothing to check against."""
        if not self.has_reference:
            return None
        if "correct" not in self._cache:
            self._cache["correct"] = check_response(
                self.response, self.reference, self.reasoning_type, self.tests, self.entry_point,
                problem=self.problem if self.reasoning_type == "code" else None,
                timeout=self.config.timeout, code_timeout=self.config.code_timeout)
        return self._cache["correct"]


def correctness(sample: Sample) -> Score:
    """1 when the final answer after </think> matches the reference (code: the tests pass), else 0."""
    if sample.correct is None:
        return None, "no reference answer or tests for this row"
    if sample.correct:
        return 1.0, "correct"
    if sample.reasoning_type != "code" and sample.final_answer is None:
        return 0.0, "no final answer after </think>"
    return 0.0, "wrong" if sample.reasoning_type == "code" else f"wrong final answer {sample.final_answer[:80]!r}"


def format_reward(sample: Sample) -> Score:
    """Exactly one <think>...</think> block at the start, then an answer.

    Partial credit: 0 when there is no closed think block, or when the tags are repeated,
    nested or out of order (the hacks this reward must not pay for). Otherwise 0.5 for the
    one well-formed block, +0.25 for non-empty reasoning that is not padding (see
    ``is_degenerate``), +0.25 for a non-empty answer after
    it; text before <think> halves the score.
    """
    text = sample.response
    if text.count(THINK_OPEN) != 1 or text.count(THINK_CLOSE) != 1:
        return 0.0, f"{text.count(THINK_OPEN)} <think> and {text.count(THINK_CLOSE)} </think> tags (need one each)"
    start, end = text.index(THINK_OPEN), text.index(THINK_CLOSE)
    if end < start:
        return 0.0, "</think> comes before <think>"
    score, missing = 0.5, []
    reasoning = text[start + len(THINK_OPEN):end]
    if reasoning.strip() and not is_degenerate(reasoning):
        score += 0.25
    else:
        missing.append("empty or padded reasoning")
    if text[end + len(THINK_CLOSE):].strip():
        score += 0.25
    else:
        missing.append("no answer after </think>")
    if text[:start].strip():
        score /= 2
        missing.append("text before <think>")
    return score, "well formed" if not missing else ", ".join(missing)


def _reasoning_result(reasoning: str, reasoning_type: str) -> str | None:
    """The result the reasoning reached: its last boxed / "answer is" / logic label / '= number'."""
    reasoning = to_ascii_digits(reasoning[-MAX_REASONING_TAIL_CHARS:])
    if reasoning_type == "logic":
        labels = re.findall(r"\b(true|false|uncertain|unknown)\b", reasoning, re.IGNORECASE)
        return labels[-1] if labels else None
    boxed = find_boxed(reasoning)
    if boxed:
        return boxed[-1]
    statements = _stated(reasoning)
    if statements:
        return statements[-1]
    results = _RESULT_RE.findall(reasoning)
    if results:
        return results[-1]
    numbers = _NUMBER.findall(reasoning)
    return numbers[-1] if numbers else None


def _distinct_stated_answers(answer_part: str, reasoning_type: str) -> int:
    """How many different final results the answer part commits to."""
    answer_part = to_ascii_digits(answer_part[-MAX_ANSWER_PART_CHARS:])
    if reasoning_type == "logic":
        return len({normalize_logic_label(w) for w in re.findall(r"\b(?:true|false|uncertain|unknown)\b",
                                                                  answer_part, re.IGNORECASE)})
    candidates = find_boxed(answer_part)
    candidates += _stated(answer_part)
    if _HEDGED_RE.search(answer_part):  # "12 or 13"
        candidates += _NUMBER.findall(answer_part)
    return len({c.replace(",", "").strip() for c in candidates if c.strip()})


def consistency(sample: Sample) -> Score:
    """Answer agreement x language consistency.

    Agreement: 1 when the final answer equals the result the reasoning reached (its last
    boxed value, "answer is", logic label, or last "= number"), 0 when it differs, when
    there is no final answer, or when the answer part states several different results;
    the configured neutral value when the reasoning reaches no comparable result (and for
    code). Language: share of the reasoning's words in the prompt's script (see
    ``language.py``). The product is returned, so either failure pulls the score down.
    """
    reasoning, answer_part = sample.parts
    kind = sample.reasoning_type
    if sample.final_answer is None and kind != "code":
        return 0.0, "no final answer"
    if _distinct_stated_answers(answer_part, kind) > 1:
        return 0.0, "the answer states several different results"
    language = language_consistency(reasoning or "", sample.problem)
    if kind == "code" or not reasoning:
        agreement, why = sample.config.consistency_neutral, "no reasoning result to compare"
    else:
        reached = _reasoning_result(reasoning, kind)
        if reached is None:
            agreement, why = sample.config.consistency_neutral, "the reasoning reaches no comparable result"
        elif is_equivalent(sample.final_answer, reached, kind if kind == "logic" else "math",
                           timeout=sample.config.timeout):
            agreement, why = 1.0, "answer agrees with the reasoning"
        else:
            agreement, why = 0.0, f"answer {sample.final_answer[:40]!r} differs from the reasoning's {reached[:40]!r}"
    return agreement * language, f"{why}; {language:.0%} of the reasoning in the prompt's script"


def length(sample: Sample) -> Score:
    """Cosine-scaled length reward (open-r1 / "Demystifying Long Chain-of-Thought Reasoning").

    With ``progress = min(1, chars / length_budget)`` and ``c = cos(pi * progress)``:
    correct: ``min_correct + (max_correct - min_correct) * (1 + c) / 2`` (shorter is better,
    1.0 down to 0.5 by default); wrong: ``max_wrong + (min_wrong - max_wrong) * (1 + c) / 2``
    (0.0 when short up to 0.25 at the budget: a wrong answer never gains from being short,
    and never reaches a correct one). Padded responses (``is_degenerate``) get the lowest
    value of their kind. None when correctness cannot be judged.
    """
    correct = sample.correct
    if correct is None:
        return None, "no reference: length is only judged together with correctness"
    config = sample.config
    progress = min(1.0, len(sample.response) / config.length_budget)
    cosine = math.cos(math.pi * progress)
    if is_degenerate(sample.response):
        progress = 1.0  # padding earns nothing: scored as if at the budget (correct) or empty (wrong)
        cosine = -1.0 if correct else 1.0
    if correct:
        low, high = config.length_min_correct, config.length_max_correct
    else:
        low, high = config.length_max_wrong, config.length_min_wrong
    score = low + (high - low) * (1.0 + cosine) / 2.0
    return score, f"{'correct' if correct else 'wrong'}, {len(sample.response)} of {config.length_budget} chars"


def process(sample: Sample) -> Score:
    """Share of correct arithmetic steps in the reasoning (see ``process.py``)."""
    reasoning, _ = sample.parts
    return process_score(reasoning if reasoning is not None else sample.response, sample.config.process_neutral)


COMPONENT_FUNCTIONS = {"correctness": correctness, "format": format_reward, "consistency": consistency,
                       "length": length, "process": process}
