"""The one row format every stage reads and writes.

A row of a reasoning dataset (JSONL, one object a line)::

    {"id": "gsm8k-train-17",
     "source": "gsm8k",
     "reasoning_type": "math",
     "messages": [{"role": "user", "content": "Natalia sold clips to ..."},
                  {"role": "assistant", "content": "<think>\\n...\\n</think>\\n\\nThe answer is 72."}],
     "answer": "72",                 # reference final answer, what the correctness reward checks
     "tests": null,                  # code only: test source run against the completion
     "entry_point": null,            # code only: the function the tests call
     "metadata": {}}                 # free-form provenance (level, subject, family, ...)

Rows for GRPO and evaluation need no assistant turn: the prompt is every message up to
the last user turn. The schema is validated on read and on write, so a bad row is
reported with its file, line and field before any model is loaded.
"""
from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reasoning.errors import InputError
from reasoning.io.fileio import iter_records, write_jsonl_atomic


class ReasoningType(str, enum.Enum):  # noqa: UP042 - keep str() == "ReasoningType.MATH" semantics stable
    MATH = "math"
    CODE = "code"
    LOGIC = "logic"
    PLANNING = "planning"
    TOOL_USE = "tool_use"
    GENERAL = "general"

    @classmethod
    def parse(cls, value: str | ReasoningType) -> ReasoningType:
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).strip().lower().replace("-", "_"))
        except ValueError:
            known = ", ".join(t.value for t in cls)
            raise InputError(f"unknown reasoning type '{value}'; known: {known}", field="reasoning_type") from None


ROLES = ("system", "user", "assistant")
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


@dataclass
class Row:
    id: str
    messages: list[dict[str, str]]
    reasoning_type: str = ReasoningType.MATH.value
    answer: str | None = None
    source: str = "unknown"
    tests: str | None = None
    entry_point: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "reasoning_type": self.reasoning_type,
                "messages": self.messages, "answer": self.answer, "tests": self.tests,
                "entry_point": self.entry_point, "metadata": self.metadata}

    @property
    def prompt_messages(self) -> list[dict[str, str]]:
        return prompt_messages(self.messages)

    @property
    def problem(self) -> str:
        return last_user_content(self.messages)

    @property
    def completion(self) -> str | None:
        return self.messages[-1]["content"] if self.messages[-1]["role"] == "assistant" else None


def prompt_messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Messages up to and including the last user turn (the model must write the rest)."""
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    return messages[: last_user + 1]


def last_user_content(messages: list[dict[str, str]]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def validate_row(record: Any, *, file: str | os.PathLike | None = None, line: int | None = None,
                 require_completion: bool = False) -> Row:
    """Check one record against the schema; raise ``InputError`` naming file, line and field."""
    def fail(message: str, field_name: str) -> InputError:
        return InputError(message, file=file, line=line, field=field_name)

    if not isinstance(record, dict):
        raise InputError(f"expected an object, got {type(record).__name__}", file=file, line=line)
    messages = record.get("messages")
    if messages is None:
        raise fail("missing required field", "messages")
    if not isinstance(messages, list) or not messages:
        raise fail("must be a non-empty list of {role, content} objects", "messages")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise fail("must be an object with 'role' and 'content'", where)
        if message.get("role") not in ROLES:
            raise fail(f"role must be one of {', '.join(ROLES)}, got {message.get('role')!r}", f"{where}.role")
        if not isinstance(message.get("content"), str):
            raise fail(f"content must be a string, got {type(message.get('content')).__name__}", f"{where}.content")
    if not any(m["role"] == "user" for m in messages):
        raise fail("needs at least one user message", "messages")
    if require_completion and messages[-1]["role"] != "assistant":
        raise fail("the last message must be the assistant's response for training", "messages")
    rtype = record.get("reasoning_type", ReasoningType.MATH.value)
    try:
        rtype = ReasoningType.parse(rtype).value
    except InputError as exc:
        raise fail(str(exc).split(": ", 1)[-1], "reasoning_type") from None
    for name in ("answer", "tests", "entry_point", "source", "id"):
        value = record.get(name)
        if value is not None and not isinstance(value, (str, int, float)):
            raise fail(f"must be a string, got {type(value).__name__}", name)
    if rtype == ReasoningType.CODE.value and record.get("tests") and not record.get("entry_point"):
        raise fail("code rows with tests need the entry point the tests call", "entry_point")
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise fail("must be an object", "metadata")
    answer = record.get("answer")
    return Row(id=str(record.get("id", line if line is not None else "")), messages=messages,
               reasoning_type=rtype, answer=None if answer is None else str(answer),
               source=str(record.get("source") or "unknown"), tests=record.get("tests"),
               entry_point=record.get("entry_point"), metadata=metadata)


def read_rows(path: str | os.PathLike, *, require_completion: bool = False,
              skip_invalid: bool = False, errors: list[InputError] | None = None) -> Iterator[Row]:
    """Read and validate a dataset in the row format (JSONL, JSON, Parquet or CSV)."""
    for line, record in iter_records(path):
        try:
            yield validate_row(record, file=path, line=line, require_completion=require_completion)
        except InputError as exc:
            if not skip_invalid:
                raise
            if errors is not None:
                errors.append(exc)


def load_rows(path: str | os.PathLike, **kwargs: Any) -> list[Row]:
    return list(read_rows(path, **kwargs))


def write_rows(path: str | os.PathLike, rows: Iterable[Row | dict]) -> int:
    """Validate and write rows as JSONL atomically; returns the number written."""
    def checked() -> Iterator[dict]:
        for index, row in enumerate(rows, start=1):
            record = row.to_dict() if isinstance(row, Row) else row
            validate_row(record, file=f"{path} (row being written)", line=index)
            yield record
    return write_jsonl_atomic(Path(path), checked())
