"""A switched-off stage writes a skipped marker; the task after it keeps what the stage would have changed.

The pipeline's graph is flat (one task per stage, tests/test_pipeline.py); these are the two library
functions every component uses for it (reasoning.pipeline.steps.skip_stage / stage_input).
"""
import json

import pytest

from reasoning.errors import InputError
from reasoning.pipeline.steps import skip_stage, skipped_reason, stage_input


def fake_model(path):
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    (path / "reasoning_artifact.json").write_text(json.dumps({"kind": "model", "stage": "context"}))
    return path


def test_marker_is_tiny_and_says_which_stage_and_why(tmp_path):
    meta = skip_stage(tmp_path / "long_model", "context", "enable_context is false")
    assert meta == {"kind": "skipped", "stage": "context", "skipped": "enable_context is false"}
    files = list((tmp_path / "long_model").iterdir())
    assert [f.name for f in files] == ["reasoning_artifact.json"] and files[0].stat().st_size < 200
    assert skipped_reason(tmp_path / "long_model") == "enable_context is false"
    with pytest.raises(ValueError, match="reason"):
        skip_stage(tmp_path / "other", "context", " ")


def test_the_stage_output_wins_when_the_stage_ran(tmp_path):
    extended, sft = fake_model(tmp_path / "extended"), fake_model(tmp_path / "sft")
    assert skipped_reason(extended) is None
    assert stage_input(extended, sft, stage="context") == extended


def test_the_fallback_when_the_stage_was_skipped_or_not_wired(tmp_path):
    sft = fake_model(tmp_path / "sft")
    skip_stage(tmp_path / "long_model", "context", "enable_context is false")
    assert stage_input(tmp_path / "long_model", sft, stage="context") == sft
    assert stage_input(None, sft, stage="context") == sft  # a component called without the optional input


def test_a_missing_stage_output_is_an_error_not_a_silent_fallback(tmp_path):
    sft = fake_model(tmp_path / "sft")
    with pytest.raises(InputError, match="context stage's output is missing"):
        stage_input(tmp_path / "never-written", sft, stage="context")


def test_a_dataset_directory_that_ran_is_kept(tmp_path):
    """A CoT output holds rows.jsonl and its sidecar, no reasoning_artifact.json: it ran."""
    cot = tmp_path / "cot"
    cot.mkdir()
    (cot / "rows.jsonl").write_text("{}\n")
    assert stage_input(cot, tmp_path / "problems", stage="cot") == cot
