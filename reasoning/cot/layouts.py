"""Native dataset layouts and their conversion into CoT rows.

Each layout knows its required fields and turns one record into a ``Row`` whose assistant
turn is ``<think>\\n...\\n</think>\\n\\n<final answer>``. A file's layout is detected once from
its first records (``detect_layout``); every record is then converted with that layout, so a
record missing a field is reported as such instead of being mistaken for another layout.

Layouts (in detection priority order):
- ``row``: the project's own row format (has ``messages``), kept as it is.
- ``humaneval``: prompt, canonical_solution, test, entry_point -> code rows with tests.
- ``folio``: premises, conclusion, label (True/False/Uncertain) -> logic rows.
- ``preference``: chosen, rejected (+ prompt, or chosen as a message list) -> general rows.
- ``math``: problem, solution (+ answer; else the last \\boxed{} of the solution) -> MATH / MATH-500.
- ``gsm8k``: question, answer ending in ``#### n`` with ``<<48/2=24>>`` calculator notes.
- ``qa``: a question field (question/problem/prompt/instruction/input) and an answer field
  (answer/output/response/final_answer), optionally reasoning (reasoning/rationale/explanation/cot).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reasoning.cot.synthetic import final_answer_text
from reasoning.errors import InputError
from reasoning.schema import THINK_CLOSE, THINK_OPEN, ReasoningType, Row, validate_row

QUESTION_FIELDS = ("question", "problem", "prompt", "instruction", "input")
ANSWER_FIELDS = ("answer", "output", "response", "final_answer")
REASONING_FIELDS = ("reasoning", "rationale", "explanation", "cot")
FOLIO_LABELS = ("True", "False", "Uncertain")


class RecordContext:
    """Where a record came from, so every error names file, line and field."""

    def __init__(self, file: Any, line: int, record: dict):
        self.file, self.line, self.record = file, line, record

    def error(self, message: str, field: str | None = None) -> InputError:
        return InputError(message, file=self.file, line=self.line, field=field)

    def text(self, field: str, *, allow_numbers: bool = False, optional: bool = False) -> str | None:
        """A string field (numbers allowed where a JSON writer may have produced them)."""
        if field not in self.record or self.record[field] is None:
            if optional:
                return None
            raise self.error("missing required field", field)
        value = self.record[field]
        if allow_numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise self.error(f"must be a string, got {type(value).__name__}", field)
        if not value.strip() and not optional:
            raise self.error("must not be empty", field)
        return value

    def first_present(self, fields: tuple[str, ...]) -> str | None:
        return next((f for f in fields if self.record.get(f) is not None), None)

    def record_id(self, layout: str, stem: str) -> str:
        for key in ("id", "task_id", "unique_id", "example_id"):
            value = self.record.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
                return f"{layout}-{value}" if layout not in str(value).lower() else str(value)
        return f"{layout}-{stem}-{self.line}"


def cot_response(think: str, answer_text: str) -> str:
    return f"{THINK_OPEN}\n{think.strip()}\n{THINK_CLOSE}\n\n{answer_text.strip()}"


def user(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content.strip()}]


# ------------------------------------------------------------------ GSM8K

_CALCULATOR = re.compile(r"<<([^<>]*)>>")
_EQUALS_BEFORE = re.compile(r"=\s*[$€£]?\s*$")
_GSM_FINAL = re.compile(r"^####\s*(.+?)\s*$", re.M)


def clean_gsm8k_solution(solution: str) -> str:
    """Turn ``48/2 = <<48/2=24>>24`` into ``48/2 = 24``; keep an unwritten equation readable.

    Most annotations follow a written ``expr =`` and are simply dropped. Where the text has
    only the result ("equals <<150/5=30>>30") the equation is added after it: ``30 (150/5 = 30)``.
    """
    out, position = [], 0
    for match in _CALCULATOR.finditer(solution):
        out.append(solution[position:match.start()])
        position = match.end()
        before = "".join(out)
        expression, _, result = match.group(1).partition("=")
        trivial = not re.search(r"\d\s*[-+*/]\s*[\d(.]", expression)
        if _EQUALS_BEFORE.search(before) or trivial or not result:
            continue
        following = solution[position:]
        shown = re.match(re.escape(result.strip()), following)
        if shown:
            out.append(f"{shown.group(0)} ({expression.strip()} = {result.strip()})")
            position += shown.end()
        else:
            out.append(f"{expression.strip()} = {result.strip()} ")
    out.append(solution[position:])
    return "".join(out)


def convert_gsm8k(ctx: RecordContext, rtype: ReasoningType, stem: str) -> Row:
    question = ctx.text("question")
    solution = ctx.text("answer")
    finals = _GSM_FINAL.findall(solution)
    if not finals:
        raise ctx.error("a GSM8K answer must end with a '#### <final answer>' line", "answer")
    answer = finals[-1].replace(",", "").strip()
    think = clean_gsm8k_solution(_GSM_FINAL.sub("", solution)).strip()
    return Row(id=ctx.record_id("gsm8k", stem), source="gsm8k", reasoning_type=rtype.value, answer=answer,
               messages=user(question) + [{"role": "assistant",
                                           "content": cot_response(think or answer, final_answer_text(answer))}])


# ------------------------------------------------------------------ MATH / MATH-500

def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces matched."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    index = text.index("{", start) + 1
    depth, begin = 1, index
    while index < len(text):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[begin:index]
        index += 1
    return None


def convert_math(ctx: RecordContext, rtype: ReasoningType, stem: str) -> Row:
    problem = ctx.text("problem")
    solution = ctx.text("solution")
    answer = ctx.text("answer", allow_numbers=True, optional=True)
    if answer is None or not answer.strip():
        answer = last_boxed(solution)
        if answer is None:
            raise ctx.error("no 'answer' field and no \\boxed{...} in the solution", "solution")
    answer = answer.strip()
    metadata = {k: ctx.record[k] for k in ("subject", "level", "type", "unique_id") if k in ctx.record}
    return Row(id=ctx.record_id("math", stem), source="math", reasoning_type=rtype.value, answer=answer,
               metadata=metadata,
               messages=user(problem) + [{"role": "assistant",
                                          "content": cot_response(solution, final_answer_text(answer))}])


# ------------------------------------------------------------------ HumanEval

def _docstring_summary(prompt: str) -> str:
    match = re.search(r'("""|\'\'\')(.*?)(\1)', prompt, re.S)
    if not match:
        return ""
    lines = [line.strip() for line in match.group(2).strip().splitlines()]
    prose = []
    for line in lines:
        if line.startswith(">>>") or line.lower().startswith(("example", "for example")):
            break
        if line:
            prose.append(line)
    return " ".join(prose)


