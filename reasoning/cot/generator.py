"""Stage 1: build chain-of-thought training data.

    from reasoning import CoTGenerator, ReasoningType
    generator = CoTGenerator()
    generator.generate_from_dataset("data/math_problems.jsonl", "data/cot_math.jsonl", reasoning_type=ReasoningType.MATH)
    generator.generate_synthetic_math("data/synthetic_math.jsonl", num_samples=10000)

Two ways to get the reasoning inside ``<think>``:
- conversion (default): the dataset's own worked solution becomes the think block
  (GSM8K, MATH, FOLIO, HumanEval, ... see ``reasoning.cot.layouts``);
- teacher mode (``CoTGenerator(teacher="builtin:smollm2-135m-instruct", samples_per_problem=4)``):
  R1-style rejection sampling. The teacher writes k responses per problem and only those
  whose final answer verifies against the reference (``reasoning.scoring.answers.check_response``)
  are kept; the report gives the acceptance rate.

Every output is written atomically with its lineage in ``<output>.meta.json``.
"""
from __future__ import annotations

import gzip
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from reasoning.cot.layouts import LAYOUTS_BY_NAME, Layout, RecordContext, detect_layout
from reasoning.cot.synthetic import check_synthetic_options, synthetic_rows
from reasoning.errors import InputError
from reasoning.io import storage
from reasoning.io.artifacts import write_dataset_metadata
from reasoning.io.fileio import check_data_file, iter_records, read_errors_named
from reasoning.schema import THINK_CLOSE, THINK_OPEN, ReasoningType, Row, write_rows

log = logging.getLogger(__name__)

# Records sampled to detect a file's layout: enough to outvote a few broken lines.
DETECTION_SAMPLE = 50
MAX_REPORTED_ERRORS = 10
Sampler = Callable[[list[list[dict[str, str]]], int], list[list[str]]]

TEACHER_SYSTEM_PROMPT = (
    "You are a careful problem solver. First think step by step inside <think> and </think> tags. "
    "After </think>, give the final answer as \"The answer is ...\".")
TEACHER_FORMAT_HINTS = {
    ReasoningType.CODE.value: "After </think>, give the complete function in one ```python code block.",
    ReasoningType.LOGIC.value: "After </think>, write \"The answer is True.\", \"The answer is False.\" or "
                               "\"The answer is Uncertain.\".",
}


def _skip_reason(error: InputError) -> str:
    text = str(error)
    if "malformed JSON" in text or "expected a JSON object" in text:
        return "malformed_json"
    if "missing required field" in text:
        return "missing_field"
    if "must be" in text and "got" in text:
        return "wrong_type"
    return "invalid_value"


def read_raw_records(path: Path, *, skip_invalid: bool, errors: list[InputError]) -> list[tuple[int, dict]]:
    """All ``(line, record)`` pairs; with ``skip_invalid`` a malformed JSONL line is recorded and skipped."""
    name = path.name.lower()
    if not skip_invalid or not (name.endswith(".jsonl") or name.endswith(".jsonl.gz")):
        return list(iter_records(path))
    opener = gzip.open if name.endswith(".gz") else open
    records = []
    check_data_file(path)
    with read_errors_named(path), opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(InputError(f"malformed JSON ({exc.msg}, column {exc.colno})", file=path, line=number))
                continue
            if not isinstance(record, dict):
                errors.append(InputError(f"expected a JSON object, got {type(record).__name__}", file=path,
                                         line=number))
                continue
            records.append((number, record))
    return records


