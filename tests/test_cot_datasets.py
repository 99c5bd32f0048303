"""resolve_dataset: names, synthetic specs, files, fixed subsets."""
from __future__ import annotations

import pytest

from reasoning.cot.synthetic import synthetic_rows
from reasoning.data.datasets import resolve_dataset
from reasoning.errors import InputError


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


@pytest.mark.parametrize("name, original", [("gsm8k-test", "gsm8k/test.jsonl"), ("math500", "math500/test.jsonl"),
                                            ("folio-validation", "folio/validation.jsonl")])
def test_shipped_evaluation_sets_are_the_original_rows_and_need_no_data_folder(name, original, shared_data,
                                                                               monkeypatch, tmp_path):
    import gzip

    from reasoning.data.datasets import SHIPPED, SHIPPED_DIR
    shipped = SHIPPED_DIR / SHIPPED[name]
    assert gzip.decompress(shipped.read_bytes()) == (shared_data / original).read_bytes()
    assert (shipped.parent / "LICENSE").stat().st_size > 500, "a shipped set carries its license"
    # No data folder at all (as in the image or on a cluster): the shipped copy answers.
    monkeypatch.setenv("REASONING_DATA_DIR", str(tmp_path / "nothing-here"))
    from_package = resolve_dataset(name)
    monkeypatch.setenv("REASONING_DATA_DIR", str(shared_data))
    assert [r.to_dict() for r in from_package] == [r.to_dict() for r in resolve_dataset(name)]


def test_a_copy_under_the_data_dir_wins_over_the_shipped_set(tmp_path, monkeypatch, shared_data):
    (tmp_path / "gsm8k").mkdir()
    lines = (shared_data / "gsm8k/test.jsonl").read_text().splitlines()[:3]
    (tmp_path / "gsm8k/test.jsonl").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("REASONING_DATA_DIR", str(tmp_path))
    assert len(resolve_dataset("gsm8k-test")) == 3


def test_training_sets_are_not_shipped_and_say_where_they_are_expected(tmp_path, monkeypatch):
    monkeypatch.setenv("REASONING_DATA_DIR", str(tmp_path))
    with pytest.raises(InputError, match=r"'gsm8k' is expected at .*gsm8k/train.jsonl.*REASONING_DATA_DIR"):
        resolve_dataset("gsm8k")