def convert_humaneval(ctx: RecordContext, _rtype: ReasoningType, stem: str) -> Row:
    prompt = ctx.text("prompt")
    body = ctx.text("canonical_solution")
    tests = ctx.text("test")
    entry_point = ctx.text("entry_point").strip()
    code = prompt + body
    signature = re.search(rf"def {re.escape(entry_point)}\s*\(.*?\)[^:]*:", prompt, re.S)
    summary = _docstring_summary(prompt)
    examples = re.findall(r">>>\s*(.+)", prompt)
    think_lines = [f"I need to implement `{signature.group(0)[4:-1] if signature else entry_point}`."]
    if summary:
        think_lines.append(f"The task: {summary}")
    if examples:
        think_lines.append(f"The docstring gives {len(examples)} example call(s) the function must satisfy, "
                           f"e.g. `{examples[0].strip()}`.")
    think_lines.append(f"I keep the given signature and imports, write the body of `{entry_point}`, and "
                       "check it against the examples.")
    user_content = ("Complete the following Python function. Return the complete function in a "
                    f"```python code block.\n\n```python\n{prompt.rstrip()}\n```")
    answer_block = f"```python\n{code.rstrip()}\n```"
    return Row(id=ctx.record_id("humaneval", stem), source="humaneval", reasoning_type=ReasoningType.CODE.value,
               answer=code, tests=tests, entry_point=entry_point, metadata={"task_id": ctx.record.get("task_id")},
               messages=user(user_content) + [{"role": "assistant",
                                               "content": cot_response("\n".join(think_lines), answer_block)}])


