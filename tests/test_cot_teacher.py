"""Teacher mode (R1-style rejection sampling): only verified responses are kept, and counted."""
from __future__ import annotations

import json
import re

import pytest

from reasoning.cot import CoTGenerator
from reasoning.cot.generator import wrap_reasoning
from reasoning.cot.synthetic import synthetic_rows
from reasoning.schema import load_rows, write_rows


def _problems(tmp_path, n=6):
    path = tmp_path / "problems.jsonl"
    write_rows(path, synthetic_rows(n, seed=0, split="test", families=["arithmetic"], difficulty=1))
    return path


class ArithmeticTeacher:
    """A deterministic teacher that really computes a op b, so its correct answers are earned.

    Sample 0 is correct with a think block, sample 1 repeats it (a duplicate), sample 2 is
    off by one, sample 3 forgets the think block. Expected per problem: 2 verified samples
    (one unique row), 1 wrong answer, 1 without format.
    """

    def __init__(self):
        self.seen_prompts = []

    def __call__(self, prompts, k):
        self.seen_prompts.extend(prompts)
        results = []
        for messages in prompts:
            a, op, b = re.search(r"What is (\d+) ([-+*]) (\d+)\?", messages[-1]["content"]).groups()
            value = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
            good = f"<think>\n{a} {op} {b} = {value}\n</think>\n\nThe answer is {value}."
            samples = [good, good, good.replace(f"is {value}.", f"is {value + 1}."), f"The answer is {value}."]
            results.append(samples[:k])
        return results


def test_rejection_sampling_keeps_only_verified_unique_responses(tmp_path):
    teacher = ArithmeticTeacher()
    out = tmp_path / "cot.jsonl"
    report = CoTGenerator(teacher=teacher, samples_per_problem=4).generate_from_dataset(_problems(tmp_path), out)
    assert report["mode"] == "teacher"
    assert (report["problems"], report["samples"], report["accepted"]) == (6, 24, 12)
    assert report["acceptance_rate"] == pytest.approx(0.5)
    assert report["problems_solved"] == 6
    assert report["rejected_reasons"] == {"duplicate": 6, "wrong_answer": 6, "no_think_block": 6}
    rows = load_rows(out, require_completion=True)
    assert report["rows_written"] == len(rows) == 6
    for row in rows:
        assert row.completion.startswith("<think>") and row.completion.endswith(f"The answer is {row.answer}.")
        assert row.metadata["teacher_sample"] == 0
    # The teacher is told the format; the problem itself is the dataset's user turn.
    assert teacher.seen_prompts[0][0]["role"] == "system" and "<think>" in teacher.seen_prompts[0][0]["content"]
    meta = json.loads((tmp_path / "cot.jsonl.meta.json").read_text())
    assert meta["report"]["acceptance_rate"] == pytest.approx(0.5) and meta["config"]["samples_per_problem"] == 4


def test_untagged_but_verified_reasoning_is_wrapped_unless_disabled(tmp_path):
    assert wrap_reasoning("43 * 2 = 86\n\nso the answer is 86.") == "<think>\n43 * 2 = 86\n</think>\n\nSo the answer is 86."
    assert wrap_reasoning("The answer is 86.") is None and wrap_reasoning("86") is None

    def untagged(prompts, k):
        return [[f"I compute it.\nThe answer is {ArithmeticTeacher()([p], 1)[0][0].rsplit(' ', 1)[1]}"] * k
                for p in prompts]

    problems = _problems(tmp_path, n=4)
    report = CoTGenerator(teacher=untagged).generate_from_dataset(problems, tmp_path / "a.jsonl")
    assert (report["accepted"], report["format_repaired"], report["rows_written"]) == (4, 4, 4)
    assert load_rows(tmp_path / "a.jsonl")[0].completion.startswith("<think>\nI compute it.\n</think>")
    report = CoTGenerator(teacher=untagged, repair_format=False).generate_from_dataset(problems, tmp_path / "b.jsonl")
    assert (report["accepted"], report["rejected_reasons"]) == (0, {"no_think_block": 4})


def test_tiny_model_teacher_runs_the_real_generation_path(tmp_path, tiny_model_dir):
    from reasoning.modeling.models import load_model, load_tokenizer

    model, tokenizer = load_model(str(tiny_model_dir)), load_tokenizer(str(tiny_model_dir))
    generator = CoTGenerator(teacher=(model, tokenizer), samples_per_problem=2, max_new_tokens=8, temperature=1.0)
    report = generator.generate_from_dataset(_problems(tmp_path, n=3), tmp_path / "cot.jsonl")
    # A random model almost never answers correctly: the mechanics must still add up.
    assert (report["problems"], report["samples"]) == (3, 6)
    assert report["accepted"] + sum(v for k, v in report["rejected_reasons"].items() if k != "duplicate") == 6
    assert report["rows_written"] == len((tmp_path / "cot.jsonl").read_text().splitlines())
    assert report["acceptance_rate"] == pytest.approx(report["accepted"] / 6)


def test_teacher_reference_is_checked_before_loading(tmp_path):
    from reasoning.errors import InputError
    with pytest.raises(InputError):
        CoTGenerator(teacher=str(tmp_path / "no-model-here"))
    with pytest.raises(InputError, match="samples_per_problem"):
        CoTGenerator(samples_per_problem=0)


@pytest.mark.slow
def test_default_model_teacher_on_cpu(tmp_path):
    generator = CoTGenerator(teacher="builtin:smollm2-135m-instruct", samples_per_problem=2, max_new_tokens=96,
                             temperature=0.7)
    report = generator.generate_from_dataset(_problems(tmp_path, n=8), tmp_path / "cot.jsonl")
    print("default-model teacher:", {k: report[k] for k in ("samples", "accepted", "acceptance_rate",
                                                            "rejected_reasons")})
    assert (report["problems"], report["samples"]) == (8, 16)
    assert report["rows_written"] == len((tmp_path / "cot.jsonl").read_text().splitlines())
