"""What the pipeline's tasks do differently on a cluster: multi-node stages exchange their inputs and
output through object storage (KFP gives components local /s3/... paths), per-run checkpoint
prefixes, GPU placement derived from the parameters, and the cluster settings checked up front."""
from __future__ import annotations

import json

import pytest

from reasoning import launch, storage
from reasoning.fileio import InputError
from reasoning.pipeline_params import make_parameters, sft_stage_config
from reasoning.pipeline_steps import run_training_stage, through_object_store


def kfp_local_artifacts(root):
    """What KFP's launcher hands a training component: local copies of its input artifacts."""
    model = root / "s3" / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    data = root / "s3" / "dataset"
    data.mkdir()
    (data / "rows.jsonl").write_text('{"problem": "1+1", "answer": "2"}\n')
    return model, data / "rows.jsonl", root / "s3" / "sft_model"


def test_multi_node_stages_get_object_store_uris_not_kfp_local_paths(s3_server, monkeypatch, tmp_path):
    s3_server.apply_env(monkeypatch)
    bucket = s3_server.new_bucket()
    model, rows, output = kfp_local_artifacts(tmp_path)
    params = make_parameters({"checkpoint_uri": f"s3://{bucket}/ckpt/run-1", "gpu_count": 8, "num_nodes": 2})
    config = sft_stage_config(params, model=str(model), dataset=str(rows), output=str(output))
    remote, local_output = through_object_store(config)
    assert local_output == str(output)
    launch.check_cluster_config(launch.stage_config("sft", remote))  # what refused the old local paths
    assert remote["output"] == f"s3://{bucket}/ckpt/run-1/sft.exchange/output"
    assert storage.exists(remote["model"]) and storage.exists(remote["dataset"])
    assert (storage.fetch(remote["model"]) / "config.json").read_text() == (model / "config.json").read_text()
    # the whole component path gets past the config check to the cluster (none here: no credentials)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("REASONING_GPU_IMAGE", "reg/reasoning-gpu:1")
    with pytest.raises(launch.LaunchError, match="no Kubernetes credentials"):
        run_training_stage("sft", config, gpus=8, num_nodes=2)


def test_multi_node_needs_a_checkpoint_prefix_to_exchange_through():
    with pytest.raises(InputError, match="checkpoint_uri"):
        make_parameters({"gpu_count": 8, "num_nodes": 2})
    with pytest.raises(InputError, match="checkpoint_uri"):
        through_object_store({"model": "m", "dataset": "d", "output": "/s3/out"})