# ------------------------------------------------------------------ FOLIO

def convert_folio(ctx: RecordContext, _rtype: ReasoningType, stem: str) -> Row:
    premises = ctx.record.get("premises")
    if premises is None:
        raise ctx.error("missing required field", "premises")
    if isinstance(premises, str):  # some exports join premises with newlines
        premises = [p for p in premises.splitlines() if p.strip()]
    if not isinstance(premises, list) or not premises or not all(isinstance(p, str) for p in premises):
        raise ctx.error("must be a non-empty list of strings", "premises")
    conclusion = ctx.text("conclusion")
    label = ctx.text("label").strip()
    # FOLIO's train split says "Unknown" where its validation split says "Uncertain".
    normalised = {**{v.lower(): v for v in FOLIO_LABELS}, "unknown": "Uncertain"}.get(label.lower())
    if normalised is None:
        raise ctx.error(f"must be one of {', '.join(FOLIO_LABELS)}, got {label!r}", "label")
    formulas = ctx.record.get("premises-FOL")
    numbered = "\n".join(f"{i}. {p.strip()}" for i, p in enumerate(premises, start=1))
    think = [f"Premises:\n{numbered}", f"Conclusion to check: {conclusion.strip()}"]
    if isinstance(formulas, list) and len(formulas) == len(premises) and all(isinstance(f, str) for f in formulas):
        think.append("In first-order logic:\n" + "\n".join(f"{i}. {f.strip()}" for i, f in enumerate(formulas, 1)))
        if isinstance(ctx.record.get("conclusion-FOL"), str):
            think.append(f"Conclusion: {ctx.record['conclusion-FOL'].strip()}")
    verdicts = {"True": "The premises entail the conclusion, so it is True.",
                "False": "The premises entail the negation of the conclusion, so it is False.",
                "Uncertain": "The premises entail neither the conclusion nor its negation, so it is Uncertain."}
    think.append(verdicts[normalised])
    prompt = (f"Premises:\n{numbered}\n\nConclusion: {conclusion.strip()}\n\n"
              "Based only on the premises, is the conclusion True, False, or Uncertain?")
    return Row(id=ctx.record_id("folio", stem), source="folio", reasoning_type=ReasoningType.LOGIC.value,
               answer=normalised, metadata={"story_id": ctx.record.get("story_id")},
               messages=user(prompt) + [{"role": "assistant",
                                         "content": cot_response("\n\n".join(think), f"The answer is {normalised}.")}])


# ------------------------------------------------------------------ preference pairs

def _response_text(ctx: RecordContext, field: str) -> tuple[str, str | None]:
    """(assistant text, user prompt found inside a message list or None)."""
    value = ctx.record.get(field)
    if value is None:
        raise ctx.error("missing required field", field)
    if isinstance(value, str):
        return value, None
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        assistants = [m.get("content") for m in value if m.get("role") == "assistant"]
        users = [m.get("content") for m in value if m.get("role") == "user"]
        if not assistants or not isinstance(assistants[-1], str):
            raise ctx.error("a message list needs an assistant message with string content", field)
        return assistants[-1], users[-1] if users and isinstance(users[-1], str) else None
    raise ctx.error(f"must be a string or a list of messages, got {type(value).__name__}", field)


def convert_preference(ctx: RecordContext, _rtype: ReasoningType, stem: str) -> Row:
    chosen, prompt_in_chosen = _response_text(ctx, "chosen")
    rejected, _ = _response_text(ctx, "rejected")
    prompt = ctx.text("prompt", optional=True) or prompt_in_chosen
    if not prompt:
        raise ctx.error("missing required field (or a user message inside 'chosen')", "prompt")
    if THINK_CLOSE in chosen:  # the response already reasons: keep its own <think> block
        content = chosen.strip()
    else:
        # No reasoning is recorded for general preference data; the think block records the
        # request, so the row keeps the <think> format without inventing reasoning.
        first_line = prompt.strip().splitlines()[0][:200]
        content = cot_response(f"The request: {first_line}\nI answer it directly and helpfully.", chosen)
    return Row(id=ctx.record_id("preference", stem), source="preference", reasoning_type=ReasoningType.GENERAL.value,
               answer=chosen.strip(), metadata={"rejected": rejected},
               messages=user(prompt) + [{"role": "assistant", "content": content}])


