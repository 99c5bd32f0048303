"""A stage's exit code tells an outage from a bad setting (the table in ``reasoning.errors``):
an object store that is down exits 4 (a retry may pass), bad input exits 2 (fix it first).
Every stage gets its codes from the one ``stage_main``, so cot, sft and eval are checked alike."""
from __future__ import annotations

import json
import socket

import pytest

from reasoning import cli
from reasoning.errors import (
    EXIT_INPUT,
    EXIT_STORAGE,
    InputError,
    StorageError,
    StorageRefused,
    exit_code_for,
)
from reasoning.stages import cot, sft
from reasoning.stages import eval as eval_stage


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def store_down(monkeypatch):
    """Object-store settings pointing at a port nothing listens on, failing fast."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-key")
    monkeypatch.setenv("REASONING_S3_ATTEMPTS", "2")
    monkeypatch.setenv("REASONING_S3_BACKOFF", "0.01")


def _rows(path):
    row = {"messages": [{"role": "user", "content": "What is 2 + 3?"},
                        {"role": "assistant", "content": "<think>2 + 3 = 5</think>\n\nThe answer is 5."}]}
    path.write_text(json.dumps(row) + "\n")
    return path


def _stage_argv(stage: str, model, tmp_path, output: str) -> list[str]:
    if stage == "cot":
        return ["--input", str(_rows(tmp_path / "rows.jsonl")), "--output", output]
    if stage == "eval":
        return ["--model", str(model), "--datasets", "synthetic:math?n=2", "--limit", "2", "--output", output]
    return ["--model", str(model), "--dataset", str(_rows(tmp_path / "rows.jsonl")), "--output", output]


@pytest.mark.parametrize("stage", ["cot", "sft", "eval"])
def test_every_stage_exits_4_when_the_store_is_down(stage, tiny_model_dir, tmp_path, store_down, capsys):
    main = {"cot": cot.main, "sft": sft.main, "eval": eval_stage.main}[stage]
    code = main(_stage_argv(stage, tiny_model_dir, tmp_path, f"s3://bucket/out/{stage}"))
    err = capsys.readouterr().err
    assert code == EXIT_STORAGE, err
    assert f"error: s3://bucket/out/{stage}" in err and "failed 2 attempts" in err
    assert "secret-key" not in err and "Traceback" not in err


def test_the_reasoning_command_gives_the_stage_its_exit_code(tiny_model_dir, tmp_path, store_down, capsys):
    assert cli.main(["cot", *_stage_argv("cot", tiny_model_dir, tmp_path, "s3://bucket/out/cot")]) == EXIT_STORAGE
    assert cli.main(["cot", "--input", str(tmp_path / "none.jsonl"), "--output", str(tmp_path / "o.jsonl")]) \
        == EXIT_INPUT


def test_bad_input_keeps_exit_2(tiny_model_dir, tmp_path, store_down, capsys):
    code = sft.main(["--model", str(tiny_model_dir), "--dataset", str(tmp_path / "missing.jsonl"),
                     "--output", "s3://bucket/models/sft"])
    assert code == EXIT_INPUT
    assert "missing.jsonl" in capsys.readouterr().err


def test_only_a_refusal_is_both_a_storage_error_and_bad_input():
    """A refusal (no such bucket, access denied) will not pass on a retry: bad input. A failure will."""
    assert not issubclass(StorageError, InputError)
    assert exit_code_for(StorageError("failed 5 attempts", uri="s3://b/x")) == EXIT_STORAGE
    assert exit_code_for(StorageRefused("bucket 'b' does not exist", uri="s3://b/x")) == EXIT_INPUT
    assert exit_code_for(InputError("bad", field="--limit")) == EXIT_INPUT
    assert exit_code_for(RuntimeError("a bug")) is None
