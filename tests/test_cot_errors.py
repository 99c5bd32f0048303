"""Bad input stops with file, line and field named; --skip-invalid counts; output stays atomic."""
from __future__ import annotations

import json

import pytest

from reasoning.cot import CoTGenerator
from reasoning.errors import InputError
from reasoning.stages.cot import main

GOOD = {"question": "Tom has 3 apples and buys 4. How many?", "answer": "3+4 = <<3+4=7>>7\n#### 7"}


def _write(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


@pytest.mark.parametrize("bad, line, field, reason", [
    ('{"question": "broken", "answer": ', 3, None, "malformed_json"),
    ({"question": "Where is the answer?"}, 3, "answer", "missing_field"),
    ({"question": ["not", "a", "string"], "answer": "#### 2"}, 3, "question", "wrong_type"),
    ({"question": "No final line", "answer": "just text"}, 3, "answer", "invalid_value"),
])
def test_bad_row_names_file_line_and_field_and_skip_invalid_counts_it(tmp_path, bad, line, field, reason):
    source = _write(tmp_path / "in.jsonl", [GOOD, GOOD, bad, GOOD])
    out = tmp_path / "out.jsonl"
    with pytest.raises(InputError) as info:
        CoTGenerator().generate_from_dataset(source, out)
    error = info.value
    assert (str(error.file), error.line, error.field) == (str(source), line, field)
    assert str(source) in str(error) and f"line {line}" in str(error)
    assert not out.exists() and not (tmp_path / "out.jsonl.meta.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # nothing partial left behind

    report = CoTGenerator().generate_from_dataset(source, out, skip_invalid=True)
    assert report["rows_read"] == 4 and report["rows_written"] == 3 and report["skipped"] == 1
    assert report["skipped_reasons"] == {reason: 1}
    assert f"line {line}" in report["skipped_examples"][0]
    assert len(out.read_text().splitlines()) == 3


def test_unknown_layout_is_refused_with_the_known_layouts(tmp_path):
    source = _write(tmp_path / "odd.jsonl", [{"foo": 1, "bar": 2}])
    with pytest.raises(InputError) as info:
        CoTGenerator().generate_from_dataset(source, tmp_path / "out.jsonl")
    message = str(info.value)
    assert str(source) in message and "unknown dataset layout" in message
    for layout in ("GSM8K", "MATH", "HumanEval", "FOLIO", "preference", "question/answer", "row format"):
        assert layout in message


def test_wrong_types_in_other_layouts(tmp_path):
    folio = _write(tmp_path / "folio.jsonl", [{"premises": "A.\nB.", "conclusion": "C.", "label": "True"},
                                               {"premises": [1, 2], "conclusion": "C.", "label": "True"}])
    with pytest.raises(InputError) as info:
        CoTGenerator().generate_from_dataset(folio, tmp_path / "out.jsonl")
    assert (info.value.line, info.value.field) == (2, "premises")
    label = _write(tmp_path / "label.jsonl", [{"premises": ["A."], "conclusion": "C.", "label": "Maybe"}])
    with pytest.raises(InputError, match="label"):
        CoTGenerator().generate_from_dataset(label, tmp_path / "out.jsonl")
    rows = _write(tmp_path / "rows.jsonl", [{"messages": [{"role": "robot", "content": "x"}]}])
    with pytest.raises(InputError) as info:
        CoTGenerator().generate_from_dataset(rows, tmp_path / "out.jsonl")
    assert info.value.field == "messages[0].role"


def test_cli_exits_2_with_the_message(tmp_path, capsys):
    source = _write(tmp_path / "in.jsonl", [GOOD, {"question": "q"}])
    assert main(["--input", str(source), "--output", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "field 'answer'" in err
    assert main(["--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--input", str(source), "--output", str(tmp_path / "o.jsonl"), "--samples-per-problem", "3"]) == 2
    assert "--samples-per-problem" in capsys.readouterr().err
    assert main(["synthetic", "--output", str(tmp_path / "s.jsonl"), "--families", "geometry"]) == 2
    assert "--families" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "s.jsonl").exists()


def test_cli_converts_and_generates_synthetic(tmp_path, capsys):
    source = _write(tmp_path / "in.jsonl", [GOOD, '{"bad json', GOOD])
    out = tmp_path / "o.jsonl"
    assert main(["--input", str(source), "--output", str(out), "--type", "math", "--skip-invalid"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["rows_written"], report["skipped"]) == (2, 1)
    synthetic = tmp_path / "s.jsonl"
    assert main(["synthetic", "--output", str(synthetic), "--num-samples", "50", "--seed", "1", "--split", "test",
                 "--families", "arithmetic,word_problem", "--difficulty", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows_written"] == 50 and set(report["families"]) <= {"arithmetic", "word_problem"}
    rows = [json.loads(line) for line in synthetic.read_text().splitlines()]
    assert {r["metadata"]["split"] for r in rows} == {"test"} and {r["metadata"]["difficulty"] for r in rows} == {2}
    meta = json.loads((tmp_path / "s.jsonl.meta.json").read_text())
    assert meta["stage"] == "cot" and meta["rows"] == 50 and meta["config"]["seed"] == 1
