"""`reasoning cot` with s3:// input and output against the real S3 server fixture."""
from __future__ import annotations

import json

import pytest

from reasoning.io import storage
from reasoning.io.artifacts import read_metadata
from reasoning.schema import load_rows
from reasoning.stages.cot import main


@pytest.mark.s3
def test_cot_reads_and_writes_object_storage(s3_env, shared_data, tmp_path, capsys):
    _server, bucket = s3_env
    source = tmp_path / "gsm8k.jsonl"
    source.write_text("".join((shared_data / "gsm8k/test.jsonl").read_text().splitlines(keepends=True)[:20]))
    storage.upload(source, f"{bucket}/raw/gsm8k.jsonl")
    out = f"{bucket}/cot/gsm8k_cot.jsonl"
    assert main(["--input", f"{bucket}/raw/gsm8k.jsonl", "--output", out]) == 0
    assert json.loads(capsys.readouterr().out)["rows_written"] == 20
    local = storage.fetch(out)
    assert len(load_rows(local, require_completion=True)) == 20
    meta = read_metadata(local)
    assert meta["stage"] == "cot" and meta["rows"] == 20 and meta["source"] == f"{bucket}/raw/gsm8k.jsonl"

    synthetic = f"{bucket}/cot/synthetic.jsonl"
    assert main(["synthetic", "--output", synthetic, "--num-samples", "30"]) == 0
    assert len(load_rows(storage.fetch(synthetic))) == 30
