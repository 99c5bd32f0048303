import json

import pytest

from reasoning.errors import InputError
from reasoning.pipeline.steps import import_dataset
from reasoning.schema import load_rows


def test_synthetic_spec_becomes_rows_with_lineage(tmp_path):
    summary = import_dataset("synthetic:math?n=5&seed=0&split=train", tmp_path / "ds", limit=3)
    rows = load_rows(tmp_path / "ds" / "rows.jsonl")
    assert len(rows) == 3 and summary["rows"] == 3 and summary["stage"] == "import"
    meta = json.loads((tmp_path / "ds" / "rows.jsonl.meta.json").read_text())
    assert meta["sha256"] == summary["sha256"] and meta["source"].startswith("synthetic:math")


def test_known_name_from_shared_data(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("REASONING_DATA_DIR", str(shared_data))
    summary = import_dataset("gsm8k-test", tmp_path / "ds", limit=2)
    assert summary["rows"] == 2


def test_unknown_name_fails_clearly(tmp_path):
    with pytest.raises(InputError):
        import_dataset("gsm9k", tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
