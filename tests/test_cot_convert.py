"""Native layouts -> CoT rows: every row of the real data sets is kept and its answer round-trips."""
from __future__ import annotations

import gzip
import json

from reasoning.cot import CoTGenerator, convert_file
from reasoning.cot.layouts import clean_gsm8k_solution, last_boxed
from reasoning.data.datasets import humaneval_path
from reasoning.schema import THINK_CLOSE, load_rows
from reasoning.scoring.answers import extract_final_answer, is_equivalent


def _assert_round_trip(rows, reasoning_type):
    wrong = [(r.id, r.answer) for r in rows
             if not is_equivalent(extract_final_answer(r.completion), r.answer, reasoning_type)]
    assert wrong == []
    assert all(r.completion.startswith("<think>\n") and THINK_CLOSE in r.completion for r in rows)


def test_all_of_gsm8k_train_converts_and_round_trips(shared_data):
    rows, layout = convert_file(shared_data / "gsm8k/train.jsonl")
    assert layout.name == "gsm8k" and len(rows) == 7473
    source = [json.loads(line) for line in (shared_data / "gsm8k/train.jsonl").open()]
    for row, record in zip(rows, source, strict=True):
        assert row.answer == record["answer"].split("####")[-1].strip().replace(",", "")
        assert "<<" not in row.completion and "####" not in row.completion
    _assert_round_trip(rows, "math")
    assert "Natalia sold 48/2 = 24 clips in May." in rows[0].completion
    assert rows[0].completion.endswith("</think>\n\nThe answer is 72.")


def test_all_of_math500_converts_and_latex_answers_round_trip(shared_data):
    rows, layout = convert_file(shared_data / "math500/test.jsonl")
    assert layout.name == "math" and len(rows) == 500
    _assert_round_trip(rows, "math")
    polar = rows[0]
    assert polar.answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert polar.completion.endswith("The answer is $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}$.")
    assert {"subject", "level"} <= set(polar.metadata)


def test_all_of_folio_train_converts_to_logic_rows(shared_data):
    rows, layout = convert_file(shared_data / "folio/train.jsonl")
    assert layout.name == "folio" and len(rows) == 1004
    assert {r.reasoning_type for r in rows} == {"logic"}
    assert {r.answer for r in rows} == {"True", "False", "Uncertain"}  # the train split's "Unknown" -> Uncertain
    _assert_round_trip(rows, "logic")
    first = json.loads((shared_data / "folio/train.jsonl").open().readline())
    think = rows[0].completion.split(THINK_CLOSE)[0]
    assert all(premise.strip() in think for premise in first["premises"])


def _humaneval_rows():
    rows, layout = convert_file(humaneval_path())
    assert layout.name == "humaneval"
    return rows


def test_all_humaneval_problems_convert_with_tests_kept():
    rows = _humaneval_rows()
    source = [json.loads(line) for line in gzip.open(humaneval_path(), "rt")]
    assert len(rows) == 164
    for row, record in zip(rows, source, strict=True):
        assert row.reasoning_type == "code"
        assert row.tests == record["test"] and row.entry_point == record["entry_point"]
        assert row.completion.split(THINK_CLOSE)[1].strip().startswith("```python\n")


def _failing_humaneval(rows):
    from reasoning.scoring.answers import extract_code
    from reasoning.scoring.sandbox import run_tests
    return [r.id for r in rows if not run_tests(extract_code(r.completion), r.tests, r.entry_point).passed]


def test_humaneval_code_answers_pass_their_tests_subset():
    rows = _humaneval_rows()
    assert _failing_humaneval(rows[::20]) == []


def test_all_humaneval_code_answers_pass_their_tests():
    assert _failing_humaneval(_humaneval_rows()) == []


def test_gsm8k_calculator_notes_become_readable_equations():
    assert clean_gsm8k_solution("She sold 48/2 = <<48/2=24>>24 clips.") == "She sold 48/2 = 24 clips."
    assert clean_gsm8k_solution("He earns $<<12/60=0.2>>0.2 a minute.") == "He earns $0.2 (12/60 = 0.2) a minute."
    assert clean_gsm8k_solution("It is <<15=15>>15 years old.") == "It is 15 years old."
    assert last_boxed("so $\\boxed{\\frac{1}{2}}$ and \\boxed{x^{2}+1}.") == "x^{2}+1"


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_preference_pairs_with_string_or_message_list(tmp_path):
    path = _write_jsonl(tmp_path / "prefs.jsonl", [
        {"prompt": "Name a prime.", "chosen": "7 is prime.", "rejected": "9 is prime."},
        {"chosen": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi!"}],
         "rejected": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "No."}]}])
    rows, layout = convert_file(path)
    assert layout.name == "preference"
    assert [r.reasoning_type for r in rows] == ["general", "general"]
    assert rows[0].answer == "7 is prime." and rows[0].metadata["rejected"] == "9 is prime."
    assert rows[1].problem == "Say hi." and rows[1].completion.endswith("Hi!")
    assert rows[1].metadata["rejected"] == "No."


def test_plain_question_answer_csv_parquet_json_and_row_format(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "qa.csv").write_text("question,answer\nWhat is 2 + 2?,4\nWhat is 3 * 3?,9\n")
    rows, layout = convert_file(tmp_path / "qa.csv")
    assert layout.name == "qa" and [r.answer for r in rows] == ["4", "9"]
    assert rows[0].completion.endswith("The answer is 4.")
    assert rows[1].id == "qa-qa-3"  # CSV line numbers count the header

    records = [{"problem": "Simplify 2/4.", "solution": "Divide by 2: $\\boxed{\\frac12}$."}]
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "math.parquet")
    rows, layout = convert_file(tmp_path / "math.parquet")
    assert layout.name == "math" and rows[0].answer == "\\frac12"

    (tmp_path / "qa.json").write_text(json.dumps({"data": [{"instruction": "Capital of France?", "output": "Paris",
                                                             "rationale": "France's capital is Paris."}]}))
    rows, _ = convert_file(tmp_path / "qa.json", "general")
    assert rows[0].completion == "<think>\nFrance's capital is Paris.\n</think>\n\nParis"

    row = {"id": "r1", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}],
           "answer": "x", "reasoning_type": "general"}
    rows, layout = convert_file(_write_jsonl(tmp_path / "rows.jsonl", [row]))
    assert layout.name == "row" and rows[0].to_dict()["messages"] == row["messages"]


def test_generate_from_dataset_writes_rows_lineage_and_report(shared_data, tmp_path):
    out = tmp_path / "cot.jsonl"
    report = CoTGenerator().generate_from_dataset(shared_data / "gsm8k/test.jsonl", out)
    assert report["rows_read"] == report["rows_written"] == 1319 and report["skipped"] == 0
    assert report["layout"] == "gsm8k"
    assert len(load_rows(out, require_completion=True)) == 1319
    meta = json.loads((tmp_path / "cot.jsonl.meta.json").read_text())
    assert meta["stage"] == "cot" and meta["rows"] == 1319 and len(meta["sha256"]) == 64
    assert meta["source"].endswith("gsm8k/test.jsonl")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers
