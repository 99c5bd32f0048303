"""Stages against the real S3 server: a preempted SFT run resumes from checkpoints in the store.

Run: .venv/bin/pytest tests/test_storage_integration.py   (about 1-2 minutes)
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reasoning.io import storage
from reasoning.io.artifacts import read_metadata, read_train_log
from tests.test_stage_sft import write_cot_rows

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.s3
def test_preempted_sft_resumes_from_the_object_store_on_a_fresh_pod(s3_env, tiny_model_dir, tmp_path):
    server, bucket = s3_env
    storage.upload(write_cot_rows(tmp_path / "cot.jsonl", n=8), f"{bucket}/data/cot.jsonl")
    storage.upload(tiny_model_dir, f"{bucket}/models/base")
    output, checkpoints = f"{bucket}/models/sft", f"{bucket}/runs/sft.checkpoints"
    # 8 rows / batch 2 x 4 epochs = 16 optimizer steps; a checkpoint (and a push) every 2.
    command = [sys.executable, "-m", "reasoning.stages.sft", "--model", f"{bucket}/models/base",
               "--dataset", f"{bucket}/data/cot.jsonl", "--output", output, "--checkpoint-uri", checkpoints,
               "--batch-size", "2", "--epochs", "4", "--max-length", "64", "--lora-r", "8", "--save-steps", "2",
               "--gradient-checkpointing", "off"]

    def pod_env(name: str) -> dict[str, str]:
        # Each "pod" has its own local disk: nothing but the object store carries state across.
        return {**os.environ, **server.env(), "OMP_NUM_THREADS": "1", "REASONING_CACHE": str(tmp_path / name)}

    process = subprocess.Popen(command, cwd=ROOT, env=pod_env("pod-1"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if storage.read_manifest(checkpoints) is not None:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before its first checkpoint push: " + process.stdout.read().decode()
    process.send_signal(signal.SIGTERM)
    log = process.communicate(timeout=300)[0].decode()
    assert process.returncode == 143, log
    assert not storage.exists(output)  # complete or absent, in the store too
    pushed = storage.read_manifest(checkpoints)["files"]
    steps = {int(name.split("/")[0].split("-")[1]) for name in pushed if name.startswith("checkpoint-")}
    assert steps and max(steps) < 16

    resumed = subprocess.run([*command, "--resume"], cwd=ROOT, env=pod_env("pod-2"), capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming from" in resumed.stdout + resumed.stderr
    model = storage.fetch(output)
    train_log = [r["step"] for r in read_train_log(model) if "loss" in r]
    assert train_log == list(range(1, 17))  # nothing lost or repeated across pods
    metadata = read_metadata(model)
    assert metadata["metrics"]["global_step"] == 16
    for text in (json.dumps(metadata), (model / "README.md").read_text(), (model / "resolved_config.yaml").read_text()):
        assert server.secret_key not in text and server.access_key not in text


@pytest.mark.s3
def test_tiny_pipeline_reads_and_writes_the_object_store(s3_env, tiny_model_dir, tmp_path):
    """`pipelines.cli run --storage s3://...` with the base model and the data set in the store too."""
    from pipelines.cli import run_locally
    from reasoning.data.datasets import resolve_dataset
    from reasoning.pipeline.params import load_pipeline_recipe
    from reasoning.schema import write_rows
    server, bucket = s3_env
    rows = tmp_path / "train.jsonl"
    write_rows(rows, resolve_dataset("synthetic:math?n=16&seed=0&split=train&family=arithmetic&difficulty=1"))
    storage.upload(rows, f"{bucket}/data/train.jsonl")
    storage.upload(tiny_model_dir, f"{bucket}/models/base")
    values = load_pipeline_recipe(ROOT / "recipes" / "pipeline_tiny_ci.yaml")
    values.update(base_model=f"{bucket}/models/base", dataset=f"{bucket}/data/train.jsonl",
                  eval_datasets="synthetic-test")

    summary = run_locally(values, tmp_path / "runs", storage=f"{bucket}/prefix", run_name="s3run")
    assert summary["model_uri"] == f"{bucket}/prefix/models/s3run"
    model = storage.fetch(summary["model_uri"])
    metadata = read_metadata(model)
    assert metadata["stage"] == "grpo" and (model / "config.json").exists()
    reports = storage.list_prefix(summary["report_uri"])
    assert {uri.rsplit("/", 1)[1] for uri in reports} >= {"report.html", "metrics.json"}
    # No credential in anything the run wrote: artifacts, executor outputs, logs, the report.
    for path in Path(summary["run_dir"]).rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            data = path.read_bytes()
            assert server.secret_key.encode() not in data and server.access_key.encode() not in data, path