def convert_file(path: str | os.PathLike, reasoning_type: ReasoningType | str = ReasoningType.MATH, *,
                 skip_invalid: bool = False, limit: int | None = None, layout: str | None = None,
                 errors: list[InputError] | None = None, display_name: str | None = None) -> tuple[list[Row], Layout]:
    """Convert a local file in any known layout into rows (the first ``limit`` valid rows)."""
    path = Path(path)
    shown = display_name or str(path)
    rtype = ReasoningType.parse(reasoning_type)
    errors = errors if errors is not None else []
    try:
        records = read_raw_records(path, skip_invalid=skip_invalid, errors=errors)
    except InputError as exc:
        if shown == str(path) or exc.file is None:
            raise
        # Name the file the user gave (e.g. the s3:// URI), not the local download.
        message = str(exc).split(": ", 1)[-1]
        raise InputError(message, file=shown, line=exc.line, field=exc.field) from None
    if layout is not None:
        if layout not in LAYOUTS_BY_NAME:
            raise InputError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS_BY_NAME)}", field="layout")
        chosen = LAYOUTS_BY_NAME[layout]
    elif records:
        chosen = detect_layout([record for _, record in records[:DETECTION_SAMPLE]], shown)
    else:
        raise InputError("no records found", file=shown)
    stem = path.name.split(".")[0]
    rows: list[Row] = []
    for line, record in records:
        if limit is not None and len(rows) >= limit:
            break
        try:
            rows.append(chosen.convert(RecordContext(shown, line, record), rtype, stem))
        except InputError as exc:
            if not skip_invalid:
                raise
            errors.append(exc)
    return rows, chosen


def _error_report(errors: Sequence[InputError]) -> dict[str, Any]:
    return {"skipped": len(errors), "skipped_reasons": dict(Counter(_skip_reason(e) for e in errors)),
            "skipped_examples": [str(e) for e in errors[:MAX_REPORTED_ERRORS]]}


def write_dataset(rows: Sequence[Row], output: str | os.PathLike, *, source: str, config: dict[str, Any],
                  report: dict[str, Any]) -> None:
    """Write rows and their lineage atomically (local path or object-store URI)."""
    with storage.local_output(output, is_dir=False) as staged:
        write_rows(staged, rows)
        write_dataset_metadata(staged, stage="cot", source=source, rows=len(rows), config=config,
                               extra={"report": {k: v for k, v in report.items() if k != "skipped_examples"}})


