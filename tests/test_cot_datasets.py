"""resolve_dataset: names, synthetic specs, files, fixed subsets."""
from __future__ import annotations

import pytest

from reasoning.cot.datasets import resolve_dataset
from reasoning.cot.synthetic import synthetic_rows
from reasoning.fileio import InputError


def test_synthetic_test_is_the_documented_held_out_set():
    rows = resolve_dataset("synthetic-test")
    expected = synthetic_rows(200, seed=0, split="test", families=["arithmetic"], difficulty=1)
    assert [r.to_dict() for r in rows] == [r.to_dict() for r in expected]
    train = {r.metadata["canonical"] for r in resolve_dataset("synthetic-train")}
    assert not train & {r.metadata["canonical"] for r in rows}


def test_synthetic_spec_and_limit():
    rows = resolve_dataset("synthetic:math?n=30&seed=2&split=test&family=linear_equation&difficulty=3")
    assert len(rows) == 30
    assert {(r.metadata["family"], r.metadata["difficulty"], r.metadata["split"]) for r in rows} == {
        ("linear_equation", 3, "test")}
    assert len(resolve_dataset("synthetic:math?n=30&families=arithmetic,fraction_percent", limit=5)) == 5
    with pytest.raises(InputError, match="unknown synthetic option"):
        resolve_dataset("synthetic:math?rows=5")


def test_named_sets_limit_takes_the_first_rows_in_file_order(shared_data, monkeypatch):
    monkeypatch.setenv("REASONING_DATA_DIR", str(shared_data))
    full = resolve_dataset("gsm8k-test")
    assert len(full) == 1319
    assert [r.id for r in resolve_dataset("gsm8k-test", limit=10)] == [r.id for r in full[:10]]
    assert len(resolve_dataset("math500", limit=3)) == 3
    assert len(resolve_dataset("folio-validation")) == 204
    assert [r.reasoning_type for r in resolve_dataset("humaneval", limit=2)] == ["code", "code"]
    assert len(resolve_dataset(str(shared_data / "folio/train.jsonl"), limit=7)) == 7


def test_unknown_spec_lists_the_known_names():
    with pytest.raises(InputError) as info:
        resolve_dataset("no-such-dataset")
    assert "synthetic-test" in str(info.value) and "gsm8k" in str(info.value)
    assert info.value.field == "dataset"
