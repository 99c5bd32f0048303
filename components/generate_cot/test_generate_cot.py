from reasoning.pipeline.steps import generate_cot, import_dataset
from reasoning.schema import THINK_OPEN, load_rows


def test_templated_cot_rows(tmp_path):
    import_dataset("synthetic:math?n=4&seed=0", tmp_path / "problems")
    summary = generate_cot(tmp_path / "problems", tmp_path / "cot", reasoning_type="math")
    rows = load_rows(tmp_path / "cot" / "rows.jsonl", require_completion=True)
    assert len(rows) == 4 and all(row.completion.startswith(THINK_OPEN) for row in rows)
    assert summary["rows"] == 4 and isinstance(summary["report"], dict)