class CoTGenerator:
    """Turn problems into ``<think>`` rows, by conversion or by teacher rejection sampling.

    ``teacher`` may be a model reference (``builtin:...``, a local directory, ``s3://...``),
    a ``(model, tokenizer)`` pair, a loaded model with ``tokenizer=``, or a callable
    ``sampler(prompts, k) -> k responses per prompt`` (e.g. an inference server client).
    """

    def __init__(self, teacher: Any = None, samples_per_problem: int = 1, *, tokenizer: Any = None,
                 max_new_tokens: int = 512, temperature: float = 0.7, top_p: float = 0.95,
                 batch_size: int = 8, seed: int = 0, system_prompt: str = TEACHER_SYSTEM_PROMPT,
                 repair_format: bool = True):
        if not isinstance(samples_per_problem, int) or samples_per_problem < 1:
            raise InputError(f"must be a positive integer, got {samples_per_problem!r}", field="samples_per_problem")
        if max_new_tokens < 1:
            raise InputError(f"must be positive, got {max_new_tokens}", field="max_new_tokens")
        if temperature < 0:
            raise InputError(f"must be >= 0, got {temperature}", field="temperature")
        if isinstance(teacher, (str, os.PathLike)):
            from reasoning.modeling.models import check_model_reference
            check_model_reference(str(teacher))
        self.teacher, self.tokenizer = teacher, tokenizer
        self.samples_per_problem = samples_per_problem
        self.max_new_tokens, self.temperature, self.top_p = max_new_tokens, temperature, top_p
        self.batch_size, self.seed, self.system_prompt = batch_size, seed, system_prompt
        # Keep verified responses that lack the tags by wrapping their reasoning (see wrap_reasoning).
        self.repair_format = repair_format
        self._sampler: Sampler | None = None

    # -------------------------------------------------------------- conversion

    def generate_from_dataset(self, input: str | os.PathLike, output: str | os.PathLike,
                              reasoning_type: ReasoningType | str = ReasoningType.MATH,
                              skip_invalid: bool = False, limit: int | None = None) -> dict[str, Any]:
        """Convert (or, with a teacher, rejection-sample) a dataset file into CoT rows."""
        rtype = ReasoningType.parse(reasoning_type)
        local = storage.fetch(input)
        errors: list[InputError] = []
        rows, layout = convert_file(local, rtype, skip_invalid=skip_invalid, limit=limit, errors=errors,
                                    display_name=str(input))
        report: dict[str, Any] = {"input": str(input), "output": str(output), "layout": layout.name,
                                  "mode": "teacher" if self.teacher is not None else "convert",
                                  "rows_read": len(rows) + len(errors), **_error_report(errors)}
        if self.teacher is not None:
            rows, teacher_report = self.rejection_sample(rows)
            report.update(teacher_report)
        report["rows_written"] = len(rows)
        if not rows:
            log.warning("no rows to write to %s (%s)", output, report)
        config = {"reasoning_type": rtype.value, "skip_invalid": skip_invalid, "limit": limit,
                  **self._teacher_config()}
        write_dataset(rows, output, source=str(input), config=config, report=report)
        log.info("cot: %s", _summary(report))
        return report

    def generate_synthetic_math(self, output: str | os.PathLike, num_samples: int = 10000, seed: int = 0,
                                split: str = "train", families: Sequence[str] | None = None,
                                difficulty: int | None = None) -> dict[str, Any]:
        """Write ``num_samples`` synthetic math rows (see ``reasoning.cot.synthetic``)."""
        families, difficulty = check_synthetic_options(num_samples, split, families, difficulty)
        rows = synthetic_rows(num_samples, seed=seed, split=split, families=families, difficulty=difficulty)
        report = {"output": str(output), "mode": "synthetic", "rows_read": 0, "rows_written": len(rows),
                  "skipped": 0, "split": split, "seed": seed, "difficulty": difficulty,
                  "families": dict(Counter(r.metadata["family"] for r in rows)),
                  "unique_problems": len({r.metadata["canonical"] for r in rows})}
        config = {"num_samples": num_samples, "seed": seed, "split": split, "families": families,
                  "difficulty": difficulty}
        write_dataset(rows, output, source="synthetic:math", config=config, report=report)
        log.info("cot synthetic: %s", _summary(report))
        return report

    # -------------------------------------------------------------- teacher mode

    def _teacher_config(self) -> dict[str, Any]:
        if self.teacher is None:
            return {}
        name = str(self.teacher) if isinstance(self.teacher, (str, os.PathLike)) else type(self.teacher).__name__
        return {"teacher": name, "samples_per_problem": self.samples_per_problem,
                "max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "seed": self.seed, "repair_format": self.repair_format}

    def _teacher_sampler(self) -> Sampler:
        if self._sampler is not None:
            return self._sampler
        teacher = self.teacher
        if callable(teacher) and not hasattr(teacher, "generate"):
            self._sampler = teacher
            return teacher
        if isinstance(teacher, (str, os.PathLike)):
            from reasoning.modeling.models import load_model, load_tokenizer
            model, tokenizer = load_model(str(teacher)), load_tokenizer(str(teacher))
            import torch
            if torch.cuda.is_available():  # the pipeline gives the teacher task GPUs with eval_gpu_count
                model.to("cuda")
        elif isinstance(teacher, tuple) and len(teacher) == 2:
            model, tokenizer = teacher
        elif self.tokenizer is not None:
            model, tokenizer = teacher, self.tokenizer
        else:
            raise InputError("a loaded teacher model needs its tokenizer (pass tokenizer=...)", field="teacher")
        from reasoning.modeling.generation import SamplingSettings, generate

        def sample(prompts: list[list[dict[str, str]]], k: int) -> list[list[str]]:
            settings = SamplingSettings(max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                                        top_p=self.top_p, num_samples=k, batch_size=self.batch_size, seed=self.seed)
            return generate(model, tokenizer, prompts, settings, progress=True, description="teacher sampling")

        self._sampler = sample
        return sample

    def teacher_prompt(self, row: Row) -> list[dict[str, str]]:
        system = self.system_prompt
        hint = TEACHER_FORMAT_HINTS.get(row.reasoning_type)
        if hint:
            system = f"{system} {hint}"
        return [{"role": "system", "content": system}, *[m for m in row.prompt_messages if m["role"] != "system"]]

    def rejection_sample(self, problems: Sequence[Row]) -> tuple[list[Row], dict[str, Any]]:
        """Keep the teacher responses that have a think block and a verified final answer."""
        from reasoning.scoring.answers import check_response

        k = self.samples_per_problem
        responses = self._teacher_sampler()([self.teacher_prompt(row) for row in problems], k) if problems else []
        if len(responses) != len(problems):
            raise RuntimeError(f"the teacher returned {len(responses)} response lists for {len(problems)} problems")
        kept: list[Row] = []
        rejected: Counter[str] = Counter()
        solved = repaired = 0
        for row, samples in zip(problems, responses, strict=True):
            accepted_texts: list[str] = []
            for response in samples:
                text = response.strip()
                if THINK_CLOSE not in text:
                    text = wrap_reasoning(text) if self.repair_format else None
                    if text is None:
                        rejected["no_think_block"] += 1
                        continue
                    repaired += 1
                if not text.startswith(THINK_OPEN):
                    # The chat template may end with the opening tag; store it with the response.
                    text = f"{THINK_OPEN}\n{text}" if THINK_OPEN not in text.split(THINK_CLOSE)[0] else text
                if row.answer is None or not check_response(text, row.answer, row.reasoning_type,
                                                            tests=row.tests, entry_point=row.entry_point):
                    rejected["wrong_answer"] += 1
                    continue
                if text in accepted_texts:
                    rejected["duplicate"] += 1
                    continue
                accepted_texts.append(text)
            solved += bool(accepted_texts)
            for index, text in enumerate(accepted_texts):
                kept.append(Row(id=f"{row.id}-t{index}", messages=[*row.prompt_messages,
                                                                    {"role": "assistant", "content": text}],
                                reasoning_type=row.reasoning_type, answer=row.answer, source=row.source,
                                tests=row.tests, entry_point=row.entry_point,
                                metadata={**row.metadata, "teacher_sample": index}))
        samples_total = len(problems) * k
        accepted = samples_total - sum(v for key, v in rejected.items() if key != "duplicate")
        return kept, {"problems": len(problems), "samples": samples_total, "accepted": accepted,
                      "acceptance_rate": accepted / samples_total if samples_total else 0.0,
                      "problems_solved": solved, "rejected_reasons": dict(rejected),
                      "format_repaired": repaired}


_FINAL_SENTENCE = re.compile(r"(?i)(?:so,?\s+|therefore,?\s+|thus,?\s+)?the (?:final )?answer is")


def wrap_reasoning(text: str) -> str | None:
    """``reasoning ... The answer is 86.`` -> ``<think>\nreasoning ...\n</think>\n\nThe answer is 86.``

    Why: small teachers (the default 135M model) reason and answer correctly but ignore the
    tag instruction. Their own reasoning is moved into the think block; None when there is
    no reasoning before a final "The answer is" sentence (nothing to wrap).
    """
    matches = list(_FINAL_SENTENCE.finditer(text))
    if not matches:
        return None
    reasoning, final = text[:matches[-1].start()].strip(), text[matches[-1].start():].strip()
    if not reasoning or THINK_OPEN in text:
        return None
    final = final[0].upper() + final[1:]
    return f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{final}"


def _summary(report: dict[str, Any]) -> str:
    keys = ("layout", "rows_read", "rows_written", "skipped", "skipped_reasons", "acceptance_rate")
    return ", ".join(f"{k}={report[k]}" for k in keys if k in report)