# ------------------------------------------------------------------ plain question/answer and rows

def convert_qa(ctx: RecordContext, rtype: ReasoningType, stem: str) -> Row:
    question_field = ctx.first_present(QUESTION_FIELDS) or QUESTION_FIELDS[0]
    answer_field = ctx.first_present(ANSWER_FIELDS) or ANSWER_FIELDS[0]
    question = ctx.text(question_field)
    answer = ctx.text(answer_field, allow_numbers=True).strip()
    reasoning_field = ctx.first_present(REASONING_FIELDS)
    reasoning = ctx.text(reasoning_field, optional=True) if reasoning_field else None
    think = reasoning or f"The question asks: {question.strip().splitlines()[0][:200]}"
    final = final_answer_text(answer) if rtype in (ReasoningType.MATH, ReasoningType.LOGIC) else answer
    return Row(id=ctx.record_id("qa", stem), source="qa", reasoning_type=rtype.value, answer=answer,
               messages=user(question) + [{"role": "assistant", "content": cot_response(think, final)}])


def convert_row(ctx: RecordContext, rtype: ReasoningType, _stem: str) -> Row:
    record = dict(ctx.record)
    record.setdefault("reasoning_type", rtype.value)
    return validate_row(record, file=ctx.file, line=ctx.line)


@dataclass(frozen=True)
class Layout:
    name: str
    matches: Callable[[dict], bool]
    convert: Callable[[RecordContext, ReasoningType, str], Row]
    description: str


def _has(*fields: str) -> Callable[[dict], bool]:
    return lambda record: all(f in record for f in fields)


def _is_gsm8k(record: dict) -> bool:
    return "question" in record and isinstance(record.get("answer"), str) and "####" in record["answer"]


def _is_qa(record: dict) -> bool:
    return any(f in record for f in QUESTION_FIELDS) and any(f in record for f in ANSWER_FIELDS)


LAYOUTS = (
    Layout("row", _has("messages"), convert_row, "row format: messages[, answer, reasoning_type, ...]"),
    Layout("humaneval", _has("prompt", "canonical_solution", "test", "entry_point"), convert_humaneval,
           "HumanEval: prompt, canonical_solution, test, entry_point"),
    Layout("folio", _has("premises", "conclusion", "label"), convert_folio, "FOLIO: premises, conclusion, label"),
    Layout("preference", _has("chosen", "rejected"), convert_preference,
           "preference pairs (UltraFeedback): prompt, chosen, rejected"),
    Layout("math", _has("problem", "solution"), convert_math, "MATH / MATH-500: problem, solution[, answer]"),
    Layout("gsm8k", _is_gsm8k, convert_gsm8k, "GSM8K: question, answer with '#### n'"),
    Layout("qa", _is_qa, convert_qa, f"question/answer: one of {'/'.join(QUESTION_FIELDS)} and one of "
                                     f"{'/'.join(ANSWER_FIELDS)}[, {'/'.join(REASONING_FIELDS)}]"),
)
LAYOUTS_BY_NAME = {layout.name: layout for layout in LAYOUTS}


def known_layouts_text() -> str:
    return "; ".join(layout.description for layout in LAYOUTS)


def detect_layout(records: list[dict], file: Any) -> Layout:
    """The first layout (priority order) that most sampled records match, else the best match.

    Why "most" and not "all": one broken record (say a GSM8K answer without ``####``) must be
    reported as broken, not turn the whole file into the looser question/answer layout.
    """
    best, best_count = None, 0
    for layout in LAYOUTS:
        count = sum(1 for r in records if layout.matches(r))
        if count * 2 > len(records):
            return layout
        if count > best_count:
            best, best_count = layout, count
    if best is None:
        keys = sorted({k for r in records[:5] for k in r})
        raise InputError(f"unknown dataset layout (fields: {', '.join(keys) or 'none'}); known layouts: "
                         f"{known_layouts_text()}", file=file)
    return best
